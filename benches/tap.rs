//! Throughput: 64 MiB from a kernel TCP client through smolsock's upper-case echo over a TAP
//! device, beside the same transfer kernel to kernel over a veth pair, in the same run.
//!
//! ```text
//! sudo cargo bench -p smolsock-benches --bench tap
//! ```
//!
//! Both transfers run inside network namespaces made for the run (deleted afterwards): the
//! TAP one in a namespace holding `tap0` (kernel 192.168.69.100, smolsock 192.168.69.1), the
//! veth one between two namespaces (192.168.70.1 and 192.168.70.2). Both peers echo every byte
//! upper-cased, the client sends and receives at once and checks every byte; the figure is
//! payload bytes per second one way (as much again flows back). Without `--bench` (as under
//! `cargo test --benches`) it moves 4 MiB once, as a smoke test. Needs root; otherwise it says
//! why and exits.

#[path = "../tests/netns/mod.rs"]
mod netns;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use netns::{Netns, SMOLSOCK_IP, TAP};
use smolsock::smoltcp::time::Duration as SmolDuration;
use smolsock::tap::{ServerConfig, TapServer};

const MIB: usize = 1 << 20;

fn payload(len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    smolsock::sim::Prng::new(0x9e37_79b9_7f4a_7c15).fill(&mut bytes);
    bytes
}

/// Send `data` to an upper-case echo at `to`, receive and check the whole reply; the time from
/// connect to the last byte back.
fn timed_echo(to: SocketAddr, data: Arc<Vec<u8>>) -> Duration {
    let started = Instant::now();
    let stream = TcpStream::connect_timeout(&to, Duration::from_secs(10)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sent = data.clone();
    let sender = thread::spawn(move || {
        writer.write_all(&sent).expect("send");
        writer.shutdown(Shutdown::Write).expect("half-close");
    });
    let mut buf = vec![0u8; 256 << 10];
    let mut received = 0;
    loop {
        let n = (&stream).read(&mut buf).expect("receive");
        if n == 0 {
            break;
        }
        let expected = &data[received..received + n];
        assert!(
            buf[..n]
                .iter()
                .zip(expected)
                .all(|(&got, &sent)| got == sent.to_ascii_uppercase()),
            "reply differs near byte {received}"
        );
        received += n;
    }
    let elapsed = started.elapsed();
    sender.join().expect("sender");
    assert_eq!(received, data.len(), "whole reply");
    elapsed
}

fn mb_per_s(bytes: usize, time: Duration) -> f64 {
    bytes as f64 / 1e6 / time.as_secs_f64()
}

/// Best of `rounds` transfers through smolsock on a TAP device.
fn smolsock_over_tap(data: &Arc<Vec<u8>>, rounds: usize) -> Duration {
    let ns = Netns::new("bench-tap").expect("namespace");
    ns.add_tap().expect("TAP device");
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel();
    let flag = stop.clone();
    let server = ns.spawn(move || {
        let mut config = ServerConfig::new(TAP);
        config.max_wait = Some(SmolDuration::from_millis(50));
        let server = TapServer::open(config).expect("open the TAP device");
        ready_tx.send(()).ok();
        server.run(&flag, None).expect("serve")
    });
    ready_rx.recv().expect("server ready");
    ns.wait_for_carrier();
    let to: SocketAddr = format!("{SMOLSOCK_IP}:8000").parse().unwrap();
    let best = (0..rounds)
        .map(|_| {
            let data = data.clone();
            ns.run(move || timed_echo(to, data))
        })
        .min()
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    server.join().expect("server thread");
    best
}

/// Best of `rounds` transfers between two kernel stacks over a veth pair.
fn kernel_over_veth(data: &Arc<Vec<u8>>, rounds: usize) -> Duration {
    let client_ns = Netns::new("bench-veth-a").expect("namespace");
    let server_ns = Netns::new("bench-veth-b").expect("namespace");
    client_ns
        .ip(&[
            "link",
            "add",
            "veth-a",
            "type",
            "veth",
            "peer",
            "name",
            "veth-b",
            "netns",
            server_ns.name(),
        ])
        .expect("veth pair");
    client_ns
        .ip(&["addr", "add", "192.168.70.1/24", "dev", "veth-a"])
        .unwrap();
    server_ns
        .ip(&["addr", "add", "192.168.70.2/24", "dev", "veth-b"])
        .unwrap();
    client_ns.ip(&["link", "set", "veth-a", "up"]).unwrap();
    server_ns.ip(&["link", "set", "veth-b", "up"]).unwrap();
    let listener = server_ns.run(|| TcpListener::bind("192.168.70.2:8000").expect("bind"));
    // The kernel's own upper-case echo, as in the lesson: read, upper-case, send back.
    let server = thread::spawn(move || {
        for _ in 0..rounds {
            let (stream, _) = listener.accept().expect("accept");
            let mut buf = vec![0u8; 64 << 10];
            loop {
                let n = (&stream).read(&mut buf).expect("read");
                if n == 0 {
                    break;
                }
                buf[..n].make_ascii_uppercase();
                (&stream).write_all(&buf[..n]).expect("write");
            }
        }
    });
    let to: SocketAddr = "192.168.70.2:8000".parse().unwrap();
    let best = (0..rounds)
        .map(|_| {
            let data = data.clone();
            client_ns.run(move || timed_echo(to, data))
        })
        .min()
        .unwrap();
    server.join().expect("kernel echo");
    best
}

fn main() {
    if let Some(reason) = netns::unavailable() {
        eprintln!("skipping the TAP benchmark: {reason}");
        return;
    }
    let bench = std::env::args().any(|a| a == "--bench");
    let (size, rounds) = if bench { (64 * MIB, 3) } else { (4 * MIB, 1) };
    let data = Arc::new(payload(size));
    println!(
        "{} MiB kernel -> upper-case echo -> kernel, every byte checked, best of {rounds}:",
        size / MIB
    );
    let tap = smolsock_over_tap(&data, rounds);
    println!(
        "  smolsock over TAP   {:>8.1} MB/s  ({:.2} s)",
        mb_per_s(size, tap),
        tap.as_secs_f64()
    );
    let veth = kernel_over_veth(&data, rounds);
    println!(
        "  kernel over veth    {:>8.1} MB/s  ({:.2} s)",
        mb_per_s(size, veth),
        veth.as_secs_f64()
    );
    println!(
        "  ratio smolsock/kernel  {:.3}",
        veth.as_secs_f64() / tap.as_secs_f64()
    );
}
