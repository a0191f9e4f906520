//! The client side of the checks a smolsock server must pass, whoever runs it: the TAP server
//! in a namespace (`tests/tap.rs`) or the firmware in QEMU behind forwarded ports
//! (`tests/qemu.rs`). Each check talks to a [`Server`]'s addresses with the kernel's sockets and
//! panics on the first wrong byte; what the server counted is for the caller to compare (its
//! report, or the firmware's log).
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use smolsock::digest::Fnv1a;

/// How long any one read or write may take.
pub const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// Where a server's four services are reached from here.
#[derive(Debug, Clone, Copy)]
pub struct Server {
    /// TCP upper-case echo (port 8000 on the server).
    pub echo: SocketAddr,
    /// TCP framed echo (9000).
    pub framed: SocketAddr,
    /// UDP upper-case echo (8848).
    pub udp_echo: SocketAddr,
    /// UDP sink (8888).
    pub sink: SocketAddr,
    /// The local address UDP clients bind to.
    pub udp_bind: &'static str,
    /// The framed echo's largest frame.
    pub max_frame: usize,
    /// The most datagrams the path to the server takes back to back (a TAP device queues 1000;
    /// QEMU's LAN9118 model drops what does not fit its 16 KiB receive FIFO): larger bursts are
    /// sent in groups of this many, 20 ms apart.
    pub udp_burst: usize,
}

/// `bytes` with ASCII letters upper-cased: what the echoes answer.
pub fn upper(bytes: &[u8]) -> Vec<u8> {
    bytes.to_ascii_uppercase()
}

/// `len` pseudo-random bytes from `seed` (the simulator's PRNG).
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0; len];
    smolsock::sim::Prng::new(seed).fill(&mut bytes);
    bytes
}

