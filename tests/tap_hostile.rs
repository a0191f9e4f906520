//! The TAP server under attack from the same LAN, with the kernel as the legitimate client.
//!
//! Each test makes its own namespace with a TAP device and runs the library's `TapServer` on it
//! (default settings unless said otherwise), as `tests/tap.rs` does. The attacker writes raw
//! Ethernet frames into the TAP device from the kernel side: an `AF_PACKET` socket bound to
//! `tap0` inside the namespace, so the frames reach smolsock exactly as frames from other hosts
//! on the link would (spoofed addresses that nobody answers ARP for). The same kind of socket
//! sniffs what smolsock sends, to learn sequence numbers and to prove the attack arrived. A
//! kernel client (`std::net`, in the namespace) must be served during and after each attack,
//! every byte checked:
//!
//! | test | attack |
//! |---|---|
//! | `spoofed_udp_does_not_stop_the_udp_echo` | datagrams to 8848 from unresolvable in-subnet sources (.200-.250, the network address, the server's own) |
//! | `syn_flood_does_not_close_port_8000` | 10,000 spoofed SYNs/s to 8000 for 2 s |
//! | `slowloris_does_not_hold_the_pool` | every socket of the pool held by connections that never send, or never read |
//! | `blind_rsts_across_the_window_do_not_reset` | RSTs with the right four-tuple at every in-window sequence number but the exact one |
//! | `spoofed_ipv6_udp_does_not_stop_the_udp_echo` | the same from fd00:69::bad:N, which nobody answers neighbour solicitations for |
//! | `slowloris_over_ipv6_does_not_hold_the_pool` | the same holders, every connection over IPv6 |
//! | `corrupt_ipv6_syns_are_dropped_by_the_device` | 100 IPv6 SYNs with one bit of their checksum flipped (the same check over IPv6) |
//! | `a_corrupt_rst_at_rcv_nxt_does_not_reset` | the exact RST, one bit of its checksum flipped (smoltcp checks no TCP checksum with the TAP offload: the device must) |
//!
//! Every flood is bounded in frames and in time. The measurements (legitimate clients served
//! during the attack, time to recover after it) are printed with `eprintln!`. Needs root, like
//! `tests/tap.rs`: without it every test is reported ignored with the reason (`tests/harness`).

mod frames;
mod harness;
mod netns;
mod tap_server;

use std::ffi::CString;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use frames::{flag, Hosts, Parsed, Segment};
#[cfg(feature = "ipv6")]
use netns::SMOLSOCK_IP6;
use netns::{Netns, KERNEL_IP, SMOLSOCK_IP, TAP};
use smolsock::sim::Prng;
use smolsock::smoltcp::phy::ChecksumCapabilities;
use smolsock::smoltcp::time::Duration as SmolDuration;
#[cfg(feature = "ipv6")]
use smolsock::smoltcp::wire::Ipv6Address;
use smolsock::smoltcp::wire::{EthernetAddress, Ipv4Address, TcpPacket, TcpRepr};
use smolsock::tap::ServerConfig;
use tap_server::Server;

fn main() -> std::process::ExitCode {
    // Decided once: root, `ip`, /dev/net/tun and a namespace with a TAP device in it.
    let unavailable = netns::unavailable().map(str::to_string);
    #[allow(unused_mut)]
    let mut trials = harness::tests![
        spoofed_udp_does_not_stop_the_udp_echo,
        syn_flood_does_not_close_port_8000,
        slowloris_does_not_hold_the_pool,
        blind_rsts_across_the_window_do_not_reset,
        a_corrupt_rst_at_rcv_nxt_does_not_reset,
    ];
    #[cfg(feature = "ipv6")]
    trials.extend(harness::tests![
        ipv6_syn_flood_does_not_close_port_8000,
        spoofed_ipv6_udp_does_not_stop_the_udp_echo,
        slowloris_over_ipv6_does_not_hold_the_pool,
        corrupt_ipv6_syns_are_dropped_by_the_device,
    ]);
    harness::run(trials, unavailable)
}

const SMOLSOCK_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x01]);
const SERVER: Ipv4Address = Ipv4Address::new(192, 168, 69, 1);
const KERNEL: Ipv4Address = Ipv4Address::new(192, 168, 69, 100);

fn addr(port: u16) -> SocketAddr {
    format!("{SMOLSOCK_IP}:{port}").parse().expect("address")
}

/// Frames from an attacker's host on the link to smolsock: a MAC of its own and an address
/// (`.host`) nobody answers ARP for.
fn spoofed(host: u8) -> Hosts {
    Hosts {
        src_mac: EthernetAddress([0x02, 0x66, 0, 0, 0, host]),
        dst_mac: SMOLSOCK_MAC,
        src_ip: Ipv4Address::new(192, 168, 69, host),
        dst_ip: SERVER,
    }
}

// ---- the server ----

/// A namespace with a TAP device and the server on it.
fn setup(test: &str, config: impl FnOnce(&mut ServerConfig)) -> (Netns, Server) {
    let ns = Netns::new(test).expect("namespace");
    ns.add_tap().expect("TAP device");
    let mut cfg = ServerConfig::new(TAP);
    config(&mut cfg);
    let server = Server::start(&ns, cfg);
    (ns, server)
}

// ---- raw frames on the kernel side of the TAP device ----

/// `PACKET_OUTGOING`: a frame the kernel side sent (ours, or the kernel's own).
const PACKET_OUTGOING: u8 = 4;

