//! The firmware (`firmware/`) on QEMU's MPS2 boards: the self-test's exit status on mps2-an385
//! and mps2-an386, and network mode driven from the host through QEMU's user networking.
//!
//! Without `qemu-system-arm` or the Cortex-M targets every test is reported ignored with the
//! reason (failed under `SMOLSOCK_REQUIRE_ALL=1`, see `tests/harness`), decided once before the
//! run. Builds the firmware
//! with `cargo build --release` inside `firmware/` (its own `.cargo/config.toml` applies there).
//! Each network test boots its own QEMU on free host ports; a guard kills it by PID on drop,
//! whether the test passed or panicked.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use smolsock::digest::Fnv1a;

mod harness;

fn main() -> std::process::ExitCode {
    let unavailable = unavailable();
    harness::run(
        harness::tests![
            selftest_passes_on_mps2_an385,
            selftest_passes_on_mps2_an386,
            hardfault_is_reported_and_exits_non_zero,
            net_upper_case_echo,
            net_256_kib_through_the_echo_every_byte_checked,
            net_100_connect_close_cycles,
            net_pool_exhaustion_refuses_then_recovers,
            net_udp_echo_answers_several_clients,
            net_framed_echo_three_frames_in_one_send,
            net_framed_echo_one_frame_byte_by_byte,
            net_oversize_frame_header_closes_only_that_connection,
            net_without_logging_serves_every_service,
        ],
        unavailable,
    )
}

const AN385: Board = Board {
    machine: "mps2-an385",
    target: "thumbv7m-none-eabi",
};
const AN386: Board = Board {
    machine: "mps2-an386",
    target: "thumbv7em-none-eabihf",
};

/// The line network mode prints once it serves.
const READY: &str = "smolsock-net ready";

#[derive(Clone, Copy)]
struct Board {
    machine: &'static str,
    target: &'static str,
}

fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware")
}

/// Why these tests cannot run here, if they cannot.
fn unavailable() -> Option<String> {
    match Command::new("qemu-system-arm")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => {}
        _ => return Some("qemu-system-arm not found (apt-get install qemu-system-arm)".into()),
    }
    // The firmware needs the Cortex-M standard libraries of the toolchain that builds it.
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())?;
    let missing: Vec<&str> = ["thumbv7m-none-eabi", "thumbv7em-none-eabihf"]
        .into_iter()
        .filter(|t| !Path::new(&sysroot).join("lib/rustlib").join(t).exists())
        .collect();
    if missing.is_empty() {
        None
    } else {
        Some(format!(
            "Rust target(s) {} not installed (rustup target add {})",
            missing.join(", "),
            missing.join(" ")
        ))
    }
}

/// Build the firmware binaries for `board` once per test run; the directory of the ELF files.
fn firmware(board: Board) -> &'static Path {
    firmware_build(board, false)
}

/// Like [`firmware`], with `log_off`: the build whose footprint the README reports (`--features
/// log-off`), in its own target directory so both builds stay cached.
fn firmware_build(board: Board, log_off: bool) -> &'static Path {
    type Built = Vec<((&'static str, bool), &'static Path)>;
    static BUILT: OnceLock<Mutex<Built>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    // Holding the lock serialises the builds: two cargo processes would only wait on each other.
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    let key = (board.target, log_off);
    if let Some((_, dir)) = built.iter().find(|(k, _)| *k == key) {
        return dir;
    }
    let target_dir = if log_off {
        firmware_dir().join("target").join("log-off")
    } else {
        firmware_dir().join("target")
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(firmware_dir())
        .args(["build", "--release", "--bins", "--target", board.target])
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET");
    if log_off {
        cmd.args(["--features", "log-off"]);
    }
    let status = cmd.status().expect("run cargo for the firmware");
    assert!(
        status.success(),
        "firmware build for {} failed",
        board.target
    );
    let dir: &'static Path = Box::leak(
        target_dir
            .join(board.target)
            .join("release")
            .into_boxed_path(),
    );
    built.push((key, dir));
    dir
}

