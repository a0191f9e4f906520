//! The services on a Linux TAP device, driven by the Linux kernel's own sockets.
//!
//! Each test makes a network namespace of its own with a TAP device (kernel side
//! 192.168.69.100/24 and fd00:69::100/64), runs the library's TAP server on it (in a thread that
//! entered the namespace, or the `tap` example's binary under `ip netns exec`), and talks to it
//! with `std::net` from threads inside the same namespace: real Ethernet, ARP, IPv4, neighbour
//! discovery, IPv6 and TCP/UDP from the kernel. Needs root; without it (or without `ip` or `/dev/net/tun`) every test is reported
//! ignored with the reason (failed under `SMOLSOCK_REQUIRE_ALL=1`, see `tests/harness`), decided
//! once before the run. Namespaces, threads and processes are cleaned up on drop, also on failure.

mod checks;
mod harness;
mod netns;
mod tap_server;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread::{self};
use std::time::{Duration, Instant};

use netns::{Netns, KERNEL_IP, SMOLSOCK_IP, TAP};
#[cfg(feature = "ipv6")]
use netns::{KERNEL_IP6, SMOLSOCK_IP6};
use smolsock::smoltcp::time::Duration as SmolDuration;
use smolsock::tap::{ChatOperator, ServerConfig};
use tap_server::Server;

fn main() -> std::process::ExitCode {
    // Decided once: root, `ip`, /dev/net/tun and a namespace with a TAP device in it.
    let unavailable = netns::unavailable().map(str::to_string);
    #[allow(unused_mut)]
    let mut trials = harness::tests![
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
        ping_from_the_kernel_is_answered,
        cli_serve_with_capture_then_ctrl_c,
        cli_serve_chat_operator_types_replies,
        cli_clients_talk_to_kernel_servers,
        setup_script_then_python_client_as_in_the_readme,
    ];
    #[cfg(feature = "ipv6")]
    trials.extend(harness::tests![
        every_service_over_ipv6_and_ipv4_at_once,
        ping6_from_the_kernel_is_answered,
        cli_clients_talk_to_kernel_servers_over_ipv6,
        slaac_address_from_dnsmasq_router_advertisements,
    ]);
    harness::run(trials, unavailable)
}

use checks::{random_bytes, upper, IO_TIMEOUT};

/// The TAP server's services as the kernel in its namespace reaches them.
fn tap_server() -> checks::Server {
    checks::Server {
        echo: addr(8000),
        framed: addr(9000),
        udp_echo: addr(8848),
        sink: addr(8888),
        udp_bind: KERNEL_IP,
        max_frame: smolsock::tap::MAX_FRAME,
        udp_burst: usize::MAX,
    }
}

fn addr(port: u16) -> SocketAddr {
    format!("{SMOLSOCK_IP}:{port}").parse().expect("address")
}

#[cfg(feature = "ipv6")]
/// The same services at smolsock's IPv6 address, the kernel's clients on fd00:69::100.
fn tap_server6() -> checks::Server {
    checks::Server {
        echo: addr6(8000),
        framed: addr6(9000),
        udp_echo: addr6(8848),
        sink: addr6(8888),
        udp_bind: KERNEL_IP6,
        max_frame: smolsock::tap::MAX_FRAME,
        udp_burst: usize::MAX,
    }
}

#[cfg(feature = "ipv6")]
fn addr6(port: u16) -> SocketAddr {
    format!("[{SMOLSOCK_IP6}]:{port}").parse().expect("address")
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
    checks::connect(addr(port))
}

/// [`checks::echo`] to smolsock's `port`.
fn echo(port: u16, payload: Vec<u8>) -> Vec<u8> {
    checks::echo(addr(port), payload)
}

fn upper_case_echo_from_the_kernel() {
    let (ns, server) = setup("echo", |_| {});
    ns.run(|| checks::upper_case_echo(&tap_server()));
    server.stop_when(|r| r.echo.accepted == 2 && r.echo.closed == 2);
}

fn framed_echo_three_frames_in_one_send_and_one_frame_byte_by_byte() {
    let (ns, server) = setup("framed", |_| {});
    ns.run(|| {
        checks::framed_echo_three_frames_in_one_send_and_one_frame_byte_by_byte(&tap_server())
    });
    server.stop_when(|r| r.frames.frames == 6 && r.framed.closed == 1 && r.frames.bad_frames == 0);
}