/// An `AF_PACKET` socket bound to one interface: writes whole Ethernet frames onto it and, if
/// opened to receive, reads every frame that crosses it.
struct RawLink {
    fd: OwnedFd,
}

impl RawLink {
    /// Open on `iface` of the calling thread's namespace (the socket stays bound to it from
    /// whichever thread uses it later). `receive`: see every frame; otherwise receive none.
    fn open(iface: &str, receive: bool) -> io::Result<RawLink> {
        let protocol = if receive {
            (libc::ETH_P_ALL as u16).to_be()
        } else {
            0
        };
        // SAFETY: socket(2) with constant arguments; the result is checked.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(protocol),
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a descriptor we just opened and own nowhere else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let name = CString::new(iface).map_err(|e| io::Error::new(ErrorKind::InvalidInput, e))?;
        // SAFETY: `name` is a valid NUL-terminated string.
        let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if index == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: sockaddr_ll is a plain C struct for which all zeros is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = protocol;
        sll.sll_ifindex = index as i32;
        // SAFETY: bind(2) with a valid sockaddr_ll and its size, on our descriptor.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        let link = RawLink { fd };
        if receive {
            // A large receive buffer, and reads that give up after 50 ms.
            link.set_option(libc::SO_RCVBUFFORCE, &(8 << 20))?;
            let timeout = libc::timeval {
                tv_sec: 0,
                tv_usec: 50_000,
            };
            link.set_option(libc::SO_RCVTIMEO, &timeout)?;
        }
        Ok(link)
    }

    fn set_option<T>(&self, name: libc::c_int, value: &T) -> io::Result<()> {
        // SAFETY: setsockopt(2) with a pointer to a live `T` and its size.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                name,
                value as *const T as *const libc::c_void,
                std::mem::size_of::<T>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Write one frame onto the link. `Ok(false)`: the kernel had no room for it (dropped).
    fn send(&self, frame: &[u8]) -> io::Result<bool> {
        // SAFETY: send(2) on our descriptor from a live buffer of `frame.len()` bytes.
        let n = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                frame.as_ptr() as *const libc::c_void,
                frame.len(),
                0,
            )
        };
        if n >= 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENOBUFS) || e.kind() == ErrorKind::WouldBlock {
            Ok(false)
        } else {
            Err(e)
        }
    }

    /// The next frame and whether the kernel side sent it (`None` after 50 ms without one).
    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<(usize, bool)>> {
        // SAFETY: sockaddr_ll is a plain C struct for which all zeros is a valid value.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: recvfrom(2) into a live buffer of `buf.len()` bytes and a sockaddr_ll of
        // `len` bytes, on our descriptor.
        let n = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                0,
                &mut from as *mut libc::sockaddr_ll as *mut libc::sockaddr,
                &mut len,
            )
        };
        if n >= 0 {
            return Ok(Some((n as usize, from.sll_pkttype == PACKET_OUTGOING)));
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted => Ok(None),
            _ => Err(e),
        }
    }
}

/// A frame smolsock sent: parsed, and as it was.
type Sniffed = (Parsed, Vec<u8>);

/// Frames smolsock sent (parsed), collected by a thread until dropped.
struct Sniffer {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Sniffed>>>,
    thread: Option<JoinHandle<()>>,
}

impl Sniffer {
    fn start(ns: &Netns) -> Sniffer {
        let link = ns
            .run(|| RawLink::open(TAP, true))
            .expect("sniffing socket");
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (flag, store) = (stop.clone(), seen.clone());
        let thread = thread::spawn(move || {
            let mut buf = vec![0u8; 2048];
            while !flag.load(Ordering::Relaxed) {
                match link.recv(&mut buf) {
                    Ok(Some((n, outgoing))) if !outgoing => {
                        if let Ok(parsed) = frames::parse_sent(&buf[..n]) {
                            let frame = buf[..n].to_vec();
                            store.lock().unwrap().push((parsed, frame));
                        }
                    }
                    Ok(_) => {}
                    Err(e) => panic!("sniffer: {e}"),
                }
            }
        });
        Sniffer {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// Frames smolsock sent so far that satisfy `filter`.
    fn count(&self, filter: impl Fn(&Parsed) -> bool) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| filter(p))
            .count()
    }

    /// The last frame smolsock sent that satisfies `filter`.
    fn last(&self, filter: impl Fn(&Parsed) -> bool) -> Option<(Parsed, Vec<u8>)> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(p, _)| filter(p))
            .cloned()
    }
}

impl Drop for Sniffer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// An ARP request from smolsock for `ip`.
fn arp_request_for(p: &Parsed, ip: impl Fn(Ipv4Address) -> bool) -> bool {
    matches!(p, Parsed::Arp { reply: false, target_ip, .. } if ip(*target_ip))
}

