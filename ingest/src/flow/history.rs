//! Zeek's connection `history` string (`Session::CheckHistory`, `AddHistory`,
//! `ScaledHistoryEntry`): upper case for the originator, lower case for the responder.

/// Masks of `TCP_Endpoint::HIST_*` (shifted left 16 for the responder).
pub(crate) mod mask {
    /// A pure SYN or SYN-ACK.
    pub const SYN: u32 = 0x1;
    /// A FIN.
    pub const FIN: u32 = 0x2;
    /// A RST.
    pub const RST: u32 = 0x4;
    /// FIN and RST together.
    pub const FIN_RST: u32 = 0x8;
    /// A packet with payload.
    pub const DATA: u32 = 0x10;
    /// A pure ACK.
    pub const ACK: u32 = 0x20;
    /// More than one of SYN/FIN/RST.
    pub const MULTI_FLAG: u32 = 0x40;
    /// UDP originator data (`HIST_ORIG_DATA_PKT`).
    pub const ORIG_DATA: u32 = 0x1;
    /// UDP responder data (`HIST_RESP_DATA_PKT`).
    pub const RESP_DATA: u32 = 0x2;
}

/// A connection's history: the letters so far and which have been seen.
#[derive(Debug, Clone, Default)]
pub(crate) struct History {
    /// The letters.
    pub s: String,
    /// `hist_seen` bits.
    pub seen: u32,
}

impl History {
    /// An empty history with room for a typical one.
    pub(crate) fn new() -> Self {
        Self { s: String::with_capacity(12), seen: 0 }
    }

    /// `CheckHistory`: adds `code` the first time `mask` is seen. True when it was already seen.
    #[inline]
    pub(crate) fn check(&mut self, mask: u32, code: char) -> bool {
        if self.seen & mask == 0 {
            self.seen |= mask;
            self.s.push(code);
            false
        } else {
            true
        }
    }

    /// `AddHistory`.
    #[inline]
    pub(crate) fn add(&mut self, code: char) {
        self.s.push(code);
    }

    /// `ScaledHistoryEntry` (base 10): logs `code` at the 1st, 10th, 100th, ... occurrence.
    #[inline]
    pub(crate) fn scaled(&mut self, code: char, counter: &mut u32, threshold: &mut u32) -> bool {
        *counter = counter.wrapping_add(1);
        if *counter == *threshold {
            self.s.push(code);
            let next = threshold.wrapping_mul(10);
            if next <= *threshold {
                *counter = 0;
            } else {
                *threshold = next;
            }
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_once() {
        let mut h = History::new();
        assert!(!h.check(mask::SYN, 'S'));
        assert!(h.check(mask::SYN, 'S'));
        assert!(!h.check(mask::SYN << 16, 's'));
        assert_eq!(h.s, "Ss");
    }

    #[test]
    fn scaled_powers_of_ten() {
        let mut h = History::new();
        let (mut c, mut t) = (0, 1);
        for _ in 0..1000 {
            h.scaled('T', &mut c, &mut t);
        }
        assert_eq!(h.s, "TTTT");
        let mut h = History::new();
        let (mut c, mut t) = (0, 1);
        for _ in 0..99 {
            h.scaled('t', &mut c, &mut t);
        }
        assert_eq!(h.s, "tt");
    }
}
