//! The socket lesson on smolsock, in one process, on the in-memory loopback.
//!
//! ```text
//! cargo run --example demo
//! RUST_LOG=debug cargo run --example demo    # the services' own log lines too
//! ```
//!
//! No root, no network, no heap in the stack: every socket buffer below is a local array, the
//! device is a fixed queue of frames, and time is virtual (a 10 s TIME-WAIT passes at once).

use smolsock::clock::{Clock, Duration, VirtualClock};
use smolsock::device::Loopback;
use smolsock::event_loop::{run_until, RunError, Work};
use smolsock::frame::{send_frame, Accept, FrameDecoder};
use smolsock::service::{
    ports, ChatClient, ChatServer, EchoClient, FramedEcho, Service, Submitted, UdpEcho, UdpSink,
    UpperEcho, BYE, EMPTY_REFUSED,
};
use smolsock::service::{ClientError, Verdict};
use smolsock::smoltcp::iface::SocketStorage;
use smolsock::smoltcp::wire::{IpAddress, IpCidr, IpEndpoint};
use smolsock::storage::{TcpStorage, UdpLaneStorage, UdpStorage};
use smolsock::tcp::{ClientState, EphemeralPorts, PoolConfig, TcpClient};
use smolsock::udp::UdpClient;
use smolsock::{Stack, StackConfig};