fn oversize_frame_header_closes_only_that_connection() {
    let (ns, server) = setup("oversize", |_| {});
    ns.run(|| checks::oversize_frame_header_closes_only_that_connection(&tap_server()));
    server.stop_when(|r| r.frames.bad_frames == 1 && r.frames.frames == 3);
}

fn four_mebibytes_through_the_echo_every_byte_checked() {
    let (ns, server) = setup("4mib", |_| {});
    ns.run(|| checks::bulk_through_the_echo(&tap_server(), 4 << 20));
    server.stop_when(|r| r.echo.closed == 1);
}

fn three_hundred_connect_close_cycles_in_a_row() {
    let (ns, server) = setup("cycles", |_| {});
    ns.run(|| checks::connect_close_cycles(&tap_server(), 300));
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
    ns.run(|| checks::udp_echo_answers_clients(&tap_server(), 20));
    server.stop_when(|r| r.udp_echo.datagrams == 20);
}

fn sink_receives_everything_and_the_echo_is_still_alive() {
    let (ns, server) = setup("sink", |_| {});
    let (count, bytes, digest) =
        ns.run(|| checks::sink_receives_everything_and_the_echo_is_still_alive(&tap_server()));
    // Every datagram arrived intact (the digest sums each one's hash, whatever the order).
    server.stop_when(|r| {
        r.sink.datagrams == count && r.sink.bytes == bytes && r.sink.digest == digest
    });
}

#[cfg(feature = "ipv6")]
/// Every service over IPv6 from the kernel's `AF_INET6` sockets (upper-case echo, framed echo,
/// 1 MiB through the echo, UDP echo to 20 clients, the sink, the chat), while IPv4 clients use
/// the same services at the same time: one server, both families, every byte checked.
fn every_service_over_ipv6_and_ipv4_at_once() {
    let ns = Netns::new("ipv6").unwrap();
    ns.add_tap().unwrap();
    let operator: ChatOperator = Box::new(|_from, line, reply| {
        let answer = format!("you said {} bytes", line.len());
        reply[..answer.len()].copy_from_slice(answer.as_bytes());
        answer.len()
    });
    let server = Server::start_with_chat(&ns, ServerConfig::new(TAP), Some(operator));
    let v4 = ns.spawn(|| {
        for _ in 0..3 {
            checks::upper_case_echo(&tap_server());
            checks::bulk_through_the_echo(&tap_server(), 256 << 10);
        }
        checks::udp_echo_answers_clients(&tap_server(), 10);
    });
    let (count, bytes, digest) = ns.run(|| {
        let srv = tap_server6();
        checks::upper_case_echo(&srv);
        checks::framed_echo_three_frames_in_one_send_and_one_frame_byte_by_byte(&srv);
        checks::bulk_through_the_echo(&srv, 1 << 20);
        checks::udp_echo_answers_clients(&srv, 20);
        let stream = checks::connect(addr6(8080));
        let mut lines = BufReader::new(stream.try_clone().unwrap());
        for message in ["hello over IPv6", "still here?"] {
            (&stream)
                .write_all(format!("{message}\n").as_bytes())
                .unwrap();
            let mut reply = String::new();
            lines.read_line(&mut reply).unwrap();
            assert_eq!(reply, format!("you said {} bytes\n", message.len()));
        }
        drop(lines);
        drop(stream);
        checks::sink_receives_everything_and_the_echo_is_still_alive(&srv)
    });
    if let Err(panic) = v4.join() {
        std::panic::resume_unwind(panic);
    }
    server.stop_when(|r| {
        r.sink.datagrams == count
            && r.sink.bytes == bytes
            && r.sink.digest == digest
            && r.frames.frames == 6
            && r.chat.is_some_and(|c| c.accepted == 1 && c.closed == 1)
            && r.udp_echo.datagrams == 20 + 10 + 1
            && r.echo.accepted == r.echo.closed
            && r.tap.refused == 0
    });
}

fn client_reset_mid_stream_costs_only_that_connection() {
    let (ns, server) = setup("reset", |_| {});
    ns.run(|| checks::client_reset_mid_stream_costs_only_that_connection(&tap_server()));
    server.stop_when(|r| r.echo.reset == 1 && r.echo.closed == 2);
}

