//! Rate-limited logging: a peer must not be able to grow the log faster than a few KB/s.
//!
//! Every line that a packet can cause (a refused SYN, an oversize datagram, a blind RST, a reply
//! that could not be sent) goes through a [`LogLimit`]: at most [`LogLimit::BURST`] lines per
//! [`LogLimit::WINDOW`], then silence, then one line that says how many were suppressed. A flood
//! of 100,000 bad packets a second therefore writes at most `BURST + 1` lines a second per
//! limiter (a few hundred bytes), and the counters in the reports still count every packet.
//!
//! ```
//! use smolsock::log_limit::LogLimit;
//! use smoltcp::time::Instant;
//!
//! let mut limit = LogLimit::new();
//! let now = Instant::from_secs(1);
//! let mut printed = 0;
//! for _ in 0..1000 {
//!     if limit.allow(now) {
//!         printed += 1;
//!     }
//! }
//! assert_eq!(printed, LogLimit::BURST as usize);
//! // One window later the next line is allowed, and the limiter reports what it held back.
//! let later = now + LogLimit::WINDOW;
//! assert!(limit.allow(later));
//! assert_eq!(limit.take_suppressed(), 1000 - LogLimit::BURST);
//! ```

use smoltcp::time::{Duration, Instant};

/// A token bucket for log lines, kept by whoever logs per packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimit {
    window_start: Instant,
    in_window: u32,
    suppressed: u32,
    reported: u32,
}

impl Default for LogLimit {
    fn default() -> Self {
        Self::new()
    }
}

impl LogLimit {
    /// Lines allowed per window.
    pub const BURST: u32 = 5;
    /// The window.
    pub const WINDOW: Duration = Duration::from_secs(1);

    /// A limiter with a full window.
    pub const fn new() -> Self {
        LogLimit {
            window_start: Instant::ZERO,
            in_window: 0,
            suppressed: 0,
            reported: 0,
        }
    }

    /// Whether a line may be written at `now`; if not, it is counted as suppressed.
    ///
    /// When a new window opens and lines were suppressed in the last one, the caller should also
    /// log [`LogLimit::take_suppressed`] (the [`limited!`](crate::limited) macro does it).
    pub fn allow(&mut self, now: Instant) -> bool {
        if now >= self.window_start + Self::WINDOW || now < self.window_start {
            self.window_start = now;
            self.in_window = 0;
        }
        if self.in_window < Self::BURST {
            self.in_window += 1;
            true
        } else {
            self.suppressed = self.suppressed.wrapping_add(1);
            false
        }
    }

    /// Lines suppressed since the last call (and resets the count).
    pub fn take_suppressed(&mut self) -> u32 {
        let n = self.suppressed.wrapping_sub(self.reported);
        self.reported = self.suppressed;
        n
    }

    /// Every line suppressed so far (modulo 2^32).
    pub fn suppressed_total(&self) -> u32 {
        self.suppressed
    }
}

/// Log through a [`LogLimit`]: `limited!(limit, now, warn, "format", args...)`.
///
/// Writes the line if the limiter allows it, preceded by a line counting the lines it held
/// back since the last one written. When `log` compiles the level out (its `max_level_*`
/// features, e.g. the firmware's `log-off` build) the limiter is not consulted either: there is
/// no line to limit, and the call site compiles to nothing.
#[macro_export]
macro_rules! limited {
    ($limit:expr, $now:expr, $level:ident, $($arg:tt)+) => {{
        let limit: &mut $crate::log_limit::LogLimit = &mut $limit;
        if $crate::__log_level!($level) <= log::STATIC_MAX_LEVEL && limit.allow($now) {
            let held = limit.take_suppressed();
            if held > 0 {
                log::$level!("({held} similar lines suppressed)");
            }
            log::$level!($($arg)+);
        }
    }};
}

/// `log::Level` for a level macro's name (`warn` → `Level::Warn`), for [`limited!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __log_level {
    (error) => {
        log::Level::Error
    };
    (warn) => {
        log::Level::Warn
    };
    (info) => {
        log::Level::Info
    };
    (debug) => {
        log::Level::Debug
    };
    (trace) => {
        log::Level::Trace
    };
}
