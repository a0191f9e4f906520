//! A device that offers smoltcp exactly one frame it has already received.
//!
//! [`Stack::poll`](crate::Stack::poll) takes each frame from the real device itself, so that the
//! ingress guard ([`crate::guard`]) can look at it first; the frames it lets through are handed
//! to smoltcp's `poll_ingress_single` through this adapter, with the real device's transmit
//! token for the reply.

use smoltcp::phy::{self, Device, DeviceCapabilities, PacketMeta};
use smoltcp::time::Instant;

/// A device that offers smoltcp exactly one frame, already received, with its transmit token
/// for the reply: how [`Stack::poll`](crate::Stack::poll) hands over a frame it has looked at.
pub(crate) struct OneFrame<'f, T> {
    frame: Option<(&'f [u8], PacketMeta)>,
    tx: Option<T>,
    caps: DeviceCapabilities,
}

impl<'f, T> OneFrame<'f, T> {
    pub(crate) fn new(frame: &'f [u8], meta: PacketMeta, tx: T, caps: DeviceCapabilities) -> Self {
        OneFrame {
            frame: Some((frame, meta)),
            tx: Some(tx),
            caps,
        }
    }
}

/// The frame of a [`OneFrame`].
pub(crate) struct FrameRx<'f> {
    frame: &'f [u8],
    meta: PacketMeta,
}

impl phy::RxToken for FrameRx<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(self.frame)
    }

    fn meta(&self) -> PacketMeta {
        self.meta
    }
}

impl<'f, T: phy::TxToken> Device for OneFrame<'f, T> {
    type RxToken<'a>
        = FrameRx<'f>
    where
        Self: 'a;
    type TxToken<'a>
        = T
    where
        Self: 'a;

    fn receive(&mut self, _now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let (frame, meta) = self.frame.take()?;
        let tx = self.tx.take()?;
        Some((FrameRx { frame, meta }, tx))
    }

    // Ingress only ever replies through the token paired with the frame.
    fn transmit(&mut self, _now: Instant) -> Option<Self::TxToken<'_>> {
        None
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.caps.clone()
    }
}
