//! Reading the frames we send: a device wrapper that shows each outgoing frame to the
//! [`AckTracker`](super::acks::AckTracker) after smoltcp wrote it.

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

use super::acks::AckTracker;
use super::segment::parse_sent;

/// A transmit token that notes the TCP segment it carried.
pub(crate) struct SniffTx<'t, T> {
    inner: T,
    acks: &'t mut AckTracker,
    medium: Medium,
    now: Instant,
}

impl<'t, T> SniffTx<'t, T> {
    pub(crate) fn new(inner: T, acks: &'t mut AckTracker, medium: Medium, now: Instant) -> Self {
        SniffTx {
            inner,
            acks,
            medium,
            now,
        }
    }
}

impl<T: phy::TxToken> phy::TxToken for SniffTx<'_, T> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let SniffTx {
            inner,
            acks,
            medium,
            now,
        } = self;
        inner.consume(len, |buf| {
            let result = f(buf);
            note(acks, medium, now, buf);
            result
        })
    }

    fn set_meta(&mut self, meta: phy::PacketMeta) {
        self.inner.set_meta(meta);
    }
}

/// Show one sent frame to the tracker. Not generic and never inlined: smoltcp calls `consume`
/// from many places, each with its own closure type, and an inlined copy of this in each of them
/// cost 4 KiB of flash on a Cortex-M.
#[inline(never)]
fn note(acks: &mut AckTracker, medium: Medium, now: Instant, frame: &[u8]) {
    if let Some(sent) = parse_sent(medium, frame) {
        acks.sent(now, &sent);
    }
}

/// A device for `Interface::poll_egress` that sends through `device` and notes every segment.
pub(crate) struct Sniffing<'d, D: ?Sized> {
    device: &'d mut D,
    acks: &'d mut AckTracker,
    medium: Medium,
}

impl<'d, D: Device + ?Sized> Sniffing<'d, D> {
    pub(crate) fn new(device: &'d mut D, acks: &'d mut AckTracker) -> Self {
        let medium = device.capabilities().medium;
        Sniffing {
            device,
            acks,
            medium,
        }
    }
}

impl<D: Device + ?Sized> Device for Sniffing<'_, D> {
    type RxToken<'a>
        = D::RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = SniffTx<'a, D::TxToken<'a>>
    where
        Self: 'a;

    // Egress never receives.
    fn receive(&mut self, _now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        None
    }

    fn transmit(&mut self, now: Instant) -> Option<Self::TxToken<'_>> {
        let inner = self.device.transmit(now)?;
        Some(SniffTx::new(inner, self.acks, self.medium, now))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.device.capabilities()
    }
}
