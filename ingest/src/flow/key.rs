//! Flow keys: the bidirectional 5-tuple (plus VLAN tags) and a fast hasher for them.

use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

/// An address as 16 bytes (IPv4 mapped into `::ffff:a.b.c.d`), which orders like Zeek's `IPAddr`.
pub(crate) type Addr16 = [u8; 16];

/// The 16-byte form of an address.
#[inline]
pub(crate) fn addr16(a: &IpAddr) -> Addr16 {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The key of a flow in the table.
///
/// Bidirectional flows are stored in canonical order (the smaller address/port pair first),
/// as Zeek's `IPBasedConnKey::InitTuple` does, so both directions find the same entry.
/// One-way ICMP messages keep the packet's order (Zeek does not canonicalise them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FlowKey {
    /// First address.
    pub a: Addr16,
    /// Second address.
    pub b: Addr16,
    /// Port (or ICMP type/counterpart) of `a`.
    pub pa: u16,
    /// Port (or ICMP type/counterpart) of `b`.
    pub pb: u16,
    /// IP protocol.
    pub proto: u8,
    /// Outer VLAN, when keyed by VLAN.
    pub vlan: Option<u16>,
    /// Inner VLAN, when keyed by VLAN.
    pub inner_vlan: Option<u16>,
    /// Tunnel depth (Suricata's recursion level); always 0 under Zeek semantics.
    pub depth: u8,
}

impl std::hash::Hash for FlowKey {
    /// Five words instead of the derived byte-slice walk: this runs once per packet.
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        let w = |a: &Addr16, i: usize| u64::from_ne_bytes(a[i..i + 8].try_into().expect("8 bytes"));
        state.write_u64(w(&self.a, 0) ^ w(&self.b, 0).rotate_left(32));
        state.write_u64(w(&self.a, 8));
        state.write_u64(w(&self.b, 8));
        let vlan = |v: Option<u16>| v.map_or(0, |v| u64::from(v) | 0x1_0000);
        state.write_u64(
            u64::from(self.pa)
                | u64::from(self.pb) << 16
                | u64::from(self.proto) << 32
                | vlan(self.vlan) << 40
                | (vlan(self.inner_vlan) & 0x1_ffff).rotate_left(57),
        );
        if self.depth != 0 {
            state.write_u8(self.depth);
        }
    }
}

/// Zeek's `addr_port_canon_lt`: is (a1, p1) < (a2, p2)?
#[inline]
pub(crate) fn canon_lt(a1: &Addr16, p1: u16, a2: &Addr16, p2: u16) -> bool {
    a1 < a2 || (a1 == a2 && p1 < p2)
}

impl FlowKey {
    /// Builds the key of a packet going `src:sport -> dst:dport`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(crate) fn new(
        src: Addr16,
        sport: u16,
        dst: Addr16,
        dport: u16,
        proto: u8,
        one_way: bool,
        vlan: Option<u16>,
        inner_vlan: Option<u16>,
    ) -> Self {
        if one_way || canon_lt(&src, sport, &dst, dport) {
            Self { a: src, b: dst, pa: sport, pb: dport, proto, vlan, inner_vlan, depth: 0 }
        } else {
            Self { a: dst, b: src, pa: dport, pb: sport, proto, vlan, inner_vlan, depth: 0 }
        }
    }

    /// The same key at tunnel depth `depth`.
    #[inline]
    pub(crate) fn at_depth(self, depth: u8) -> Self {
        Self { depth, ..self }
    }
}

/// A small multiply-rotate hasher (the Fx hash used by rustc): flow keys are not
/// attacker-chosen enough to need SipHash, and this is several times faster.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // A final avalanche so that the low bits (used by hashbrown) depend on every input bit.
        let mut h = self.hash;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }
}

/// `BuildHasher` for [`FxHasher`].
pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn both_directions_same_key() {
        let a = addr16(&IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        let b = addr16(&IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        let k1 = FlowKey::new(a, 1234, b, 80, 6, false, Some(5), None);
        let k2 = FlowKey::new(b, 80, a, 1234, 6, false, Some(5), None);
        assert_eq!(k1, k2);
        assert_eq!(k1.a, a);
        let k3 = FlowKey::new(b, 80, a, 1234, 6, false, Some(6), None);
        assert_ne!(k1, k3);
    }

    #[test]
    fn one_way_keeps_order() {
        let a = addr16(&IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        let b = addr16(&IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        let k1 = FlowKey::new(b, 3, a, 1, 1, true, None, None);
        assert_eq!(k1.a, b);
        let k2 = FlowKey::new(a, 3, b, 1, 1, true, None, None);
        assert_ne!(k1, k2);
    }

    #[test]
    fn same_address_ports_decide() {
        let a = addr16(&IpAddr::V4(Ipv4Addr::LOCALHOST));
        let k1 = FlowKey::new(a, 5000, a, 80, 6, false, None, None);
        let k2 = FlowKey::new(a, 80, a, 5000, 6, false, None, None);
        assert_eq!(k1, k2);
        assert_eq!(k1.pa, 80);
    }
}
