//! smolsock: TCP/UDP sockets and message framing on a `no_std` smoltcp stack.
//!
//! - [`frame`]: message boundaries on a TCP stream: 4-byte big-endian length frames, a
//!   heapless streaming decoder, and an all-or-nothing encoder for smoltcp sockets.
#![no_std]
#![warn(missing_docs)]

pub mod frame;
