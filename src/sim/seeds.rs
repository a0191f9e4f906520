//! Running a scenario over many seeds, and replaying the one that failed (`std`).
//!
//! A randomised test is only useful if a failure can be reproduced. [`for_each_seed`] runs a
//! scenario once per seed and, when one fails (an `Err` or a panic), stops with a message that
//! names the seed and the command that replays it alone:
//!
//! ```text
//! tcp_bulk: seed 137 failed: reply differs at byte 81920
//!   replay:  SIM_SEED=137 cargo test --test sim tcp_bulk -- --exact --nocapture
//!   capture: SIM_SEED=137 SIM_PCAP=/tmp/sim cargo test --test sim tcp_bulk -- --exact
//! ```
//!
//! | variable | effect |
//! |---|---|
//! | `SIM_SEED=S` | run seed `S` only |
//! | `SIM_SEEDS=N` | run seeds `0..N` instead of the test's default count |
//! | `SIM_PCAP=DIR` | scenarios that support it write `DIR/<test>-<seed>/port<N>.pcap` ([`pcap_dir`]) |

use std::format;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::string::{String, ToString};
use std::vec::Vec;

/// The seeds to run: `SIM_SEED` alone if set, else `0..SIM_SEEDS`, else `0..default_count`.
pub fn seeds(default_count: u64) -> Vec<u64> {
    if let Some(seed) = env_u64("SIM_SEED") {
        return std::vec![seed];
    }
    let count = env_u64("SIM_SEEDS").unwrap_or(default_count);
    (0..count).collect()
}

/// Where to write captures for `test` at `seed`, if `SIM_PCAP` is set.
pub fn pcap_dir(test: &str, seed: u64) -> Option<PathBuf> {
    let root = std::env::var_os("SIM_PCAP")?;
    Some(PathBuf::from(root).join(format!("{test}-{seed}")))
}

/// Run `scenario` for every seed of [`seeds`], collecting its results; on the first failure,
/// panic with the seed and how to replay it.
pub fn for_each_seed<R>(
    test: &str,
    default_count: u64,
    mut scenario: impl FnMut(u64) -> Result<R, String>,
) -> Vec<(u64, R)> {
    let mut results = Vec::new();
    for seed in seeds(default_count) {
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| scenario(seed)));
        let failure = match outcome {
            Ok(Ok(result)) => {
                results.push((seed, result));
                continue;
            }
            Ok(Err(message)) => message,
            Err(payload) => panic_message(payload.as_ref()),
        };
        panic!("{}", replay_message(test, seed, &failure));
    }
    results
}

/// The failure message: what failed, and the commands that replay and capture it.
pub fn replay_message(test: &str, seed: u64, failure: &str) -> String {
    format!(
        "{test}: seed {seed} failed: {failure}\n  \
         replay:  SIM_SEED={seed} cargo test --test sim {test} -- --exact --nocapture\n  \
         capture: SIM_SEED={seed} SIM_PCAP=/tmp/sim cargo test --test sim {test} -- --exact"
    )
}

fn panic_message(payload: &(dyn core::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panicked".to_string()
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    match value.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => {
            log::warn!("{name}={value:?} is not a number; ignored");
            None
        }
    }
}
