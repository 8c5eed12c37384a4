//! Zeek's `likely_server_ports`: the well-known ports that base scripts register for their
//! analyzers (`Analyzer::register_for_ports`), used to decide who the originator is when a
//! connection's first packet is not a SYN.

/// TCP ports Zeek's base scripts register as server ports.
pub const DEFAULT_TCP_SERVER_PORTS: &[u16] = &[
    21, 22, 25, 53, 79, 80, 81, 88, 135, 139, 143, 389, 443, 445, 465, 502, 514, 563, 585, 587,
    614, 631, 636, 989, 990, 992, 993, 995, 1080, 1434, 1883, 2811, 3128, 3268, 3306, 3389, 5222,
    5223, 5269, 5432, 6379, 6666, 6667, 6668, 6669, 8000, 8080, 8888, 20000,
];

/// UDP ports Zeek's base scripts register as server ports (tunnels included).
pub const DEFAULT_UDP_SERVER_PORTS: &[u16] = &[
    53, 67, 88, 123, 137, 161, 162, 389, 443, 514, 784, 853, 1812, 2123, 2152, 3389, 3544, 4011,
    4789, 5060, 5072, 5353, 5355, 6081, 20000,
];

/// A set of ports as a 65536-bit bitmap (8 KiB, O(1) lookups).
#[derive(Clone)]
pub(crate) struct PortSet {
    bits: Box<[u64; 1024]>,
}

impl std::fmt::Debug for PortSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortSet")
            .field("len", &self.bits.iter().map(|w| w.count_ones()).sum::<u32>())
            .finish()
    }
}

impl PortSet {
    /// A set holding `ports`.
    pub(crate) fn new(ports: &[u16]) -> Self {
        let mut bits = Box::new([0u64; 1024]);
        for &p in ports {
            bits[usize::from(p >> 6)] |= 1 << (p & 63);
        }
        Self { bits }
    }

    /// Is `p` in the set?
    #[inline]
    pub(crate) fn contains(&self, p: u16) -> bool {
        self.bits[usize::from(p >> 6)] & (1 << (p & 63)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        let s = PortSet::new(DEFAULT_TCP_SERVER_PORTS);
        assert!(s.contains(80));
        assert!(s.contains(22));
        assert!(!s.contains(2200));
        assert!(!s.contains(0));
        let u = PortSet::new(DEFAULT_UDP_SERVER_PORTS);
        assert!(u.contains(3544));
        assert!(!u.contains(22));
    }
}
