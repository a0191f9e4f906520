//! The network: hosts on cables, a learning switch, one virtual clock, and the run loop.
//!
//! ```text
//!   Host 0 (Stack) ── WireEnd ══ Cable 0 ══ far end ─┐                 ┌─ far end ══ Cable 2 ══ WireEnd ── Host 2
//!                               (Link 0: faults,     ├── switch ───────┤
//!                                frames in flight)   │ (learns MACs,   │
//!   Host 1 (Stack) ── WireEnd ══ Cable 1 ══ far end ─┘  floods the     └─ ...
//!                                                       unknown)
//! ```
//!
//! Each host is plugged in by a [`Cable`]: a [`Wire`] (the same allocation-free wire two stacks
//! use in the loopback tests) whose near end is the host's device and whose far end the network
//! holds, plus the [`Link`] that carries what the host sends. The switch learns each port's MAC
//! address from the frames it sends and forwards unicast frames to that port only; broadcasts
//! (ARP requests) and unknown addresses are flooded. It decides a frame's destination from the
//! clean header at sending time; faults then apply to the frame in flight.
//!
//! ## The run loop
//!
//! [`Network::run`] extends the single-stack contract of [`crate::event_loop`] to many stacks;
//! each round is the following, and [`run_virtual`] (the same driver as
//! [`run_until`](crate::event_loop::run_until)'s) moves the clock between rounds:
//!
//! 1. hand every frame that is due to its host's NIC (keeping it in flight if the NIC is full);
//! 2. poll every host's stack, in index order;
//! 3. run the application (`work`), which polls the services and clients on the stacks;
//! 4. take every frame the hosts sent and put it on its link (judged by the fault model);
//! 5. if anything moved, or any NIC or link holds a frame due now, go round again at the same
//!    instant; otherwise jump the clock straight to the earliest of every host's `poll_at`,
//!    every application timer ([`Host::wake_at`]) and every link's next delivery. Nothing can
//!    happen in between, so nothing is skipped.
//!
//! Idle virtual time costs nothing: a 10 s TIME-WAIT or a 60 s outage is one jump. Hosts, links
//! and frames are visited in a fixed order and every random decision comes from per-link
//! [`Prng`]s derived from one seed, so the same seed gives the same run, byte for byte
//! ([`Trace::digest`]).

use core::cell::{Cell, Ref, RefCell};

use smoltcp::iface::SocketStorage;
use smoltcp::phy::{Device, TxToken};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, EthernetFrame, IpCidr, Ipv4Address};

use super::fault::FaultModel;
use super::host::Host;
use super::link::{Admission, Dest, Link, LinkCounters};
use super::prng::Prng;
use super::report::LinkTable;
use super::trace::{DropReason, FrameEvent, Observer, Trace};
use crate::clock::{Clock, VirtualClock};
use crate::device::{Wire, WireEnd};
use crate::event_loop::{run_virtual, Next, RunError, WhenIdle, Work};
use crate::{Stack, StackConfig};

/// One host's cable: its wire (near end for the host, far end for the switch) and its link.
///
/// `MTU` is the largest frame (Ethernet header included), `Q` the depth of the host's NIC queue
/// in each direction, `F` how many frames the link holds in flight. Memory: about
/// `(2 × Q + F) × MTU` bytes; allocate cables wherever suits (a `static` array, a `Vec`).
#[derive(Debug)]
pub struct Cable<const MTU: usize = 1514, const Q: usize = 32, const F: usize = 64> {
    wire: Wire<MTU, Q>,
    link: RefCell<Link<MTU, F>>,
    mac: Cell<Option<EthernetAddress>>,
}

impl<const MTU: usize, const Q: usize, const F: usize> Default for Cable<MTU, Q, F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const MTU: usize, const Q: usize, const F: usize> Cable<MTU, Q, F> {
    /// A cable with a perfect link.
    pub const fn new() -> Self {
        Cable {
            wire: Wire::new(),
            link: RefCell::new(Link::new()),
            mac: Cell::new(None),
        }
    }

