//! A capture file for smoltcp's `PcapWriter`.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::string::{String, ToString};
use std::time::{Duration as StdDuration, SystemTime, UNIX_EPOCH};
use std::vec::Vec;

use smoltcp::phy::PcapSink;
use smoltcp::time::Instant;

use super::TapError;

/// A libpcap file that smoltcp's [`PcapWriter`](smoltcp::phy::PcapWriter) writes into.
///
/// smoltcp's own sink for `std::io::Write` issues one `write` per header field and panics if
/// the disk is full. This one assembles each record in memory and writes it with one call, so
/// the file holds whole records even if the program is killed; a write error is logged once and
/// ends the capture, not the server. Time stamps are wall-clock time (the stack's clock counts
/// from its start), so Wireshark shows when things happened.
#[derive(Debug)]
pub struct PcapFile {
    file: Option<File>,
    path: String,
    record: Vec<u8>,
    zero: StdDuration,
}

impl PcapFile {
    /// Create (or truncate) `path`; `zero` is the wall-clock time at which the stack's clock
    /// reads zero.
    pub fn create(path: impl AsRef<Path>, zero: SystemTime) -> Result<Self, TapError> {
        let path = path.as_ref();
        let display = path.display().to_string();
        let file = File::create(path).map_err(|source| TapError::Pcap {
            path: display.clone(),
            source,
        })?;
        Ok(PcapFile {
            file: Some(file),
            path: display,
            record: Vec::with_capacity(2048),
            zero: zero.duration_since(UNIX_EPOCH).unwrap_or_default(),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl PcapSink for PcapFile {
    fn write(&mut self, data: &[u8]) {
        self.record.extend_from_slice(data);
    }

    fn flush(&mut self) {
        if let Some(file) = self.file.as_mut() {
            if let Err(e) = file.write_all(&self.record) {
                log::error!("pcap {}: {e}; capture stopped", self.path);
                self.file = None;
            }
        }
        self.record.clear();
    }

    fn packet_header(&mut self, timestamp: Instant, length: usize) {
        let since_start = StdDuration::from_micros(timestamp.total_micros().max(0) as u64);
        let wall = self.zero + since_start;
        let length = u32::try_from(length).unwrap_or(u32::MAX);
        self.write_u32(wall.as_secs() as u32);
        self.write_u32(wall.subsec_micros());
        self.write_u32(self.max_packet_size().min(length));
        self.write_u32(length);
    }
}

impl Drop for PcapFile {
    fn drop(&mut self) {
        // The global header, if no packet followed it.
        if !self.record.is_empty() {
            self.flush();
        }
    }
}
