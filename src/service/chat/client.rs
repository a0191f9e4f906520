//! The chat client (lesson program 4): the user's lines out, the replies in.

use smoltcp::iface::SocketHandle;
use smoltcp::wire::IpEndpoint;

use super::{LineBuffer, LineTooLong, SubmitError};
use crate::tcp::{ClientState, ConnectError, EphemeralPorts, TcpClient};
use crate::Stack;

/// What the user typed, as the chat client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatInput<'l> {
    /// An empty (or blank) line: refused, nothing is sent.
    Empty,
    /// `yes`, or the end of input: leave the chat.
    Quit,
    /// A line to send.
    Message(&'l str),
}

impl<'l> ChatInput<'l> {
    /// Classify a line typed by the user (`None`: end of input).
    pub fn classify(line: Option<&'l str>) -> Self {
        match line.map(|l| l.trim_end_matches(['\r', '\n'])) {
            None => ChatInput::Quit,
            Some(l) if l.trim().is_empty() => ChatInput::Empty,
            Some(l) if l.trim() == "yes" => ChatInput::Quit,
            Some(l) => ChatInput::Message(l),
        }
    }
}

/// What [`ChatClient::submit`] did with a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    /// The line was empty; nothing was sent. Show the user a message and ask again.
    Refused,
    /// The user quit; the connection is closing.
    Quit,
    /// The line was sent; a reply will follow.
    Sent,
}

/// The chat client: one connection, user lines out, reply lines in.
#[derive(Debug)]
pub struct ChatClient<const LINE: usize = 256> {
    client: TcpClient,
    reply: LineBuffer<LINE>,
}

impl<const LINE: usize> ChatClient<LINE> {
    /// Connect the TCP socket behind `handle` to `server`.
    pub fn connect(
        stack: &mut Stack<'_>,
        handle: SocketHandle,
        server: IpEndpoint,
        ports: &mut EphemeralPorts,
    ) -> Result<Self, ConnectError> {
        let mut client = TcpClient::new(handle);
        client.connect(stack, server, ports)?;
        Ok(ChatClient {
            client,
            reply: LineBuffer::new(),
        })
    }

    /// Where the connection is.
    pub fn state(&mut self, stack: &mut Stack<'_>) -> ClientState {
        self.client.state(stack)
    }

    /// Handle one line of user input (`None`: end of input).
    /// `Err(WouldBlock)`: not connected yet or no room; poll and retry.
    pub fn submit(
        &mut self,
        stack: &mut Stack<'_>,
        line: Option<&str>,
    ) -> Result<Submitted, SubmitError> {
        match ChatInput::classify(line) {
            ChatInput::Empty => Ok(Submitted::Refused),
            ChatInput::Quit => {
                self.client.close(stack);
                Ok(Submitted::Quit)
            }
            ChatInput::Message(text) => {
                if text.len() > LINE {
                    return Err(SubmitError::LineTooLong { max: LINE });
                }
                let socket = self.client.socket(stack);
                if !socket.may_send()
                    || socket.send_capacity() - socket.send_queue() < text.len() + 1
                {
                    return Err(SubmitError::WouldBlock);
                }
                socket.send_slice(text.as_bytes())?;
                socket.send_slice(b"\n")?;
                Ok(Submitted::Sent)
            }
        }
    }

    /// The server's next reply line, once complete.
    pub fn reply<'s>(&'s mut self, stack: &mut Stack<'_>) -> Result<Option<&'s [u8]>, LineTooLong> {
        self.reply.read_line(self.client.socket(stack))
    }
}
