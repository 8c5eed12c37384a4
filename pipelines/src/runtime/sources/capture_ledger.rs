//! Where a capture source resumes, so that a restart stores every flow exactly once.
//!
//! Flows span packets, end out of order and may stay open across files, so a packet
//! position alone cannot say what is durable. The ledger tracks, for every flow, the
//! position of its first and last packet (file, 1-based packet index), and when a
//! batch is cut it records:
//!
//! - `resume`: the first packet of the oldest flow not yet handed on (still open),
//!   or the packet after the last one read when none is open. Replaying from there
//!   rebuilds every flow that was not delivered, whole;
//! - `delivered`: the flows handed on whose last packet is at or after `resume`:
//!   those a replay would meet again. A replayed flow with one of their uids is
//!   dropped (it is stored already); the packets of a delivered flow that started
//!   before `resume` (a "straddler") are skipped up to its last packet, so no
//!   fragment of it becomes a flow of its own.
//!
//! The checkpoint is written just after the batches' acknowledgements arrive, so a
//! crash in between leaves flows committed beyond it: on resume their uids are read
//! back from the store's files of this sensor written since the checkpoint, and
//! dropped too.
//!
//! Files before the one holding `resume` are done and are skipped when unchanged
//! (same device, inode, and not shorter). Uids are stable across a replay because
//! they derive from the sensor, the flow key and the first-packet time.
//!
//! Limits: the straddler filter matches TCP, UDP and SCTP packets by their unordered
//! address and port pair, in any layer (a tunnelled straddler also hides the outer
//! packet); ICMP straddlers are not filtered. A long-lived open flow pins `resume`,
//! so `delivered` grows with the flows that end meanwhile.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use vigil_ingest::{DecodedPacket, FlowRecord, Transport};

use crate::runtime::checkpoint::FileIdentity;

/// A packet: the index of its file in [`CaptureCheckpoint::files`] and its 1-based
/// index in that file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PacketPos {
    /// Index into the checkpoint's `files`.
    pub file: u32,
    /// 1-based packet index in the file.
    pub packet: u64,
}

/// The two endpoints of a flow in a fixed order, and its protocol.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ends {
    lo: (IpAddr, u16),
    hi: (IpAddr, u16),
    proto: u8,
}

impl Ends {
    fn new(a: (IpAddr, u16), b: (IpAddr, u16), proto: u8) -> Ends {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        Ends { lo, hi, proto }
    }
}

/// A flow handed on that a replay from `resume` would meet again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered {
    /// Its uid.
    pub uid: String,
    /// Its endpoints.
    pub ends: Ends,
    /// Its first packet.
    pub first: PacketPos,
    /// Its last packet.
    pub last: PacketPos,
}

/// The saved state of a capture source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureCheckpoint {
    /// Every file started, in the order read.
    pub files: Vec<FileIdentity>,
    /// Where to replay from (`None`: nothing read yet).
    pub resume: Option<PacketPos>,
    /// Flows already handed on that a replay would meet again.
    pub delivered: Vec<Delivered>,
    /// When the batch this checkpoint follows was cut (µs since the epoch): every
    /// later batch, and so every store file holding one, is younger.
    #[serde(default)]
    pub cut_at_us: Option<i64>,
}

/// What to do with a file when it comes up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStart {
    /// Every packet of it was accounted for before: skip it.
    Done,
    /// Read it, processing packets from this 1-based index on (earlier ones are
    /// read and skipped).
    From(u64),
}

/// A capture source's record of flows' positions.
#[derive(Debug, Default)]
pub struct CaptureLedger {
    files: Vec<FileIdentity>,
    /// The file being read (index into `files`) and the last packet read.
    current: Option<PacketPos>,
    /// Open flows by flow id: first and last packet.
    open: HashMap<u64, (PacketPos, PacketPos)>,
    /// First packets of open flows, for the oldest.
    firsts: BTreeSet<(PacketPos, u64)>,
    /// Flows handed on whose last packet is at or after the last `resume`.
    delivered: Vec<Delivered>,
    /// From the checkpoint resumed from: uids not to hand on again.
    skip_uids: HashSet<String>,
    /// From the checkpoint resumed from: packets to skip, by endpoints, up to a position.
    straddlers: HashMap<Ends, PacketPos>,
    /// Where the checkpoint resumed from said to start.
    resumed_at: Option<PacketPos>,
    /// Flows dropped because they were delivered before the restart.
    replayed: u64,
}