    /// The end the host plugs in: its network device.
    pub fn host_end(&self) -> WireEnd<'_, MTU, Q> {
        self.wire.ends().0
    }

    fn switch_end(&self) -> WireEnd<'_, MTU, Q> {
        self.wire.ends().1
    }

    /// The link carrying what the host sends (fault model, counters).
    pub fn link(&self) -> Ref<'_, Link<MTU, F>> {
        self.link.borrow()
    }

    /// The link's counters.
    pub fn counters(&self) -> LinkCounters {
        *self.link.borrow().counters()
    }
}

/// The MAC address the simulator gives host `index`: `02:00:00:00:hi:lo` of `index + 1`
/// (locally administered, unicast).
pub fn mac(index: usize) -> EthernetAddress {
    let n = (index + 1) as u16;
    let [hi, lo] = n.to_be_bytes();
    EthernetAddress([0x02, 0, 0, 0, hi, lo])
}

/// The IPv4 address the simulator gives host `index`: `10.0.hi.lo` of `index + 1`, in `10.0.0.0/16`.
pub fn ip(index: usize) -> Ipv4Address {
    let n = (index + 1) as u16;
    let [hi, lo] = n.to_be_bytes();
    Ipv4Address::new(10, 0, hi, lo)
}

/// The IPv6 address the simulator gives host `index` (feature `ipv6`): `fd00:10::hi:lo` of
/// `index + 1`, in `fd00:10::/64`, beside [`ip`] and the link-local address from [`mac`].
#[cfg(feature = "ipv6")]
pub fn ip6(index: usize) -> smoltcp::wire::Ipv6Address {
    let n = (index + 1) as u16;
    smoltcp::wire::Ipv6Address::new(0xfd00, 0x10, 0, 0, 0, 0, 0, n)
}

/// A simulated Ethernet segment: cables, a switch, a virtual clock and a packet trace.
///
/// `O` sees every frame event ([`Observer`]; `()` by default, see [`super::pcap`]).
pub struct Network<'w, const MTU: usize, const Q: usize, const F: usize, O: Observer = ()> {
    cables: &'w [Cable<MTU, Q, F>],
    clock: VirtualClock,
    seed: u64,
    trace: Trace,
    observer: O,
    rounds: u64,
}

impl<'w, const MTU: usize, const Q: usize, const F: usize> Network<'w, MTU, Q, F, ()> {
    /// A network over `cables` (one per host), whose every random decision follows `seed`.
    /// The clock starts at zero and every link's generator is reseeded; use fresh cables (their
    /// counters and any frames in flight are kept).
    pub fn new(cables: &'w [Cable<MTU, Q, F>], seed: u64) -> Self {
        let root = Prng::new(seed);
        for (i, cable) in cables.iter().enumerate() {
            cable.link.borrow_mut().reseed(root.fork(i as u64));
        }
        Network {
            cables,
            clock: VirtualClock::default(),
            seed,
            trace: Trace::new(),
            observer: (),
            rounds: 0,
        }
    }
}

