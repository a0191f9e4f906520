//! The example programs, run as a user would run them (cargo builds examples for `cargo test`).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/examples-<hash> → target/<profile>/examples/<name>
    let mut path = std::env::current_exe().expect("test binary path");
    path.pop();
    path.pop();
    path.push("examples");
    path.push(name);
    path
}

fn run_with_input(name: &str, input: &str) -> String {
    let mut child = Command::new(example(name))
        .env("RUST_LOG", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start example {name}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("example output");
    assert!(out.status.success(), "example {name} failed: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[test]
fn chat_refuses_empty_lines_and_quits_on_yes() {
    let out = run_with_input("chat", "hello there\n\nsecond\nyes\nnever sent\n");
    let replies: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split("server: ").nth(1))
        .collect();
    assert_eq!(replies, ["HELLO THERE (11 bytes)", "SECOND (6 bytes)"]);
    assert_eq!(out.matches("empty line: please type something").count(), 1);
    assert!(out.trim_end().ends_with("bye"));
}

#[test]
fn chat_quits_at_end_of_input() {
    let out = run_with_input("chat", "last words");
    assert!(out.contains("server: LAST WORDS (10 bytes)"));
    assert!(out.trim_end().ends_with("bye"));
}

#[test]
fn demo_runs_the_whole_lesson() {
    let out = run_with_input("demo", "");
    for expected in [
        "client: received \"HELLO WORLD\" (every byte correct, closed cleanly)",
        "4th client: error: connection refused",
        "4th client, again: \"LET ME IN\" (every byte correct, closed cleanly)",
        "start again -> 3 sockets in LISTEN on port 8000 right away",
        "next client: \"ANYONE HOME?\" (every byte correct, closed cleanly)",
        "sink: 100 datagrams, 50000 bytes",
        "client: empty line, please type something",
        "3 sends arrived as 1 read(s)",
        "client: frame -> \"THREE\"",
        "3 frames back, one per message",
    ] {
        assert!(
            out.contains(expected),
            "demo output lacks {expected:?}:\n{out}"
        );
    }
    assert_eq!(
        out.matches("every byte correct, closed cleanly").count(),
        7,
        "{out}"
    );
    assert_eq!(out.matches("\"DATAGRAM FROM CLIENT ").count(), 5);
}