impl CaptureLedger {
    /// A ledger continuing from `saved` (or starting afresh).
    pub fn resume(saved: Option<CaptureCheckpoint>) -> CaptureLedger {
        let Some(saved) = saved else { return CaptureLedger::default() };
        let resume = saved.resume;
        let mut straddlers = HashMap::new();
        let mut skip_uids = HashSet::new();
        for d in &saved.delivered {
            skip_uids.insert(d.uid.clone());
            if resume.is_some_and(|r| d.first < r) {
                let until = straddlers.entry(d.ends.clone()).or_insert(d.last);
                *until = (*until).max(d.last);
            }
        }
        CaptureLedger {
            files: saved.files,
            delivered: saved.delivered,
            skip_uids,
            straddlers,
            resumed_at: resume,
            ..CaptureLedger::default()
        }
    }

    /// A file comes up: what to do with it. Files are numbered in the order started.
    pub fn start_file(&mut self, now: FileIdentity) -> FileStart {
        let known = self.files.iter().position(|f| f.path == now.path && f.same_file(&now));
        let index = match known {
            Some(i) => {
                self.files[i] = now;
                i
            }
            None => {
                self.files.push(now);
                self.files.len() - 1
            }
        };
        let index = index as u32;
        self.current = Some(PacketPos { file: index, packet: 0 });
        match (known, self.resumed_at) {
            (Some(_), Some(r)) if index < r.file => FileStart::Done,
            (Some(_), Some(r)) if index == r.file => FileStart::From(r.packet),
            _ => FileStart::From(1),
        }
    }

    /// The next packet of the current file was read (1-based `index`).
    pub fn packet(&mut self, index: u64) {
        if let Some(c) = &mut self.current {
            c.packet = index;
        }
    }

    /// Whether the packet just read belongs to a flow delivered before the restart
    /// that started before the resume point (so it must not start a flow again).
    pub fn is_straddler(&self, pkt: &DecodedPacket) -> bool {
        let Some(now) = self.current else { return false };
        if self.straddlers.is_empty() {
            return false;
        }
        pkt.layers.iter().any(|l| {
            let ports = match l.transport {
                Transport::Tcp(h) => (h.src_port, h.dst_port),
                Transport::Udp(h) => (h.src_port, h.dst_port),
                Transport::Sctp(h) => (h.src_port, h.dst_port),
                _ => return false,
            };
            let ends = Ends::new((l.src, ports.0), (l.dst, ports.1), l.proto);
            self.straddlers.get(&ends).is_some_and(|until| now <= *until)
        })
    }

    /// The current packet was counted in flow `flow_id`.
    pub fn observe(&mut self, flow_id: u64) {
        let Some(now) = self.current else { return };
        match self.open.get_mut(&flow_id) {
            Some((_, last)) => *last = now,
            None => {
                self.open.insert(flow_id, (now, now));
                self.firsts.insert((now, flow_id));
            }
        }
    }

    /// A flow ended. Returns whether to hand it on (`false`: it was delivered before
    /// the restart).
    pub fn ended(&mut self, flow: &FlowRecord) -> bool {
        let Some((first, last)) = self.open.remove(&flow.flow_id) else {
            // Never observed (no packet of it was seen by this ledger): hand it on.
            return true;
        };
        self.firsts.remove(&(first, flow.flow_id));
        if self.skip_uids.contains(&flow.uid) {
            self.replayed += 1;
            return false;
        }
        let ends = Ends::new((flow.orig_h, flow.orig_p), (flow.resp_h, flow.resp_p), flow.proto);
        self.delivered.push(Delivered { uid: flow.uid.clone(), ends, first, last });
        true
    }

