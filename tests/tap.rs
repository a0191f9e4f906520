//! The services on a Linux TAP device, driven by the Linux kernel's own sockets.
//!
//! Each test makes a network namespace of its own with a TAP device (kernel side
//! 192.168.69.100/24), runs the library's TAP server on it (in a thread that entered the
//! namespace, or the `tap` example's binary under `ip netns exec`), and talks to it with
//! `std::net` from threads inside the same namespace: real Ethernet, ARP, IPv4 and TCP/UDP from
//! the kernel. Needs root; without it (or without `ip` or `/dev/net/tun`) every test is reported
//! ignored with the reason (failed under `SMOLSOCK_REQUIRE_ALL=1`, see `tests/harness`), decided
//! once before the run. Namespaces, threads and processes are cleaned up on drop, also on failure.

mod harness;
mod netns;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use netns::{Netns, KERNEL_IP, SMOLSOCK_IP, TAP};
use smolsock::digest::Fnv1a;
use smolsock::smoltcp::time::Duration as SmolDuration;
use smolsock::tap::{ChatOperator, ServerConfig, ServerReport, TapError, TapServer};

fn main() -> std::process::ExitCode {
    // Decided once: root, `ip`, /dev/net/tun and a namespace with a TAP device in it.
    let unavailable = netns::unavailable().map(str::to_string);
    harness::run(
        harness::tests![
            upper_case_echo_from_the_kernel,
            framed_echo_three_frames_in_one_send_and_one_frame_byte_by_byte,
            oversize_frame_header_closes_only_that_connection,
            four_mebibytes_through_the_echo_every_byte_checked,
            three_hundred_connect_close_cycles_in_a_row,
            exhausted_pool_refuses_then_recovers,
            udp_echo_answers_twenty_kernel_clients,
            sink_receives_everything_and_the_echo_is_still_alive,
            client_reset_mid_stream_costs_only_that_connection,
            random_bytes_to_both_tcp_ports,
            one_mebibyte_intact_through_a_lossy_device,
            chat_operator_replies_to_kernel_clients,
            cli_explains_a_missing_interface,
            cli_refuses_the_kernels_own_address_and_warns_outside_its_subnet,
            dhcp_lease_from_dnsmasq_lost_and_taken_again,
            cli_serve_with_capture_then_ctrl_c,
            cli_serve_chat_operator_types_replies,
            cli_clients_talk_to_kernel_servers,
            setup_script_then_python_client_as_in_the_readme,
        ],
        unavailable,
    )
}

const IO_TIMEOUT: Duration = Duration::from_secs(20);

fn addr(port: u16) -> SocketAddr {
    format!("{SMOLSOCK_IP}:{port}").parse().expect("address")
}

fn upper(bytes: &[u8]) -> Vec<u8> {
    bytes.to_ascii_uppercase()
}

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0; len];
    smolsock::sim::Prng::new(seed).fill(&mut bytes);
    bytes
}

/// The library's TAP server running in a thread inside a namespace; stopped on drop.
struct Server {
    stop: Arc<AtomicBool>,
    latest: Arc<Mutex<Option<ServerReport>>>,
    thread: Option<JoinHandle<Result<ServerReport, TapError>>>,
}

impl Server {
    fn start(ns: &Netns, config: ServerConfig) -> Server {
        Self::start_with_chat(ns, config, None)
    }

