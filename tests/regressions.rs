//! Deterministic regression tests for the two smoltcp behaviours the network simulator found
//! (README, "What the simulator found"), each built as exactly the failing scenario rather than
//! waited for in a randomised churn run:
//!
//! - the late-SYN guard of `Stack::poll` (`tcp::demux`): a copy of a client's SYN arriving after
//!   the pool re-listened an earlier slot must not reset the client's connection;
//! - the client keep-alive (`tcp::CLIENT_KEEP_ALIVE`): a FIN lost after a fast retransmit must
//!   still be resent;
//!
//! and one found by the TAP benchmark (an echo stalling with the kernel's TSO towards us):
//!
//! - the shrunk-window guard (`guard/shrunk_window.rs`): the peer's window update must be read
//!   although smoltcp shrank its scaled window by rounding and the peer had sent up to the old
//!   edge (here a hand-written peer, not a second stack).
//!
//! Two stacks (10.0.0.1 server, 10.0.0.2 client, IP medium) are joined by [`Net`], a hand-driven
//! wire: the test sees every frame, can take frames off it and inject copies.
//!
//! Each test was checked to fail without its fix, by disabling the fix locally, running
//! `cargo test --test regressions`, seeing the test fail with the message quoted in the test,
//! then restoring it; the comment in each test says what was disabled.

use std::collections::VecDeque;

use smolsock::clock::{Clock, Duration, VirtualClock};
use smolsock::service::{Service, UpperEcho};
use smolsock::smoltcp::iface::SocketStorage;
use smolsock::smoltcp::phy::{self, DeviceCapabilities, Medium};
use smolsock::smoltcp::socket::tcp::State;
use smolsock::smoltcp::socket::Socket;
use smolsock::smoltcp::time::Instant;
use smolsock::smoltcp::wire::{IpAddress, IpCidr, IpEndpoint, Ipv4Packet, TcpPacket};
use smolsock::storage::TcpStorage;
use smolsock::tcp::{ClientState, EphemeralPorts, PoolConfig, TcpClient, CLIENT_KEEP_ALIVE};
use smolsock::{Stack, StackConfig};

const SERVER_IP: IpAddress = IpAddress::v4(10, 0, 0, 1);
const CLIENT_IP: IpAddress = IpAddress::v4(10, 0, 0, 2);
const PORT: u16 = 8000;

fn leak<T>(value: T) -> &'static mut T {
    Box::leak(Box::new(value))
}

fn sockets(n: usize) -> &'static mut [SocketStorage<'static>] {
    (0..n)
        .map(|_| SocketStorage::EMPTY)
        .collect::<Vec<_>>()
        .leak()
}

/// One end of the wire: frames the stack will receive, and frames it sent.
#[derive(Default)]
struct Port {
    inbox: VecDeque<Vec<u8>>,
    outbox: VecDeque<Vec<u8>>,
}

struct Rx(Vec<u8>);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

struct Tx<'a>(&'a mut VecDeque<Vec<u8>>);

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let result = f(&mut frame);
        self.0.push_back(frame);
        result
    }
}

impl phy::Device for Port {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _: Instant) -> Option<(Rx, Tx<'_>)> {
        let frame = self.inbox.pop_front()?;
        Some((Rx(frame), Tx(&mut self.outbox)))
    }

    fn transmit(&mut self, _: Instant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.outbox))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = 1500;
        caps
    }
}

/// Where a frame travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum To {
    Server,
    Client,
}

/// The TCP header fields the tests look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seg {
    src_port: u16,
    dst_port: u16,
    syn: bool,
    ack: bool,
    fin: bool,
    payload: usize,
}