/// Send `frames` (made on demand from their index) at `per_second`, in batches every 5 ms,
/// for at most `duration`; returns how many the kernel took.
fn flood(
    link: &RawLink,
    count: usize,
    per_second: usize,
    duration: Duration,
    mut frame: impl FnMut(usize) -> Vec<u8>,
) -> usize {
    let started = Instant::now();
    let batch = (per_second / 200).max(1);
    let mut sent = 0;
    let mut taken = 0;
    while sent < count && started.elapsed() < duration {
        let due = started + Duration::from_secs_f64(sent as f64 / per_second as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        for _ in 0..batch.min(count - sent) {
            if link.send(&frame(sent)).expect("send a frame") {
                taken += 1;
            }
            sent += 1;
        }
    }
    taken
}

/// The kernel's transmit counters of `tap0` (frames towards smolsock, and those it dropped
/// because smolsock did not read them fast enough).
fn tx_counters(ns: &Netns) -> String {
    let out = std::process::Command::new("ip")
        .args(["-n", ns.name(), "-s", "link", "show", TAP])
        .output()
        .expect("ip -s link");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    match lines.iter().position(|l| l.starts_with("TX:")) {
        Some(i) if i + 1 < lines.len() => format!("{} / {}", lines[i], lines[i + 1]),
        _ => text,
    }
}

// ---- kernel clients ----

/// Send `payload` on a fresh connection, half-close, and return everything until the server
/// closes, all within `within` (connect included).
fn echo(port: u16, payload: &[u8], within: Duration) -> io::Result<Vec<u8>> {
    echo_at(addr(port), payload, within)
}

/// [`echo`] to `to`.
fn echo_at(to: SocketAddr, payload: &[u8], within: Duration) -> io::Result<Vec<u8>> {
    let stream = TcpStream::connect_timeout(&to, within)?;
    stream.set_read_timeout(Some(within))?;
    stream.set_write_timeout(Some(within))?;
    (&stream).write_all(payload)?;
    stream.shutdown(Shutdown::Write)?;
    let mut reply = Vec::new();
    (&stream).read_to_end(&mut reply)?;
    Ok(reply)
}

/// A message unique to attempt `i` of a test.
fn message(what: &str, i: usize) -> Vec<u8> {
    let mut tail = [0u8; 12];
    Prng::new(i as u64 + 1).fill(&mut tail);
    let mut m = format!("{what} {i} ").into_bytes();
    m.extend(tail.iter().map(|b| b'a' + b % 26));
    m
}

/// Whether the server ended the connection (RST or FIN) within the read timeout.
fn ended(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match (&*stream).read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

// ---- the attacks ----

fn spoofed_udp_does_not_stop_the_udp_echo() {
    spoofed_udp(false);
}

#[cfg(feature = "ipv6")]
/// The same over IPv6: spoofed sources fd00:69::bad:N that nobody answers neighbour
/// solicitations for, the kernel's client on fd00:69::100.
fn spoofed_ipv6_udp_does_not_stop_the_udp_echo() {
    spoofed_udp(true);
}

/// A spoofed UDP datagram to the echo (8848) from source number `host`: IPv4 `.host` of the
/// subnet, or IPv6 fd00:69::bad:`host` (0 and 1: fd00:69:: and fd00:69::1), each with a MAC of
/// its own that nobody answers for.
fn spoofed_datagram(ipv6: bool, host: u8) -> Vec<u8> {
    let payload = b"spoofed datagram";
    let port = 5000 + u16::from(host);
    if !ipv6 {
        return frames::udp(&spoofed(host), port, 8848, payload);
    }
    #[cfg(not(feature = "ipv6"))]
    unreachable!("IPv6 without the ipv6 feature");
    #[cfg(feature = "ipv6")]
    {
        use smolsock::smoltcp::wire::{UdpPacket, UdpRepr};
        // As over IPv4, 0 and 1 are the subnet's own (its router anycast address, fd00:69::,
        // and smolsock's fd00:69::1).
        let src = match host {
            0 | 1 => Ipv6Address::new(0xfd00, 0x69, 0, 0, 0, 0, 0, u16::from(host)),
            _ => Ipv6Address::new(0xfd00, 0x69, 0, 0, 0, 0, 0xbad, u16::from(host)),
        };
        let udp = UdpRepr {
            src_port: port,
            dst_port: 8848,
        };
        let mac = EthernetAddress([0x02, 0x66, 0, 0, 0, host]);
        let (mut frame, dst) = ipv6_to_us(mac, src, 17, udp.header_len() + payload.len());
        udp.emit(
            &mut UdpPacket::new_unchecked(&mut frame[14 + 40..]),
            &src.into(),
            &dst.into(),
            payload.len(),
            |buf| buf.copy_from_slice(payload),
            &ChecksumCapabilities::default(),
        );
        frame
    }
}

/// Spoofed datagrams from unresolvable senders at 5,000/s while the kernel's client asks the
/// echo every 50 ms: every legitimate datagram is answered within 1 s, during and after.
fn spoofed_udp(ipv6: bool) {
    let (ns, server) = setup(if ipv6 { "hudp6" } else { "hudp" }, |_| {});
    let sniffer = Sniffer::start(&ns);
    let attacker = ns.run(|| RawLink::open(TAP, false)).expect("raw socket");
    // Unresolvable senders of the subnet: .200-.250, the network address and smolsock's own
    // (IPv6: fd00:69::bad:200 to :250, the subnet-router anycast address and smolsock's own).
    let sources: Vec<u8> = (200..=250).chain([0, 1]).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let attack_stop = stop.clone();
    let attack = thread::spawn(move || {
        let started = Instant::now();
        let mut n = 0usize;
        // 5000 datagrams/s until told to stop (at most 10 s).
        while !attack_stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(10) {
            n += flood(&attacker, 250, 5000, Duration::from_secs(1), |i| {
                spoofed_datagram(ipv6, sources[(n + i) % sources.len()])
            });
        }
        n
    });
    let (client, echo): (String, SocketAddr) = if ipv6 {
        let echo = format!("[{}]:8848", netns::SMOLSOCK_IP6)
            .parse()
            .expect("address");
        (format!("[{}]:0", netns::KERNEL_IP6), echo)
    } else {
        (format!("{KERNEL_IP}:0"), addr(8848))
    };

    // The legitimate client: one datagram every 50 ms during the attack (2 s), then 10 after it.
    let (during, after, answered) = ns.run(move || {
        let socket = UdpSocket::bind(client).unwrap();
        let mut latencies: Vec<Duration> = Vec::new();
        let ask = |i: usize| -> Option<Duration> {
            let m = message("legit udp", i);
            let sent = Instant::now();
            socket.send_to(&m, echo).unwrap();
            let mut buf = [0u8; 1500];
            loop {
                let left = Duration::from_secs(1).checked_sub(sent.elapsed())?;
                socket
                    .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                    .unwrap();
                match socket.recv_from(&mut buf) {
                    // A late answer to an earlier datagram: not this one.
                    Ok((n, from)) if from == echo && buf[..n] != m.to_ascii_uppercase() => {}
                    Ok((n, from)) => {
                        assert_eq!(from, echo);
                        assert_eq!(&buf[..n], m.to_ascii_uppercase().as_slice());
                        return Some(sent.elapsed());
                    }
                    Err(_) => return None,
                }
            }
        };
        thread::sleep(Duration::from_millis(200)); // the attack is under way
        let mut during = Vec::new();
        for i in 0..36 {
            during.push(ask(i));
            thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::Relaxed);
        let mut after = Vec::new();
        for i in 100..110 {
            after.push(ask(i));
        }
        latencies.extend(during.iter().chain(&after).flatten());
        (during, after, latencies.len() as u64)
    });
    let spoofed_sent = attack.join().expect("attacker");
    let answered_during = during.iter().flatten().count();
    let worst = during.iter().flatten().max().copied().unwrap_or_default();
    eprintln!(
        "spoofed UDP{}: {spoofed_sent} spoofed datagrams; legit answered during {answered_during}/{} \
         (slowest {worst:?}), after {}/{} (first in {:?})",
        if ipv6 { " over IPv6" } else { "" },
        during.len(),
        after.iter().flatten().count(),
        after.len(),
        after[0]
    );
    // The attack reached smolsock: it asked who the spoofed senders are (IPv4: ARP requests
    // seen; both: replies to them dropped unsent, below).
    if !ipv6 {
        assert!(
            sniffer
                .count(|p| arp_request_for(p, |ip| ip.octets()[3] >= 200 || ip.octets()[3] == 0))
                > 0,
            "smolsock never asked for a spoofed sender: the attack did not arrive"
        );
    }
    assert_eq!(
        answered_during,
        during.len(),
        "every datagram answered within 1 s during the attack"
    );
    assert!(
        after.iter().all(Option::is_some),
        "every datagram answered after the attack"
    );
    let report =
        server.stop_when_within(Duration::from_secs(5), |r| r.udp_echo.datagrams >= answered);
    assert!(report.udp_echo.dropped_unsent > 0, "{report:?}");
    assert_eq!(
        report.udp_echo.datagrams, answered,
        "datagrams counted as answered = datagrams the legitimate client got"
    );
}

fn syn_flood_does_not_close_port_8000() {
    let (ns, server) = setup("hsyn", |_| {});
    let sniffer = Sniffer::start(&ns);
    // The kernel's neighbour entry for smolsock exists before the flood (as for a client that
    // talked to it before).
    assert_eq!(
        ns.run(|| echo(8000, b"warm up", Duration::from_secs(5)))
            .expect("echo"),
        b"WARM UP"
    );
    let attacker = ns.run(|| RawLink::open(TAP, false)).expect("raw socket");
    const RATE: usize = 10_000;
    const FLOOD: Duration = Duration::from_secs(2);
    let attack = thread::spawn(move || {
        let mut prng = Prng::new(9);
        let started = Instant::now();
        let taken = flood(
            &attacker,
            RATE * 2,
            RATE,
            FLOOD + Duration::from_millis(500),
            |i| {
                let host = 150 + (i % 101) as u8; // .150-.250: nobody answers ARP for them
                let port = 1024 + (prng.next_u32() % 60_000) as u16;
                frames::tcp(&spoofed(host), &Segment::syn(port, 8000, prng.next_u32()))
            },
        );
        (taken, started.elapsed())
    });
    // Ten legitimate connections spread over the flood, each with 3 s to connect and echo.
    let served = ns.run(|| {
        thread::sleep(Duration::from_millis(100));
        let mut served = Vec::new();
        for i in 0..10 {
            let started = Instant::now();
            let m = message("legit tcp", i);
            let ok = matches!(echo(8000, &m, Duration::from_secs(3)), Ok(r) if r == m.to_ascii_uppercase());
            served.push((ok, started.elapsed()));
            thread::sleep(Duration::from_millis(180).saturating_sub(started.elapsed()));
        }
        served
            .iter()
            .filter(|(ok, _)| !ok)
            .for_each(|(_, t)| eprintln!("a legitimate connection failed after {t:?}"));
        served
    });
    let (taken, flood_time) = attack.join().expect("attacker");
    eprintln!(
        "SYN flood: tap0 from the kernel's side: {}",
        tx_counters(&ns)
    );
    // Right after the flood: served at once.
    let ended_at = Instant::now();
    let m = message("after the flood", 0);
    let reply = ns.run(move || echo(8000, &m, Duration::from_secs(1)));
    let recovery = ended_at.elapsed();
    let ok = served.iter().filter(|(ok, _)| *ok).count();
    let times: Vec<Duration> = served.iter().map(|(_, t)| *t).collect();
    eprintln!(
        "SYN flood: {taken} spoofed SYNs taken by the kernel in {flood_time:?}; legit served \
         during {ok}/10 (each took {times:.1?}); after: {} in {recovery:?}",
        if reply.is_ok() {
            "served"
        } else {
            "NOT served"
        }
    );
    // The flood reached smolsock: it tried to answer spoofed sources (ARP for them).
    assert!(
        sniffer.count(|p| arp_request_for(p, |ip| ip.octets()[3] >= 150 && ip.octets()[3] != 255))
            > 0,
        "smolsock never asked for a spoofed SYN's source: the flood did not arrive"
    );
    assert!(taken >= RATE, "only {taken} SYNs went out");
    assert!(
        ok >= 9,
        "{ok} of 10 legitimate connections served during the flood"
    );
    let reply = reply.expect("8000 serves right after the flood");
    assert_eq!(reply, message("after the flood", 0).to_ascii_uppercase());
    server.stop_when_within(Duration::from_secs(5), |r| r.echo.accepted >= 12);
}

#[cfg(feature = "ipv6")]
/// The echo's IPv6 address, once a kernel client has had `greeting` echoed over IPv6 (which
/// also gives the kernel smolsock's link-layer address, as for a client that talked before).
fn echoed_over_ipv6(ns: &Netns, greeting: &'static [u8]) -> SocketAddr {
    let to: SocketAddr = format!("[{SMOLSOCK_IP6}]:8000").parse().expect("address");
    let reply = ns
        .run(move || echo_at(to, greeting, Duration::from_secs(5)))
        .expect("echo over IPv6");
    assert_eq!(reply, greeting.to_ascii_uppercase());
    to
}

#[cfg(feature = "ipv6")]
/// An Ethernet frame from `src_mac` to smolsock's MAC carrying an IPv6 header from `src` to
/// smolsock's fd00:69::1 (`next_header`, `payload_len` bytes of payload, left zero after the 54
/// bytes of headers); the destination address, for the payload's checksum.
fn ipv6_to_us(
    src_mac: EthernetAddress,
    src: Ipv6Address,
    next_header: u8,
    payload_len: usize,
) -> (Vec<u8>, Ipv6Address) {
    let dst: Ipv6Address = SMOLSOCK_IP6.parse().expect("address");
    let mut frame = vec![0u8; 14 + 40 + payload_len];
    frame[..6].copy_from_slice(SMOLSOCK_MAC.as_bytes());
    frame[6..12].copy_from_slice(src_mac.as_bytes());
    frame[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    let ip = &mut frame[14..];
    ip[0] = 0x60;
    ip[4..6].copy_from_slice(&(payload_len as u16).to_be_bytes());
    ip[6] = next_header;
    ip[7] = 64;
    ip[8..24].copy_from_slice(&src.octets());
    ip[24..40].copy_from_slice(&dst.octets());
    (frame, dst)
}

#[cfg(feature = "ipv6")]
/// A spoofed IPv6 TCP SYN from `src` (fd00:69::/64, a MAC of its own) to smolsock's
/// fd00:69::1 port 8000.
fn syn6(src_mac: EthernetAddress, src: Ipv6Address, port: u16, seq: u32) -> Vec<u8> {
    let tcp = TcpRepr {
        src_port: port,
        dst_port: 8000,
        control: smolsock::smoltcp::wire::TcpControl::Syn,
        seq_number: smolsock::smoltcp::wire::TcpSeqNumber(seq as i32),
        ack_number: None,
        window_len: 64240,
        window_scale: None,
        max_seg_size: Some(1440),
        sack_permitted: false,
        sack_ranges: [None, None, None],
        timestamp: None,
        payload: &[],
    };
    let (mut frame, dst) = ipv6_to_us(src_mac, src, 6, tcp.buffer_len());
    tcp.emit(
        &mut TcpPacket::new_unchecked(&mut frame[14 + 40..]),
        &src.into(),
        &dst.into(),
        &ChecksumCapabilities::default(),
    );
    frame
}

#[cfg(feature = "ipv6")]
/// The IPv6 SYN flood: 10,000 SYNs a second for 2 s from fd00:69::bad:N (nobody answers
/// neighbour solicitations for them), while the kernel connects over IPv6 from fd00:69::100:
/// the guard's SYN admission reads IPv6 and recycles the spoofed half-open slots.
fn ipv6_syn_flood_does_not_close_port_8000() {
    let (ns, server) = setup("hsyn6", |_| {});
    let to = echoed_over_ipv6(&ns, b"warm up");
    let attacker = ns.run(|| RawLink::open(TAP, false)).expect("raw socket");
    const RATE: usize = 10_000;
    const FLOOD: Duration = Duration::from_secs(2);
    let attack = thread::spawn(move || {
        let mut prng = Prng::new(6);
        flood(
            &attacker,
            RATE * 2,
            RATE,
            FLOOD + Duration::from_millis(500),
            |i| {
                let host = (i % 101) as u16;
                let src = Ipv6Address::new(0xfd00, 0x69, 0, 0, 0, 0, 0xbad, host);
                let mac = EthernetAddress([0x02, 0x66, 0, 0, 0, host as u8]);
                let port = 1024 + (prng.next_u32() % 60_000) as u16;
                syn6(mac, src, port, prng.next_u32())
            },
        )
    });
    let served = ns.run(move || {
        thread::sleep(Duration::from_millis(100));
        let mut served = 0;
        for i in 0..10 {
            let started = Instant::now();
            let m = message("legit tcp over ipv6", i);
            if matches!(echo_at(to, &m, Duration::from_secs(3)), Ok(r) if r == m.to_ascii_uppercase())
            {
                served += 1;
            }
            thread::sleep(Duration::from_millis(180).saturating_sub(started.elapsed()));
        }
        served
    });
    let taken = attack.join().expect("attacker");
    let m = message("after the ipv6 flood", 0);
    let started = Instant::now();
    let reply = ns.run(move || echo_at(to, &m, Duration::from_secs(1)));
    let recovery = started.elapsed();
    let report = server.stop_when_within(Duration::from_secs(5), |r| r.echo.accepted >= 12);
    eprintln!(
        "IPv6 SYN flood: {taken} spoofed SYNs taken by the kernel; legit served during {served}/10; \
         after: {} in {recovery:?}; guard {:?}",
        if reply.is_ok() { "served" } else { "NOT served" },
        report.guard
    );
    assert!(taken >= RATE, "only {taken} SYNs went out");
    assert!(
        report.guard.half_open_recycled > 1000,
        "the guard did not recycle spoofed IPv6 handshakes: {:?}",
        report.guard
    );
    assert!(
        served >= 9,
        "{served} of 10 legitimate connections served during the flood"
    );
    assert_eq!(
        reply.expect("8000 serves over IPv6 right after the flood"),
        message("after the ipv6 flood", 0).to_ascii_uppercase()
    );
}

fn slowloris_does_not_hold_the_pool() {
    slowloris("hslow", addr(8000));
}

#[cfg(feature = "ipv6")]
/// The same with every connection over IPv6 (holders and newcomers from fd00:69::100).
fn slowloris_over_ipv6_does_not_hold_the_pool() {
    slowloris(
        "hslow6",
        format!("[{SMOLSOCK_IP6}]:8000").parse().expect("address"),
    );
}

/// Holders that never send or never read fill a pool of 4 (connecting to `to`); a newcomer must
/// be served within 30 s, every holder closed by the pool's rules, the next client at once.
fn slowloris(name: &str, to: SocketAddr) {
    // The default eviction (a newcomer evicts a connection idle for 10 s); idle and stalled
    // connections timed out after 15 s instead of 300 s, so every holder goes within the test.
    let (ns, server) = setup(name, |c| {
        c.pool = 4;
        c.backlog = 2;
        c.limits.idle_timeout = Some(SmolDuration::from_secs(15));
        c.limits.send_timeout = Some(SmolDuration::from_secs(15));
    });
    let started = Instant::now();
    let outcome = ns.run(move || {
        // Two holders that connect and never send; two that send and never read, until their
        // window and the server's buffers are full.
        let silent: Vec<TcpStream> = (0..2)
            .map(|_| TcpStream::connect_timeout(&to, Duration::from_secs(5)).unwrap())
            .collect();
        let junk = vec![b'x'; 1 << 20];
        let greedy: Vec<TcpStream> = (0..2)
            .map(|_| {
                let s = TcpStream::connect_timeout(&to, Duration::from_secs(5)).unwrap();
                s.set_nonblocking(true).unwrap();
                let mut sent = 0;
                let deadline = Instant::now() + Duration::from_secs(3);
                while Instant::now() < deadline {
                    match (&s).write(&junk[sent % junk.len()..]) {
                        Ok(n) => sent += n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            thread::sleep(Duration::from_millis(20))
                        }
                        Err(_) => break,
                    }
                }
                eprintln!("a greedy holder wrote {sent} bytes before its window shut");
                s
            })
            .collect();
        // Every socket of the pool is taken: a legitimate client tries until served (30 s).
        let holding = started.elapsed();
        let tried = Instant::now();
        let mut attempts = 0;
        let served = loop {
            attempts += 1;
            let m = message("legit slowloris", attempts);
            match echo_at(to, &m, Duration::from_secs(3)) {
                Ok(r) if r == m.to_ascii_uppercase() => break Some(tried.elapsed()),
                _ if tried.elapsed() > Duration::from_secs(30) => break None,
                _ => thread::sleep(Duration::from_millis(100)),
            }
        };
        // The holders must have been closed by the server (eviction or timeouts, 60 s at most).
        let mut closed = Vec::new();
        for s in silent.iter().chain(&greedy) {
            s.set_nonblocking(false).unwrap();
            let left = Duration::from_secs(60).saturating_sub(tried.elapsed());
            s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            closed.push(ended(s).then(|| tried.elapsed()));
        }
        (holding, attempts, served, closed)
    });
    let (holding, attempts, served, closed) = outcome;
    eprintln!(
        "slowloris ({to}): pool held after {holding:?}; legit served after {served:?} ({attempts} \
         attempts); holders closed at {closed:?}"
    );
    let served = served.expect("a legitimate client is served while holders fill the pool");
    assert!(served < Duration::from_secs(30), "{served:?}");
    assert!(
        closed.iter().all(Option::is_some),
        "every holder closed by the server: {closed:?}"
    );
    // After: a fresh client at once.
    let m = message("after slowloris", 0);
    let after = Instant::now();
    let reply = ns
        .run(move || echo_at(to, &m, Duration::from_secs(2)))
        .expect("served after");
    eprintln!(
        "slowloris: after the holders, served in {:?}",
        after.elapsed()
    );
    assert_eq!(reply, message("after slowloris", 0).to_ascii_uppercase());
    let report = server.stop_when_within(Duration::from_secs(5), |r| r.echo.accepted >= 6);
    let e = report.echo;
    assert!(
        e.evicted >= 1 && e.evicted + e.idle_timeouts + e.send_timeouts >= 4,
        "every holder closed by the pool's rules, one evicted for the newcomer: {e:?}"
    );
}

/// The window scale smolsock announced in its SYN-ACK (0 without the option).
fn window_scale(frame: &[u8]) -> u8 {
    let tcp = TcpPacket::new_checked(&frame[frames::L4..]).expect("TCP");
    let repr = TcpRepr::parse(
        &tcp,
        &SERVER.into(),
        &KERNEL.into(),
        // The sniffer checked the checksum (partial: `frames::parse_sent`).
        &ChecksumCapabilities::ignored(),
    )
    .expect("a valid segment");
    repr.window_scale.unwrap_or(0)
}

/// Spoofed RSTs on one connection's four-tuple, ready to fire.
struct Storm {
    link: RawLink,
    hosts: Hosts,
    local: u16,
    ack: u32,
    offsets: Vec<u32>,
    /// The receive window smolsock last announced on the connection, in bytes.
    window: u32,
}

impl Storm {
    /// Send every RST at 50,000 a second (10 s at most); returns how many the kernel took.
    fn fire(&self) -> usize {
        flood(
            &self.link,
            self.offsets.len(),
            50_000,
            Duration::from_secs(10),
            |i| {
                let seq = self.ack.wrapping_add(self.offsets[i]);
                frames::tcp(
                    &self.hosts,
                    &Segment::new(self.local, 8000, seq, 0, flag::RST),
                )
            },
        )
    }
}

/// RSTs on `stream`'s four-tuple at every sequence number smolsock would take as in its
/// receive window (learnt from what it last sent on that connection), in order from `RCV.NXT +
/// 1`, skipping the exact `RCV.NXT` unless `exact` (then only that one).
fn aim(ns: &Netns, sniffer: &Sniffer, stream: &TcpStream, exact: bool) -> Storm {
    let local = stream.local_addr().unwrap().port();
    let on_tuple = move |p: &Parsed| {
        matches!(p, Parsed::Tcp { src_port: 8000, dst_port, hosts, .. }
            if *dst_port == local && hosts.dst_ip == KERNEL)
    };
    let (_, syn_ack) = sniffer
        .last(move |p| {
            on_tuple(p) && matches!(p, Parsed::Tcp { flags, .. } if flags & flag::SYN != 0)
        })
        .expect("the SYN-ACK was sniffed");
    let shift = window_scale(&syn_ack);
    let Some((Parsed::Tcp { ack, window, .. }, _)) = sniffer.last(on_tuple) else {
        panic!("no segment of the connection sniffed");
    };
    let window = u32::from(window) << shift;
    assert!(window > 0, "a connection with its window open");
    let link = ns.run(|| RawLink::open(TAP, false)).expect("raw socket");
    // The kernel's address, from a MAC of the attacker's.
    let hosts = Hosts {
        src_ip: KERNEL,
        ..spoofed(66)
    };
    let offsets: Vec<u32> = if exact {
        vec![0]
    } else {
        (1..window).collect()
    };
    Storm {
        link,
        hosts,
        local,
        ack,
        offsets,
        window,
    }
}

/// A kernel connection to the echo (port 8000) that has echoed `greeting`, with `read_timeout`.
fn echoed_connection(ns: &Netns, greeting: &'static [u8], read_timeout: Duration) -> TcpStream {
    ns.run(move || {
        let s = TcpStream::connect_timeout(&addr(8000), Duration::from_secs(5)).unwrap();
        s.set_read_timeout(Some(read_timeout)).unwrap();
        (&s).write_all(greeting).unwrap();
        let mut buf = vec![0u8; greeting.len()];
        (&s).read_exact(&mut buf).unwrap();
        assert_eq!(buf, greeting.to_ascii_uppercase());
        s
    })
}

fn blind_rsts_across_the_window_do_not_reset() {
    let (ns, server) = setup("hrst", |_| {});
    let sniffer = Sniffer::start(&ns);
    let stream = echoed_connection(&ns, b"before the storm", Duration::from_secs(5));
    thread::sleep(Duration::from_millis(100)); // smolsock's last ACK is out and sniffed
    let storm = aim(&ns, &sniffer, &stream, false);
    let window = storm.window;
    let started = Instant::now();
    let firing = thread::spawn(move || storm.fire());
    // During the storm: an 8-byte echo every 20 ms, from 100 ms in, when the storm has passed
    // every sequence number these few hundred bytes move `RCV.NXT` to (so no RST can be
    // exact by chance).
    thread::sleep(Duration::from_millis(100));
    let (mut asked, mut answered) = (0, 0);
    while !firing.is_finished() {
        asked += 1;
        let m = format!("ping{:04}", asked % 10_000);
        let mut buf = [0u8; 8];
        let ok =
            (&stream).write_all(m.as_bytes()).is_ok() && (&stream).read_exact(&mut buf).is_ok();
        if !ok {
            break;
        }
        assert_eq!(&buf, m.to_ascii_uppercase().as_bytes());
        answered += 1;
        thread::sleep(Duration::from_millis(20));
    }
    let sent = firing.join().expect("the storm");
    let storm = started.elapsed();
    // The connection carries on, every byte checked, and ends with FIN both ways.
    let payload: Vec<u8> = (0..64 << 10).map(|i| (i % 251) as u8).collect();
    let expected = payload.to_ascii_uppercase();
    let mut writer = stream.try_clone().unwrap();
    let sender = thread::spawn(move || {
        writer.write_all(&payload).expect("send after the storm");
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut reply = Vec::new();
    let result = (&stream).read_to_end(&mut reply);
    sender.join().unwrap();
    let guard = server.latest().map(|r| r.guard);
    eprintln!(
        "blind RST: {sent} RSTs across a {window}-byte window in {storm:?}; during it \
         {answered}/{asked} echoes; after it the connection {} ({} of {} bytes echoed); guard: \
         {guard:?}",
        if result.is_ok() {
            "survived"
        } else {
            "was RESET"
        },
        reply.len(),
        expected.len()
    );
    assert!(
        sent as u32 >= window - 1,
        "only {sent} of {} RSTs went out",
        window - 1
    );
    assert!(
        asked > 10 && answered == asked,
        "{answered}/{asked} echoes during the storm"
    );
    result.expect("the connection survives the blind RSTs");
    assert!(reply == expected, "the echo after the storm differs");

    // Control: the same frames with the exact sequence number do reset (so the storm's frames
    // were right, and reached the connection).
    let victim = echoed_connection(&ns, b"victim", Duration::from_secs(5));
    thread::sleep(Duration::from_millis(100));
    assert_eq!(aim(&ns, &sniffer, &victim, true).fire(), 1);
    thread::sleep(Duration::from_millis(100));
    let _ = (&victim).write_all(b"anyone there?");
    assert!(ended(&victim), "an RST at RCV.NXT resets the connection");
    let report = server.stop_when_within(Duration::from_secs(5), |r| {
        r.echo.accepted == 2 && r.echo.closed == 1 && r.echo.reset == 1
    });
    assert!(
        report.guard.rsts_challenged + report.guard.rsts_dropped >= sent as u64,
        "every blind RST stopped by the guard: {:?}",
        report.guard
    );
}

/// With the TAP device's checksum offload smoltcp checks no TCP checksum (`src/tap/checksum.rs`):
/// a segment the kernel did not make, like this one written with a packet socket, is checked by
/// the device. An RST exactly at `RCV.NXT` but with a wrong checksum (a bit flipped on the wire)
/// must change nothing; the same RST with its checksum right resets, so the frame was exact.
fn a_corrupt_rst_at_rcv_nxt_does_not_reset() {
    let (ns, server) = setup("hcsum", |_| {});
    let sniffer = Sniffer::start(&ns);
    let stream = echoed_connection(&ns, b"checksums", Duration::from_secs(2));
    thread::sleep(Duration::from_millis(100)); // smolsock's last ACK is out and sniffed
    let storm = aim(&ns, &sniffer, &stream, true);
    let exact = frames::tcp(
        &storm.hosts,
        &Segment::new(storm.local, 8000, storm.ack, 0, flag::RST),
    );
    let mut corrupt = exact.clone();
    corrupt[frames::L4 + 16] ^= 0x01;
    assert!(
        storm.link.send(&corrupt).expect("send"),
        "the kernel took the frame"
    );
    thread::sleep(Duration::from_millis(100));
    // Still there, every byte echoed.
    (&stream).write_all(b"still here").unwrap();
    let mut buf = [0u8; 10];
    (&stream)
        .read_exact(&mut buf)
        .expect("the connection survives a corrupt RST");
    assert_eq!(&buf, b"STILL HERE");
    let dropped = server.latest().map_or(0, |r| r.tap.rx_dropped);
    assert!(
        dropped >= 1,
        "the device counted the corrupt segment ({dropped})"
    );
    // Control: the same RST with a right checksum, at the new RCV.NXT, resets.
    thread::sleep(Duration::from_millis(100));
    let storm = aim(&ns, &sniffer, &stream, true);
    assert_eq!(storm.fire(), 1);
    thread::sleep(Duration::from_millis(100));
    let _ = (&stream).write_all(b"anyone there?");
    assert!(ended(&stream), "the RST with its checksum right resets");
    server.stop_when_within(Duration::from_secs(5), |r| r.echo.reset == 1);
}

#[cfg(feature = "ipv6")]
/// The device's TCP checksum check over IPv6: 100 SYNs from a spoofed neighbour, one bit of each
/// checksum flipped, are dropped before smoltcp (which checks no TCP checksum with the offload)
/// or the guard see them: counted by the device, no handshake started; the kernel's own IPv6
/// clients are served all along.
fn corrupt_ipv6_syns_are_dropped_by_the_device() {
    let (ns, server) = setup("hcsum6", |_| {});
    let to = echoed_over_ipv6(&ns, b"before");
    let attacker = ns.run(|| RawLink::open(TAP, false)).expect("raw socket");
    let src = Ipv6Address::new(0xfd00, 0x69, 0, 0, 0, 0, 0xbad, 1);
    let mac = EthernetAddress([0x02, 0x66, 0, 0, 0, 1]);
    for i in 0..100u16 {
        let mut frame = syn6(mac, src, 2000 + i, 1000 + u32::from(i));
        frame[14 + 40 + 16] ^= 0x01;
        assert!(
            attacker.send(&frame).expect("send"),
            "the kernel took the frame"
        );
    }
    thread::sleep(Duration::from_millis(200));
    assert_eq!(echoed_over_ipv6(&ns, b"after"), to);
    let report = server.stop_when_within(Duration::from_secs(5), |r| r.tap.rx_dropped >= 100);
    eprintln!(
        "100 corrupt IPv6 SYNs: dropped by the device {}, guard {:?}, echo {:?}",
        report.tap.rx_dropped, report.guard, report.echo
    );
    assert_eq!(
        report.tap.rx_dropped, 100,
        "each corrupt SYN dropped by the device"
    );
    assert_eq!(
        report.guard.half_open_recycled, 0,
        "no handshake reached smoltcp"
    );
    assert_eq!(
        report.echo.accepted, 2,
        "the two kernel clients, nobody else"
    );
}
