//! The firmware (`firmware/`) on every board QEMU runs it on, started exactly as `cargo fw ...`
//! starts it (through `firmware/qemu-run.sh`, the runner of the root `.cargo/config.toml`):
//!
//! | target | board | programs tested |
//! |---|---|---|
//! | `thumbv7m-none-eabi` | mps2-an385 | selftest, fault, net, net (log-off), net-large, net-lesson |
//! | `thumbv7em-none-eabihf` | mps2-an386 | selftest, net, net-large |
//! | `thumbv6m-none-eabi` | microbit | selftest, fault |
//! | `thumbv6m-none-eabi` | mps2-an385 | net |
//! | `riscv32imac-unknown-none-elf` | virt | selftest, fault, net, net-large, net-lesson |
//!
//! The self-tests' exit status; network mode driven from the host through QEMU's forwarded
//! ports: the budget build (`net`) with the checks its limits allow, the large one
//! (`net-large`) with the checks `tests/tap.rs` makes against the TAP server, the same functions
//! (`tests/checks`); the lesson's server programs (`net-lesson`, feature `lesson`) driven by
//! the lesson's client programs on the kernel, transcripts checked as `tests/lesson.rs` does
//! (`tests/lesson_checks`).
//!
//! Without QEMU or the cross targets every test is reported ignored with the reason (failed
//! under `SMOLSOCK_REQUIRE_ALL=1`, see `tests/harness`), decided once before the run. Builds
//! the firmware with `cargo build --release` inside `firmware/`. Each network test boots its own
//! QEMU on free host ports; a guard kills it by PID on drop, whether the test passed or
//! panicked.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use smolsock::digest::Fnv1a;

mod checks;
mod harness;
#[cfg(feature = "kernel")]
mod lesson_checks;

fn main() -> std::process::ExitCode {
    let unavailable = unavailable();
    #[allow(unused_mut)]
    let mut tests = harness::tests![
        selftest_passes_on_mps2_an385_cortex_m3,
        selftest_passes_on_mps2_an386_cortex_m4f,
        selftest_passes_on_microbit_cortex_m0,
        selftest_passes_on_riscv_virt,
        hardfault_is_reported_and_exits_non_zero,
        faults_exit_non_zero_on_microbit_and_riscv_virt,
        net_upper_case_echo,
        net_256_kib_through_the_echo_every_byte_checked,
        net_100_connect_close_cycles,
        net_pool_exhaustion_refuses_then_recovers,
        net_udp_echo_answers_several_clients,
        net_framed_echo_three_frames_in_one_send,
        net_oversize_frame_header_closes_only_that_connection,
        net_without_logging_serves_every_service,
        net_cortex_m0_build_serves_every_service_on_mps2_an385,
        net_dhcp_takes_its_address_from_qemus_dhcp_server,
        net_riscv_virt_serves_every_service,
        net_large_passes_the_tap_checks_on_mps2_an385,
        net_large_passes_the_tap_checks_on_mps2_an386,
        net_large_passes_the_tap_checks_on_riscv_virt,
    ];
    // The lesson's programs need the kernel's side of the socket API (feature `kernel`).
    #[cfg(feature = "kernel")]
    tests.extend(harness::tests![
        net_lesson_server_programs_match_the_kernel_on_mps2_an385,
        net_lesson_server_programs_match_the_kernel_on_riscv_virt,
    ]);
    harness::run(tests, unavailable)
}

const AN385: Board = Board {
    machine: "mps2-an385",
    target: "thumbv7m-none-eabi",
};
const AN386: Board = Board {
    machine: "mps2-an386",
    target: "thumbv7em-none-eabihf",
};
/// The Cortex-M0 build: the self-test on the micro:bit, network mode on mps2-an385 (the runner
/// picks the board by program).
const MICROBIT: Board = Board {
    machine: "microbit",
    target: "thumbv6m-none-eabi",
};
const AN385_M0: Board = Board {
    machine: "mps2-an385",
    target: "thumbv6m-none-eabi",
};
const VIRT: Board = Board {
    machine: "virt",
    target: "riscv32imac-unknown-none-elf",
};