fn qemu(board: Board, elf: &Path, extra: &[String]) -> Command {
    let mut cmd = Command::new("qemu-system-arm");
    cmd.args(["-M", board.machine, "-nographic"])
        .args(["-semihosting-config", "enable=on,target=native"])
        .args(extra)
        .arg("-kernel")
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// A running QEMU: killed (by PID) and reaped when dropped.
struct Qemu {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Qemu {
    fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd.spawn().expect("start qemu-system-arm");
        let (tx, lines) = mpsc::channel();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Qemu {
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// Wait for a line containing `needle`; panics with everything seen so far on timeout.
    fn wait_for(&mut self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.log.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => panic!(
                    "no {needle:?} from the firmware within {timeout:?}; output:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    /// Wait for QEMU to exit by itself; its status code and output.
    fn wait_exit(&mut self, timeout: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("poll qemu") {
                break Some(status.code());
            }
            if Instant::now() >= deadline {
                break None;
            }
            thread::sleep(Duration::from_millis(20));
        };
        // Output threads end when QEMU's pipes close.
        thread::sleep(Duration::from_millis(100));
        self.log.extend(self.lines.try_iter());
        let log = self.log.join("\n");
        match status {
            Some(code) => (code, log),
            None => panic!("QEMU still running after {timeout:?}; output:\n{log}"),
        }
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        // `Child::kill` signals this child's PID only.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_selftest(board: Board) {
    let elf = firmware(board).join("selftest");
    let mut q = Qemu::spawn(qemu(board, &elf, &[]));
    let (code, log) = q.wait_exit(Duration::from_secs(60));
    assert_eq!(
        code,
        Some(0),
        "self-test failed on {}:\n{log}",
        board.machine
    );
    assert!(log.contains("summary:"), "no summary:\n{log}");
    assert!(log.contains(" 0 failed"), "{log}");
}

fn selftest_passes_on_mps2_an385() {
    run_selftest(AN385);
}

fn selftest_passes_on_mps2_an386() {
    run_selftest(AN386);
}

fn hardfault_is_reported_and_exits_non_zero() {
    let elf = firmware(AN385).join("fault");
    let mut q = Qemu::spawn(qemu(AN385, &elf, &[]));
    let (code, log) = q.wait_exit(Duration::from_secs(30));
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("HardFault: pc=0x"), "{log}");
}

/// Host ports forwarded to the firmware's services, and what it announced.
struct Net {
    qemu: Qemu,
    echo: u16,
    framed: u16,
    udp_echo: u16,
    udp_sink: u16,
    /// Sockets in the upper-case echo's pool (from the ready line).
    pool: usize,
}

/// A free TCP port on 127.0.0.1 (closed again at once; QEMU binds it right after).
fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

/// Boot network mode on `board` with fresh host ports; returns once it is serving.
fn boot_net(board: Board) -> Net {
    boot_net_elf(board, &firmware(board).join("net"))
}

/// [`boot_net`] with the given network-mode ELF.
fn boot_net_elf(board: Board, elf: &Path) -> Net {
    let (echo, framed) = (free_tcp_port(), free_tcp_port());
    let (udp_echo, udp_sink) = (free_udp_port(), free_udp_port());
    let nic = format!(
        "user,hostfwd=tcp:127.0.0.1:{echo}-:8000,hostfwd=tcp:127.0.0.1:{framed}-:9000,\
         hostfwd=udp:127.0.0.1:{udp_echo}-:8848,hostfwd=udp:127.0.0.1:{udp_sink}-:8888"
    );
    let mut qemu = Qemu::spawn(qemu(board, elf, &["-nic".into(), nic]));
    qemu.wait_for(READY, Duration::from_secs(30));
    let ready = qemu.log.last().cloned().unwrap_or_default();
    let pool = ready
        .split("(pool ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no pool size in {ready:?}"));
    Net {
        qemu,
        echo,
        framed,
        udp_echo,
        udp_sink,
        pool,
    }
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the forwarded port");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Read exactly `n` bytes (panics on EOF or timeout).
fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    s.read_exact(&mut buf).expect("read the reply");
    buf
}

/// Send our FIN, expect the server's FIN with no more data.
fn close_gracefully(mut s: TcpStream) {
    s.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest)
        .expect("server closes after the client");
    assert!(rest.is_empty(), "no data after the echo");
}

/// A connection that is served: sends `msg`, expects it upper-cased.
fn echo_once(port: u16, msg: &[u8]) -> TcpStream {
    let mut s = connect(port);
    s.write_all(msg).unwrap();
    assert_eq!(read_n(&mut s, msg.len()), msg.to_ascii_uppercase());
    s
}

/// Whether a new connection is served: QEMU accepts on the host side first, then the
/// firmware's RST (no socket listening) shows up as a reset or an immediate EOF.
fn served(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 4];
    s.write_all(b"ping").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"PING"
}

fn net_upper_case_echo() {
    let net = boot_net(AN385);
    let s = echo_once(net.echo, b"hello world");
    close_gracefully(s);
}

fn net_256_kib_through_the_echo_every_byte_checked() {
    let net = boot_net(AN386);
    let data: Vec<u8> = (0..256 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let expected = data.to_ascii_uppercase();
    let mut s = connect(net.echo);
    let mut reader = s.try_clone().unwrap();
    let n = expected.len();
    let rx = thread::spawn(move || read_n(&mut reader, n));
    s.write_all(&data).unwrap();
    let got = rx.join().expect("reader thread");
    let first_bad = got.iter().zip(&expected).position(|(a, b)| a != b);
    assert_eq!(first_bad, None, "echo differs at byte {first_bad:?}");
    close_gracefully(s);
}

fn net_100_connect_close_cycles() {
    let net = boot_net(AN385);
    for i in 0..100u32 {
        let s = echo_once(net.echo, format!("cycle {i}").as_bytes());
        close_gracefully(s);
    }
}

fn net_pool_exhaustion_refuses_then_recovers() {
    let net = boot_net(AN386);
    let mut held: Vec<TcpStream> = (0..net.pool)
        .map(|i| echo_once(net.echo, format!("held {i}").as_bytes()))
        .collect();
    assert!(
        !served(net.echo),
        "all {} sockets are busy: a new client must be refused",
        net.pool
    );
    // Every held connection still works.
    for (i, s) in held.iter_mut().enumerate() {
        let msg = format!("still {i}");
        s.write_all(msg.as_bytes()).unwrap();
        assert_eq!(read_n(s, msg.len()), msg.to_uppercase().as_bytes());
    }
    close_gracefully(held.pop().expect("pool has sockets"));
    // The freed socket listens again within milliseconds.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !served(net.echo) {
        assert!(Instant::now() < deadline, "pool did not recover");
        thread::sleep(Duration::from_millis(20));
    }
    held.into_iter().for_each(close_gracefully);
}

fn net_udp_echo_answers_several_clients() {
    let net = boot_net(AN385);
    // Each round every client sends at once: no more datagrams than the firmware's UDP queue
    // (4) holds, since UDP drops what does not fit.
    let clients: Vec<UdpSocket> = (0..4)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            s
        })
        .collect();
    for round in 0..4 {
        for (i, c) in clients.iter().enumerate() {
            c.send_to(
                format!("client {i} round {round}").as_bytes(),
                ("127.0.0.1", net.udp_echo),
            )
            .unwrap();
        }
        for (i, c) in clients.iter().enumerate() {
            let mut buf = [0u8; 600];
            let (n, from) = c.recv_from(&mut buf).expect("UDP echo reply");
            assert_eq!(from.port(), net.udp_echo);
            assert_eq!(
                &buf[..n],
                format!("CLIENT {i} ROUND {round}").as_bytes(),
                "each client gets its own datagram back"
            );
        }
    }
    // The sink answers nothing, and counts exactly what was sent to it: the firmware logs its
    // count, bytes and digest (the wrapping sum of each datagram's FNV-1a) as they change.
    let mut net = net;
    let c = &clients[0];
    c.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let (mut datagrams, mut bytes, mut digest) = (0u64, 0u64, 0u64);
    for (i, payload) in [&b"into the sink"[..], b"", &[0xa5; 150]]
        .iter()
        .enumerate()
    {
        c.send_to(payload, ("127.0.0.1", net.udp_sink)).unwrap();
        datagrams += 1;
        bytes += payload.len() as u64;
        digest = digest.wrapping_add(Fnv1a::of(payload));
        net.qemu.wait_for(
            &format!("udp sink: {datagrams} datagrams, {bytes} bytes, digest {digest:016x}"),
            Duration::from_secs(5),
        );
        let mut buf = [0u8; 64];
        assert!(
            c.recv_from(&mut buf).is_err(),
            "the sink replied to datagram {i}"
        );
    }
    drop(net.qemu);
}