const LOCALHOST: IpAddress = IpAddress::v4(127, 0, 0, 1);
const BACKLOG: usize = 3;
/// A plain TCP port for the sticky-packet demonstration.
const STICKY_PORT: u16 = 7000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // No options: `--help` says what this is, anything else is refused.
    clap::Command::new("demo")
        .about(
            "The socket lesson on smolsock, in one process, on an in-memory loopback: TCP echo, \
             several clients, backlog, port reuse, a client that vanishes, UDP echo and sink, chat, \
             sticky packets and length frames. No options; set RUST_LOG=debug for the services' own \
             log.",
        )
        .get_matches();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp(None)
        .format_target(false)
        .init();

    // ── Memory, all fixed ────────────────────────────────────────────────────────────────
    let mut socket_slots = [const { SocketStorage::EMPTY }; 25];
    let mut echo_buffers = [const { TcpStorage::<2048, 2048>::new() }; BACKLOG];
    let mut chat_buffers = [const { TcpStorage::<512, 512>::new() }; 1];
    let mut client_buffers = [const { TcpStorage::<2048, 2048>::new() }; 8];
    let mut udp_echo_buffers = UdpStorage::<16, 8192>::new();
    let mut udp_lane_buffers = UdpLaneStorage::<4, 4096>::new();
    let mut udp_sink_buffers = UdpStorage::<16, 8192>::new();
    let mut udp_client_buffers = [const { UdpStorage::<2, 1024>::new() }; 6];
    let mut sticky_buffers = TcpStorage::<1024, 1024>::new();
    let mut framed_buffers = [const { TcpStorage::<1024, 1024>::new() }; 1];

    let clock = VirtualClock::default();
    let mut device = Loopback::<1500, 32>::new();
    let config = StackConfig::ip(IpCidr::new(LOCALHOST, 8));
    // IPv6 beside IPv4 (feature `ipv6`): every service answers at ::1 too.
    #[cfg(feature = "ipv6")]
    let config = config.with_ipv6(smolsock::smoltcp::wire::Ipv6Cidr::new(
        smolsock::smoltcp::wire::Ipv6Address::LOCALHOST,
        128,
    ));
    let mut stack = Stack::new(config, &mut device, &mut socket_slots, clock.now());
    let mut ports_alloc = EphemeralPorts::new(0x5eed);
    // Client sockets, reused from one connection to the next.
    let mut client_sockets = Vec::new();
    for buffers in client_buffers.iter_mut() {
        client_sockets.push(stack.add_tcp(buffers)?);
    }
    let mut client_sockets = client_sockets.into_iter().cycle();
    let mut next_tcp = move || client_sockets.next().ok_or("no client socket");
    let echo_at = IpEndpoint::new(LOCALHOST, ports::TCP_ECHO);

    // ── 1. TCP server and client ─────────────────────────────────────────────────────────
    section("1. TCP upper-case echo on port 8000, listen(backlog = 3)");
    let mut echo = UpperEcho::<BACKLOG>::new(
        &mut stack,
        echo_buffers.iter_mut(),
        PoolConfig::new(ports::TCP_ECHO, BACKLOG),
    )?;
    say(&format!(
        "server: {} sockets in LISTEN on port {}",
        echo.pool().listening(),
        ports::TCP_ECHO
    ));
    let handle = next_tcp()?;
    let mut hello = EchoClient::connect(
        &mut stack,
        handle,
        echo_at,
        &mut ports_alloc,
        b"hello world",
    )?;
    say(&format!(
        "client: connect from port {} and send \"hello world\"",
        hello.local_port()
    ));
    run(&mut stack, &mut device, &clock, |s| {
        let p = echo.poll(s) | hello.poll(s);
        Work::done_if(hello.outcome().is_some(), p)
    })?;
    say(&format!(
        "client: received {:?} ({})",
        String::from_utf8_lossy(hello.reply_prefix()),
        verdict(hello.outcome())
    ));
    #[cfg(feature = "ipv6")]
    {
        // The same server over IPv6: the pool listens on a port, not an address.
        let v6_at = IpEndpoint::new(
            smolsock::smoltcp::wire::Ipv6Address::LOCALHOST.into(),
            ports::TCP_ECHO,
        );
        let handle = next_tcp()?;
        let mut hello6 =
            EchoClient::connect(&mut stack, handle, v6_at, &mut ports_alloc, b"hello ipv6")?;
        run(&mut stack, &mut device, &clock, |s| {
            let p = echo.poll(s) | hello6.poll(s);
            Work::done_if(hello6.outcome().is_some(), p)
        })?;
        say(&format!(
            "client: the same server at {v6_at}: {:?} ({})",
            String::from_utf8_lossy(hello6.reply_prefix()),
            verdict(hello6.outcome())
        ));
    }

    // ── 2. Three clients at once ─────────────────────────────────────────────────────────
    section("2. Three clients at once, 30 000 bytes each, every byte checked");
    let payloads: Vec<Vec<u8>> = (0..3u8)
        .map(|i| {
            (0..30_000u32)
                .map(|n| b"abcdefghijklmnopqrstuvwxyz0123456789 "[(n as usize + i as usize) % 37])
                .collect()
        })
        .collect();
    let mut three = Vec::new();
    for payload in &payloads {
        let handle = next_tcp()?;
        three.push(EchoClient::connect(
            &mut stack,
            handle,
            echo_at,
            &mut ports_alloc,
            payload,
        )?);
    }
    let started = clock.now();
    run(&mut stack, &mut device, &clock, |s| {
        let mut p = echo.poll(s);
        for c in three.iter_mut() {
            p |= c.poll(s);
        }
        Work::done_if(three.iter().all(|c| c.outcome().is_some()), p)
    })?;
    for (i, c) in three.iter().enumerate() {
        say(&format!(
            "client {} (port {}): {} bytes back, {}",
            i + 1,
            c.local_port(),
            c.received(),
            verdict(c.outcome())
        ));
    }
    say(&format!("virtual time taken: {}", clock.now() - started));

    // ── 3. Backlog exhausted, then recovery ──────────────────────────────────────────────
    section("3. The backlog: 3 sockets busy, the 4th client is refused, then gets in");
    let three_handles = [next_tcp()?, next_tcp()?, next_tcp()?];
    let mut holders: Vec<TcpClient> = three_handles.iter().map(|&h| TcpClient::new(h)).collect();
    for h in holders.iter_mut() {
        h.connect(&mut stack, echo_at, &mut ports_alloc)?;
    }
    run(&mut stack, &mut device, &clock, |s| {
        let p = echo.poll(s);
        let connected = holders
            .iter_mut()
            .all(|h| h.state(s) == ClientState::Connected);
        Work::done_if(connected && echo.pool().listening() == 0, p)
    })?;
    say(&format!(
        "server: {} connections open, {} sockets listening",
        holders.len(),
        echo.pool().listening()
    ));
    let handle = next_tcp()?;
    let mut fourth =
        EchoClient::connect(&mut stack, handle, echo_at, &mut ports_alloc, b"let me in")?;
    run(&mut stack, &mut device, &clock, |s| {
        let p = echo.poll(s) | fourth.poll(s);
        Work::done_if(fourth.outcome().is_some(), p)
    })?;
    say(&format!("4th client: {}", verdict(fourth.outcome())));
    say("client 1 of 3 leaves...");
    holders[0].close(&mut stack);
    run(&mut stack, &mut device, &clock, |s| {
        let p = echo.poll(s);
        Work::done_if(echo.pool().listening() == 1, p)
    })?;
    let handle = fourth.handle();
    let mut retry =
        EchoClient::connect(&mut stack, handle, echo_at, &mut ports_alloc, b"let me in")?;
    run(&mut stack, &mut device, &clock, |s| {
        let p = echo.poll(s) | retry.poll(s);
        Work::done_if(retry.outcome().is_some(), p)
    })?;
    say(&format!(
        "4th client, again: {:?} ({})",
        String::from_utf8_lossy(retry.reply_prefix()),
        verdict(retry.outcome())
    ));
    for h in holders.iter_mut().skip(1) {
        h.close(&mut stack);
    }
    run(&mut stack, &mut device, &clock, |s| {
        let p = echo.poll(s);
        Work::done_if(echo.pool().listening() == BACKLOG, p)
    })?;
    let st = echo.pool().stats();
    say(&format!(
        "server: accepted {}, closed {}, reset {}, ran out of listeners {} time(s)",
        st.accepted, st.closed, st.reset, st.exhausted
    ));

    // ── 4. Restart on the same port ──────────────────────────────────────────────────────
    section("4. Restart on the same port at once (no SO_REUSEADDR needed)");
    let handle = holders[1].handle();
    let mut idle = TcpClient::new(handle);
    idle.connect(&mut stack, echo_at, &mut ports_alloc)?;
    run(&mut stack, &mut device, &clock, |s| {
        let p = echo.poll(s);
        let accepted = echo.pool().connections().count() == 1;
        Work::done_if(idle.state(s) == ClientState::Connected && accepted, p)
    })?;
    say("server: stop (closes first, so its socket enters TIME-WAIT)");
    echo.pool().stop(&mut stack);
    let mut closed = false;
    run(&mut stack, &mut device, &clock, |s| {
        let mut p = echo.poll(s);
        if !closed && !idle.socket(s).may_recv() {
            idle.close(s);
            closed = true;
            p = true;
        }
        Work::done_if(
            idle.state(s) == ClientState::Closed && echo.pool().listening() == 0,
            p,
        )
    })?;
    let in_time_wait = time_wait_on(&stack, ports::TCP_ECHO);
    say(&format!(
        "server: {in_time_wait} socket(s) on port 8000 in TIME-WAIT (10 s in smoltcp)"
    ));
    echo.pool().start(&mut stack)?;
    say(&format!(
        "server: start again -> {} sockets in LISTEN on port 8000 right away",
        echo.pool().listening()
    ));
    let handle = holders[2].handle();
    let mut after = EchoClient::connect(
        &mut stack,
        handle,
        echo_at,
        &mut ports_alloc,
        b"back so soon?",
    )?;
    run(&mut stack, &mut device, &clock, |s| {
        let p = echo.poll(s) | after.poll(s);
        Work::done_if(after.outcome().is_some(), p)
    })?;
    say(&format!(
        "client: {:?} ({})",
        String::from_utf8_lossy(after.reply_prefix()),
        verdict(after.outcome())
    ));

    // ── 5. A client vanishes mid-stream ──────────────────────────────────────────────────
    section("5. A client resets mid-stream; the server serves the next one");
    let big = vec![b'x'; 100_000];
    let handle = next_tcp()?;
    let mut rude = EchoClient::connect(&mut stack, handle, echo_at, &mut ports_alloc, &big)?;
    run(&mut stack, &mut device, &clock, |s| {
        let p = echo.poll(s) | rude.poll(s);
        Work::done_if(rude.received() >= 10_000, p)
    })?;
    say(&format!(
        "client: got {} of 100000 bytes, then aborts (RST)",
        rude.received()
    ));
    rude.abort(&mut stack);
    let resets_before = echo.pool().stats().reset;
    run(&mut stack, &mut device, &clock, |s| {
        let p = echo.poll(s);
        Work::done_if(echo.pool().stats().reset > resets_before, p)
    })?;
    let handle = three_handles[0];
    let mut polite = EchoClient::connect(
        &mut stack,
        handle,
        echo_at,
        &mut ports_alloc,
        b"anyone home?",
    )?;
    run(&mut stack, &mut device, &clock, |s| {
        let p = echo.poll(s) | polite.poll(s);
        Work::done_if(polite.outcome().is_some(), p)
    })?;
    say(&format!(
        "next client: {:?} ({})",
        String::from_utf8_lossy(polite.reply_prefix()),
        verdict(polite.outcome())
    ));

    // ── 6. UDP echo to several clients ───────────────────────────────────────────────────
    section("6. UDP echo on port 8848: each datagram answered to its own sender");
    let mut udp_echo = UdpEcho::<1472>::new(
        &mut stack,
        &mut udp_echo_buffers,
        &mut udp_lane_buffers,
        ports::UDP_ECHO,
    )?;
    let udp_echo_at = IpEndpoint::new(LOCALHOST, ports::UDP_ECHO);
    let mut udp_buffers = udp_client_buffers.iter_mut();
    let mut udp_clients = Vec::new();
    for i in 0..5 {
        let handle = stack.add_udp(udp_buffers.next().expect("6 UDP client sockets"))?;
        let mut c = UdpClient::bind_ephemeral(&mut stack, handle, &mut ports_alloc)?;
        c.send_to(
            &mut stack,
            format!("datagram from client {i}").as_bytes(),
            udp_echo_at,
        )?;
        udp_clients.push((c, None::<String>));
    }
    run(&mut stack, &mut device, &clock, |s| {
        let mut p = udp_echo.poll(s);
        for (c, reply) in udp_clients.iter_mut() {
            let mut buf = [0u8; 64];
            if let Ok(Some((n, _from))) = c.recv_from(s, &mut buf) {
                *reply = Some(String::from_utf8_lossy(&buf[..n]).into_owned());
                p = true;
            }
        }
        Work::done_if(udp_clients.iter().all(|(_, r)| r.is_some()), p)
    })?;
    for (c, reply) in &udp_clients {
        say(&format!(
            "client port {}: {:?}",
            c.local_port(),
            reply.as_deref().unwrap_or("")
        ));
    }

    // ── 7. UDP receive-only sink ─────────────────────────────────────────────────────────
    section("7. UDP sink on port 8888: receives only, counts");
    let mut sink = UdpSink::new(&mut stack, &mut udp_sink_buffers, ports::UDP_SINK)?;
    let handle = stack.add_udp(udp_buffers.next().expect("6 UDP client sockets"))?;
    let mut sender = UdpClient::bind_ephemeral(&mut stack, handle, &mut ports_alloc)?;
    let sink_at = IpEndpoint::new(LOCALHOST, ports::UDP_SINK);
    let mut sent = 0;
    run(&mut stack, &mut device, &clock, |s| {
        let mut p = sink.poll(s);
        while sent < 100 && sender.send_to(s, &[b'.'; 500], sink_at).is_ok() {
            sent += 1;
            p = true;
        }
        Work::done_if(sink.stats().datagrams == 100, p)
    })?;
    let st = sink.stats();
    say(&format!(
        "sink: {} datagrams, {} bytes, no reply sent",
        st.datagrams, st.bytes
    ));

    // ── 8. Line chat ─────────────────────────────────────────────────────────────────────
    section("8. Line chat on port 8080 (the operator's replies are scripted here)");
    let mut script = ["nice to meet you", "bye then"].into_iter();
    let mut chat = ChatServer::<_, 1, 128>::new(
        &mut stack,
        chat_buffers.iter_mut(),
        PoolConfig::new(ports::CHAT, 1),
        move |from: IpEndpoint, line: &[u8], reply: &mut [u8]| {
            println!(
                "    server: {from} says {:?}",
                String::from_utf8_lossy(line)
            );
            let text = script.next().unwrap_or("...");
            let n = text.len().min(reply.len());
            reply[..n].copy_from_slice(&text.as_bytes()[..n]);
            n
        },
    )?;
    let handle = three_handles[1];
    let mut chatter = ChatClient::<128>::connect(
        &mut stack,
        handle,
        IpEndpoint::new(LOCALHOST, ports::CHAT),
        &mut ports_alloc,
    )?;
    run(&mut stack, &mut device, &clock, |s| {
        let p = chat.poll(s);
        Work::done_if(chatter.state(s) == ClientState::Connected, p)
    })?;
    for typed in [Some(""), Some("hello"), Some("how are you?"), Some("yes")] {
        println!("    user types {:?}", typed.unwrap_or("<end of input>"));
        match chatter.submit(&mut stack, typed)? {
            Submitted::Refused => say(&format!("client: {EMPTY_REFUSED}")),
            Submitted::Quit => {
                say(&format!("client: {BYE}"));
                break;
            }
            Submitted::Sent => {
                let mut reply = String::new();
                run(&mut stack, &mut device, &clock, |s| {
                    let p = chat.poll(s);
                    if let Ok(Some(line)) = chatter.reply(s) {
                        reply = String::from_utf8_lossy(line).into_owned();
                        return Work::Done;
                    }
                    p.into()
                })?;
                say(&format!("client: server replied {reply:?}"));
            }
        }
    }
    run(&mut stack, &mut device, &clock, |s| {
        let p = chat.poll(s);
        Work::done_if(chat.pool().stats().closed == 1, p)
    })?;

    // ── 9. Sticky packets ─────────────────────────────────────────────────────────────────
    section("9. Message boundaries: the client sends three times, how many reads?");
    let reader = stack.add_tcp(&mut sticky_buffers)?;
    stack.tcp(reader).listen(STICKY_PORT)?;
    let mut sender = TcpClient::new(next_tcp()?);
    sender.connect(
        &mut stack,
        IpEndpoint::new(LOCALHOST, STICKY_PORT),
        &mut ports_alloc,
    )?;
    run(&mut stack, &mut device, &clock, |s| {
        Work::done_if(
            sender.state(s) == ClientState::Connected && s.tcp(reader).may_send(),
            false,
        )
    })?;
    for message in ["one", "two", "three"] {
        say(&format!("client: send({message:?})"));
        sender.send(&mut stack, message.as_bytes())?;
    }
    let mut reads = Vec::new();
    run(&mut stack, &mut device, &clock, |s| {
        let mut buf = [0u8; 1024];
        while let Ok(n @ 1..) = s.tcp(reader).recv_slice(&mut buf) {
            reads.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        Work::done_if(reads.concat().len() == 11, false)
    })?;
    for read in &reads {
        say(&format!("server: recv(1024) -> {read:?}"));
    }
    say(&format!(
        "3 sends arrived as {} read(s): TCP is a byte stream, it keeps no boundaries",
        reads.len()
    ));
    sender.close(&mut stack);
    stack.tcp(reader).close();

    // ── 10. The fix: length-prefixed frames ──────────────────────────────────────────────
    section("10. The fix: a 4-byte big-endian length before each message (framed echo, 9000)");
    let mut framed = FramedEcho::<1, 256>::new(
        &mut stack,
        framed_buffers.iter_mut(),
        PoolConfig::new(ports::FRAMED_ECHO, 1),
    )?;
    let mut framer = TcpClient::new(next_tcp()?);
    framer.connect(
        &mut stack,
        IpEndpoint::new(LOCALHOST, ports::FRAMED_ECHO),
        &mut ports_alloc,
    )?;
    run(&mut stack, &mut device, &clock, |s| {
        let p = framed.poll(s);
        Work::done_if(framer.state(s) == ClientState::Connected, p)
    })?;
    for message in ["one", "two", "three"] {
        let n = send_frame(framer.socket(&mut stack), message.as_bytes())?;
        say(&format!(
            "client: send_frame({message:?}) -> {n} bytes on the wire"
        ));
    }
    let mut decoder = FrameDecoder::<256>::new();
    let mut frames = Vec::new();
    run(&mut stack, &mut device, &clock, |s| {
        let p = framed.poll(s);
        let got = decoder.recv_from(framer.socket(s), |frame| {
            frames.push(String::from_utf8_lossy(frame).into_owned());
            Accept::Taken
        });
        match got {
            Ok(progress) => Work::done_if(frames.len() == 3, p | progress.made_progress()),
            Err(_) => Work::Done,
        }
    })?;
    for frame in &frames {
        say(&format!("client: frame -> {frame:?}"));
    }
    say(&format!("{} frames back, one per message", frames.len()));
    framer.close(&mut stack);

    section("Done");
    say(&format!(
        "virtual time: {}; loopback frames: {} through, {} dropped",
        clock.now(),
        device.stats().dequeued,
        device.stats().dropped_full
    ));
    Ok(())
}

/// Drive the stack in virtual time until `work` is done (30 s budget per step).
fn run(
    stack: &mut Stack<'_>,
    device: &mut Loopback<1500, 32>,
    clock: &VirtualClock,
    work: impl FnMut(&mut Stack<'_>) -> Work,
) -> Result<(), RunError> {
    run_until(stack, device, clock, Duration::from_secs(30), work).map(|_| ())
}

fn verdict(outcome: Option<Result<Verdict, ClientError>>) -> String {
    match outcome {
        Some(Ok(Verdict::Verified)) => "every byte correct, closed cleanly".into(),
        Some(Ok(mismatch)) => format!("wrong reply: {mismatch}"),
        Some(Err(e)) => format!("error: {e}"),
        None => "still running".into(),
    }
}

fn time_wait_on(stack: &Stack<'_>, port: u16) -> usize {
    use smolsock::smoltcp::socket::{tcp::State, Socket};
    stack
        .sockets()
        .iter()
        .filter(|(_, s)| matches!(s, Socket::Tcp(t) if t.state() == State::TimeWait && t.local_endpoint().is_some_and(|e| e.port == port)))
        .count()
}

fn section(title: &str) {
    println!("\n== {title}");
}

fn say(line: &str) {
    println!("    {line}");
}
