//! IPv4 and IPv6 fragment reassembly.
//!
//! A bounded table keyed by (source, destination, protocol, id). Each entry
//! keeps the covered byte ranges of the datagram payload; the first copy of
//! a byte wins (later overlapping bytes are ignored and counted as a weird).
//! Entries expire after the configured timeout, and when the table is full
//! the oldest entry (by first fragment) is evicted, found through an ordered index.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use super::ip::IpMeta;
use super::types::{TimestampUs, Weird};

/// Smallest acceptable non-last fragment (IP header included), as Zeek.
const MIN_ACCEPTABLE_FRAG_SIZE: u32 = 64;
/// Largest acceptable reassembled payload before a weird, as Zeek.
const MAX_ACCEPTABLE_FRAG_SIZE: u32 = 64_000;
/// Hard bound on a reassembled payload (a 16-bit total length allows no more).
const MAX_DATAGRAM: u32 = 65_535;

/// Identifies one fragmented datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct FragKey {
    /// Source address as in the IP header.
    pub src: IpAddr,
    /// Destination address as in the IP header.
    pub dst: IpAddr,
    /// IPv4 protocol (0 for IPv6).
    pub proto: u8,
    /// Identification.
    pub id: u32,
}

/// One fragment offered to the table.
#[derive(Debug)]
pub(crate) struct Fragment<'a> {
    /// Datagram identity.
    pub key: FragKey,
    /// Header facts of this fragment (kept from the offset-0 one).
    pub meta: IpMeta,
    /// The protocol after the IP headers (next header of the fragment header).
    pub proto: u8,
    /// Byte offset of this fragment's payload in the datagram.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
    /// Payload length the header declares.
    pub declared_len: u32,
    /// Payload bytes as captured (may be shorter than declared).
    pub data: &'a [u8],
    /// The IPv4 DF bit was set (a weird on a fragment).
    pub dont_fragment: bool,
}

/// What the table did with a fragment.
#[derive(Debug)]
pub(crate) enum FragOutcome {
    /// Kept (or dropped); the datagram is not complete yet.
    Held,
    /// The datagram is complete.
    Complete {
        /// Header facts of the first fragment.
        meta: IpMeta,
        /// Protocol after the IP headers, from the first fragment.
        proto: u8,
        /// The reassembled payload.
        payload: Vec<u8>,
    },
}

#[derive(Debug)]
struct Datagram {
    first_ts: TimestampUs,
    first: Option<(IpMeta, u8)>,
    /// Covered `[start, end)` ranges, sorted and merged.
    ranges: Vec<(u32, u32)>,
    data: Vec<u8>,
    total: Option<u32>,
}

/// The reassembly table.
#[derive(Debug)]
pub(crate) struct Defrag {
    map: HashMap<FragKey, Datagram>,
    /// The datagrams by first-fragment time, oldest first: what eviction and expiry
    /// take, in O(log n) rather than a scan of the table.
    order: BTreeSet<(TimestampUs, FragKey)>,
    max: usize,
    timeout: i64,
    last_sweep: TimestampUs,
}

impl Default for Defrag {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            order: BTreeSet::new(),
            max: 4096,
            timeout: 30_000_000,
            last_sweep: i64::MIN,
        }
    }
}

fn w(weirds: &mut Vec<Weird>, name: &'static str) {
    weirds.push(Weird { name, addl: None });
}

impl Defrag {
    /// Apply the table bounds.
    pub fn configure(&mut self, max: usize, timeout: i64) {
        self.max = max.max(1);
        self.timeout = timeout.max(0);
    }

