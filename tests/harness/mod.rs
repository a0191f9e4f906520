//! The test harness of the suites that need something from the machine (root and network
//! namespaces for `tests/tap.rs`, QEMU and the Cortex-M targets for `tests/qemu.rs`): a test
//! that cannot run is reported as **ignored, with the reason**, never counted as passed.
//!
//! Such a suite is a `[[test]]` with `harness = false` in `Cargo.toml`, and its `main` is:
//!
//! ```ignore
//! mod harness;
//!
//! fn main() -> std::process::ExitCode {
//!     // Decided once, before any test runs; `None` when everything needed is here.
//!     let unavailable: Option<String> = my_environment_check();
//!     harness::run(harness::tests![first_test, second_test], unavailable)
//! }
//!
//! fn first_test() { /* panics on failure, like a #[test] */ }
//! ```
//!
//! `cargo test` runs it like any other test file, and the usual libtest arguments work
//! (`cargo test --test tap NAME`, `--exact`, `--list`, `--test-threads`, `--skip`; `--nocapture`
//! is accepted but changes nothing: this harness never captures output).
//!
//! When `unavailable` is `Some(reason)`:
//! - normally every test is reported `ignored (skipped: REASON)`, a line before the run says
//!   why, and the closing summary counts them as `N ignored`;
//! - with `SMOLSOCK_REQUIRE_ALL=1` in the environment (CI sets it: CI runs as root with QEMU
//!   installed, so a missing environment there means something broke) every test **fails**
//!   with the reason instead.
//!
//! Each test body runs on a thread of its own (as with libtest), so a test that moves its thread
//! into a network namespace (`setns`) cannot leak that into the next test.
#![allow(dead_code)]

use std::process::ExitCode;

pub use libtest_mimic::{Arguments, Failed, Trial};

/// The environment variable that turns an unavailable environment into failures.
pub const REQUIRE_ALL: &str = "SMOLSOCK_REQUIRE_ALL";

/// A test named `name` that runs `body` on a fresh thread; a panic in it is a failure whose
/// message is the panic's.
pub fn test(name: &str, body: fn()) -> Trial {
    let thread_name = name.to_string();
    Trial::test(name, move || {
        let result = std::thread::Builder::new()
            .name(thread_name)
            .spawn(body)
            .map_err(|e| Failed::from(format!("cannot spawn the test thread: {e}")))?
            .join();
        result.map_err(|panic| {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the test panicked".into());
            Failed::from(message)
        })
    })
}

/// `tests![a, b, c]`: the test functions `a`, `b`, `c` (each `fn()`), named after themselves, as
/// a `Vec<Trial>` for [`run`].
macro_rules! tests {
    ($($test:path),* $(,)?) => {
        vec![$($crate::harness::test(stringify!($test), $test)),*]
    };
}
pub(crate) use tests;

/// Whether `SMOLSOCK_REQUIRE_ALL` is set to something other than empty or `0`.
pub fn require_all() -> bool {
    std::env::var(REQUIRE_ALL).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Run `trials` with the command line's arguments (filters and options as libtest takes them).
///
/// `unavailable` is why none of them can run on this machine (decided once by the caller before
/// the run), or `None` when they can. Unavailable tests are reported ignored with the reason,
/// or failed under `SMOLSOCK_REQUIRE_ALL=1`; see the module documentation. The exit code is
/// non-zero when a test failed.
pub fn run(trials: Vec<Trial>, unavailable: Option<String>) -> ExitCode {
    let args = Arguments::from_args();
    let trials = match unavailable {
        None => trials,
        Some(reason) => {
            let required = require_all();
            if !args.list {
                let outcome = if required {
                    format!("its tests fail ({REQUIRE_ALL}=1 requires them to run)")
                } else {
                    format!("its tests are reported ignored (set {REQUIRE_ALL}=1 to fail instead)")
                };
                println!("\n{} cannot run here: {reason}; {outcome}", suite());
            }
            trials
                .into_iter()
                .map(|trial| unavailable_trial(&trial, &reason, required))
                .collect()
        }
    };
    libtest_mimic::run(&args, trials).exit_code()
}

/// `trial` as it is, or, when `unavailable` is `Some(reason)` (a need of this test alone, such as
/// root for a TAP device in a suite that otherwise needs only QEMU), replaced as [`run`] replaces
/// a whole suite's: reported ignored with the reason, or failed with it under
/// `SMOLSOCK_REQUIRE_ALL=1`.
pub fn unless_unavailable(trial: Trial, unavailable: Option<&str>) -> Trial {
    match unavailable {
        None => trial,
        Some(reason) => unavailable_trial(&trial, reason, require_all()),
    }
}

/// `trial` replaced by one that does not run its body: ignored with `reason`, or failed with it
/// when `required`.
fn unavailable_trial(trial: &Trial, reason: &str, required: bool) -> Trial {
    let name = trial.name().to_string();
    let replaced = if required {
        let message = format!("{REQUIRE_ALL}=1 but this test cannot run here: {reason}");
        Trial::test(name, move || Err(Failed::from(message)))
    } else {
        let why = format!("skipped: {reason}");
        Trial::ignorable_test(name, move || {
            Ok(libtest_mimic::Completion::ignored_with(why))
        })
    };
    replaced
        .with_kind(trial.kind())
        .with_ignored_flag(trial.has_ignored_flag())
}

/// The test binary's name without cargo's hash (`tap-0123abcd` is `tap`).
fn suite() -> String {
    let exe = std::env::current_exe().unwrap_or_default();
    let stem = exe
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => {
            format!("tests/{name}.rs")
        }
        _ => stem,
    }
}