fn seg(frame: &[u8]) -> Option<Seg> {
    let payload = match frame.first()? >> 4 {
        4 => Ipv4Packet::new_checked(frame).ok()?.payload(),
        #[cfg(feature = "ipv6")]
        6 => smolsock::smoltcp::wire::Ipv6Packet::new_checked(frame)
            .ok()?
            .payload(),
        _ => return None,
    };
    let tcp = TcpPacket::new_checked(payload).ok()?;
    Some(Seg {
        src_port: tcp.src_port(),
        dst_port: tcp.dst_port(),
        syn: tcp.syn(),
        ack: tcp.ack(),
        fin: tcp.fin(),
        payload: tcp.payload().len(),
    })
}

/// Decides whether a frame is delivered; `false` takes it off the wire.
type Pass = Box<dyn FnMut(To, &[u8]) -> bool>;

/// Two stacks and the wire between them, in virtual time.
struct Net {
    clock: VirtualClock,
    server: Stack<'static>,
    client: Stack<'static>,
    server_port: Port,
    client_port: Port,
    /// Every frame put on the wire, in order, whether delivered or not.
    seen: Vec<(To, Vec<u8>)>,
    /// Frames taken off the wire (not delivered), in order.
    taken: Vec<(To, Vec<u8>)>,
    /// Whether a frame is delivered.
    pass: Pass,
}

impl Net {
    fn new() -> Net {
        Net::between(IpCidr::new(SERVER_IP, 24), IpCidr::new(CLIENT_IP, 24))
    }

    /// Two stacks at `server` and `client`.
    fn between(server: IpCidr, client: IpCidr) -> Net {
        let _ = env_logger::builder().is_test(true).try_init();
        let clock = VirtualClock::default();
        let mut server_port = Port::default();
        let mut client_port = Port::default();
        let server = Stack::new(
            StackConfig::ip(server),
            &mut server_port,
            sockets(4),
            clock.now(),
        );
        let client = Stack::new(
            StackConfig::ip(client),
            &mut client_port,
            sockets(4),
            clock.now(),
        );
        Net {
            clock,
            server,
            client,
            server_port,
            client_port,
            seen: Vec::new(),
            taken: Vec::new(),
            pass: Box::new(|_, _| true),
        }
    }