    /// Incomplete datagrams held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    fn sweep(&mut self, ts: TimestampUs) {
        let step = (self.timeout / 8).max(1_000);
        if self.map.is_empty() || ts.saturating_sub(self.last_sweep) < step {
            return;
        }
        self.last_sweep = ts;
        while let Some(&(first, key)) = self.order.first()
            && ts.saturating_sub(first) > self.timeout
        {
            self.order.pop_first();
            self.map.remove(&key);
        }
    }

    /// Add a fragment; returns the datagram when it is complete.
    pub fn add(
        &mut self,
        ts: TimestampUs,
        f: Fragment<'_>,
        weirds: &mut Vec<Weird>,
    ) -> FragOutcome {
        self.sweep(ts);
        if f.dont_fragment {
            w(weirds, "fragment_with_DF");
        }
        let end = f.offset.saturating_add(f.declared_len);
        if f.more && f.declared_len + (f.meta.header_len as u32) < MIN_ACCEPTABLE_FRAG_SIZE {
            w(weirds, "excessively_small_fragment");
        }
        if end > MAX_ACCEPTABLE_FRAG_SIZE {
            w(weirds, "excessively_large_fragment");
        }
        if end > MAX_DATAGRAM {
            return FragOutcome::Held;
        }
        if !self.map.contains_key(&f.key) && self.map.len() >= self.max {
            // Evict the oldest datagram.
            if let Some((_, k)) = self.order.pop_first() {
                self.map.remove(&k);
                w(weirds, "fragment_table_full");
            }
        }
        let timeout = self.timeout;
        let fresh = || Datagram {
            first_ts: ts,
            first: None,
            ranges: Vec::new(),
            data: Vec::new(),
            total: None,
        };
        let order = &mut self.order;
        let d = self.map.entry(f.key).or_insert_with(|| {
            order.insert((ts, f.key));
            fresh()
        });
        if ts.saturating_sub(d.first_ts) > timeout {
            order.remove(&(d.first_ts, f.key));
            order.insert((ts, f.key));
            *d = fresh();
        }
        if !f.more {
            match d.total {
                Some(t) if t != end => {
                    w(weirds, "fragment_size_inconsistency");
                    d.total = Some(t.max(end));
                }
                Some(_) => {}
                None => d.total = Some(end),
            }
        } else if d.total.is_some_and(|t| end > t) {
            w(weirds, "fragment_size_inconsistency");
            d.total = Some(end);
        }
        if f.offset == 0 {
            match d.first {
                Some((_, p)) if p != f.proto => w(weirds, "fragment_protocol_inconsistency"),
                Some(_) => {}
                None => d.first = Some((f.meta, f.proto)),
            }
        }
        if d.data.len() < end as usize {
            d.data.resize(end as usize, 0);
        }
        insert_first_wins(d, f.offset, end, f.data, weirds);
        let complete = match (d.total, d.first, d.ranges.as_slice()) {
            (Some(t), Some(_), [(0, e)]) => *e >= t,
            _ => false,
        };
        if !complete {
            return FragOutcome::Held;
        }
        let Some(mut d) = self.map.remove(&f.key) else { return FragOutcome::Held };
        self.order.remove(&(d.first_ts, f.key));
        let Some((meta, proto)) = d.first else { return FragOutcome::Held };
        d.data.truncate(d.total.unwrap_or(0) as usize);
        FragOutcome::Complete { meta, proto, payload: d.data }
    }
}

