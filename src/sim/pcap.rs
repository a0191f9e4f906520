//! Packet captures: every port's frames, in files Wireshark opens.
//!
//! One capture per port (per host's cable) holds what the host sent, as it left the host, and
//! what it received, as it arrived (after the faults): a lost frame appears on the sender's
//! capture only, a corrupted one arrives with a bad checksum, a duplicate arrives twice.
//! Timestamps are virtual time, so a capture of a 60 s scenario spans 60 s.
//!
//! The format is smoltcp's ([`PcapSink`]), so any sink works, in `no_std` too (a RAM buffer, a
//! UART): [`Pcap`] writes to a slice of sinks. With `std`, [`PcapFiles`] writes
//! `DIR/port<N>.pcap` with the crate's one file writer, [`crate::pcap::PcapFile`] (which also
//! says how to make Wireshark show the UDP echo on port 8848 as data, not IPVS).

use smoltcp::phy::{PcapLinkType, PcapSink};
use smoltcp::time::Instant;

use super::trace::{FrameEvent, Observer};

/// An [`Observer`] writing each port's frames to its own [`PcapSink`] (index = port; ports
/// without a sink are not captured).
#[derive(Debug)]
pub struct Pcap<'s, S: PcapSink> {
    sinks: &'s mut [S],
}

impl<'s, S: PcapSink> Pcap<'s, S> {
    /// Start an Ethernet capture on each sink.
    pub fn new(sinks: &'s mut [S]) -> Self {
        for sink in sinks.iter_mut() {
            sink.global_header(PcapLinkType::Ethernet);
        }
        Pcap { sinks }
    }
}

impl<S: PcapSink> Observer for Pcap<'_, S> {
    fn frame(&mut self, port: usize, at: Instant, event: FrameEvent, frame: &[u8]) {
        capture(self.sinks, port, at, event, frame);
    }
}

fn capture<S: PcapSink>(
    sinks: &mut [S],
    port: usize,
    at: Instant,
    event: FrameEvent,
    frame: &[u8],
) {
    if matches!(event, FrameEvent::Sent | FrameEvent::Delivered { .. }) {
        if let Some(sink) = sinks.get_mut(port) {
            sink.packet(at, frame);
        }
    }
}

#[cfg(feature = "std")]
pub use files::PcapFiles;

#[cfg(feature = "std")]
mod files {
    use std::io;
    use std::path::{Path, PathBuf};
    use std::vec::Vec;

    use smoltcp::phy::{PcapLinkType, PcapSink};
    use smoltcp::time::Instant;

    use super::capture;
    use crate::pcap::PcapFile;
    use crate::sim::trace::{FrameEvent, Observer};

    /// One pcap file per port, `DIR/port<N>.pcap` (each a [`PcapFile`]).
    #[derive(Debug)]
    pub struct PcapFiles {
        files: Vec<PcapFile>,
        paths: Vec<PathBuf>,
    }

    impl PcapFiles {
        /// Create `dir` if needed and one capture file per port.
        pub fn create(dir: impl AsRef<Path>, ports: usize) -> io::Result<Self> {
            let dir = dir.as_ref();
            std::fs::create_dir_all(dir)?;
            let mut files = Vec::with_capacity(ports);
            let mut paths = Vec::with_capacity(ports);
            for port in 0..ports {
                let path = dir.join(std::format!("port{port}.pcap"));
                let mut file = PcapFile::create(&path)?;
                file.global_header(PcapLinkType::Ethernet);
                files.push(file);
                paths.push(path);
            }
            Ok(PcapFiles { files, paths })
        }

        /// The files written.
        pub fn paths(&self) -> &[PathBuf] {
            &self.paths
        }

        /// Write every file to the end; the first error wins.
        pub fn finish(self) -> io::Result<()> {
            let mut result = Ok(());
            for file in self.files {
                let r = file.finish();
                if result.is_ok() {
                    result = r;
                }
            }
            result
        }
    }

    impl Observer for PcapFiles {
        fn frame(&mut self, port: usize, at: Instant, event: FrameEvent, frame: &[u8]) {
            capture(&mut self.files, port, at, event, frame);
        }
    }
}
