//! Bounds-checked big/little-endian readers over byte slices.
//!
//! Every accessor returns `None` past the end instead of panicking, so the
//! decoders can use `?` to bail out on truncated input.

/// Byte at `off`.
#[inline]
pub(crate) fn u8_at(d: &[u8], off: usize) -> Option<u8> {
    d.get(off).copied()
}

/// Big-endian u16 at `off`.
#[inline]
pub(crate) fn be16(d: &[u8], off: usize) -> Option<u16> {
    let b = d.get(off..off.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Little-endian u16 at `off`.
#[inline]
pub(crate) fn le16(d: &[u8], off: usize) -> Option<u16> {
    let b = d.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

/// Big-endian u32 at `off`.
#[inline]
pub(crate) fn be32(d: &[u8], off: usize) -> Option<u32> {
    let b = d.get(off..off.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Little-endian u32 at `off`.
#[inline]
pub(crate) fn le32(d: &[u8], off: usize) -> Option<u32> {
    let b = d.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The 16 bytes at `off` (an IPv6 address).
#[inline]
pub(crate) fn arr16(d: &[u8], off: usize) -> Option<[u8; 16]> {
    d.get(off..off.checked_add(16)?)?.try_into().ok()
}

/// `d[off..]`, or an empty slice past the end.
#[inline]
pub(crate) fn tail(d: &[u8], off: usize) -> &[u8] {
    d.get(off..).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_are_bounds_checked() {
        let d = [0x12, 0x34, 0x56, 0x78];
        assert_eq!(be16(&d, 0), Some(0x1234));
        assert_eq!(le16(&d, 0), Some(0x3412));
        assert_eq!(be32(&d, 0), Some(0x1234_5678));
        assert_eq!(le32(&d, 0), Some(0x7856_3412));
        assert_eq!(be16(&d, 3), None);
        assert_eq!(be32(&d, 1), None);
        assert_eq!(be16(&d, usize::MAX), None);
        assert_eq!(u8_at(&d, 4), None);
        assert_eq!(arr16(&d, 0), None);
        assert!(tail(&d, 9).is_empty());
        assert_eq!(tail(&d, 2), &[0x56, 0x78]);
    }
}