    /// Poll both stacks and `services`, then carry what they sent; whether anything moved.
    fn round(&mut self, services: &mut dyn FnMut(&mut Stack<'static>) -> bool) -> bool {
        let now = self.clock.now();
        let mut progress = self.server.poll(now, &mut self.server_port);
        progress |= self.client.poll(now, &mut self.client_port);
        progress |= services(&mut self.server);
        for (to, from, into) in [
            (
                To::Client,
                &mut self.server_port.outbox,
                &mut self.client_port.inbox,
            ),
            (
                To::Server,
                &mut self.client_port.outbox,
                &mut self.server_port.inbox,
            ),
        ] {
            while let Some(frame) = from.pop_front() {
                progress = true;
                self.seen.push((to, frame.clone()));
                if (self.pass)(to, &frame) {
                    into.push_back(frame);
                } else {
                    self.taken.push((to, frame));
                }
            }
        }
        progress || !self.server_port.inbox.is_empty() || !self.client_port.inbox.is_empty()
    }

    /// Run rounds until `done`, jumping the clock to the next timer when nothing moves; `false`
    /// if `limit` of virtual time passed first.
    fn run_until(
        &mut self,
        limit: Duration,
        services: &mut dyn FnMut(&mut Stack<'static>) -> bool,
        mut done: impl FnMut(&mut Net) -> bool,
    ) -> bool {
        let deadline = self.clock.now() + limit;
        loop {
            if done(self) {
                return true;
            }
            let now = self.clock.now();
            if now >= deadline {
                return false;
            }
            if !self.round(services) {
                let next = [self.server.poll_at(now), self.client.poll_at(now)]
                    .into_iter()
                    .flatten()
                    .min()
                    .unwrap_or(deadline);
                self.clock
                    .advance_to(next.max(now + Duration::from_millis(1)).min(deadline));
            }
        }
    }

    /// The server's TCP sockets' states, in slot order (the order smoltcp offers segments in).
    fn server_states(&self) -> Vec<State> {
        self.server
            .sockets()
            .iter()
            .filter_map(|(_, socket)| match socket {
                Socket::Tcp(tcp) => Some(tcp.state()),
                _ => None,
            })
            .collect()
    }
}

fn no_services(_: &mut Stack<'static>) -> bool {
    false
}

/// A copy of a client's SYN, arriving after the pool re-listened an earlier slot, must not
/// reset the client's connection that a later slot serves.
///
/// Checked to fail without the guard (in `Stack::poll`, `if is_late_syn(..)` made `if false`):
/// slot 0 answers the copy with a SYN-ACK, the client's ACK to it meets slot 0 first and is
/// answered with a RST, and the client's connection is reset ("connection B was reset").
#[test]
fn a_late_syn_copy_does_not_reset_the_connection_behind_a_relistened_slot() {
    late_syn_copy(Net::new(), SERVER_IP);
}

/// The same over IPv6: the guard reads the IPv6 SYN as it reads the IPv4 one.
#[cfg(feature = "ipv6")]
#[test]
fn a_late_ipv6_syn_copy_does_not_reset_the_connection_behind_a_relistened_slot() {
    let server = IpAddress::v6(0xfd00, 0x69, 0, 0, 0, 0, 0, 1);
    let client = IpAddress::v6(0xfd00, 0x69, 0, 0, 0, 0, 0, 2);
    let net = Net::between(IpCidr::new(server, 64), IpCidr::new(client, 64));
    late_syn_copy(net, server);
}

fn late_syn_copy(mut net: Net, server_ip: IpAddress) {
    // Two sockets, one listening at a time.
    let storage: &'static mut [TcpStorage<1024, 1024>] =
        (0..2).map(|_| TcpStorage::new()).collect::<Vec<_>>().leak();
    let mut echo = UpperEcho::<2>::new(&mut net.server, storage, PoolConfig::new(PORT, 1))
        .expect("the echo's pool");
    let mut serve = |s: &mut Stack<'static>| echo.poll(s);
    let a = net
        .client
        .add_tcp(leak(TcpStorage::<1024, 1024>::new()))
        .unwrap();
    let b = net
        .client
        .add_tcp(leak(TcpStorage::<1024, 1024>::new()))
        .unwrap();
    let (a_port, b_port) = (40_001, 40_002);
    let established = |h| move |n: &mut Net| n.client.tcp(h).state() == State::Established;

    // A takes slot 0; the pool then listens on slot 1, which B takes.
    net.client.connect(a, (server_ip, PORT), a_port).unwrap();
    assert!(net.run_until(Duration::from_secs(5), &mut serve, established(a)));
    assert!(net.run_until(Duration::from_secs(5), &mut serve, |n| {
        n.server_states() == [State::Established, State::Listen]
    }));
    net.client.connect(b, (server_ip, PORT), b_port).unwrap();
    assert!(net.run_until(Duration::from_secs(5), &mut serve, established(b)));
    let b_syn = net
        .seen
        .iter()
        .find(|(to, f)| {
            *to == To::Server && seg(f).is_some_and(|s| s.src_port == b_port && s.syn && !s.ack)
        })
        .map(|(_, f)| f.clone())
        .expect("B's SYN crossed the wire");

    // A closes; the pool puts slot 0, in front of B's slot 1, back in LISTEN.
    net.client.tcp(a).close();
    assert!(net.run_until(Duration::from_secs(5), &mut serve, |n| {
        n.server_states() == [State::Listen, State::Established]
    }));

    // The network delivers B's SYN again (a duplicate, or a retransmission after a lost
    // SYN-ACK): exactly the case smoltcp hands to the first listener.
    net.server_port.inbox.push_back(b_syn);

    // B goes on as if nothing happened: its echo comes back and it closes with FIN both ways.
    net.client.tcp(b).send_slice(b"still here").unwrap();
    let mut reply = Vec::new();
    let finished = net.run_until(Duration::from_secs(10), &mut serve, |n| {
        let socket = n.client.tcp(b);
        while let Ok(chunk) = socket.recv(|buf| (buf.len(), buf.to_vec())) {
            if chunk.is_empty() {
                break;
            }
            reply.extend_from_slice(&chunk);
        }
        if reply.len() == 10 && socket.state() == State::Established {
            socket.close();
        }
        matches!(socket.state(), State::Closed | State::TimeWait)
    });
    assert!(finished, "B did not finish within 10 s");
    assert_ne!(
        net.client.tcp(b).state(),
        State::Closed,
        "connection B was reset (a clean close ends in TIME-WAIT)"
    );
    assert_eq!(reply, b"STILL HERE");
    let stats = echo.pool().stats();
    assert_eq!((stats.accepted, stats.reset), (2, 0), "{stats:?}");
    assert_eq!(
        net.server.guard_stats().late_syns,
        1,
        "the guard dropped the copy"
    );
}

/// After a fast retransmit while only the client's FIN is unacknowledged, smoltcp 0.14 stops
/// its retransmission timer: a FIN lost then is only resent because `TcpClient` sets a
/// keep-alive ([`CLIENT_KEEP_ALIVE`]).
///
/// Checked to fail without the keep-alive (in `TcpClient::connect`, the `set_keep_alive` call
/// removed): the FIN is never resent and the server never sees it ("the lost FIN was not
/// resent within 60 s").
#[test]
fn a_fin_lost_after_a_fast_retransmit_is_resent() {
    let mut net = Net::new();
    // The server is a bare smoltcp socket that never sends data, so each of its ACKs is a pure
    // ACK (the kind that counts as a duplicate).
    let server = net
        .server
        .add_tcp(leak(TcpStorage::<1024, 1024>::new()))
        .unwrap();
    net.server.tcp(server).listen(PORT).unwrap();
    let handle = net
        .client
        .add_tcp(leak(TcpStorage::<1024, 1024>::new()))
        .unwrap();
    let mut client = TcpClient::new(handle);
    client
        .connect(
            &mut net.client,
            IpEndpoint::new(SERVER_IP, PORT),
            &mut EphemeralPorts::new(7),
        )
        .unwrap();
    assert!(
        net.run_until(Duration::from_secs(5), &mut no_services, |n| {
            client.state(&mut n.client) == ClientState::Connected
        })
    );

    // The client sends 5 bytes; the server's ACK of them is held back.
    net.pass = Box::new(|to, _| to == To::Server);
    assert_eq!(client.send(&mut net.client, b"hello").unwrap(), 5);
    assert!(
        net.run_until(Duration::from_millis(500), &mut no_services, |n| {
            n.taken
                .iter()
                .any(|(to, f)| *to == To::Client && seg(f).is_some_and(|s| s.ack && s.payload == 0))
        })
    );
    let ack = net.taken.pop().expect("the server's ACK").1;
    assert_eq!(net.server.tcp(server).recv_queue(), 5);

    // The client's FIN is lost.
    net.pass = Box::new(|to, f| !(to == To::Server && seg(f).is_some_and(|s| s.fin)));
    client.close(&mut net.client);
    assert!(
        net.run_until(Duration::from_millis(1), &mut no_services, |n| {
            n.taken.iter().any(|(_, f)| seg(f).is_some_and(|s| s.fin))
        })
    );
    assert_eq!(net.client.tcp(handle).state(), State::FinWait1);

    // Now the server's ACK arrives four times (the network duplicated it): the first
    // acknowledges the data, the next three are duplicates of it while the FIN is outstanding,
    // which starts a fast retransmit with no data left to resend.
    for _ in 0..4 {
        net.client_port.inbox.push_back(ack.clone());
    }
    net.pass = Box::new(|_, _| true);
    let fin_at = net.clock.now();
    let resent = net.run_until(Duration::from_secs(60), &mut no_services, |n| {
        n.server.tcp(server).state() == State::CloseWait
    });
    assert!(resent, "the lost FIN was not resent within 60 s");
    // The keep-alive is what resent it: no earlier retransmission happened.
    let waited = net.clock.now() - fin_at;
    assert!(
        waited >= CLIENT_KEEP_ALIVE,
        "FIN resent after {waited}, before the keep-alive"
    );
    let fins = net
        .seen
        .iter()
        .filter(|(to, f)| *to == To::Server && seg(f).is_some_and(|s| s.fin))
        .count();
    assert!(fins >= 2, "the FIN crossed the wire {fins} times");
}

// ---------------------------------------------------------------------------------------------
// A window smoltcp shrank by rounding (the TAP echo's stall with the kernel's TSO).

/// A hand-written peer's segment to the server, IP medium.
fn peer_segment(seq: u32, ack: u32, window: u16, syn: bool, payload: &[u8]) -> Vec<u8> {
    use smolsock::smoltcp::phy::ChecksumCapabilities;
    use smolsock::smoltcp::wire::{
        IpProtocol, Ipv4Address, Ipv4Repr, TcpControl, TcpRepr, TcpSeqNumber,
    };
    let tcp = TcpRepr {
        src_port: 40000,
        dst_port: PORT,
        control: if syn {
            TcpControl::Syn
        } else {
            TcpControl::None
        },
        seq_number: TcpSeqNumber(seq as i32),
        ack_number: (!syn).then_some(TcpSeqNumber(ack as i32)),
        window_len: window,
        window_scale: syn.then_some(7),
        max_seg_size: syn.then_some(1460),
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload,
    };
    let ip = Ipv4Repr {
        src_addr: Ipv4Address::new(10, 0, 0, 2), // CLIENT_IP
        dst_addr: Ipv4Address::new(10, 0, 0, 1), // SERVER_IP
        next_header: IpProtocol::Tcp,
        payload_len: tcp.buffer_len(),
        hop_limit: 64,
    };
    let mut frame = vec![0; ip.buffer_len() + tcp.buffer_len()];
    let caps = ChecksumCapabilities::default();
    let mut packet = Ipv4Packet::new_unchecked(&mut frame[..]);
    ip.emit(&mut packet, &caps);
    let mut segment = TcpPacket::new_unchecked(packet.payload_mut());
    tcp.emit(&mut segment, &CLIENT_IP, &SERVER_IP, &caps);
    frame
}

/// What the server sent the peer: (seq, ack, window field, payload).
fn server_segments(net: &mut Net) -> Vec<(u32, u32, u16, Vec<u8>)> {
    net.server_port
        .outbox
        .drain(..)
        .filter_map(|frame| {
            let ip = Ipv4Packet::new_checked(&frame[..]).ok()?;
            let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
            Some((
                tcp.seq_number().0 as u32,
                tcp.ack_number().0 as u32,
                tcp.window_len(),
                tcp.payload().to_vec(),
            ))
        })
        .collect()
}

/// With window scaling smoltcp advertises `free >> shift`, rounding down, so the window's right
/// edge can move left by a few bytes between two ACKs. A peer that had sent up to the old edge
/// then has its `SND.NXT` past our `RCV.NXT` when the window closes, and smoltcp ignores every
/// ACK it sends (a zero-length segment in a zero window is acceptable only at `RCV.NXT`),
/// window updates included: an echo whose reply waits for the peer's window never moves again.
/// The guard hands smoltcp such a pure ACK at `RCV.NXT` (`guard/shrunk_window.rs`).
///
/// The peer here is written by hand: it closes its own window, sends odd-sized segments up to
/// the server's right edge one per round until the server's window is zero, then opens its
/// window. Checked to fail without the fix (in `Guard::inspect`, `if self.acks.any_tight_window()`
/// made `if false`): the server answers the window update with nothing but 1-byte zero-window
/// probes ("the echo never came").
#[test]
fn a_window_update_beyond_a_window_shrunk_by_rounding_is_not_ignored() {
    const BUF: usize = 128 << 10; // 2^17: window shift 2
    let mut net = Net::new();
    let storage = leak(TcpStorage::<BUF, BUF>::new());
    let mut echo =
        UpperEcho::<1>::new(&mut net.server, [storage], PoolConfig::new(PORT, 1)).unwrap();
    let mut services = |stack: &mut Stack<'static>| echo.poll(stack);
    let step = |net: &mut Net,
                frame: Option<Vec<u8>>,
                services: &mut dyn FnMut(&mut Stack<'static>) -> bool| {
        let now = net.clock.now();
        net.server_port.inbox.extend(frame);
        for _ in 0..3 {
            net.server.poll(now, &mut net.server_port);
            services(&mut net.server);
        }
        net.server.poll(now, &mut net.server_port);
        server_segments(net)
    };

    // Handshake, the peer's window closed from the start (window scale 7, window 0).
    let isn = 1_000_000u32;
    let replies = step(
        &mut net,
        Some(peer_segment(isn, 0, 0, true, &[])),
        &mut services,
    );
    let server_isn = replies.first().expect("a SYN-ACK").0;
    let server_next = server_isn.wrapping_add(1);
    let mut snd_nxt = isn.wrapping_add(1);
    let mut edge = snd_nxt.wrapping_add(u32::from(replies[0].2)); // the SYN-ACK's window is not scaled
    let mut acked = snd_nxt;
    let mut zero = false;
    step(
        &mut net,
        Some(peer_segment(snd_nxt, server_next, 0, false, &[])),
        &mut services,
    );

    // Fill the server's buffers, one odd-sized segment per round, up to its right edge.
    let data: Vec<u8> = (0..3 * BUF)
        .map(|i| b"abcdefghijklmnopqrstuvwxyz"[i % 26])
        .collect();
    let mut sent = 0usize;
    for _ in 0..10_000 {
        let room = edge.wrapping_sub(snd_nxt) as usize;
        let frame = (room > 0 && room < 1 << 30).then(|| {
            let len = room.min(1459);
            let frame = peer_segment(snd_nxt, server_next, 0, false, &data[sent..sent + len]);
            snd_nxt = snd_nxt.wrapping_add(len as u32);
            sent += len;
            frame
        });
        let idle = frame.is_none();
        for (_, ack, window, payload) in step(&mut net, frame, &mut services) {
            if !payload.is_empty() {
                continue; // a zero-window probe; the peer's window stays closed
            }
            acked = ack;
            zero = window == 0;
            let right = ack.wrapping_add(u32::from(window) << 2);
            if (right.wrapping_sub(edge) as i32) > 0 {
                edge = right;
            }
        }
        if zero && idle {
            break;
        }
    }
    assert!(zero, "the server's window never closed");
    assert!(
        snd_nxt != acked,
        "no shrink this time: the peer's SND.NXT {snd_nxt} is the server's RCV.NXT (the scenario needs adjusting)"
    );

    // The peer opens its window: a pure ACK at its SND.NXT, past the server's RCV.NXT.
    let mut echoed = Vec::new();
    let update = peer_segment(snd_nxt, server_next, 0xffff, false, &[]);
    let mut frame = Some(update.clone());
    for _ in 0..20 {
        for (seq, _, _, payload) in step(&mut net, frame.take(), &mut services) {
            if payload.len() > 1 && seq == server_next.wrapping_add(echoed.len() as u32) {
                echoed.extend_from_slice(&payload);
            }
        }
        if echoed.len() >= 1460 {
            break;
        }
        // Answer whatever came (a zero-window probe) with the same window update.
        net.clock
            .advance_to(net.clock.now() + Duration::from_secs(2));
        frame = Some(update.clone());
    }
    assert!(echoed.len() >= 1460, "the echo never came");
    assert_eq!(echoed[..], data[..echoed.len()].to_ascii_uppercase()[..]);
    assert!(net.server.guard_stats().acks_realigned > 0);
}
