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
    assert_eq!(out.matches(smolsock::service::EMPTY_REFUSED).count(), 1);
    assert!(out.trim_end().ends_with("bye"));
}

#[test]
fn chat_operator_upper_cases_ascii_letters_only_as_the_services_do() {
    let out = run_with_input("chat", "héllo\n");
    assert!(out.contains("server: HéLLO (6 bytes)"), "{out}");
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
        #[cfg(feature = "ipv6")]
        "client: the same server at ::1:8000: \"HELLO IPV6\" (every byte correct, closed cleanly)",
        "4th client: error: connection refused",
        "4th client, again: \"LET ME IN\" (every byte correct, closed cleanly)",
        "start again -> 3 sockets in LISTEN on port 8000 right away",
        "next client: \"ANYONE HOME?\" (every byte correct, closed cleanly)",
        "sink: 100 datagrams, 50000 bytes",
        "client: empty line refused: type a message, or yes to quit",
        "3 sends arrived as 1 read(s)",
        "client: frame -> \"THREE\"",
        "3 frames back, one per message",
    ] {
        assert!(
            out.contains(expected),
            "demo output lacks {expected:?}:\n{out}"
        );
    }
    // One more over IPv6 with the `ipv6` feature.
    assert_eq!(
        out.matches("every byte correct, closed cleanly").count(),
        if cfg!(feature = "ipv6") { 8 } else { 7 },
        "{out}"
    );
    assert_eq!(out.matches("\"DATAGRAM FROM CLIENT ").count(), 5);
}

/// Runs example `name` with `args` and no input; returns (success, stdout, stderr).
fn run_args(name: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(example(name))
        .args(args)
        .env("RUST_LOG", "off")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot start example {name}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The examples built by every `cargo test` (`sim` and `tap` need their features, `tap` Linux).
fn examples() -> Vec<&'static str> {
    let mut names = vec!["demo", "chat"];
    if cfg!(feature = "sim") {
        names.push("sim");
    }
    if cfg!(all(feature = "tap", target_os = "linux")) {
        names.push("tap");
    }
    names
}

#[test]
fn every_example_prints_help_and_does_nothing_else() {
    for name in examples() {
        let (ok, out, err) = run_args(name, &["--help"]);
        assert!(ok, "{name} --help failed: {err}");
        assert!(out.contains("Usage:"), "{name} --help: {out}");
        // Help, not the program: no lesson, no chat, no simulation ran.
        assert!(
            !out.contains("connected to") && !out.contains("HELLO"),
            "{out}"
        );
        assert_eq!(out.lines().count(), out.lines().take(60).count(), "{out}");
    }
}

#[test]
fn every_example_refuses_an_unknown_flag() {
    for name in examples() {
        let (ok, out, err) = run_args(name, &["--bogus"]);
        assert!(!ok, "{name} --bogus succeeded: {out}");
        assert!(
            err.contains("unexpected argument '--bogus'"),
            "{name}: {err}"
        );
        assert!(out.is_empty(), "{name} --bogus ran anyway: {out}");
    }
}

#[cfg(feature = "sim")]
#[test]
fn sim_rates_are_percentages_with_range_checks() {
    for bad in ["150", "-1", "ten", "NaN"] {
        let (ok, _, err) = run_args("sim", &[&format!("--loss={bad}")]);
        assert!(!ok, "--loss {bad} accepted");
        assert!(err.contains("percentage"), "--loss {bad}: {err}");
    }
    let (ok, _, err) = run_args("sim", &["--bandwidth", "0"]);
    assert!(!ok && err.contains("0 bit/s would carry nothing"), "{err}");
    let (ok, _, err) = run_args("sim", &["--hosts", "1"]);
    assert!(!ok && err.contains("from 2 to 64"), "{err}");
    // `--loss 10` is 10 %, as `tap serve --drop-rate 10` is.
    let (ok, out, err) = run_args(
        "sim",
        &[
            "--hosts",
            "2",
            "--loss",
            "10",
            "--dup",
            "0.5%",
            "--seconds",
            "1",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("loss 10.00%, dup 0.50%"), "{out}");
}

#[cfg(all(feature = "tap", target_os = "linux"))]
#[test]
fn tap_serve_refuses_a_network_or_broadcast_address() {
    for (ip, what) in [
        ("192.168.69.0/24", "network"),
        ("10.0.0.255/24", "broadcast"),
    ] {
        let (ok, _, err) = run_args("tap", &["serve", "--ip", ip]);
        assert!(!ok, "--ip {ip} accepted");
        assert!(err.contains(&format!("the {what} address")), "{err}");
    }
    let (ok, _, err) = run_args("tap", &["serve", "--drop-rate", "101"]);
    assert!(!ok && err.contains("0..=100"), "{err}");
}

#[cfg(all(feature = "tap", target_os = "linux"))]
#[test]
fn tap_serve_says_when_it_clamps_the_backlog() {
    // The note comes before the interface is opened; this one does not exist.
    let (_, _, err) = run_args("tap", &["serve", "--iface", "nosuch9", "--backlog", "0"]);
    assert!(err.contains("note: --backlog 0 is taken as 1"), "{err}");
    let args = [
        "serve",
        "--iface",
        "nosuch9",
        "--backlog",
        "9",
        "--pool",
        "2",
    ];
    let (_, _, err) = run_args("tap", &args);
    assert!(
        err.contains("note: --backlog 9 is more than --pool 2"),
        "{err}"
    );
}