    fn start_with_chat(ns: &Netns, mut config: ServerConfig, chat: Option<ChatOperator>) -> Server {
        let _ = env_logger::builder().is_test(true).try_init();
        // Another thread stops the server: let it notice within 50 ms.
        config.max_wait = Some(SmolDuration::from_millis(50));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let flag = stop.clone();
        let latest = Arc::new(Mutex::new(None));
        let observed = latest.clone();
        let thread = ns.spawn(move || match TapServer::open(config) {
            Ok(server) => {
                ready_tx.send(Ok(())).ok();
                server.run_observed(&flag, chat, |report| {
                    *observed.lock().unwrap() = Some(*report);
                })
            }
            Err(e) => {
                ready_tx.send(Err(e.to_string())).ok();
                Err(e)
            }
        });
        let server = Server {
            stop,
            latest,
            thread: Some(thread),
        };
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {
                ns.wait_for_carrier();
                server
            }
            Ok(Err(e)) => panic!("the server did not start: {e}"),
            Err(e) => panic!("the server did not start: {e}"),
        }
    }

    /// Wait (up to 20 s) until the server's counters satisfy `settled` (a connection the client
    /// has finished may still wait for its last ACK on the server), then stop it.
    fn stop_when(self, settled: impl Fn(&ServerReport) -> bool) -> ServerReport {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.latest.lock().unwrap().as_ref().is_some_and(&settled) {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let report = self.stop();
        assert!(settled(&report), "{report:?}");
        report
    }

    /// Wait (up to `limit`) until the latest report satisfies `what`; return it.
    fn wait_for(&self, limit: Duration, what: impl Fn(&ServerReport) -> bool) -> ServerReport {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(report) = self.latest.lock().unwrap().filter(|r| what(r)) {
                return report;
            }
            assert!(
                Instant::now() < deadline,
                "not within {limit:?}: {:?}",
                self.latest.lock().unwrap()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stop the server and return what it counted.
    fn stop(mut self) -> ServerReport {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread.take().expect("running");
        match thread.join() {
            Ok(Ok(report)) => report,
            Ok(Err(e)) => panic!("the server failed: {e}"),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A namespace with a TAP device and the server on it.
fn setup(test: &str, config: impl FnOnce(&mut ServerConfig)) -> (Netns, Server) {
    let ns = Netns::new(test).expect("namespace");
    ns.add_tap().expect("TAP device");
    let mut cfg = ServerConfig::new(TAP);
    config(&mut cfg);
    let server = Server::start(&ns, cfg);
    (ns, server)
}

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr(port), IO_TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

/// Send `payload` on a fresh connection, half-close, and return everything until the server
/// closes. A writer thread and this reader run at once, as TCP needs for large payloads.
fn echo(port: u16, payload: Vec<u8>) -> Vec<u8> {
    let stream = connect(port);
    let mut writer = stream.try_clone().unwrap();
    let sender = thread::spawn(move || {
        writer.write_all(&payload).expect("send");
        writer.shutdown(Shutdown::Write).expect("half-close");
    });
    let mut reply = Vec::new();
    (&stream).read_to_end(&mut reply).expect("receive");
    sender.join().expect("sender");
    reply
}

/// Abortive close: SO_LINGER {on, 0} makes `close` send RST.
fn reset(stream: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt with a valid `linger` on an open socket.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER");
    drop(stream);
}

fn upper_case_echo_from_the_kernel() {
    let (ns, server) = setup("echo", |_| {});
    let reply = ns.run(|| echo(8000, b"hello world".to_vec()));
    assert_eq!(reply, b"HELLO WORLD");
    let every_byte: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let expected = upper(&every_byte);
    let reply = ns.run(move || echo(8000, every_byte));
    assert_eq!(reply, expected, "only ASCII letters change");
    server.stop_when(|r| r.echo.accepted == 2 && r.echo.closed == 2);
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

fn read_frame(stream: &TcpStream) -> Vec<u8> {
    let mut header = [0u8; 4];
    let mut reader = stream;
    reader.read_exact(&mut header).expect("frame header");
    let mut payload = vec![0u8; u32::from_be_bytes(header) as usize];
    reader.read_exact(&mut payload).expect("frame payload");
    payload
}

/// Whether the server ended the connection (RST or FIN) within the read timeout.
fn ended(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match (&*stream).read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn framed_echo_three_frames_in_one_send_and_one_frame_byte_by_byte() {
    let (ns, server) = setup("framed", |_| {});
    ns.run(|| {
        let stream = connect(9000);
        stream.set_nodelay(true).unwrap();
        // Three frames glued into one send: three frames back.
        let mut glued = Vec::new();
        for message in [&b"one"[..], b"two", b"three"] {
            glued.extend_from_slice(&frame(message));
        }
        (&stream).write_all(&glued).unwrap();
        for expected in [&b"ONE"[..], b"TWO", b"THREE"] {
            assert_eq!(read_frame(&stream), expected);
        }
        // One frame, one byte per segment (TCP_NODELAY, a pause between bytes).
        for byte in frame(b"byte by byte, still one frame") {
            (&stream).write_all(&[byte]).unwrap();
            thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(read_frame(&stream), b"BYTE BY BYTE, STILL ONE FRAME");
        // An empty frame is a frame too; then a full-size one.
        (&stream).write_all(&frame(b"")).unwrap();
        assert_eq!(read_frame(&stream), b"");
        let big = random_bytes(smolsock::tap::MAX_FRAME, 3);
        (&stream).write_all(&frame(&big)).unwrap();
        assert_eq!(read_frame(&stream), upper(&big));
        stream.shutdown(Shutdown::Write).unwrap();
        assert!(ended(&stream));
    });
    server.stop_when(|r| r.frames.frames == 6 && r.framed.closed == 1 && r.frames.bad_frames == 0);
}

fn oversize_frame_header_closes_only_that_connection() {
    let (ns, server) = setup("oversize", |_| {});
    ns.run(|| {
        let good = connect(9000);
        (&good).write_all(&frame(b"before")).unwrap();
        assert_eq!(read_frame(&good), b"BEFORE");
        // A header announcing one byte more than the server accepts.
        let bad = connect(9000);
        let too_long = (smolsock::tap::MAX_FRAME as u32 + 1).to_be_bytes();
        (&bad).write_all(&too_long).unwrap();
        assert!(ended(&bad), "the oversize frame's connection is closed");
        // The other connection, and new ones, go on.
        (&good).write_all(&frame(b"after")).unwrap();
        assert_eq!(read_frame(&good), b"AFTER");
        let next = connect(9000);
        (&next).write_all(&frame(b"next")).unwrap();
        assert_eq!(read_frame(&next), b"NEXT");
    });
    server.stop_when(|r| r.frames.bad_frames == 1 && r.frames.frames == 3);
}

fn four_mebibytes_through_the_echo_every_byte_checked() {
    let (ns, server) = setup("4mib", |_| {});
    let payload = random_bytes(4 << 20, 4);
    let expected = upper(&payload);
    let started = Instant::now();
    let reply = ns.run(move || echo(8000, payload));
    eprintln!("4 MiB echoed in {:?}", started.elapsed());
    assert_eq!(reply.len(), expected.len());
    if let Some(i) = reply.iter().zip(&expected).position(|(a, b)| a != b) {
        panic!("reply differs at byte {i}");
    }
    server.stop_when(|r| r.echo.closed == 1);
}

fn three_hundred_connect_close_cycles_in_a_row() {
    let (ns, server) = setup("cycles", |_| {});
    ns.run(|| {
        for i in 0..300 {
            let message = format!("cycle {i}");
            let reply = echo(8000, message.clone().into_bytes());
            assert_eq!(reply, message.to_uppercase().into_bytes(), "cycle {i}");
        }
    });
    server.stop_when(|r| r.echo.accepted == 300 && r.echo.closed == 300 && r.tap.refused == 0);
}

fn exhausted_pool_refuses_then_recovers() {
    let (ns, server) = setup("pool", |c| {
        c.pool = 3;
        c.backlog = 2;
    });
    ns.run(|| {
        // Three clients hold every socket of the pool (each served: its echo came back).
        let mut held: Vec<TcpStream> = (0..3)
            .map(|i| {
                let mut s = connect(8000);
                s.write_all(format!("client {i}").as_bytes()).unwrap();
                let mut buf = [0u8; 8];
                s.read_exact(&mut buf).unwrap();
                assert_eq!(buf.as_slice(), format!("CLIENT {i}").as_bytes());
                s
            })
            .collect();
        // The fourth finds no listening socket: RST, "connection refused", at once.
        let err = TcpStream::connect_timeout(&addr(8000), IO_TIMEOUT).expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
        // One client leaves; its socket listens again and the next client gets in.
        let leaving = held.remove(0);
        leaving.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        (&leaving).read_to_end(&mut rest).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let reply = loop {
            match TcpStream::connect_timeout(&addr(8000), IO_TIMEOUT) {
                Ok(s) => {
                    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                    (&s).write_all(b"back in").unwrap();
                    s.shutdown(Shutdown::Write).unwrap();
                    let mut reply = Vec::new();
                    (&s).read_to_end(&mut reply).unwrap();
                    break reply;
                }
                Err(e) if e.kind() == ErrorKind::ConnectionRefused && Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("no recovery: {e}"),
            }
        };
        assert_eq!(reply, b"BACK IN");
        drop(held);
    });
    server.stop_when(|r| {
        r.echo.exhausted >= 1 && r.tap.refused >= 1 && r.echo.accepted == 4 && r.echo.closed == 4
    });
}

fn udp_echo_answers_twenty_kernel_clients() {
    let (ns, server) = setup("udp", |_| {});
    ns.run(|| {
        let clients: Vec<UdpSocket> = (0..20)
            .map(|_| {
                let s = UdpSocket::bind(format!("{KERNEL_IP}:0")).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                s
            })
            .collect();
        for (i, s) in clients.iter().enumerate() {
            s.send_to(format!("hello from client {i}").as_bytes(), addr(8848))
                .unwrap();
        }
        for (i, s) in clients.iter().enumerate() {
            let mut buf = [0u8; 1500];
            let (n, from) = s.recv_from(&mut buf).expect("reply");
            assert_eq!(from, addr(8848));
            assert_eq!(&buf[..n], format!("HELLO FROM CLIENT {i}").as_bytes());
        }
    });
    server.stop_when(|r| r.udp_echo.datagrams == 20);
}

fn sink_receives_everything_and_the_echo_is_still_alive() {
    let (ns, server) = setup("sink", |_| {});
    let (count, bytes, digest) = ns.run(|| {
        let s = UdpSocket::bind(format!("{KERNEL_IP}:0")).unwrap();
        let mut digest = 0u64;
        let mut bytes = 0u64;
        for i in 0..100u64 {
            let datagram = random_bytes(1 + (i as usize * 37) % 1400, i);
            digest = digest.wrapping_add(Fnv1a::of(&datagram));
            bytes += datagram.len() as u64;
            s.send_to(&datagram, addr(8888)).unwrap();
        }
        (100u64, bytes, digest)
    });
    // The sink answers nothing; the echo services still answer.
    let reply = ns.run(|| echo(8000, b"still there?".to_vec()));
    assert_eq!(reply, b"STILL THERE?");
    ns.run(|| {
        let s = UdpSocket::bind(format!("{KERNEL_IP}:0")).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.send_to(b"udp too", addr(8848)).unwrap();
        let mut buf = [0u8; 64];
        let (n, _) = s.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"UDP TOO");
    });
    // Every datagram arrived intact (the digest sums each one's hash, whatever the order).
    server.stop_when(|r| {
        r.sink.datagrams == count && r.sink.bytes == bytes && r.sink.digest == digest
    });
}

fn client_reset_mid_stream_costs_only_that_connection() {
    let (ns, server) = setup("reset", |_| {});
    ns.run(|| {
        let bystander = connect(8000);
        (&bystander).write_all(b"before ").unwrap();
        // A client streams 256 KiB without reading, then vanishes with RST.
        let rude = connect(8000);
        rude.set_nonblocking(true).unwrap();
        let junk = random_bytes(256 << 10, 9);
        let mut sent = 0;
        let deadline = Instant::now() + Duration::from_secs(5);
        while sent < junk.len() / 2 && Instant::now() < deadline {
            match (&rude).write(&junk[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(sent > 0);
        reset(rude);
        // The other connection and new ones carry on.
        (&bystander).write_all(b"and after").unwrap();
        bystander.shutdown(Shutdown::Write).unwrap();
        let mut reply = Vec::new();
        (&bystander).read_to_end(&mut reply).unwrap();
        assert_eq!(reply, b"BEFORE AND AFTER");
        assert_eq!(echo(8000, b"next".to_vec()), b"NEXT");
    });
    server.stop_when(|r| r.echo.reset == 1 && r.echo.closed == 2);
}

fn random_bytes_to_both_tcp_ports() {
    let (ns, server) = setup("random", |_| {});
    ns.run(|| {
        for seed in 0..4 {
            // The upper-case echo takes any bytes.
            let junk = random_bytes(64 << 10, seed);
            let expected = upper(&junk);
            assert_eq!(echo(8000, junk), expected, "echo of junk {seed}");
            // To the framed echo, junk is a frame header announcing gigabytes: that
            // connection is reset, nothing else happens.
            let junk = random_bytes(64 << 10, 100 + seed);
            let stream = connect(9000);
            let _ = (&stream).write_all(&junk); // may fail once the server has reset it
            assert!(ended(&stream), "framed junk {seed}");
        }
        // Ports with no service: refused, nothing else happens.
        for port in [8080, 9999] {
            let err = TcpStream::connect_timeout(&addr(port), IO_TIMEOUT).expect_err("refused");
            assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        }
        assert_eq!(echo(8000, b"ok".to_vec()), b"OK");
        let stream = connect(9000);
        (&stream).write_all(&frame(b"ok")).unwrap();
        assert_eq!(read_frame(&stream), b"OK");
    });
    server.stop_when(|r| {
        r.tap.refused == 2 && r.echo.closed == 5 && r.frames.bad_frames == 4 && r.frames.frames == 1
    });
}

fn one_mebibyte_intact_through_a_lossy_device() {
    let (ns, server) = setup("faults", |c| {
        c.drop_pct = 5;
        c.corrupt_pct = 1;
        c.seed = 42;
    });
    let payload = random_bytes(1 << 20, 5);
    let expected = upper(&payload);
    let started = Instant::now();
    let reply = ns.run(move || echo(8000, payload));
    eprintln!(
        "1 MiB through 5% loss and 1% corruption in {:?}",
        started.elapsed()
    );
    assert_eq!(reply.len(), expected.len());
    assert!(reply == expected, "the reply differs");
    server.stop_when(|r| r.echo.closed == 1);
}

fn chat_operator_replies_to_kernel_clients() {
    let ns = Netns::new("chat").unwrap();
    ns.add_tap().unwrap();
    let operator: ChatOperator = Box::new(|_from, line, reply| {
        let answer = format!("you said {} bytes", line.len());
        reply[..answer.len()].copy_from_slice(answer.as_bytes());
        answer.len()
    });
    let server = Server::start_with_chat(&ns, ServerConfig::new(TAP), Some(operator));
    ns.run(|| {
        let stream = connect(8080);
        let mut lines = BufReader::new(stream.try_clone().unwrap());
        for message in ["hello", "how are you?"] {
            (&stream)
                .write_all(format!("{message}\n").as_bytes())
                .unwrap();
            let mut reply = String::new();
            lines.read_line(&mut reply).unwrap();
            assert_eq!(reply, format!("you said {} bytes\n", message.len()));
        }
    });
    server.stop_when(|r| r.chat.is_some_and(|c| c.accepted == 1 && c.closed == 1));
}

// ---- the `tap` example's command line, run as its own process ----

/// The `tap` example's binary, built once per test run with this test's features and profile.
fn tap_binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        // Exactly this test's feature set, so cargo reuses the library it already built.
        let features: Vec<&str> = [
            ("default", cfg!(feature = "default")),
            ("std", cfg!(feature = "std")),
            ("smoltcp-log", cfg!(feature = "smoltcp-log")),
            ("tap", cfg!(feature = "tap")),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect();
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args([
                "build",
                "--quiet",
                "--example",
                "tap",
                "--no-default-features",
            ])
            .args(["--features", &features.join(",")]);
        if !cfg!(debug_assertions) {
            cargo.arg("--release");
        }
        let status = cargo.status().expect("run cargo");
        assert!(status.success(), "cargo build --example tap failed");
        // target/<profile>/deps/tap-HASH -> target/<profile>/examples/tap
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(|d| d.parent()).unwrap();
        let binary = profile_dir.join("examples").join("tap");
        assert!(binary.exists(), "{} missing", binary.display());
        binary
    })
}

/// A process started under `ip netns exec`; killed by its PID on drop.
struct Process(Child);

impl Process {
    fn interrupt(&self) {
        // SAFETY: kill(2) on our own child's PID.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGINT) };
    }

    fn wait_output(mut self) -> (bool, String, String) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.0.try_wait().unwrap() {
                Some(status) => {
                    let mut out = String::new();
                    let mut err = String::new();
                    if let Some(mut s) = self.0.stdout.take() {
                        s.read_to_string(&mut out).ok();
                    }
                    if let Some(mut s) = self.0.stderr.take() {
                        s.read_to_string(&mut err).ok();
                    }
                    return (status.success(), out, err);
                }
                None if Instant::now() > deadline => panic!("the process did not exit"),
                None => thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

fn spawn_in(ns: &Netns, args: &[&str], stdin: Stdio) -> Process {
    let child = ns
        .command(tap_binary())
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the tap example");
    Process(child)
}

/// Wait until smolsock answers on TCP `port` (the process has attached to the TAP device).
fn wait_until_serving(ns: &Netns, port: u16) {
    ns.run(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match TcpStream::connect_timeout(&addr(port), Duration::from_secs(1)) {
                Ok(_) => return,
                Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
                Err(e) => panic!("nothing serves port {port}: {e}"),
            }
        }
    });
}

fn cli_explains_a_missing_interface() {
    let ns = Netns::new("climiss").unwrap();
    let (ok, _out, err) =
        spawn_in(&ns, &["serve", "--iface", "nosuch0"], Stdio::null()).wait_output();
    assert!(!ok);
    assert!(err.contains("no interface \"nosuch0\""), "{err}");
    assert!(err.contains("ip tuntap add dev nosuch0 mode tap"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

fn cli_serve_with_capture_then_ctrl_c() {
    let ns = Netns::new("cliserve").unwrap();
    ns.add_tap().unwrap();
    let pcap = std::env::temp_dir().join(format!("{}.pcap", ns.name()));
    let server = spawn_in(
        &ns,
        &["serve", "--iface", TAP, "--pcap", pcap.to_str().unwrap()],
        Stdio::null(),
    );
    wait_until_serving(&ns, 8000);
    let reply = ns.run(|| echo(8000, b"over the command line".to_vec()));
    assert_eq!(reply, b"OVER THE COMMAND LINE");
    server.interrupt();
    let (ok, _out, err) = server.wait_output();
    assert!(ok, "{err}");
    assert!(err.contains("smolsock served"), "{err}");
    let capture = std::fs::read(&pcap).unwrap();
    std::fs::remove_file(&pcap).ok();
    assert_eq!(&capture[..4], &0xa1b2c3d4u32.to_ne_bytes(), "libpcap magic");
    // Records: ARP, both handshakes (the probe and the echo), data, FINs.
    let mut offset = 24;
    let mut records = 0;
    while offset + 16 <= capture.len() {
        let len = u32::from_ne_bytes(capture[offset + 8..offset + 12].try_into().unwrap()) as usize;
        offset += 16 + len;
        records += 1;
    }
    assert_eq!(offset, capture.len(), "whole records only");
    assert!(records >= 10, "{records} records");
}

fn cli_serve_chat_operator_types_replies() {
    let ns = Netns::new("clichat").unwrap();
    ns.add_tap().unwrap();
    let mut server = spawn_in(&ns, &["serve", "--iface", TAP, "--chat"], Stdio::piped());
    let mut operator = server.0.stdin.take().unwrap();
    wait_until_serving(&ns, 8000);
    let client = ns.spawn(|| {
        let stream = connect(8080);
        (&stream).write_all(b"hello server\n").unwrap();
        let mut reply = String::new();
        BufReader::new(&stream).read_line(&mut reply).unwrap();
        reply
    });
    // Empty replies are refused, as the chat client refuses empty lines: never sent.
    operator.write_all(b"\n  \nhello client\n").unwrap();
    operator.flush().unwrap();
    let reply = client.join().unwrap();
    assert_eq!(reply, "hello client\n");
    server.interrupt();
    let (ok, out, err) = server.wait_output();
    assert!(ok, "{err}");
    assert!(
        out.contains("hello server"),
        "the operator sees the line: {out}"
    );
    assert_eq!(out.matches("empty reply refused").count(), 2, "{out}");
}

/// The lesson's kernel-side programs (`scripts/lesson.py`) for the command-line clients,
/// killed on drop: TCP upper-case echo on 8000 (one `recv`, reply, close, as in the lesson),
/// framed upper-case echo on 9000, UDP upper-case echo on 8848, and the chat on 8080 with its
/// scripted operator, who answers each line with "ok: LINE". `None` without `python3`.
struct KernelServers {
    children: Vec<Child>,
}

impl KernelServers {
    fn start(ns: &Netns) -> Option<KernelServers> {
        if Command::new("python3").arg("--version").output().is_err() {
            eprintln!("skipped: no python3 for scripts/lesson.py");
            return None;
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/lesson.py");
        let mut servers = KernelServers {
            children: Vec::new(),
        };
        let programs: [&[&str]; 4] = [
            &["tcp-server"],
            &["framed-server"],
            &["udp-server"],
            &["chat-server", "--auto"],
        ];
        for program in programs {
            let mut child = ns
                .command("python3")
                .arg(script)
                .args(program)
                .args(["--host", KERNEL_IP])
                .stdout(Stdio::piped())
                .spawn()
                .expect("python3 scripts/lesson.py");
            // Bound before this returns, so no client comes too early; the rest of what the
            // server prints goes to the test's output.
            let mut out = BufReader::new(child.stdout.take().unwrap());
            let mut line = String::new();
            out.read_line(&mut line).unwrap();
            servers.children.push(child);
            assert!(line.contains("listening on"), "{program:?}: {line:?}");
            thread::spawn(move || {
                out.lines()
                    .map_while(Result::ok)
                    .for_each(|l| eprintln!("{l}"))
            });
        }
        Some(servers)
    }
}

impl Drop for KernelServers {
    fn drop(&mut self) {
        for child in &mut self.children {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

fn cli_clients_talk_to_kernel_servers() {
    let ns = Netns::new("cliclient").unwrap();
    ns.add_tap().unwrap();
    let Some(_servers) = KernelServers::start(&ns) else {
        return;
    };
    let tcp_target = format!("{KERNEL_IP}:8000");
    let (ok, out, err) = spawn_in(
        &ns,
        &["client", "tcp", &tcp_target, "hello world"],
        Stdio::null(),
    )
    .wait_output();
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("HELLO WORLD"), "{out}");

    let udp_target = format!("{KERNEL_IP}:8848");
    let (ok, out, err) = spawn_in(
        &ns,
        &["client", "udp", &udp_target, "hello udp"],
        Stdio::null(),
    )
    .wait_output();
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("HELLO UDP"), "{out}");

    let framed_target = format!("{KERNEL_IP}:9000");
    let (ok, out, err) = spawn_in(
        &ns,
        &["client", "framed", &framed_target, "one", "two", "three"],
        Stdio::null(),
    )
    .wait_output();
    assert!(ok, "{out}\n{err}");
    assert_eq!(out, "ONE\nTWO\nTHREE\n");

    let chat_target = format!("{KERNEL_IP}:8080");
    let mut chat = spawn_in(&ns, &["chat", &chat_target], Stdio::piped());
    let mut input = chat.0.stdin.take().unwrap();
    input
        .write_all(b"first line\n\nsecond line\nyes\n")
        .unwrap();
    drop(input);
    let (ok, out, err) = chat.wait_output();
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("ok: first line"), "{out}");
    assert!(out.contains("ok: second line"), "{out}");
    assert!(
        out.contains("empty"),
        "an empty line is refused with a message: {out}"
    );
}

fn setup_script_then_python_client_as_in_the_readme() {
    let name = format!("smolsock-{}-script", std::process::id());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/tap-netns.sh");
    let status = Command::new(script).args(["up", &name]).status().unwrap();
    assert!(status.success(), "tap-netns.sh up");
    // Deleted on drop even if the test fails; `down` below normally does it first.
    let ns = Netns::adopt(name.clone());
    let server = spawn_in(&ns, &["serve"], Stdio::null());
    wait_until_serving(&ns, 8000);
    let python = "import socket; s=socket.create_connection(('192.168.69.1',8000)); \
                  s.sendall(b'hello world'); print(s.recv(1024).decode())";
    match ns.command("python3").args(["-c", python]).output() {
        Ok(out) => {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "HELLO WORLD");
        }
        Err(e) => eprintln!("python3 not available ({e}); the script was checked without it"),
    }
    server.interrupt();
    let (ok, _out, err) = server.wait_output();
    assert!(ok, "{err}");
    let status = Command::new(script).args(["down", &name]).status().unwrap();
    assert!(status.success(), "tap-netns.sh down");
    let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&list.stdout).contains(&name));
    std::mem::forget(ns); // already deleted
}

/// `--ip` against the kernel's side of the interface: its own address is refused, another
/// subnet is warned about.
fn cli_refuses_the_kernels_own_address_and_warns_outside_its_subnet() {
    let ns = Netns::new("ownaddr").unwrap();
    ns.add_tap().unwrap();
    let run = |args: &[&str]| {
        let out = ns
            .command(tap_binary())
            .args(args)
            .args(["--iface", TAP])
            .env("RUST_LOG", "off")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let own = format!("{KERNEL_IP}/24");
    let (ok, err) = run(&["chat", "192.168.69.100:8080", "--ip", &own]);
    assert!(
        !ok && err.contains("is the kernel's own address on tap0"),
        "{err}"
    );
    let (_, err) = run(&[
        "client",
        "udp",
        "10.1.1.2:8848",
        "hi",
        "--ip",
        "10.1.1.1/24",
        "--timeout",
        "1",
    ]);
    assert!(
        err.contains("warning: --ip 10.1.1.1/24: the kernel's side of tap0 is 192.168.69.100/24"),
        "{err}"
    );
}

/// Debian's dnsmasq as the DHCP server on the kernel's side of the TAP device; killed (by its
/// PID) on drop.
struct Dnsmasq(Child);

impl Dnsmasq {
    fn start(ns: &Netns, leases: &std::path::Path) -> Dnsmasq {
        let child = ns
            .command("dnsmasq")
            .args([
                "--no-daemon",
                "--conf-file=/dev/null",
                "--port=0", // no DNS, DHCP only
                "--interface",
                TAP,
                "--bind-interfaces",
                "--dhcp-range=192.168.69.50,192.168.69.59,255.255.255.0,2m",
                "--dhcp-option=option:router,192.168.69.100",
                "--dhcp-option=option:dns-server,192.168.69.100",
                "--dhcp-authoritative",
                "--user=root",
            ])
            .arg(format!("--dhcp-leasefile={}", leases.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq (apt-get install dnsmasq; .ci/run installs it)");
        Dnsmasq(child)
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `serve --dhcp` against a real DHCP server: a lease (address, gateway, DNS), the services on
/// the leased address, the server going away (the lease runs out: no address), and coming
/// back (a lease again, services at once). Leases are capped at 8 s so this takes seconds.
fn dhcp_lease_from_dnsmasq_lost_and_taken_again() {
    let (ns, server) = setup("dhcp", |c| c.dhcp = Some(Some(SmolDuration::from_secs(8))));
    let leases = std::env::temp_dir().join(format!("smolsock-{}-dhcp.leases", std::process::id()));
    let _ = std::fs::remove_file(&leases);
    let echo_at = |ns: &Netns, address: std::net::Ipv4Addr| {
        ns.run(move || {
            let mut s = TcpStream::connect_timeout(&SocketAddr::from((address, 8000)), IO_TIMEOUT)
                .expect("connect to the leased address");
            s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
            s.write_all(b"leased").unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            let mut reply = Vec::new();
            s.read_to_end(&mut reply).unwrap();
            reply
        })
    };
    let dnsmasq = Dnsmasq::start(&ns, &leases);
    let first = server.wait_for(Duration::from_secs(20), |r| r.address.is_some());
    let address = first.address.unwrap();
    let leased = std::net::Ipv4Addr::from(address.address().octets());
    assert!(
        (50..=59).contains(&leased.octets()[3]) && address.prefix_len() == 24,
        "{address}"
    );
    assert_eq!(echo_at(&ns, leased), b"LEASED");
    // The server goes away: renewals fail and the lease runs out.
    drop(dnsmasq);
    let lost = server.wait_for(Duration::from_secs(30), |r| r.address.is_none());
    assert_eq!(lost.dhcp.unwrap().lost, 1);
    // It comes back: a lease again, and the services answer on it.
    let _dnsmasq = Dnsmasq::start(&ns, &leases);
    let again = server.wait_for(Duration::from_secs(40), |r| r.address.is_some());
    let leased = std::net::Ipv4Addr::from(again.address.unwrap().address().octets());
    assert_eq!(echo_at(&ns, leased), b"LEASED");
    let report = server.stop();
    assert!(report.dhcp.unwrap().configured >= 2, "{report:?}");
    let _ = std::fs::remove_file(&leases);
}
