//! Link every binary for its board: the board's memory map as `memory.x` where the runtime's
//! `link.x` (cortex-m-rt's or riscv-rt's) finds it, then `-Tlink.x`.
//!
//! | target | program | board | memory map |
//! |---|---|---|---|
//! | `thumbv7m-none-eabi`, `thumbv7em-none-eabihf` | every one | mps2-an385 / mps2-an386 | `memory/mps2.x` |
//! | `thumbv6m-none-eabi` | `selftest`, `fault` | microbit (nRF51, 16 KiB RAM) | `memory/microbit.x` |
//! | `thumbv6m-none-eabi` | `net`, `net-large`, `net-dhcp`, `net-lesson` | mps2-an385 (an M3 runs v6-M code) | `memory/mps2.x` |
//! | `riscv32imac-unknown-none-elf` | every one | virt | `memory/virt.x` |
//!
//! A board per program needs a memory map per program: each map is written to a directory of its
//! own under `OUT_DIR` and only that directory is put on the program's linker search path. (No
//! `memory.x` may sit in the package root: the linker looks there first.)
//!
//! Also sets `cfg(microbit)` for the Cortex-M0 build, whose self-test is the smaller one.

use std::{env, fs, path::PathBuf};

/// The programs (`src/bin/*.rs`).
const BINS: [&str; 6] = [
    "selftest",
    "net",
    "net-large",
    "net-dhcp",
    "net-lesson",
    "fault",
];

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target = env::var("TARGET").expect("cargo sets TARGET");
    println!("cargo:rustc-check-cfg=cfg(microbit)");
    let m0 = target.starts_with("thumbv6m");
    if m0 {
        println!("cargo:rustc-cfg=microbit");
    }
    for map in ["mps2", "microbit", "virt"] {
        let dir = out.join(map);
        fs::create_dir_all(&dir).expect("create the memory map's directory");
        fs::copy(format!("memory/{map}.x"), dir.join("memory.x")).expect("copy the memory map");
        // cortex-m-rt's `device` feature includes `device.x` (normally from a PAC): the interrupt
        // vectors are all `DefaultHandler` (board/cortex_m.rs), so it only needs to exist.
        fs::write(dir.join("device.x"), "/* no named interrupt handlers */\n").expect("device.x");
        println!("cargo:rerun-if-changed=memory/{map}.x");
    }
    for bin in BINS {
        // `net-dhcp` exists only with the `dhcp` feature (its `required-features`).
        if bin == "net-dhcp" && env::var_os("CARGO_FEATURE_DHCP").is_none() {
            continue;
        }
        // `net-lesson` only with the `lesson` feature.
        if bin == "net-lesson" && env::var_os("CARGO_FEATURE_LESSON").is_none() {
            continue;
        }
        let map = if target.starts_with("riscv32") {
            "virt"
        } else if m0 && matches!(bin, "selftest" | "fault") {
            "microbit"
        } else {
            "mps2"
        };
        println!(
            "cargo:rustc-link-arg-bin={bin}=-L{}",
            out.join(map).display()
        );
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
}
