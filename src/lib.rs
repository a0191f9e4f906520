//! smolsock: TCP/UDP sockets and message framing on a `no_std` smoltcp stack.
#![no_std]
#![warn(missing_docs)]

pub mod device;