/// One frame: 4-byte big-endian length, then the payload.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}

/// Read one frame; its payload.
fn read_frame(s: &mut TcpStream) -> Vec<u8> {
    let mut header = [0u8; 4];
    s.read_exact(&mut header).expect("frame header");
    let len = u32::from_be_bytes(header) as usize;
    assert!(len <= 64 * 1024, "implausible reply frame of {len} bytes");
    read_n(s, len)
}

fn net_framed_echo_three_frames_in_one_send() {
    let net = boot_net(AN385);
    let mut s = connect(net.framed);
    let messages: [&[u8]; 3] = [b"one", b"two", b"three"];
    // The lesson's sticky packets: three messages in one write, one TCP segment.
    s.write_all(&messages.iter().flat_map(|m| frame(m)).collect::<Vec<u8>>())
        .unwrap();
    for m in messages {
        assert_eq!(read_frame(&mut s), m.to_ascii_uppercase());
    }
    close_gracefully(s);
}

fn net_framed_echo_one_frame_byte_by_byte() {
    let net = boot_net(AN386);
    let mut s = connect(net.framed);
    let payload = b"one byte per segment, header included";
    for byte in frame(payload) {
        s.write_all(&[byte]).unwrap();
        // With TCP_NODELAY and a pause, each byte travels in its own segment.
        thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(read_frame(&mut s), payload.to_ascii_uppercase());
    // An empty frame is a frame too.
    s.write_all(&frame(b"")).unwrap();
    assert_eq!(read_frame(&mut s), b"");
    close_gracefully(s);
}

fn net_oversize_frame_header_closes_only_that_connection() {
    let net = boot_net(AN385);
    let mut good = connect(net.framed);
    good.write_all(&frame(b"before")).unwrap();
    assert_eq!(read_frame(&mut good), b"BEFORE");

    let mut bad = connect(net.framed);
    bad.write_all(&frame(b"fine")).unwrap();
    assert_eq!(read_frame(&mut bad), b"FINE");
    bad.write_all(&u32::MAX.to_be_bytes()).unwrap();
    let mut rest = Vec::new();
    match bad.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "no reply to a broken frame"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }

    good.write_all(&frame(b"after")).unwrap();
    assert_eq!(
        read_frame(&mut good),
        b"AFTER",
        "the other connection is unaffected"
    );
    close_gracefully(good);
    // The reset slot is back in the pool: a new client is served.
    let mut again = connect(net.framed);
    again.write_all(&frame(b"again")).unwrap();
    assert_eq!(read_frame(&mut again), b"AGAIN");
    close_gracefully(again);
}