/// A connection with the I/O timeouts set.
pub fn connect(to: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&to, IO_TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

/// Send `payload` on a fresh connection, half-close, and return everything until the server
/// closes. A writer thread and this reader run at once, as TCP needs for large payloads.
pub fn echo(to: SocketAddr, payload: Vec<u8>) -> Vec<u8> {
    let stream = connect(to);
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

/// One frame: 4-byte big-endian length, then the payload.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

/// Read one frame; its payload.
pub fn read_frame(stream: &TcpStream) -> Vec<u8> {
    let mut header = [0u8; 4];
    let mut reader = stream;
    reader.read_exact(&mut header).expect("frame header");
    let mut payload = vec![0u8; u32::from_be_bytes(header) as usize];
    reader.read_exact(&mut payload).expect("frame payload");
    payload
}

/// Whether the server ended the connection (RST or FIN) within the read timeout.
pub fn ended(stream: &TcpStream) -> bool {
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

/// Whether a new connection is served (its echo comes back). Refused shows either as a failed
/// `connect` (a kernel peer's RST) or, behind QEMU's forwarded ports, which accept first, as a
/// reset or EOF right after.
pub fn served(to: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&to, IO_TIMEOUT) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 4];
    s.write_all(b"ping").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"PING"
}

/// "hello world" and 4 KiB of every byte value through the echo: only letters change.
/// (Two connections.)
pub fn upper_case_echo(srv: &Server) {
    assert_eq!(echo(srv.echo, b"hello world".to_vec()), b"HELLO WORLD");
    let every_byte: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let expected = upper(&every_byte);
    assert_eq!(
        echo(srv.echo, every_byte),
        expected,
        "only ASCII letters change"
    );
}

/// Three frames in one send, one frame byte by byte, an empty frame and a full-size one, on one
/// connection, which the client then closes. (Six frames.)
pub fn framed_echo_three_frames_in_one_send_and_one_frame_byte_by_byte(srv: &Server) {
    let stream = connect(srv.framed);
    stream.set_nodelay(true).unwrap();
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
    (&stream).write_all(&frame(b"")).unwrap();
    assert_eq!(read_frame(&stream), b"");
    let big = random_bytes(srv.max_frame, 3);
    (&stream).write_all(&frame(&big)).unwrap();
    assert_eq!(read_frame(&stream), upper(&big));
    stream.shutdown(Shutdown::Write).unwrap();
    assert!(ended(&stream));
}

/// A header one byte over the maximum closes that connection only. (One bad frame, three good.)
pub fn oversize_frame_header_closes_only_that_connection(srv: &Server) {
    let good = connect(srv.framed);
    (&good).write_all(&frame(b"before")).unwrap();
    assert_eq!(read_frame(&good), b"BEFORE");
    let bad = connect(srv.framed);
    (&bad)
        .write_all(&(srv.max_frame as u32 + 1).to_be_bytes())
        .unwrap();
    assert!(ended(&bad), "the oversize frame's connection is closed");
    (&good).write_all(&frame(b"after")).unwrap();
    assert_eq!(read_frame(&good), b"AFTER");
    let next = connect(srv.framed);
    (&next).write_all(&frame(b"next")).unwrap();
    assert_eq!(read_frame(&next), b"NEXT");
}

/// `len` random bytes through the echo, every byte checked.
pub fn bulk_through_the_echo(srv: &Server, len: usize) {
    let payload = random_bytes(len, 4);
    let expected = upper(&payload);
    let started = Instant::now();
    let reply = echo(srv.echo, payload);
    eprintln!("{len} bytes echoed in {:?}", started.elapsed());
    assert_eq!(reply.len(), expected.len());
    if let Some(i) = reply.iter().zip(&expected).position(|(a, b)| a != b) {
        panic!("reply differs at byte {i}");
    }
}

/// `n` connect/echo/close cycles in a row.
pub fn connect_close_cycles(srv: &Server, n: usize) {
    for i in 0..n {
        let message = format!("cycle {i}");
        let reply = echo(srv.echo, message.clone().into_bytes());
        assert_eq!(reply, message.to_uppercase().into_bytes(), "cycle {i}");
    }
}

/// `pool` clients hold every socket (each served); the next is refused; one leaves and a new
/// client gets in within 5 s. (`pool + 1` connections served.)
pub fn exhausted_pool_refuses_then_recovers(srv: &Server, pool: usize) {
    let mut held: Vec<TcpStream> = (0..pool)
        .map(|i| {
            let mut s = connect(srv.echo);
            let msg = format!("client {i}");
            s.write_all(msg.as_bytes()).unwrap();
            let mut buf = vec![0u8; msg.len()];
            s.read_exact(&mut buf).unwrap();
            assert_eq!(buf, msg.to_uppercase().as_bytes());
            s
        })
        .collect();
    assert!(!served(srv.echo), "all {pool} sockets are busy: refused");
    let leaving = held.remove(0);
    leaving.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    (&leaving).read_to_end(&mut rest).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpStream::connect_timeout(&srv.echo, IO_TIMEOUT) {
            Ok(s) => {
                s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                let mut reply = Vec::new();
                let ok = (&s).write_all(b"back in").is_ok()
                    && s.shutdown(Shutdown::Write).is_ok()
                    && (&s).read_to_end(&mut reply).is_ok()
                    && reply == b"BACK IN";
                if ok {
                    break;
                }
            }
            Err(e) if e.kind() != ErrorKind::ConnectionRefused => panic!("no recovery: {e}"),
            Err(_) => {}
        }
        assert!(Instant::now() < deadline, "no recovery within 5 s");
        thread::sleep(Duration::from_millis(20));
    }
    drop(held);
}

