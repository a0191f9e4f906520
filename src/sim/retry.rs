//! A client that tries again when the server refuses it.
//!
//! A server whose listener pool is full answers a SYN with RST, as a BSD stack does when its
//! backlog is full: the client sees [`ClientError::Refused`]. On a lossy network this is normal
//! (connections that closed may linger in LAST-ACK for a while), and a well-behaved client
//! waits a moment and connects again. [`Retry`] is that loop, for any checking client
//! ([`EchoClient`], [`FramedEchoClient`], or yours: implement [`Outcome`]); it asks the host to
//! wake it when the pause is over, so virtual time jumps straight there.

use smoltcp::time::{Duration, Instant};

use super::Host;
use crate::service::{ClientError, EchoClient, FramedEchoClient, Service, Verdict};
use crate::tcp::ConnectError;
use crate::Stack;

/// A client that ends with a verdict: what [`Retry`] runs.
pub trait Outcome: Service {
    /// `None` while it runs; then the verdict on the reply, or the error that ended the run.
    fn outcome(&self) -> Option<Result<Verdict, ClientError>>;
}

impl Outcome for EchoClient<'_> {
    fn outcome(&self) -> Option<Result<Verdict, ClientError>> {
        EchoClient::outcome(self)
    }
}

impl<F: AsRef<[u8]>, const MAX: usize> Outcome for FramedEchoClient<'_, F, MAX> {
    fn outcome(&self) -> Option<Result<Verdict, ClientError>> {
        FramedEchoClient::outcome(self)
    }
}

/// One client on one host, connected again after a pause whenever the server refuses it.
///
/// ```
/// # use smolsock::event_loop::Work;
/// # use smolsock::service::{ports, EchoClient, Service, UpperEcho, Verdict};
/// # use smolsock::sim::{ip, Cable, Network, Retry};
/// # use smolsock::smoltcp::iface::SocketStorage;
/// # use smolsock::smoltcp::time::Duration;
/// # use smolsock::smoltcp::wire::IpEndpoint;
/// # use smolsock::storage::TcpStorage;
/// # use smolsock::tcp::{EphemeralPorts, PoolConfig};
/// # let cables: [Cable; 2] = [Cable::new(), Cable::new()];
/// # let mut net = Network::new(&cables, 1);
/// # let (mut s0, mut s1) = ([SocketStorage::EMPTY; 2], [SocketStorage::EMPTY; 2]);
/// # let mut hosts = [net.host(0, &mut s0).unwrap(), net.host(1, &mut s1).unwrap()];
/// # let mut pool = [TcpStorage::<2048, 2048>::new()];
/// # let mut server =
/// #     UpperEcho::<1>::new(&mut hosts[0].stack, &mut pool, PoolConfig::new(ports::TCP_ECHO, 1))
/// #         .unwrap();
/// # let mut buffers = TcpStorage::<2048, 2048>::new();
/// # let handle = hosts[1].stack.add_tcp(&mut buffers).unwrap();
/// let mut ports = EphemeralPorts::new(7);
/// let to = IpEndpoint::new(ip(0).into(), ports::TCP_ECHO);
/// let mut client = Retry::new(Duration::from_secs(1));
/// net.run(&mut hosts, Duration::from_secs(60), |hosts| {
///     let (server_host, client_host) = hosts.split_at_mut(1);
///     let mut progress = server.poll(&mut server_host[0].stack);
///     progress |= client
///         .poll(&mut client_host[0], |stack| {
///             EchoClient::connect(stack, handle, to, &mut ports, b"hello")
///         })
///         .unwrap();
///     Work::done_if(client.outcome().is_some(), progress)
/// })
/// .unwrap();
/// assert_eq!(client.outcome(), Some(Ok(Verdict::Verified)));
/// ```
#[derive(Debug)]
pub struct Retry<C> {
    client: Option<C>,
    start_at: Instant,
    pause: Duration,
    refusals: u32,
}

impl<C: Outcome> Retry<C> {
    /// Connect at the first [`poll`](Self::poll); after a refusal, wait `pause` and connect
    /// again.
    pub const fn new(pause: Duration) -> Self {
        Retry {
            client: None,
            start_at: Instant::ZERO,
            pause,
            refusals: 0,
        }
    }

    /// One round on `host`: when no client runs and no pause is on, `connect` one; poll it;
    /// if the server refused it, drop it, count the refusal and pause (the host is woken
    /// when the pause ends). Returns whether anything moved, or the error of `connect`.
    pub fn poll<'a, const MTU: usize, const Q: usize>(
        &mut self,
        host: &mut Host<'a, '_, MTU, Q>,
        connect: impl FnOnce(&mut Stack<'a>) -> Result<C, ConnectError>,
    ) -> Result<bool, ConnectError> {
        let now = host.now();
        let mut progress = false;
        if self.client.is_none() {
            if now < self.start_at {
                host.wake_at(self.start_at);
                return Ok(false);
            }
            self.client = Some(connect(&mut host.stack)?);
            progress = true;
        }
        let Some(client) = self.client.as_mut() else {
            return Ok(progress);
        };
        progress |= client.poll(&mut host.stack);
        if client.outcome() == Some(Err(ClientError::Refused)) {
            self.client = None;
            self.refusals = self.refusals.saturating_add(1);
            self.pause_until(host, now + self.pause);
        }
        Ok(progress)
    }

    /// The client of the current attempt (finished or not).
    pub fn client(&self) -> Option<&C> {
        self.client.as_ref()
    }

    /// The verdict of the current attempt once it is over (a refusal is never one: it is
    /// retried).
    pub fn outcome(&self) -> Option<Result<Verdict, ClientError>> {
        self.client.as_ref().and_then(Outcome::outcome)
    }

    /// Take the client out (to read what it checked, say); the next [`poll`](Self::poll)
    /// connects a new one, at once or when [`pause_until`](Self::pause_until) says.
    pub fn take(&mut self) -> Option<C> {
        self.client.take()
    }

    /// Connect the next client no earlier than `at` (e.g. after a failure), and wake `host`
    /// then.
    pub fn pause_until<const MTU: usize, const Q: usize>(
        &mut self,
        host: &mut Host<'_, '_, MTU, Q>,
        at: Instant,
    ) {
        self.start_at = at;
        host.wake_at(at);
    }

    /// How many attempts the server refused.
    pub fn refusals(&self) -> u32 {
        self.refusals
    }
}
