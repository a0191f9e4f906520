//! The length header: how wide it is and in which byte order, chosen at the type level.
//!
//! The wire format of this crate is [`U32Be`]: four bytes, most significant first ("network
//! byte order"), which is what Python's `struct.pack("!I", n)` writes. It is the default type
//! parameter everywhere, so code that never names a header gets it. The other three exist for
//! talking to peers that chose differently (a 2-byte header saves two bytes per frame on a
//! link that only carries small messages; some protocols put the length little-endian).
//!
//! The choice is a type, not a runtime flag, so a decoder and an encoder of different formats
//! cannot be mixed up, and the header parsing compiles down to a single load and byte swap.

/// A fixed-width length header in front of every frame.
///
/// This trait is sealed: the four formats below are the only implementations, which lets the
/// codec rely on `WIDTH <= 4`.
pub trait LengthHeader: sealed::Sealed {
    /// Bytes the header occupies on the wire.
    const WIDTH: usize;
    /// The largest payload length the header can express.
    const MAX_LEN: usize;

    /// Read the length from the first [`WIDTH`](Self::WIDTH) bytes of `bytes`.
    fn read(bytes: [u8; 4]) -> u32;

    /// Write `len` into the first [`WIDTH`](Self::WIDTH) bytes of the result.
    ///
    /// `len` must not exceed [`MAX_LEN`](Self::MAX_LEN); higher bits are dropped.
    fn write(len: u32) -> [u8; 4];
}

/// 4-byte big-endian length: the default wire format (`struct.pack("!I", n)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct U32Be;

/// 4-byte little-endian length (`struct.pack("<I", n)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct U32Le;

/// 2-byte big-endian length (`struct.pack("!H", n)`): payloads up to 65,535 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct U16Be;

/// 2-byte little-endian length (`struct.pack("<H", n)`): payloads up to 65,535 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct U16Le;

/// `u32::MAX` as a `usize`, saturated on 16-bit targets.
const U32_MAX: usize = if usize::BITS >= 32 {
    u32::MAX as usize
} else {
    usize::MAX
};

impl LengthHeader for U32Be {
    const WIDTH: usize = 4;
    const MAX_LEN: usize = U32_MAX;

    #[inline]
    fn read(bytes: [u8; 4]) -> u32 {
        u32::from_be_bytes(bytes)
    }

    #[inline]
    fn write(len: u32) -> [u8; 4] {
        len.to_be_bytes()
    }
}

impl LengthHeader for U32Le {
    const WIDTH: usize = 4;
    const MAX_LEN: usize = U32_MAX;

    #[inline]
    fn read(bytes: [u8; 4]) -> u32 {
        u32::from_le_bytes(bytes)
    }

    #[inline]
    fn write(len: u32) -> [u8; 4] {
        len.to_le_bytes()
    }
}

impl LengthHeader for U16Be {
    const WIDTH: usize = 2;
    const MAX_LEN: usize = u16::MAX as usize;

    #[inline]
    fn read(bytes: [u8; 4]) -> u32 {
        u32::from(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    #[inline]
    fn write(len: u32) -> [u8; 4] {
        let [a, b] = (len as u16).to_be_bytes();
        [a, b, 0, 0]
    }
}

impl LengthHeader for U16Le {
    const WIDTH: usize = 2;
    const MAX_LEN: usize = u16::MAX as usize;

    #[inline]
    fn read(bytes: [u8; 4]) -> u32 {
        u32::from(u16::from_le_bytes([bytes[0], bytes[1]]))
    }

    #[inline]
    fn write(len: u32) -> [u8; 4] {
        let [a, b] = (len as u16).to_le_bytes();
        [a, b, 0, 0]
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::U32Be {}
    impl Sealed for super::U32Le {}
    impl Sealed for super::U16Be {}
    impl Sealed for super::U16Le {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u32_be_is_network_order() {
        // struct.pack("!I", 258) == b"\x00\x00\x01\x02"
        assert_eq!(U32Be::write(258), [0, 0, 1, 2]);
        assert_eq!(U32Be::read([0, 0, 1, 2]), 258);
    }

    #[test]
    fn other_formats_round_trip() {
        assert_eq!(U32Le::write(258), [2, 1, 0, 0]);
        assert_eq!(U32Le::read([2, 1, 0, 0]), 258);
        assert_eq!(U16Be::write(258)[..2], [1, 2]);
        assert_eq!(U16Be::read([1, 2, 9, 9]), 258);
        assert_eq!(U16Le::write(258)[..2], [2, 1]);
        assert_eq!(U16Le::read([2, 1, 9, 9]), 258);
    }
}