impl<'w, const MTU: usize, const Q: usize, const F: usize, O: Observer> Network<'w, MTU, Q, F, O> {
    /// The same network, reporting every frame event to `observer`.
    pub fn with_observer<P: Observer>(self, observer: P) -> Network<'w, MTU, Q, F, P> {
        Network {
            cables: self.cables,
            clock: self.clock,
            seed: self.seed,
            trace: self.trace,
            observer,
            rounds: self.rounds,
        }
    }

    /// The observer.
    pub fn observer(&mut self) -> &mut O {
        &mut self.observer
    }

    /// Stop observing: the observer back (e.g. to finish its files).
    pub fn into_observer(self) -> O {
        self.observer
    }

    /// The seed of this run.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The virtual clock.
    pub fn clock(&self) -> &VirtualClock {
        &self.clock
    }

    /// The packet trace so far (its digest identifies the run).
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Rounds of the run loop so far (a measure of the simulator's own work).
    pub fn rounds(&self) -> u64 {
        self.rounds
    }

    /// How many hosts (cables) the network has.
    pub fn len(&self) -> usize {
        self.cables.len()
    }

    /// `true` for a network without cables.
    pub fn is_empty(&self) -> bool {
        self.cables.is_empty()
    }

    /// The cables.
    pub fn cables(&self) -> &'w [Cable<MTU, Q, F>] {
        self.cables
    }

    /// Give the link of cable `port` a fault model (ignored for a port that does not exist).
    pub fn set_faults(&mut self, port: usize, faults: FaultModel) {
        if let Some(cable) = self.cables.get(port) {
            cable.link.borrow_mut().set_faults(faults);
        }
    }

    /// Give every link the same fault model.
    pub fn set_all_faults(&mut self, faults: &FaultModel) {
        for cable in self.cables {
            cable.link.borrow_mut().set_faults(faults.clone());
        }
    }

    /// The counters of cable `port`'s link (zero for a port that does not exist).
    pub fn counters(&self, port: usize) -> LinkCounters {
        self.cables
            .get(port)
            .map(Cable::counters)
            .unwrap_or_default()
    }

    /// The counters of every link added up.
    pub fn totals(&self) -> LinkCounters {
        let mut total = LinkCounters::default();
        for cable in self.cables {
            total.add(cable.link.borrow().counters());
        }
        total
    }

    /// Frames in flight on all links.
    pub fn in_flight(&self) -> usize {
        self.cables
            .iter()
            .map(|c| c.link.borrow().in_flight())
            .sum()
    }

    /// The stack configuration of host `index`: [`mac`], [`ip`] in `/16` (and `ip6` in `/64`
    /// with the `ipv6` feature), and a smoltcp seed derived from the network's seed.
    pub fn host_config(&self, index: usize) -> StackConfig {
        let seed = Prng::new(self.seed ^ 0x686f_7374)
            .fork(index as u64)
            .next_u64();
        let config =
            StackConfig::ethernet(mac(index), IpCidr::new(ip(index).into(), 16)).with_seed(seed);
        #[cfg(feature = "ipv6")]
        let config = config.with_ipv6(smoltcp::wire::Ipv6Cidr::new(ip6(index), 64));
        config
    }

    /// Bring up host `index` on its cable with [`Network::host_config`] and room for
    /// `sockets.len()` sockets. `index` must be below [`Network::len`].
    pub fn host<'a>(
        &self,
        index: usize,
        sockets: &'a mut [SocketStorage<'a>],
    ) -> Option<Host<'a, 'w, MTU, Q>> {
        self.host_with(index, self.host_config(index), sockets)
    }

    /// Bring up host `index` on its cable with a configuration of your own.
    pub fn host_with<'a>(
        &self,
        index: usize,
        config: StackConfig,
        sockets: &'a mut [SocketStorage<'a>],
    ) -> Option<Host<'a, 'w, MTU, Q>> {
        let mut port = self.cables.get(index)?.host_end();
        let stack = Stack::new(config, &mut port, sockets, self.now());
        Some(Host::new(stack, port, index))
    }

    /// A printable table of every link's counters.
    pub fn link_table(&self) -> LinkTable<'w, MTU, Q, F> {
        LinkTable::new(self.cables)
    }

    /// When the next frame is due on any link.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.cables
            .iter()
            .filter_map(|c| c.link.borrow().next_delivery())
            .min()
    }

    /// Drive `hosts` in virtual time until `work` returns [`Work::Done`]; at most `budget` of
    /// virtual time may pass. `work` runs the application once per round (see the
    /// [module docs](self)); returns the virtual time when it was done.
    pub fn run<'a>(
        &mut self,
        hosts: &mut [Host<'a, 'w, MTU, Q>],
        budget: Duration,
        work: impl FnMut(&mut [Host<'a, 'w, MTU, Q>]) -> Work,
    ) -> Result<Instant, RunError> {
        let deadline = self.now() + budget;
        self.run_inner(hosts, deadline, WhenIdle::Stall, work)
    }

    /// Drive `hosts` for exactly `length` of virtual time (or until `work` is done), idling to
    /// the end when nothing remains to do. Returns the time it stopped.
    pub fn run_for<'a>(
        &mut self,
        hosts: &mut [Host<'a, 'w, MTU, Q>],
        length: Duration,
        work: impl FnMut(&mut [Host<'a, 'w, MTU, Q>]) -> Work,
    ) -> Instant {
        let deadline = self.now() + length;
        match self.run_inner(hosts, deadline, WhenIdle::RunToDeadline, work) {
            Ok(at) => at,
            Err(RunError::Stalled { at } | RunError::TimedOut { at }) => at,
        }
    }

    fn run_inner<'a>(
        &mut self,
        hosts: &mut [Host<'a, 'w, MTU, Q>],
        deadline: Instant,
        when_idle: WhenIdle,
        mut work: impl FnMut(&mut [Host<'a, 'w, MTU, Q>]) -> Work,
    ) -> Result<Instant, RunError> {
        // The driver advances the clock between rounds; each round reads the time it is given.
        let clock = core::mem::take(&mut self.clock);
        let result = run_virtual(&clock, deadline, when_idle, |now| {
            self.round(hosts, now, &mut work)
        });
        self.clock = clock;
        result
    }

    /// One round of the run loop (steps 1 to 5 of the [module docs](self)); `None` when `work`
    /// is done.
    fn round<'a>(
        &mut self,
        hosts: &mut [Host<'a, 'w, MTU, Q>],
        now: Instant,
        work: &mut impl FnMut(&mut [Host<'a, 'w, MTU, Q>]) -> Work,
    ) -> Option<Next> {
        self.rounds += 1;
        let mut progress = self.deliver(now);
        for host in hosts.iter_mut() {
            progress |= host.poll(now);
        }
        match work(hosts) {
            Work::Done => return None,
            Work::Busy => progress = true,
            Work::Idle => {}
        }
        progress |= self.collect(now);

        // Application timers: a due one means "go round again now".
        let mut next = self.next_delivery();
        for host in hosts.iter_mut() {
            next = earliest(next, host.take_timer(now));
        }
        if progress || next.is_some_and(|t| t <= now) || hosts.iter().any(|h| h.pending()) {
            return Some(Next::PollNow);
        }
        let next = hosts
            .iter_mut()
            .filter_map(|h| h.stack.poll_at(now))
            .fold(next, |a, b| earliest(a, Some(b)));
        Some(match next {
            Some(at) if at > now => Next::Wait(Some(at - now)),
            Some(_) => Next::PollNow,
            None => Next::Wait(None),
        })
    }

    /// Record an event in the trace and tell the observer.
    fn event(&mut self, port: usize, at: Instant, event: FrameEvent, frame: &[u8]) {
        self.trace.record(port, at, event, frame);
        self.observer.frame(port, at, event, frame);
    }

    /// Step 1: hand every due frame to its host(s). Returns whether any frame moved.
    fn deliver(&mut self, now: Instant) -> bool {
        let cables = self.cables;
        let mut moved = false;
        for (from, cable) in cables.iter().enumerate() {
            loop {
                let arrival = {
                    let mut link = cable.link.borrow_mut();
                    match link.peek_due(now) {
                        None => break,
                        // The receiving host has not read its NIC yet: leave the frame in
                        // flight until it has (same instant, next round).
                        Some(Dest::Port(to)) if cables.get(to).is_some_and(|c| !nic_room(c)) => {
                            break
                        }
                        Some(_) => {}
                    }
                    match link.pop_due(now) {
                        Some(arrival) => arrival,
                        None => break,
                    }
                };
                moved = true;
                match arrival.to {
                    Dest::Port(to) => self.hand_over(from, to, now, &arrival.frame),
                    Dest::Flood => {
                        for to in (0..cables.len()).filter(|&to| to != from) {
                            self.hand_over(from, to, now, &arrival.frame);
                        }
                    }
                }
            }
        }
        moved
    }

    /// Put one copy of `frame`, sent on port `from`, into the NIC of the host on port `to`.
    fn hand_over(&mut self, from: usize, to: usize, now: Instant, frame: &[u8]) {
        let cables = self.cables;
        let (Some(sender), Some(receiver)) = (cables.get(from), cables.get(to)) else {
            return;
        };
        let down = sender.link.borrow().is_down(now) || receiver.link.borrow().is_down(now);
        let verdict = if down {
            Some(DropReason::LinkDown)
        } else if !nic_room(receiver) {
            Some(DropReason::NicFull)
        } else {
            None
        };
        if let Some(reason) = verdict {
            sender.link.borrow_mut().counters_mut().count_drop(reason);
            self.event(from, now, FrameEvent::Dropped(reason), frame);
            return;
        }
        let mut end = receiver.switch_end();
        if let Some(token) = end.transmit(now) {
            token.consume(frame.len(), |buf| buf.copy_from_slice(frame));
        }
        {
            let mut link = sender.link.borrow_mut();
            let c = link.counters_mut();
            c.delivered += 1;
            c.delivered_bytes += frame.len() as u64;
        }
        {
            let mut link = receiver.link.borrow_mut();
            let c = link.counters_mut();
            c.received += 1;
            c.received_bytes += frame.len() as u64;
        }
        self.event(to, now, FrameEvent::Delivered { from }, frame);
    }

    /// Step 4: take every frame the hosts sent and put it on its link. Returns whether any
    /// frame was sent.
    fn collect(&mut self, now: Instant) -> bool {
        let cables = self.cables;
        let mut sent = false;
        for (port, cable) in cables.iter().enumerate() {
            let mut end = cable.switch_end();
            while let Some(frame) = end.receive(now).map(|(rx, _)| rx.0) {
                sent = true;
                self.event(port, now, FrameEvent::Sent, &frame);
                let admission = match self.route(port, &frame) {
                    Some(to) => cable.link.borrow_mut().send(now, frame, to),
                    None => {
                        let reason = DropReason::Runt;
                        let mut link = cable.link.borrow_mut();
                        let c = link.counters_mut();
                        c.sent += 1;
                        c.sent_bytes += frame.len() as u64;
                        c.count_drop(reason);
                        Admission::Dropped(reason)
                    }
                };
                if let Admission::Dropped(reason) = admission {
                    self.event(port, now, FrameEvent::Dropped(reason), &[]);
                }
            }
        }
        sent
    }

    /// The switch: learn the sender's MAC on `port`, and pick the frame's destination.
    fn route(&self, port: usize, frame: &[u8]) -> Option<Dest> {
        let frame = EthernetFrame::new_checked(frame).ok()?;
        let src = frame.src_addr();
        if src.is_unicast() {
            if let Some(cable) = self.cables.get(port) {
                cable.mac.set(Some(src));
            }
        }
        let dst = frame.dst_addr();
        if !dst.is_unicast() {
            return Some(Dest::Flood);
        }
        Some(
            self.cables
                .iter()
                .position(|c| c.mac.get() == Some(dst))
                .map_or(Dest::Flood, Dest::Port),
        )
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Whether the host on `cable` can take one more frame now.
fn nic_room<const MTU: usize, const Q: usize, const F: usize>(cable: &Cable<MTU, Q, F>) -> bool {
    cable.switch_end().can_transmit()
}