/// `clients` UDP clients send at once; each gets its own datagram back, from the echo.
pub fn udp_echo_answers_clients(srv: &Server, clients: usize) {
    let sockets: Vec<UdpSocket> = (0..clients)
        .map(|_| {
            let s =
                UdpSocket::bind((srv.udp_bind.parse::<std::net::IpAddr>().unwrap(), 0)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s
        })
        .collect();
    for (i, s) in sockets.iter().enumerate() {
        s.send_to(format!("hello from client {i}").as_bytes(), srv.udp_echo)
            .unwrap();
    }
    for (i, s) in sockets.iter().enumerate() {
        let mut buf = [0u8; 1500];
        let (n, from) = s.recv_from(&mut buf).expect("reply");
        assert_eq!(from.port(), srv.udp_echo.port());
        assert_eq!(&buf[..n], format!("HELLO FROM CLIENT {i}").as_bytes());
    }
}

/// 100 datagrams of 1 to 1400 bytes into the sink (in bursts of at most `udp_burst`), then
/// both echoes still answer. Returns what
/// was sent (datagrams, bytes, the wrapping sum of each one's FNV-1a) for the caller to compare
/// with what the sink counted.
pub fn sink_receives_everything_and_the_echo_is_still_alive(srv: &Server) -> (u64, u64, u64) {
    let s = UdpSocket::bind((srv.udp_bind.parse::<std::net::IpAddr>().unwrap(), 0)).unwrap();
    let (mut digest, mut bytes) = (0u64, 0u64);
    for i in 0..100u64 {
        let datagram = random_bytes(1 + (i as usize * 37) % 1400, i);
        digest = digest.wrapping_add(Fnv1a::of(&datagram));
        bytes += datagram.len() as u64;
        s.send_to(&datagram, srv.sink).unwrap();
        if (i as usize + 1).is_multiple_of(srv.udp_burst) {
            thread::sleep(Duration::from_millis(20));
        }
    }
    assert_eq!(echo(srv.echo, b"still there?".to_vec()), b"STILL THERE?");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.send_to(b"udp too", srv.udp_echo).unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = s.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"UDP TOO");
    (100, bytes, digest)
}

/// Abortive close: SO_LINGER {on, 0} makes `close` send RST.
pub fn reset(stream: TcpStream) {
    use std::os::unix::io::AsRawFd;
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

/// A client streams 256 KiB without reading and resets; a bystander's connection and new ones
/// carry on. (One reset, two closed.)
pub fn client_reset_mid_stream_costs_only_that_connection(srv: &Server) {
    let bystander = connect(srv.echo);
    (&bystander).write_all(b"before ").unwrap();
    let rude = connect(srv.echo);
    rude.set_nonblocking(true).unwrap();
    let junk = random_bytes(256 << 10, 9);
    let mut sent = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while sent < junk.len() / 2 && Instant::now() < deadline {
        match (&rude).write(&junk[sent..]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(1)),
            Err(e) => panic!("{e}"),
        }
    }
    assert!(sent > 0);
    reset(rude);
    (&bystander).write_all(b"and after").unwrap();
    bystander.shutdown(Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    (&bystander).read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"BEFORE AND AFTER");
    assert_eq!(echo(srv.echo, b"next".to_vec()), b"NEXT");
}

/// 64 KiB of random bytes to each TCP port, four times: the echo answers them upper-cased, the
/// framed echo (to which they announce gigabytes) resets each; then both still serve.
/// (Five echo connections closed, four bad frames, one good.)
pub fn random_bytes_to_both_tcp_ports(srv: &Server) {
    for seed in 0..4 {
        let junk = random_bytes(64 << 10, seed);
        let expected = upper(&junk);
        assert_eq!(echo(srv.echo, junk), expected, "echo of junk {seed}");
        let junk = random_bytes(64 << 10, 100 + seed);
        let stream = connect(srv.framed);
        let _ = (&stream).write_all(&junk); // may fail once the server has reset it
        assert!(ended(&stream), "framed junk {seed}");
    }
    assert_eq!(echo(srv.echo, b"ok".to_vec()), b"OK");
    let stream = connect(srv.framed);
    (&stream).write_all(&frame(b"ok")).unwrap();
    assert_eq!(read_frame(&stream), b"OK");
}
