//! The line chat of the lesson (programs 3 and 4), TCP port 8080.
//!
//! Lines travel as bytes ending in `\n` (a trailing `\r` is dropped). A line longer than the
//! line buffer is a hostile or broken peer: that connection is reset, the others go on.
//!
//! - [`ChatServer`]: receives a line, shows it, replies with a line from an [`Operator`] (a
//!   person at a terminal, or a script). A client's `yes` is its goodbye: no reply, the server
//!   closes that connection.
//! - [`ChatClient`]: sends the user's lines; an empty line is refused with a message and not
//!   sent; `yes` or the end of input closes the connection.
//!
//! Every chat client shows the user the same words: [`PROMPT`], [`EMPTY_REFUSED`], [`BYE`].
//!
//! | file | what |
//! |---|---|
//! | `line.rs` | [`LineBuffer`]: bytes of one line, held until its `\n` |
//! | `server.rs` | [`ChatServer`] and the [`Operator`] who types its replies |
//! | `client.rs` | [`ChatClient`], [`ChatInput`] (what the user typed), [`Submitted`] |
//! | `error.rs` | [`LineTooLong`], [`SubmitError`] |
//! | `printable.rs` | [`Printable`]: received bytes in a log line |

mod client;
mod error;
mod line;
mod printable;
mod server;

pub use client::{ChatClient, ChatInput, Submitted};
pub use error::{LineTooLong, SubmitError};
pub use line::LineBuffer;
pub use printable::Printable;
pub use server::{ChatServer, Operator};

/// What a chat client shows before each line the user types.
pub const PROMPT: &str = "message (yes to quit)> ";
/// What a chat client says when the user typed an empty line (nothing is sent).
pub const EMPTY_REFUSED: &str = "empty line refused: type a message, or yes to quit";
/// What a chat client says when the user leaves (`yes` or the end of input).
pub const BYE: &str = "bye";