fn random_bytes_to_both_tcp_ports() {
    let (ns, server) = setup("random", |_| {});
    ns.run(|| {
        checks::random_bytes_to_both_tcp_ports(&tap_server());
        // Ports with no service: refused, nothing else happens. (Behind QEMU's forwarded ports,
        // which forward only the services, this part has no equivalent.)
        for port in [8080, 9999] {
            let err = TcpStream::connect_timeout(&addr(port), IO_TIMEOUT).expect_err("refused");
            assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        }
        assert_eq!(echo(8000, b"ok".to_vec()), b"OK");
    });
    server.stop_when(|r| {
        r.tap.refused == 2 && r.echo.closed == 6 && r.frames.bad_frames == 4 && r.frames.frames == 1
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
    fn start(ns: &Netns, host: &str) -> Option<KernelServers> {
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
                .args(["--host", host])
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
    cli_clients_against(KERNEL_IP);
}

#[cfg(feature = "ipv6")]
/// The same clients over IPv6: the kernel's servers bound to fd00:69::100 (`AF_INET6`), the
/// targets written `[fd00:69::100]:PORT`.
fn cli_clients_talk_to_kernel_servers_over_ipv6() {
    cli_clients_against(KERNEL_IP6);
}

fn cli_clients_against(host: &'static str) {
    let ns = Netns::new("cliclient").unwrap();
    ns.add_tap().unwrap();
    let Some(_servers) = KernelServers::start(&ns, host) else {
        return;
    };
    let at = |port: u16| SocketAddr::new(host.parse().unwrap(), port).to_string();
    let tcp_target = at(8000);
    let (ok, out, err) = spawn_in(
        &ns,
        &["client", "tcp", &tcp_target, "hello world"],
        Stdio::null(),
    )
    .wait_output();
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("HELLO WORLD"), "{out}");

    let udp_target = at(8848);
    let (ok, out, err) = spawn_in(
        &ns,
        &["client", "udp", &udp_target, "hello udp"],
        Stdio::null(),
    )
    .wait_output();
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("HELLO UDP"), "{out}");

    let framed_target = at(9000);
    let (ok, out, err) = spawn_in(
        &ns,
        &["client", "framed", &framed_target, "one", "two", "three"],
        Stdio::null(),
    )
    .wait_output();
    assert!(ok, "{out}\n{err}");
    assert_eq!(out, "ONE\nTWO\nTHREE\n");

    let chat_target = at(8080);
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
            // The same over IPv6: the script gave the kernel side fd00:69::100/64.
            if cfg!(feature = "ipv6") {
                let python6 = "import socket; s=socket.create_connection(('fd00:69::1',8000)); \
                               s.sendall(b'hello world'); print(s.recv(1024).decode())";
                let out = ns
                    .command("python3")
                    .args(["-c", python6])
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "HELLO WORLD");
            }
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

#[cfg(feature = "ipv6")]
impl Dnsmasq {
    /// dnsmasq as an IPv6 router for SLAAC: it advertises fd00:69::/64 with the
    /// address-configuration flag (`ra-only`: no DHCPv6), and answers router solicitations.
    fn router_advertisements(ns: &Netns, leases: &std::path::Path) -> Dnsmasq {
        let child = ns
            .command("dnsmasq")
            .args([
                "--no-daemon",
                "--conf-file=/dev/null",
                "--port=0",
                "--interface",
                TAP,
                "--bind-interfaces",
                "--enable-ra",
                "--dhcp-range=fd00:69::,ra-only,64,10m",
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

/// `serve --slaac` against a real router advertisement: dnsmasq in the namespace advertises
/// fd00:69::/64, smolsock (no static IPv6 address) forms fd00:69::ff:fe00:1 from its MAC, and
/// the kernel's `AF_INET6` client is served there.
#[cfg(feature = "ipv6")]
fn slaac_address_from_dnsmasq_router_advertisements() {
    let (ns, server) = setup("slaac", |c| {
        c.ipv6 = None;
        c.slaac = true;
    });
    // dnsmasq advertises only on an interface that forwards, as a router's does.
    let status = ns
        .command("sysctl")
        .args(["-qw", "net.ipv6.conf.all.forwarding=1"])
        .status()
        .expect("sysctl");
    assert!(status.success(), "forwarding on in the namespace");
    let leases = std::env::temp_dir().join(format!("smolsock-{}-slaac.leases", std::process::id()));
    let _dnsmasq = Dnsmasq::router_advertisements(&ns, &leases);
    // 02:00:00:00:00:01 -> interface identifier 0000:00ff:fe00:0001 (modified EUI-64).
    let at: SocketAddr = "[fd00:69::ff:fe00:1]:8000".parse().unwrap();
    let reply = ns.run(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match TcpStream::connect_timeout(&at, Duration::from_millis(500)) {
                Ok(s) => {
                    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                    (&s).write_all(b"address from slaac").unwrap();
                    s.shutdown(Shutdown::Write).unwrap();
                    let mut reply = Vec::new();
                    (&s).read_to_end(&mut reply).unwrap();
                    break reply;
                }
                Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(200)),
                Err(e) => panic!("no SLAAC address within 20 s: {e}"),
            }
        }
    });
    assert_eq!(reply, b"ADDRESS FROM SLAAC");
    server.stop_when(|r| r.echo.accepted == 1 && r.echo.closed == 1);
    let _ = std::fs::remove_file(&leases);
}

/// Send one ICMP echo request to `to` through the kernel's ping socket (`SOCK_DGRAM` +
/// `IPPROTO_ICMP`, as `ping` does; `IPPROTO_ICMPV6` for an IPv6 address, as `ping -6` does) and
/// return the reply's payload, if one came within a second.
fn kernel_ping(to: std::net::IpAddr, seq: u16, payload: &[u8]) -> Option<Vec<u8>> {
    // Echo request and reply types: ICMP 8 and 0, ICMPv6 128 and 129.
    let (domain, protocol, request_type, reply_type) = match to {
        std::net::IpAddr::V4(_) => (libc::AF_INET, libc::IPPROTO_ICMP, 8u8, 0u8),
        std::net::IpAddr::V6(_) => (libc::AF_INET6, libc::IPPROTO_ICMPV6, 128, 129),
    };
    // SAFETY: plain socket calls on a descriptor this function owns and closes; every buffer
    // handed to the kernel is valid for the length given.
    unsafe {
        let fd = libc::socket(domain, libc::SOCK_DGRAM, protocol);
        assert!(fd >= 0, "ping socket: {}", std::io::Error::last_os_error());
        let timeout = libc::timeval {
            tv_sec: 1,
            tv_usec: 0,
        };
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
        // Echo request: code 0, checksum and identifier filled in by the kernel.
        let mut request = vec![request_type, 0, 0, 0, 0, 0];
        request.extend_from_slice(&seq.to_be_bytes());
        request.extend_from_slice(payload);
        let sent = match to {
            std::net::IpAddr::V4(v4) => {
                let mut addr: libc::sockaddr_in = std::mem::zeroed();
                addr.sin_family = libc::AF_INET as libc::sa_family_t;
                addr.sin_addr.s_addr = u32::from_ne_bytes(v4.octets());
                libc::sendto(
                    fd,
                    request.as_ptr().cast(),
                    request.len(),
                    0,
                    (&addr as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
            std::net::IpAddr::V6(v6) => {
                let mut addr: libc::sockaddr_in6 = std::mem::zeroed();
                addr.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                addr.sin6_addr.s6_addr = v6.octets();
                libc::sendto(
                    fd,
                    request.as_ptr().cast(),
                    request.len(),
                    0,
                    (&addr as *const libc::sockaddr_in6).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        };
        assert_eq!(
            sent,
            request.len() as isize,
            "{}",
            std::io::Error::last_os_error()
        );
        let mut reply = [0u8; 1500];
        let n = libc::recv(fd, reply.as_mut_ptr().cast(), reply.len(), 0);
        libc::close(fd);
        // An echo reply for our sequence number.
        (n >= 8 && reply[0] == reply_type && reply[6..8] == seq.to_be_bytes())
            .then(|| reply[8..n as usize].to_vec())
    }
}

/// `ping` works: the kernel's echo requests are answered with the same payload.
fn ping_from_the_kernel_is_answered() {
    ping_answered(SMOLSOCK_IP);
}

#[cfg(feature = "ipv6")]
/// `ping -6` works: the kernel's ICMPv6 echo requests to fd00:69::1 are answered.
fn ping6_from_the_kernel_is_answered() {
    ping_answered(SMOLSOCK_IP6);
}

fn ping_answered(at: &str) {
    let (ns, server) = setup("ping", |_| {});
    // Ping sockets are off by default for everyone (`ping_group_range` "1 0"); allow root, in
    // this namespace only.
    let status = ns
        .command("sh")
        .args(["-c", "echo 0 0 > /proc/sys/net/ipv4/ping_group_range"])
        .status()
        .expect("sh");
    assert!(status.success(), "allow ping sockets in the namespace");
    let to: std::net::IpAddr = at.parse().unwrap();
    let replies = ns.run(move || {
        (0..5u16)
            .map(|seq| kernel_ping(to, seq, b"are you there?"))
            .collect::<Vec<_>>()
    });
    assert!(
        replies
            .iter()
            .all(|r| r.as_deref() == Some(&b"are you there?"[..])),
        "{replies:?}"
    );
    server.stop();
}