/// The line network mode prints once it serves.
const READY: &str = "smolsock-net ready";

#[derive(Clone, Copy)]
struct Board {
    /// The QEMU machine `qemu-run.sh` picks for this target and program.
    machine: &'static str,
    target: &'static str,
}

fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware")
}

/// Why these tests cannot run here, if they cannot.
fn unavailable() -> Option<String> {
    for (qemu, package) in [
        ("qemu-system-arm", "qemu-system-arm"),
        ("qemu-system-riscv32", "qemu-system-misc"),
    ] {
        match Command::new(qemu)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
        {
            Ok(s) if s.success() => {}
            _ => return Some(format!("{qemu} not found (apt-get install {package})")),
        }
    }
    // The firmware needs the cross standard libraries of the toolchain that builds it.
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())?;
    let missing: Vec<&str> = [AN385, AN386, MICROBIT, VIRT]
        .into_iter()
        .map(|b| b.target)
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
    firmware_with(board, if log_off { "log-off" } else { "" })
}

/// The firmware binaries for `board` built with `features` (comma-separated; each set in its
/// own target directory, so every build stays cached).
fn firmware_with(board: Board, features: &'static str) -> &'static Path {
    type Built = Vec<((&'static str, &'static str), &'static Path)>;
    static BUILT: OnceLock<Mutex<Built>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    // Holding the lock serialises the builds: two cargo processes would only wait on each other.
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    let key = (board.target, features);
    if let Some((_, dir)) = built.iter().find(|(k, _)| *k == key) {
        return dir;
    }
    let target_dir = if features.is_empty() {
        firmware_dir().join("target")
    } else {
        firmware_dir()
            .join("target")
            .join(features.replace(',', "-"))
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(firmware_dir())
        .args(["build", "--release", "--bins", "--target", board.target])
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET");
    if !features.is_empty() {
        cmd.args(["--features", features]);
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

/// Host ports for the four services (the runner's `HOST_*` variables).
#[derive(Clone, Copy)]
struct Ports {
    echo: u16,
    framed: u16,
    udp_echo: u16,
    udp_sink: u16,
}

/// QEMU for `elf` as the cargo runner starts it (`firmware/qemu-run.sh`, which picks the board
/// from the target and the program), with the services forwarded to `ports`.
fn qemu(elf: &Path, ports: Option<Ports>) -> Command {
    let mut cmd = Command::new(firmware_dir().join("qemu-run.sh"));
    cmd.arg(elf)
        .env_remove("QEMU_MACHINE")
        .env_remove("QEMU_EXTRA")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(p) = ports {
        cmd.env("HOST_TCP_ECHO", p.echo.to_string())
            .env("HOST_TCP_FRAMED", p.framed.to_string())
            .env("HOST_UDP_ECHO", p.udp_echo.to_string())
            .env("HOST_UDP_SINK", p.udp_sink.to_string());
    }
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
        let mut child = cmd.spawn().expect("start firmware/qemu-run.sh");
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

/// Boot the self-test on `board`: it names the board, passes every check and exits 0.
fn run_selftest(board: Board, prints: &str) {
    let elf = firmware(board).join("selftest");
    let mut q = Qemu::spawn(qemu(&elf, None));
    let (code, log) = q.wait_exit(Duration::from_secs(60));
    assert_eq!(
        code,
        Some(0),
        "self-test failed on {}:\n{log}",
        board.machine
    );
    assert!(
        log.contains(&format!("smolsock self-test on {prints}")),
        "not on {}:\n{log}",
        board.machine
    );
    assert!(log.contains("summary:"), "no summary:\n{log}");
    assert!(log.contains(" 0 failed"), "{log}");
    assert!(!log.contains("FAIL"), "{log}");
}

fn selftest_passes_on_mps2_an385_cortex_m3() {
    run_selftest(AN385, "mps2");
}

fn selftest_passes_on_mps2_an386_cortex_m4f() {
    run_selftest(AN386, "mps2");
}

fn selftest_passes_on_microbit_cortex_m0() {
    run_selftest(MICROBIT, "microbit");
}

fn selftest_passes_on_riscv_virt() {
    run_selftest(VIRT, "virt");
}

/// Run the `fault` program on `board`: it must report and exit with status 1.
fn run_fault(board: Board, report: &str) {
    let elf = firmware(board).join("fault");
    let mut q = Qemu::spawn(qemu(&elf, None));
    let (code, log) = q.wait_exit(Duration::from_secs(30));
    assert_eq!(code, Some(1), "{}: {log}", board.machine);
    assert!(log.contains(report), "{}: {log}", board.machine);
}

fn hardfault_is_reported_and_exits_non_zero() {
    run_fault(AN385, "HardFault: pc=0x");
}

fn faults_exit_non_zero_on_microbit_and_riscv_virt() {
    run_fault(MICROBIT, "HardFault: pc=0x");
    // mcause 2: illegal instruction.
    run_fault(VIRT, "exception: mcause=0x00000002 mepc=0x");
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
    /// The framed echo's largest frame (from the ready line).
    max_frame: usize,
    /// Datagrams the board's NIC takes back to back: QEMU's LAN9118 drops frames once its
    /// receive FIFO (about 10 KiB: 16 KiB less the transmit FIFO) is full, since user
    /// networking cannot hold them back; virtio-net holds them in QEMU until the firmware posts
    /// buffers.
    udp_burst: usize,
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
    boot_net_elf(&firmware(board).join("net"))
}

/// [`boot_net`] with the given network-mode ELF.
fn boot_net_elf(elf: &Path) -> Net {
    let (echo, framed) = (free_tcp_port(), free_tcp_port());
    let (udp_echo, udp_sink) = (free_udp_port(), free_udp_port());
    let ports = Ports {
        echo,
        framed,
        udp_echo,
        udp_sink,
    };
    let mut qemu = Qemu::spawn(qemu(elf, Some(ports)));
    qemu.wait_for(READY, Duration::from_secs(30));
    let ready = qemu.log.last().cloned().unwrap_or_default();
    let number_after = |label: &str| -> usize {
        ready
            .split(label)
            .nth(1)
            .and_then(|rest| rest.split([')', ',']).next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {label:?} in {ready:?}"))
    };
    let pool = number_after("(pool ");
    let max_frame = number_after(", max ");
    let udp_burst = if elf.to_string_lossy().contains("riscv32") {
        usize::MAX
    } else {
        6
    };
    Net {
        qemu,
        echo,
        framed,
        udp_echo,
        udp_sink,
        pool,
        max_frame,
        udp_burst,
    }
}

impl Net {
    /// The services as [`checks`] reaches them.
    fn server(&self) -> checks::Server {
        let at = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        checks::Server {
            echo: at(self.echo),
            framed: at(self.framed),
            udp_echo: at(self.udp_echo),
            sink: at(self.udp_sink),
            udp_bind: "127.0.0.1",
            max_frame: self.max_frame,
            udp_burst: self.udp_burst,
        }
    }

    /// Wait for the firmware's log line saying the sink holds exactly this.
    fn sink_holds(&mut self, (datagrams, bytes, digest): (u64, u64, u64)) {
        self.qemu.wait_for(
            &format!("udp sink: {datagrams} datagrams, {bytes} bytes, digest {digest:016x}"),
            Duration::from_secs(10),
        );
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

fn net_upper_case_echo() {
    checks::upper_case_echo(&boot_net(AN385).server());
}

fn net_256_kib_through_the_echo_every_byte_checked() {
    checks::bulk_through_the_echo(&boot_net(AN386).server(), 256 << 10);
}

fn net_100_connect_close_cycles() {
    checks::connect_close_cycles(&boot_net(AN385).server(), 100);
}

fn net_pool_exhaustion_refuses_then_recovers() {
    let net = boot_net(AN386);
    checks::exhausted_pool_refuses_then_recovers(&net.server(), net.pool);
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

/// Three frames in one send, one byte by byte, an empty one and one of the largest size (512
/// bytes in this build).
fn net_framed_echo_three_frames_in_one_send() {
    checks::framed_echo_three_frames_in_one_send_and_one_frame_byte_by_byte(
        &boot_net(AN385).server(),
    );
}

fn net_oversize_frame_header_closes_only_that_connection() {
    checks::oversize_frame_header_closes_only_that_connection(&boot_net(AN385).server());
}

/// The build the README's footprint figures are for (`log-off`: no logging, a panic reports a
/// fixed line) serves every service like the logging build.
fn net_without_logging_serves_every_service() {
    serves_every_service(&boot_net_elf(&firmware_build(AN385, true).join("net")));
}

/// The Cortex-M0 (thumbv6m) build of network mode, on mps2-an385 with the LAN9118.
fn net_cortex_m0_build_serves_every_service_on_mps2_an385() {
    serves_every_service(&boot_net(AN385_M0));
}

/// `net-dhcp` (feature `dhcp`): the address from QEMU's DHCP server (10.0.2.2 leases
/// 10.0.2.15), announced in the ready line and the log, and every service on it.
fn net_dhcp_takes_its_address_from_qemus_dhcp_server() {
    let net = boot_net_elf(&firmware_with(AN385, "dhcp").join("net-dhcp"));
    assert!(
        net.qemu
            .log
            .iter()
            .any(|l| l.contains("dhcp: leased 10.0.2.15/24")),
        "{:?}",
        net.qemu.log
    );
    assert!(
        net.qemu
            .log
            .iter()
            .any(|l| l.starts_with("smolsock-net ready 10.0.2.15:")),
        "{:?}",
        net.qemu.log
    );
    serves_every_service(&net);
}

/// Network mode on RISC-V, virtio-net behind QEMU's user networking.
fn net_riscv_virt_serves_every_service() {
    serves_every_service(&boot_net(VIRT));
}

/// The upper-case echo, the framed echo (three frames in one send, an oversize header resetting
/// only its connection), the UDP echo and the sink, once each.
fn serves_every_service(net: &Net) {
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

/// The large build against every check `tests/tap.rs` makes against the TAP server (the same
/// functions, `tests/checks`) but those only a TAP device allows (unforwarded ports, a lossy
/// device, the command line), on one boot of `board`.
fn tap_checks(board: Board) {
    let mut net = boot_net_elf(&firmware(board).join("net-large"));
    assert!(net.pool >= 8, "pool of {}", net.pool);
    // The TAP server's `smolsock::tap::MAX_FRAME` (not named: that module needs feature `tap`).
    assert_eq!(net.max_frame, 4096);
    let srv = net.server();
    let step = |name: &str| eprintln!("{}: {name}", board.machine);
    step("upper-case echo");
    checks::upper_case_echo(&srv);
    step("framed echo: three frames in one send, one byte by byte, empty, 4096 bytes");
    checks::framed_echo_three_frames_in_one_send_and_one_frame_byte_by_byte(&srv);
    step("oversize frame header");
    checks::oversize_frame_header_closes_only_that_connection(&srv);
    step("4 MiB through the echo");
    checks::bulk_through_the_echo(&srv, 4 << 20);
    step("300 connect/close cycles");
    checks::connect_close_cycles(&srv, 300);
    step("pool exhausted, then recovers");
    checks::exhausted_pool_refuses_then_recovers(&srv, net.pool);
    step("UDP echo to 20 clients at once");
    checks::udp_echo_answers_clients(&srv, 20);
    step("100 datagrams into the sink, the echoes still alive");
    let sent = checks::sink_receives_everything_and_the_echo_is_still_alive(&srv);
    net.sink_holds(sent);
    step("a client reset mid-stream");
    checks::client_reset_mid_stream_costs_only_that_connection(&srv);
    step("random bytes to both TCP ports");
    checks::random_bytes_to_both_tcp_ports(&srv);
    step("1000-byte frame, 1472-byte datagram");
    let big = checks::random_bytes(1000, 11);
    let s = checks::connect(srv.framed);
    (&s).write_all(&checks::frame(&big)).unwrap();
    assert_eq!(checks::read_frame(&s), checks::upper(&big));
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let datagram = checks::random_bytes(1472, 12);
    u.send_to(&datagram, srv.udp_echo).unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) = u.recv_from(&mut buf).expect("1472-byte datagram echoed");
    assert_eq!(&buf[..n], checks::upper(&datagram));
}

fn net_large_passes_the_tap_checks_on_mps2_an385() {
    tap_checks(AN385);
}

fn net_large_passes_the_tap_checks_on_mps2_an386() {
    tap_checks(AN386);
}

fn net_large_passes_the_tap_checks_on_riscv_virt() {
    tap_checks(VIRT);
}

/// The lesson's server programs through the socket API on the board (`net-lesson`, feature
/// `lesson`), each driven by its client program on the host's kernel through the forwarded
/// ports: both transcripts must be the kernel's own (the program run with both halves on the
/// kernel), addresses and ports aside, as `tests/lesson.rs` requires of smolsock on the
/// loopback (the same checks, `tests/lesson_checks`).
#[cfg(feature = "kernel")]
fn net_lesson_server_programs_match_the_kernel_on_mps2_an385() {
    lesson_programs(AN385);
}

/// The same on RISC-V, virtio-net.
#[cfg(feature = "kernel")]
fn net_lesson_server_programs_match_the_kernel_on_riscv_virt() {
    lesson_programs(VIRT);
}

/// `net-lesson` on `board`, each server program driven by its client on the kernel.
#[cfg(feature = "kernel")]
fn lesson_programs(board: Board) {
    use smolsock::lesson::run::{client_on_kernel, run, On, Program, Transcript};

    let elf = firmware_with(board, "lesson").join("net-lesson");
    let ports = Ports {
        echo: free_tcp_port(),
        framed: free_tcp_port(),
        udp_echo: free_udp_port(),
        udp_sink: free_udp_port(),
    };
    let mut q = Qemu::spawn(qemu(&elf, Some(ports)));
    q.wait_for(READY, Duration::from_secs(30));
    for program in Program::ALL {
        let numbers = program.numbers();
        q.wait_for(
            &format!("lesson: program {numbers} on "),
            Duration::from_secs(30),
        );
        // `lesson: program N on tcp/8000`: the board's port, forwarded from one of ours.
        let marker = q.log.last().cloned().unwrap_or_default();
        let guest: u16 = marker
            .rsplit('/')
            .next()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no port in {marker:?}"));
        let host = match guest {
            8000 => ports.echo,
            9000 => ports.framed,
            8848 => ports.udp_echo,
            8888 => ports.udp_sink,
            other => panic!("program {numbers}: port {other} is not forwarded"),
        };
        let start = q.log.len();
        // The server's first line: it listens (or is bound).
        q.wait_for("lesson| ", Duration::from_secs(30));
        let client = client_on_kernel(program, SocketAddr::from(([127, 0, 0, 1], host)));
        q.wait_for(
            &format!("lesson: program {numbers} done"),
            Duration::from_secs(30),
        );
        let server: String = q.log[start..]
            .iter()
            .filter_map(|line| line.strip_prefix("lesson| "))
            .map(|line| format!("{line}\n"))
            .collect();
        let on_board = Transcript { server, client };
        eprintln!("program {numbers} on {}:\n{on_board}", board.machine);
        let kernel = run(program, On::Kernel);
        lesson_checks::conform(program, &kernel, &on_board);
    }
}
