// Size-first replacements for the runtime routines the compiler calls behind the code's back,
// `include!`d by cortex_m.rs (every Cortex-M board). Rust's `compiler_builtins` ships
// speed-first versions of them, and on a Cortex-M3 those are the largest functions in the
// budget build after the event loop: `memmove` 1.6 KiB, `memcpy` 0.7 KiB, the ARM EABI's
// aligned `__aeabi_memcpy4/8` and `__aeabi_memclr*` 0.8 KiB, and the 64-bit division behind
// `__aeabi_uldivmod` 0.9 KiB (smoltcp's TCP round-trip estimate divides a `Duration`'s 64-bit
// microseconds by 1000 on every ACK). Here they are a few dozen bytes each, like newlib-nano's
// `-Os` versions: a word loop when everything is word-aligned, else a byte loop, and a
// shift-and-subtract division. The firmware's copies are short (frames, socket buffers of
// 2 KiB), so the word loop is plenty.
//
// How the override works: `compiler_builtins` defines these symbols weak, so a strong definition
// in the program wins at link time and the speed-first code is never linked.
//
// Two rules keep these correct:
// - The loops use volatile reads and writes. Otherwise LLVM recognises a copy loop as the
//   `memcpy` idiom and compiles it into a call to `memcpy`, that is, into itself.
// - Nothing here calls a function named `memcpy`, `memmove` or `memset`: LLVM knows those names
//   and would turn the call back into its own memory intrinsic, lowered to `__aeabi_memclr` and
//   friends, that is, to these very functions. They all call the plain `copy` and `fill`.
// - `copy` picks the direction, so overlap is always safe and `memcpy` can be `memmove`.
//
// The self-test (`selftest`) runs these on every Cortex-M board: its checks move overlapping
// buffers both ways, clear and fill memory, and divide 64-bit numbers.

mod small_libc {
    use core::ptr::{read_volatile, write_volatile};

    /// Word-at-a-time when `dst`, `src` and `n` are all multiples of 4.
    fn words(dst: *mut u8, src: *const u8, n: usize) -> bool {
        (dst as usize | src as usize | n) & 3 == 0
    }

    /// Copy `n` bytes from `src` to `dst`; the regions may overlap.
    ///
    /// # Safety
    /// `src` readable and `dst` writable for `n` bytes (the C contract).
    unsafe fn copy(dst: *mut u8, src: *const u8, n: usize) {
        let forward = (dst as usize) <= (src as usize);
        // SAFETY: every index is below `n`, within both regions (the caller's contract); the
        // direction copies each byte before it is overwritten when the regions overlap.
        unsafe {
            if words(dst, src, n) {
                let (d, s, n) = (dst as *mut u32, src as *const u32, n / 4);
                for i in 0..n {
                    let i = if forward { i } else { n - 1 - i };
                    write_volatile(d.add(i), read_volatile(s.add(i)));
                }
            } else {
                for i in 0..n {
                    let i = if forward { i } else { n - 1 - i };
                    write_volatile(dst.add(i), read_volatile(src.add(i)));
                }
            }
        }
    }

