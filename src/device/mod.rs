//! `smoltcp::phy::Device` implementations.

#[cfg(feature = "lan9118")]
pub mod lan9118;