    /// The state to resume from once every flow handed on so far is durable.
    pub fn checkpoint(&mut self) -> CaptureCheckpoint {
        let resume = match (self.firsts.first(), self.current) {
            (Some((first, _)), _) => Some(*first),
            (None, Some(c)) => Some(PacketPos { file: c.file, packet: c.packet + 1 }),
            (None, None) => self.resumed_at,
        };
        if let Some(r) = resume {
            self.delivered.retain(|d| d.last >= r);
        }
        CaptureCheckpoint {
            files: self.files.clone(),
            resume,
            delivered: self.delivered.clone(),
            cut_at_us: Some(crate::runtime::rows::now_us()),
        }
    }

    /// Flows a replay met again and dropped.
    pub fn replayed(&self) -> u64 {
        self.replayed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::sources::test_flow as flow;

    fn id(path: &str, size: u64) -> FileIdentity {
        FileIdentity { path: path.into(), dev: 1, ino: size, size }
    }

    #[test]
    fn resume_is_the_oldest_open_flow_and_keeps_what_a_replay_meets() {
        let mut l = CaptureLedger::resume(None);
        assert_eq!(l.start_file(id("a.pcap", 10)), FileStart::From(1));
        // Packets: 1 → flow 1, 2 → flow 2, 3 → flow 1, 4 → flow 3; flow 1 ends.
        for (p, f) in [(1, 1), (2, 2), (3, 1), (4, 3)] {
            l.packet(p);
            l.observe(f);
        }
        assert!(l.ended(&flow(1, "C1", 1)));
        let c = l.checkpoint();
        assert_eq!(c.resume, Some(PacketPos { file: 0, packet: 2 }), "flow 2 is open");
        assert_eq!(c.delivered.len(), 1, "flow 1's last packet (3) is after the resume point");
        // Flow 2 and 3 end: nothing is open, resume after the last packet read.
        assert!(l.ended(&flow(2, "C2", 2)));
        assert!(l.ended(&flow(3, "C3", 3)));
        let c = l.checkpoint();
        assert_eq!(c.resume, Some(PacketPos { file: 0, packet: 5 }));
        assert!(c.delivered.is_empty());
    }

    #[test]
    fn a_replay_drops_delivered_flows_and_straddler_packets() {
        let mut l = CaptureLedger::resume(None);
        l.start_file(id("a.pcap", 10));
        for (p, f) in [(1, 1), (2, 2), (3, 1), (4, 3)] {
            l.packet(p);
            l.observe(f);
        }
        assert!(l.ended(&flow(1, "C1", 1)));
        assert!(l.ended(&flow(3, "C3", 3)));
        let saved = l.checkpoint();
        // Resume: a.pcap from packet 2; C1 started before it (a straddler up to packet 3),
        // C3 started after it (dropped by uid when rebuilt).
        let mut r = CaptureLedger::resume(Some(saved));
        assert_eq!(r.start_file(id("a.pcap", 10)), FileStart::From(2));
        assert!(r.straddlers.contains_key(&Ends::new(
            ("10.0.0.1".parse().unwrap(), 1),
            ("10.0.0.2".parse().unwrap(), 80),
            6
        )));
        r.packet(2);
        r.observe(2);
        r.packet(4);
        r.observe(3);
        assert!(!r.ended(&flow(3, "C3", 3)), "delivered before the restart");
        assert!(r.ended(&flow(2, "C2", 2)), "never delivered");
        assert_eq!(r.replayed(), 1);
        assert_eq!(r.start_file(id("b.pcap", 5)), FileStart::From(1), "a new file");
    }

    #[test]
    fn files_before_the_resume_point_are_done_unless_replaced() {
        let saved = CaptureCheckpoint {
            files: vec![id("a.pcap", 10), id("b.pcap", 20)],
            resume: Some(PacketPos { file: 1, packet: 7 }),
            delivered: Vec::new(),
            cut_at_us: None,
        };
        let mut r = CaptureLedger::resume(Some(saved.clone()));
        assert_eq!(r.start_file(id("a.pcap", 10)), FileStart::Done);
        assert_eq!(r.start_file(id("b.pcap", 20)), FileStart::From(7));
        let mut r = CaptureLedger::resume(Some(saved));
        let replaced = FileIdentity { ino: 99, ..id("a.pcap", 10) };
        assert_eq!(r.start_file(replaced), FileStart::From(1), "another file at that path");
    }
}