/// The build the README's footprint figures are for (`log-off`: no logging, a panic reports a
/// fixed line) serves every service like the logging build.
fn net_without_logging_serves_every_service() {
    let net = boot_net_elf(AN385, &firmware_build(AN385, true).join("net"));
    let s = echo_once(net.echo, b"no logging, same echo");
    close_gracefully(s);

    let mut s = connect(net.framed);
    let messages: [&[u8]; 3] = [b"one", b"two", b"three"];
    s.write_all(&messages.iter().flat_map(|m| frame(m)).collect::<Vec<u8>>())
        .unwrap();
    for m in messages {
        assert_eq!(read_frame(&mut s), m.to_ascii_uppercase());
    }
    // An oversize header resets that connection only.
    s.write_all(&u32::MAX.to_be_bytes()).unwrap();
    let mut rest = Vec::new();
    match s.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "no reply to a broken frame"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    let mut again = connect(net.framed);
    again.write_all(&frame(b"again")).unwrap();
    assert_eq!(read_frame(&mut again), b"AGAIN");
    close_gracefully(again);

    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    c.send_to(b"datagram", ("127.0.0.1", net.udp_echo)).unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = c.recv_from(&mut buf).expect("UDP echo reply");
    assert_eq!(&buf[..n], b"DATAGRAM");
    c.send_to(b"into the sink", ("127.0.0.1", net.udp_sink))
        .unwrap();
    // Still serving after the sink took its datagram.
    let s = echo_once(net.echo, b"still here");
    close_gracefully(s);
}