/// Copy the parts of `[start, end)` not yet covered, then merge the range.
fn insert_first_wins(d: &mut Datagram, start: u32, end: u32, src: &[u8], weirds: &mut Vec<Weird>) {
    if start >= end {
        return;
    }
    let copy = |data: &mut Vec<u8>, a: u32, b: u32| {
        // Only the captured part of the fragment has bytes to copy.
        let (sa, sb) = ((a - start) as usize, ((b - start) as usize).min(src.len()));
        if sa < sb {
            data[a as usize..a as usize + (sb - sa)].copy_from_slice(&src[sa..sb]);
        }
    };
    let mut cursor = start;
    let mut overlap = false;
    let mut differs = false;
    for &(rs, re) in &d.ranges {
        if re <= cursor {
            continue;
        }
        if rs >= end {
            break;
        }
        if rs > cursor {
            copy(&mut d.data, cursor, rs);
        }
        // [max(rs,cursor), min(re,end)) is already covered.
        let (os, oe) = (rs.max(cursor), re.min(end));
        overlap = true;
        let (sa, sb) = ((os - start) as usize, ((oe - start) as usize).min(src.len()));
        if sa < sb && d.data[os as usize..os as usize + (sb - sa)] != src[sa..sb] {
            differs = true;
        }
        cursor = oe;
        if cursor >= end {
            break;
        }
    }
    if cursor < end {
        copy(&mut d.data, cursor, end);
    }
    if overlap {
        w(weirds, if differs { "fragment_inconsistency" } else { "fragment_overlap" });
    }
    // Merge.
    d.ranges.push((start, end));
    d.ranges.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::with_capacity(d.ranges.len());
    for &(s, e) in &d.ranges {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    d.ranges = merged;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn meta() -> IpMeta {
        IpMeta {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            tos: 0,
            ttl: 64,
            ip_flags: 1,
            ip_id: 7,
            header_len: 20,
            l2_len: 0,
        }
    }

    fn frag(offset: u32, more: bool, data: &[u8]) -> Fragment<'_> {
        Fragment {
            key: FragKey { src: meta().src, dst: meta().dst, proto: 17, id: 7 },
            meta: meta(),
            proto: 17,
            offset,
            more,
            declared_len: data.len() as u32,
            data,
            dont_fragment: false,
        }
    }

    #[test]
    fn out_of_order_reassembly() {
        let mut t = Defrag::default();
        let mut w = Vec::new();
        let a = [1u8; 64];
        let b = [2u8; 10];
        assert!(matches!(t.add(0, frag(64, false, &b), &mut w), FragOutcome::Held));
        match t.add(1, frag(0, true, &a), &mut w) {
            FragOutcome::Complete { payload, proto, .. } => {
                assert_eq!(proto, 17);
                assert_eq!(payload.len(), 74);
                assert_eq!(payload[63], 1);
                assert_eq!(payload[64], 2);
            }
            FragOutcome::Held => panic!("should be complete"),
        }
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn overlap_first_wins() {
        let mut t = Defrag::default();
        let mut w = Vec::new();
        assert!(matches!(t.add(0, frag(0, true, &[1u8; 64]), &mut w), FragOutcome::Held));
        // Overlaps bytes 56..64 with different content, then completes.
        match t.add(0, frag(56, false, &[9u8; 16]), &mut w) {
            FragOutcome::Complete { payload, .. } => {
                assert_eq!(payload.len(), 72);
                assert_eq!(payload[60], 1);
                assert_eq!(payload[70], 9);
            }
            FragOutcome::Held => panic!("should be complete"),
        }
        assert!(w.iter().any(|x| x.name == "fragment_inconsistency"));
    }

    #[test]
    fn tiny_oversized_timeout_and_bound() {
        let mut t = Defrag::default();
        t.configure(2, 1_000_000);
        let mut w = Vec::new();
        let _ = t.add(0, frag(0, true, &[0u8; 8]), &mut w);
        assert!(w.iter().any(|x| x.name == "excessively_small_fragment"));
        w.clear();
        let _ = t.add(0, frag(65_528, true, &[0u8; 16]), &mut w);
        assert!(w.iter().any(|x| x.name == "excessively_large_fragment"));
        // Two more datagrams with other ids: the table stays bounded.
        for id in 100..104 {
            let mut f = frag(8, true, &[0u8; 64]);
            f.key.id = id;
            let _ = t.add(1, f, &mut w);
        }
        assert!(t.len() <= 2);
        // After the timeout, the old head fragment is forgotten.
        let _ = t.add(10_000_000, frag(64, false, &[0u8; 8]), &mut w);
        assert_eq!(t.len(), 1);
    }
}
