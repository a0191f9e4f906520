//! Put `memory.x` where cortex-m-rt's `link.x` finds it, and link every binary with `link.x`.
//!
//! Both boards share one memory map, so there is one `memory.x`. (Were there one per board, they
//! would need different names, selected here: a `memory.x` in the package root is always found
//! before one written to `OUT_DIR`.)

use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy("memory.x", out.join("memory.x")).expect("copy memory.x");
    // cortex-m-rt's `device` feature includes `device.x` (normally from a PAC): the interrupt
    // vectors are all `DefaultHandler` (board.rs), so it only needs to exist.
    fs::write(out.join("device.x"), "/* no named interrupt handlers */\n").expect("device.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
}
