//! Capture files: the one libpcap writer, for the TAP server and the simulator alike.
//!
//! smoltcp writes the libpcap format through its [`PcapSink`] trait (a [`PcapWriter`] device
//! wrapper on a real interface, [`sim::Pcap`](crate::sim::Pcap) in the simulator). Its own sink
//! for `std::io::Write` issues one `write` per header field and panics if the disk is full;
//! [`PcapFile`] is the sink smolsock uses instead:
//!
//! - it assembles records in memory and writes them whole, so a file never ends in half a
//!   record;
//! - an I/O error is logged once and ends the capture, not the program; [`PcapFile::finish`]
//!   reports it;
//! - time stamps are the stack's time as it is (virtual time in the simulator, so a 60 s
//!   scenario spans 60 s from the epoch), or wall-clock time with [`PcapFile::live`], where each
//!   record also reaches the file at once (a killed server leaves every frame it handled).
//!
//! Wireshark and tshark read these files. They take UDP port 8848 (the lesson's UDP echo) for
//! IPVS and show "[Malformed Packet]"; `tshark -d udp.port==8848,data -r FILE` (or *Decode
//! As...* in Wireshark) shows the datagrams as plain data.
//!
//! Available with the `std` feature.
//!
//! [`PcapWriter`]: smoltcp::phy::PcapWriter

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration as StdDuration, SystemTime, UNIX_EPOCH};
use std::vec::Vec;

use smoltcp::phy::PcapSink;
use smoltcp::time::Instant;

/// Records are written once this many bytes are waiting (unless [`PcapFile::live`]).
const BATCH: usize = 64 * 1024;

/// A libpcap file that smoltcp's [`PcapSink`] machinery writes into. See the
/// [module docs](self).
///
/// ```no_run
/// use smolsock::pcap::PcapFile;
/// use smolsock::smoltcp::phy::{PcapLinkType, PcapSink};
/// use smolsock::smoltcp::time::Instant;
///
/// let mut file = PcapFile::create("/tmp/one.pcap")?;
/// file.global_header(PcapLinkType::Ethernet);
/// file.packet(Instant::from_millis(5), &[0xff; 60]);
/// file.finish()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct PcapFile {
    file: Option<File>,
    path: PathBuf,
    pending: Vec<u8>,
    zero: StdDuration,
    live: bool,
    error: Option<io::Error>,
}

impl PcapFile {
    /// Create (or truncate) `path`. Time stamps are the stack's own; records are written in
    /// batches (call [`finish`](Self::finish), or drop the file, to write the last ones).
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        Ok(PcapFile {
            file: Some(File::create(path)?),
            path: path.to_path_buf(),
            pending: Vec::with_capacity(BATCH + 2048),
            zero: StdDuration::ZERO,
            live: false,
            error: None,
        })
    }

    /// Capture a live interface: `zero` is the wall-clock time at which the stack's clock reads
    /// zero, so Wireshark shows when things happened, and every record is written at once.
    pub fn live(mut self, zero: SystemTime) -> Self {
        self.zero = zero.duration_since(UNIX_EPOCH).unwrap_or_default();
        self.live = true;
        self
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write what is still waiting, and report the first I/O error met (the capture stopped
    /// there).
    pub fn finish(mut self) -> io::Result<()> {
        self.write_pending();
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn write_pending(&mut self) {
        if let Some(file) = self.file.as_mut() {
            if let Err(e) = file.write_all(&self.pending) {
                log::error!("pcap {}: {e}; capture stopped", self.path.display());
                self.file = None;
                self.error = Some(e);
            }
        }
        self.pending.clear();
    }
}

impl PcapSink for PcapFile {
    fn write(&mut self, data: &[u8]) {
        if self.file.is_some() {
            self.pending.extend_from_slice(data);
        }
    }

    /// smoltcp calls this after the global header and after every record.
    fn flush(&mut self) {
        if self.live || self.pending.len() >= BATCH {
            self.write_pending();
        }
    }

    fn packet_header(&mut self, timestamp: Instant, length: usize) {
        let since_start = StdDuration::from_micros(timestamp.total_micros().max(0) as u64);
        let at = self.zero + since_start;
        let length = u32::try_from(length).unwrap_or(u32::MAX);
        self.write_u32(at.as_secs() as u32);
        self.write_u32(at.subsec_micros());
        self.write_u32(self.max_packet_size().min(length));
        self.write_u32(length);
    }
}

impl Drop for PcapFile {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            self.write_pending();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::phy::PcapLinkType;

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(std::format!("smolsock-{}-{name}", std::process::id()))
    }

    #[test]
    fn records_are_whole_and_time_stamped_as_asked() {
        for live in [false, true] {
            let path = temp(if live { "live.pcap" } else { "batch.pcap" });
            let mut file = PcapFile::create(&path).unwrap();
            if live {
                file = file.live(UNIX_EPOCH + StdDuration::from_secs(1000));
            }
            file.global_header(PcapLinkType::Ethernet);
            file.packet(Instant::from_micros(2_500_000), &[7; 60]);
            if live {
                // Written at once: a killed server leaves the frame in the file.
                assert_eq!(std::fs::metadata(&path).unwrap().len(), 24 + 16 + 60);
            }
            file.finish().unwrap();
            let bytes = std::fs::read(&path).unwrap();
            std::fs::remove_file(&path).ok();
            assert_eq!(bytes.len(), 24 + 16 + 60);
            let word = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap());
            assert_eq!(word(0), 0xa1b2_c3d4, "magic");
            assert_eq!(word(24), if live { 1002 } else { 2 }, "seconds");
            assert_eq!(word(28), 500_000, "microseconds");
            assert_eq!((word(32), word(36)), (60, 60), "lengths");
        }
    }
}