    /// `memcpy`: [`copy`] (which also handles overlap, so one routine serves both).
    ///
    /// # Safety
    /// As [`copy`].
    #[no_mangle]
    pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        unsafe { copy(dst, src, n) };
        dst
    }

    /// `memset`: [`fill`].
    ///
    /// # Safety
    /// As [`fill`].
    #[no_mangle]
    pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        unsafe { fill(dst, c, n) };
        dst
    }

    /// Fill `n` bytes at `dst` with the low byte of `c`.
    ///
    /// # Safety
    /// `dst` writable for `n` bytes.
    unsafe fn fill(dst: *mut u8, c: i32, n: usize) {
        // SAFETY: every index is below `n` (the caller's contract).
        unsafe {
            if words(dst, dst, n) {
                let word = u32::from(c as u8) * 0x0101_0101;
                for i in 0..n / 4 {
                    write_volatile((dst as *mut u32).add(i), word);
                }
            } else {
                for i in 0..n {
                    write_volatile(dst.add(i), c as u8);
                }
            }
        }
    }

    /// `memmove`: [`copy`].
    ///
    /// # Safety
    /// As [`copy`].
    #[no_mangle]
    pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        unsafe { copy(dst, src, n) };
        dst
    }

    // The ARM EABI's names (what LLVM calls on ARM). The `4`/`8` variants promise aligned
    // pointers; `memmove`'s own alignment test covers them. Note `__aeabi_memset`'s argument
    // order: (dst, n, c).
    #[cfg(target_arch = "arm")]
    mod aeabi {
        use super::{copy, fill};

        macro_rules! copies {
            ($($name:ident)*) => {$(
                /// ARM EABI alias of `memmove`/`memcpy`.
                ///
                /// # Safety
                /// As `memmove`.
                #[no_mangle]
                pub unsafe extern "aapcs" fn $name(dst: *mut u8, src: *const u8, n: usize) {
                    // SAFETY: the caller's contract, passed on.
                    unsafe { copy(dst, src, n) };
                }
            )*};
        }
        copies!(__aeabi_memcpy __aeabi_memcpy4 __aeabi_memcpy8
                __aeabi_memmove __aeabi_memmove4 __aeabi_memmove8);

        macro_rules! fills {
            ($($name:ident)*) => {$(
                /// ARM EABI `memset` (note the order: length, then value).
                ///
                /// # Safety
                /// `dst` writable for `n` bytes.
                #[no_mangle]
                pub unsafe extern "aapcs" fn $name(dst: *mut u8, n: usize, c: i32) {
                    // SAFETY: the caller's contract, passed on.
                    unsafe { fill(dst, c, n) };
                }
            )*};
        }
        fills!(__aeabi_memset __aeabi_memset4 __aeabi_memset8);

        macro_rules! clears {
            ($($name:ident)*) => {$(
                /// ARM EABI: zero `n` bytes.
                ///
                /// # Safety
                /// `dst` writable for `n` bytes.
                #[no_mangle]
                pub unsafe extern "aapcs" fn $name(dst: *mut u8, n: usize) {
                    // SAFETY: the caller's contract, passed on.
                    unsafe { fill(dst, 0, n) };
                }
            )*};
        }
        clears!(__aeabi_memclr __aeabi_memclr4 __aeabi_memclr8);

        /// Unsigned 64-bit division, quotient and remainder.
        /// Shift and subtract, one quotient bit per round: 64 rounds, no table.
        fn udivmod(mut n: u64, d: u64) -> (u64, u64) {
            let mut r = 0u64;
            for _ in 0..64 {
                // `r` may need a 65th bit when `d` is above 2^63: then it is certainly ≥ `d`.
                let carry = r >> 63;
                r = (r << 1) | (n >> 63);
                n <<= 1;
                if carry != 0 || r >= d {
                    r = r.wrapping_sub(d);
                    n |= 1;
                }
            }
            (n, r)
        }

        /// [`udivmod`] with the remainder through a pointer, for the assembly below.
        extern "aapcs" fn udivmod_to(n: u64, d: u64, rem: &mut u64) -> u64 {
            let (q, r) = udivmod(n, d);
            *rem = r;
            q
        }

        /// ARM EABI: `n / d` in r0:r1 and `n % d` in r2:r3 (a return no Rust signature
        /// expresses, hence the few instructions of assembly, Thumb-1 so the Cortex-M0 runs
        /// them too). Rust checks for zero before it divides, so `d` is never 0.
        #[unsafe(naked)]
        #[no_mangle]
        pub unsafe extern "aapcs" fn __aeabi_uldivmod() {
            core::arch::naked_asm!(
                "push {{r4, lr}}",
                "sub sp, #16",
                "add r4, sp, #8",
                "str r4, [sp]",
                "bl {divide}",
                "ldr r2, [sp, #8]",
                "ldr r3, [sp, #12]",
                "add sp, #16",
                "pop {{r4, pc}}",
                divide = sym udivmod_to,
            );
        }
    }
}
