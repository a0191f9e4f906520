//! A line of the chat, held until its `\n` arrives.

use heapless::Vec;
use smoltcp::socket::tcp;

use super::LineTooLong;

/// Bytes of one line, without its `\n`, held until the line is complete.
#[derive(Debug, Default)]
pub struct LineBuffer<const MAX: usize> {
    buf: Vec<u8, MAX>,
    complete: bool,
}

enum Scan {
    Line,
    Partial(usize),
}

impl<const MAX: usize> LineBuffer<MAX> {
    /// An empty line buffer.
    pub const fn new() -> Self {
        LineBuffer {
            buf: Vec::new(),
            complete: false,
        }
    }

    /// Forget any partial line.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.complete = false;
    }

    /// Read from `socket` until a whole line is there; `Ok(None)` if it is not complete yet.
    /// The line stays valid until the next call.
    pub fn read_line(
        &mut self,
        socket: &mut tcp::Socket<'_>,
    ) -> Result<Option<&[u8]>, LineTooLong> {
        if self.complete {
            self.clear();
        }
        loop {
            let room = MAX - self.buf.len();
            let buf = &mut self.buf;
            let scan = socket.recv(|data| {
                // A newline right after `room` bytes still completes a line of exactly MAX.
                let window = &data[..data.len().min(room + 1)];
                match window.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        buf.extend_from_slice(&window[..i]).ok();
                        (i + 1, Scan::Line)
                    }
                    None => {
                        let take = data.len().min(room);
                        buf.extend_from_slice(&data[..take]).ok();
                        (take, Scan::Partial(take))
                    }
                }
            });
            match scan {
                Ok(Scan::Line) => {
                    if self.buf.last() == Some(&b'\r') {
                        self.buf.pop();
                    }
                    self.complete = true;
                    return Ok(Some(&self.buf));
                }
                Ok(Scan::Partial(_)) if self.buf.len() == MAX => {
                    return Err(LineTooLong { max: MAX })
                }
                Ok(Scan::Partial(0)) | Err(_) => return Ok(None),
                Ok(Scan::Partial(_)) => {}
            }
        }
    }
}
