//! Conformance: each lesson program, written once over the embedded-nal traits, runs on the
//! kernel (std-embedded-nal, 127.0.0.1 only) and on smolsock (the in-memory loopback) with
//! the same inputs; the transcripts must be identical but for addresses and ports. Where the
//! stacks differ by design (the backlog), the difference itself is checked, as the README's
//! table states it.

use std::sync::Once;

use smolsock::lesson::run::{run, On, Program, Transcript, BACKLOG};

/// A program that hangs must fail the run, not stall it.
fn watchdog() {
    static START: Once = Once::new();
    START.call_once(|| {
        std::thread::spawn(|| {
            std::thread::sleep(std::time::Duration::from_secs(120));
            eprintln!("tests/lesson.rs: a program hung for 120 s");
            std::process::exit(1);
        });
    });
}

/// Both stacks, normalized; and the same on both.
fn conform(program: Program) -> Transcript {
    watchdog();
    let kernel = run(program, On::Kernel).normalized();
    let smolsock = run(program, On::Smolsock).normalized();
    assert!(
        !kernel.server.contains("error") && !kernel.client.contains("error"),
        "{kernel}"
    );
    assert_eq!(
        smolsock.server,
        kernel.server,
        "program {}: server",
        program.numbers()
    );
    assert_eq!(
        smolsock.client,
        kernel.client,
        "program {}: client",
        program.numbers()
    );
    smolsock
}

#[test]
fn programs_1_and_2_tcp_server_and_client() {
    let t = conform(Program::Tcp);
    assert_eq!(
        t.server,
        "server: listening\nserver: connection from <addr>\nserver: received \"hello world\"\n\
         server: sent \"HELLO WORLD\"\nserver: closed\n"
    );
    assert!(
        t.client.ends_with("client: received \"HELLO WORLD\"\n"),
        "{t}"
    );
}

#[test]
fn programs_3_and_4_chat() {
    let t = conform(Program::Chat);
    assert_eq!(t.server.matches("client left").count(), 2, "{t}");
    assert!(t.client.contains("please type something"), "{t}");
    assert!(t.client.contains("server says \"welcome\""), "{t}");
}

#[test]
fn program_6_backlog_within_room() {
    let t = conform(Program::Backlog {
        clients: BACKLOG + 1,
    });
    assert_eq!(t.client.matches(": connected").count(), BACKLOG + 1, "{t}");
    assert!(t.client.contains("client 3: received \"CLIENT 3\""), "{t}");
}

/// The documented difference: one client more than `listen(3)` has room for (3 waiting + 1
/// being served). The kernel lets it in (std-embedded-nal's listener has a backlog of 128;
/// Linux would queue or retry, not refuse); smolsock refuses it at once with RST.
#[test]
fn program_6_backlog_overflow_kernel_queues_smolsock_refuses() {
    watchdog();
    let clients = BACKLOG + 2;
    let kernel = run(Program::Backlog { clients }, On::Kernel).normalized();
    let smolsock = run(Program::Backlog { clients }, On::Smolsock).normalized();
    assert!(kernel.client.contains("client 4: connected"), "{kernel}");
    assert!(
        kernel.client.contains("client 4: received \"CLIENT 4\""),
        "{kernel}"
    );
    assert!(smolsock.client.contains("client 4: refused"), "{smolsock}");
    // Everything else is the same.
    let without = |text: &str| -> String {
        text.lines()
            .filter(|l| !l.contains("client 4"))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    assert_eq!(without(&smolsock.client), without(&kernel.client));
    assert_eq!(without(&smolsock.server), without(&kernel.server));
}

#[test]
fn programs_7_and_8_udp_server_and_client() {
    let t = conform(Program::Udp);
    assert!(
        t.server.contains("udp server: <addr> sent \"hello udp\""),
        "{t}"
    );
    assert!(
        t.client.contains("udp client: received \"ANOTHER CLIENT\""),
        "{t}"
    );
}

#[test]
fn program_9_receive_only() {
    let t = conform(Program::ReceiveOnly);
    assert_eq!(t.server.matches("sink: <addr> sent").count(), 3, "{t}");
}

#[test]
fn program_10_sticky_packets() {
    let t = conform(Program::Sticky);
    assert!(t.server.contains("recv 1: \"hellostickyworld\""), "{t}");
}

#[test]
fn program_11_length_prefix() {
    let t = conform(Program::Framed);
    for m in ["hello", "framed", "world"] {
        assert!(
            t.server
                .contains(&format!("framed server: message \"{m}\"")),
            "{t}"
        );
    }
}
