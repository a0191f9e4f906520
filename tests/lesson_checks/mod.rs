//! What a run of each lesson program must print, whatever stacks ran it: the same as on the
//! kernel (addresses and ports aside), and the program's own expectations. Shared by
//! `tests/lesson.rs` (smolsock on the loopback), `tests/tap_lesson.rs` (smolsock over TAP) and
//! `tests/qemu.rs` (smolsock on the firmware).
#![allow(dead_code)] // each test binary uses its own part

use smolsock::lesson::run::{Program, Transcript, BACKLOG};

/// `other` (normalized) is `kernel` (normalized), and both pass `program`'s own checks; the
/// normalized transcript.
pub fn conform(program: Program, kernel: &Transcript, other: &Transcript) -> Transcript {
    let kernel = kernel.normalized();
    let other = other.normalized();
    assert!(
        !kernel.server.contains("error") && !kernel.client.contains("error"),
        "{kernel}"
    );
    assert_eq!(
        other.server,
        kernel.server,
        "program {}: server",
        program.numbers()
    );
    assert_eq!(
        other.client,
        kernel.client,
        "program {}: client",
        program.numbers()
    );
    expect(program, &other);
    other
}

/// What each program must have printed (normalized), beyond being the kernel's.
pub fn expect(program: Program, t: &Transcript) {
    match program {
        Program::Tcp => {
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
        Program::Chat => {
            assert_eq!(t.server.matches("client left").count(), 2, "{t}");
            assert!(t.client.contains("please type something"), "{t}");
            assert!(t.client.contains("server says \"welcome\""), "{t}");
        }
        Program::Backlog { clients } => {
            // At least the backlog plus the one being served connect, and each that did gets
            // its reply.
            let connected = t.client.matches(": connected").count();
            assert!(connected >= clients.min(BACKLOG + 1), "{t}");
            for i in 0..clients {
                if t.client.contains(&format!("client {i}: connected")) {
                    let reply = format!("client {i}: received \"CLIENT {i}\"");
                    assert!(t.client.contains(&reply), "{t}");
                }
            }
        }
        Program::Udp => {
            assert!(
                t.server.contains("udp server: <addr> sent \"hello udp\""),
                "{t}"
            );
            assert!(
                t.client.contains("udp client: received \"ANOTHER CLIENT\""),
                "{t}"
            );
        }
        Program::ReceiveOnly => {
            assert_eq!(t.server.matches("sink: <addr> sent").count(), 3, "{t}");
        }
        Program::Sticky => {
            assert!(t.server.contains("recv 1: \"hellostickyworld\""), "{t}");
        }
        Program::Framed => {
            for m in ["hello", "framed", "world"] {
                assert!(
                    t.server
                        .contains(&format!("framed server: message \"{m}\"")),
                    "{t}"
                );
            }
        }
    }
}

/// The documented difference of program 6 with one client more than `listen(3)` has room for
/// (3 waiting + 1 being served): the kernel lets it in (std-embedded-nal's listener has a
/// backlog of 128; Linux would queue or retry, not refuse); smolsock refuses it at once with
/// RST. Everything else is the same.
pub fn backlog_overflow(kernel: &Transcript, smolsock: &Transcript) {
    let kernel = kernel.normalized();
    let smolsock = smolsock.normalized();
    let extra = BACKLOG + 1;
    assert!(
        kernel
            .client
            .contains(&format!("client {extra}: connected")),
        "{kernel}"
    );
    assert!(
        kernel
            .client
            .contains(&format!("client {extra}: received \"CLIENT {extra}\"")),
        "{kernel}"
    );
    assert!(
        smolsock
            .client
            .contains(&format!("client {extra}: refused")),
        "{smolsock}"
    );
    let without = |text: &str| -> String {
        text.lines()
            .filter(|l| !l.contains(&format!("client {extra}")))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    assert_eq!(without(&smolsock.client), without(&kernel.client));
    assert_eq!(without(&smolsock.server), without(&kernel.server));
}
