//! The library's TAP server in a thread inside a test's namespace, watched and stopped by the
//! test (`tests/tap.rs`, `tests/tap_hostile.rs`).
#![allow(dead_code)] // each test binary uses its own part

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use smolsock::smoltcp::time::Duration as SmolDuration;
use smolsock::tap::{ChatOperator, ServerConfig, ServerReport, TapError, TapServer};

use crate::netns::Netns;

/// The library's TAP server running in a thread inside a namespace; stopped on drop.
pub struct Server {
    stop: Arc<AtomicBool>,
    latest: Arc<Mutex<Option<ServerReport>>>,
    thread: Option<JoinHandle<Result<ServerReport, TapError>>>,
}

impl Server {
    pub fn start(ns: &Netns, config: ServerConfig) -> Server {
        Self::start_with_chat(ns, config, None)
    }

    pub fn start_with_chat(
        ns: &Netns,
        mut config: ServerConfig,
        chat: Option<ChatOperator>,
    ) -> Server {
        let _ = env_logger::builder().is_test(true).try_init();
        // Another thread stops the server: let it notice within 50 ms.
        config.max_wait = Some(SmolDuration::from_millis(50));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let flag = stop.clone();
        let latest = Arc::new(Mutex::new(None));
        let observed = latest.clone();
        let thread = ns.spawn(move || match TapServer::open(config) {
            Ok(server) => {
                ready_tx.send(Ok(())).ok();
                server.run_observed(&flag, chat, |report| {
                    *observed.lock().unwrap() = Some(*report);
                })
            }
            Err(e) => {
                ready_tx.send(Err(e.to_string())).ok();
                Err(e)
            }
        });
        let server = Server {
            stop,
            latest,
            thread: Some(thread),
        };
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {
                ns.wait_for_carrier();
                server
            }
            Ok(Err(e)) => panic!("the server did not start: {e}"),
            Err(e) => panic!("the server did not start: {e}"),
        }
    }

    /// Wait (up to 20 s) until the server's counters satisfy `settled` (a connection the client
    /// has finished may still wait for its last ACK on the server), then stop it.
    pub fn stop_when(self, settled: impl Fn(&ServerReport) -> bool) -> ServerReport {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.latest.lock().unwrap().as_ref().is_some_and(&settled) {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let report = self.stop();
        assert!(settled(&report), "{report:?}");
        report
    }

    /// The counters as of the last round that did anything.
    pub fn latest(&self) -> Option<ServerReport> {
        *self.latest.lock().unwrap()
    }

    /// Wait (up to `within`) until the counters satisfy `settled`, then stop the server and
    /// return its report, which must satisfy `settled`.
    pub fn stop_when_within(
        self,
        within: Duration,
        settled: impl Fn(&ServerReport) -> bool,
    ) -> ServerReport {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline && !self.latest().as_ref().is_some_and(&settled) {
            thread::sleep(Duration::from_millis(10));
        }
        let report = self.stop();
        assert!(settled(&report), "{report:?}");
        report
    }

    /// Wait (up to `limit`) until the latest report satisfies `what`; return it.
    pub fn wait_for(&self, limit: Duration, what: impl Fn(&ServerReport) -> bool) -> ServerReport {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(report) = self.latest.lock().unwrap().filter(|r| what(r)) {
                return report;
            }
            assert!(
                Instant::now() < deadline,
                "not within {limit:?}: {:?}",
                self.latest.lock().unwrap()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stop the server and return what it counted.
    pub fn stop(mut self) -> ServerReport {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread.take().expect("running");
        match thread.join() {
            Ok(Ok(report)) => report,
            Ok(Err(e)) => panic!("the server failed: {e}"),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
