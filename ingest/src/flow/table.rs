//! The flow table: keyed by 5-tuple + VLAN, bounded, with Zeek's timeouts.
//!
//! Flows live in a slab ([`super::lru::Slab`]) indexed by a hash map from [`FlowKey`] to slot.
//! Each flow sits on one idle (LRU) list per timeout class, moved to the tail on every packet,
//! so the head of each list is the next to time out and the oldest head is the LRU victim;
//! TCP flows may also sit on one fixed-deadline list (connection attempt, close delay).
//! Expiry checks only list heads, so `process` is amortised O(1) and allocation-free for
//! packets of existing flows (bar a history letter or a new tunnel parent).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use super::community_id::community_id_v1;
use super::conn_state::{tcp_conn_state, udp_conn_state};
use super::history::{History, mask};
use super::icmp::{icmp4_counterpart, icmp6_counterpart};
use super::key::{FlowKey, FxBuild, addr16};
use super::lru::Slab;
use super::ports::{DEFAULT_TCP_SERVER_PORTS, DEFAULT_UDP_SERVER_PORTS, PortSet};
use super::record::{DirectionStats, EndReason, FlowRecord, FlowSink};
use super::suricata::{self, IDLE_CLASSES, Proto, Semantics, SuriFlow, SuricataConfig};
use super::tcp_state::{Segment, TcpConn, want_flip};
use super::uid::{flow_id_of, flow_number, uid_string};
use crate::packet::{DecodedPacket, NetLayer, TimestampUs, Transport};

/// Flow table settings. Timeouts default to Zeek's.
#[derive(Debug, Clone)]
pub struct FlowTableConfig {
    /// Whose flow semantics to follow: Zeek's `conn.log` (default) or Suricata's flow events.
    /// Under [`Semantics::Suricata`] the Zeek timers, role flips and DNS/close/attempt delays
    /// below are not used; [`FlowTableConfig::suricata`] gives the timeouts instead.
    pub semantics: Semantics,
    /// Suricata's settings, used only under [`Semantics::Suricata`].
    pub suricata: SuricataConfig,
    /// TCP idle timeout (Zeek `tcp_inactivity_timeout`, 5 min), µs.
    pub tcp_idle_us: i64,
    /// UDP idle timeout (Zeek `udp_inactivity_timeout`, 1 min), µs.
    pub udp_idle_us: i64,
    /// ICMP idle timeout (Zeek `icmp_inactivity_timeout`, 1 min), µs.
    pub icmp_idle_us: i64,
    /// Idle timeout for other IP protocols (1 min), µs.
    pub other_idle_us: i64,
    /// Cut flows older than this (none by default, as in Zeek), µs. Checked when a packet
    /// of the flow arrives (the packet then starts a new flow).
    pub active_timeout_us: Option<i64>,
    /// Most flows held at once; the least recently used is evicted beyond it.
    pub max_flows: usize,
    /// Idle timeout of a TCP connection while both sides are still in the handshake
    /// (Zeek uses `udp_inactivity_timeout` until then, 1 min), µs.
    pub tcp_handshake_idle_us: i64,
    /// An unanswered SYN is logged this long after it (Zeek `tcp_attempt_delay`, 5 s), µs.
    pub tcp_attempt_delay_us: i64,
    /// A closed or reset TCP connection is logged this long after its last packet
    /// (Zeek `tcp_close_delay`, 5 s), µs.
    pub tcp_close_delay_us: i64,
    /// Key flows by VLAN tags too (Zeek's `vlan_fivetuple` conn key); false is plain 5-tuple.
    pub key_by_vlan: bool,
    /// Zeek's `likely_server_ports` for TCP (who is the originator of a mid-stream connection).
    pub tcp_server_ports: Vec<u16>,
    /// Zeek's `likely_server_ports` for UDP.
    pub udp_server_ports: Vec<u16>,
    /// Seed of uids and flow ids, made from the sensor's name ([`super::sensor_seed`]):
    /// a flow's uid and id derive from it, the flow's key and its first-packet time.
    pub uid_seed: u64,
    /// Community ID seed (0 by default).
    pub community_id_seed: u16,
    /// Zeek's DNS analyzer drops a UDP DNS session once it has been idle for about this long
    /// (`dns_session_timeout`, 10 s: checked every 10 s, with 1 s of slack); 0 disables it.
    pub dns_session_timeout_us: i64,
    /// UDP responder ports Zeek's DNS analyzer is registered for.
    pub dns_udp_ports: Vec<u16>,
}

impl Default for FlowTableConfig {
    fn default() -> Self {
        Self {
            semantics: Semantics::Zeek,
            suricata: SuricataConfig::default(),
            tcp_idle_us: 300_000_000,
            udp_idle_us: 60_000_000,
            icmp_idle_us: 60_000_000,
            other_idle_us: 60_000_000,
            active_timeout_us: None,
            max_flows: 1_000_000,
            tcp_handshake_idle_us: 60_000_000,
            tcp_attempt_delay_us: 5_000_000,
            tcp_close_delay_us: 5_000_000,
            key_by_vlan: true,
            tcp_server_ports: DEFAULT_TCP_SERVER_PORTS.to_vec(),
            udp_server_ports: DEFAULT_UDP_SERVER_PORTS.to_vec(),
            uid_seed: super::uid::sensor_seed(super::DEFAULT_SENSOR),
            community_id_seed: 0,
            dns_session_timeout_us: 10_000_000,
            dns_udp_ports: vec![53, 137, 5353, 5355],
        }
    }
}

/// The flow one layer of a packet was counted in (see [`FlowTable::process_observed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerFlow<'a> {
    /// Index of the layer in [`DecodedPacket::layers`].
    pub layer: usize,
    /// The flow's [`FlowRecord::flow_id`](super::FlowRecord::flow_id).
    pub flow_id: u64,
    /// The flow's Community ID (as its record will carry it).
    pub community_id: &'a str,
    /// Whether the layer was sent by the flow's originator (as it stands after this packet).
    pub is_orig: bool,
    /// The originator's address.
    pub orig_h: IpAddr,
    /// The originator's port (ICMP: type).
    pub orig_p: u16,
}

/// Counters kept by the table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowTableStats {
    /// Flows currently held.
    pub active: u64,
    /// Flows created.
    pub created: u64,
    /// Flows emitted.
    pub emitted: u64,
    /// Flows evicted by the size limit.
    pub evicted: u64,
    /// Flows expired by idle timeout.
    pub idle_expired: u64,
    /// Flows cut by the active timeout.
    pub active_expired: u64,
    /// Packets that carried no IP layer (not part of any flow).
    pub non_ip_packets: u64,
    /// TCP connection attempts logged after `tcp_attempt_delay` (counted in `idle_expired` too).
    pub attempt_expired: u64,
    /// TCP connections logged after their close delay.
    pub closed: u64,
    /// Connections ended because a new one reused their 5-tuple.
    pub reused: u64,
    /// Flows emitted by `flush`.
    pub flushed: u64,
    /// IP tunnel layers (GRE, IP-in-IP) that are tunnel parents but not flows themselves.
    pub tunnel_layers: u64,
    /// Suricata semantics: ICMP errors counted in the flow of the packet they quote.
    pub icmp_errors_attached: u64,
    /// Suricata semantics: ICMPv4 errors in no flow (Suricata never creates a flow for them).
    pub icmp_errors_unattached: u64,
}

/// Idle list (plane 0) per timeout class.
const IDLE_TCP: u8 = 0;
const IDLE_TCP_HANDSHAKE: u8 = 1;
const IDLE_UDP: u8 = 2;
const IDLE_ICMP: u8 = 3;
const IDLE_OTHER: u8 = 4;
/// First of the Suricata idle lists (one per protocol and flow state, `SuriFlow::idle_class`).
const IDLE_SURICATA: u8 = 5;
const IDLE_LISTS: usize = IDLE_SURICATA as usize + IDLE_CLASSES;
/// Timer lists (plane 1).
const TIMER_ATTEMPT: u8 = 0;
const TIMER_CLOSE: u8 = 1;
const TIMER_DNS: u8 = 2;
const TIMER_LISTS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tcp,
    Udp,
    Icmp,
    Other,
}

impl Kind {
    fn proto(self) -> Proto {
        match self {
            Kind::Tcp => Proto::Tcp,
            Kind::Udp => Proto::Udp,
            Kind::Icmp => Proto::Icmp,
            Kind::Other => Proto::Other,
        }
    }
}

/// One open flow.
#[derive(Debug)]
struct Flow {
    key: FlowKey,
    /// Creation order in this table (flush order, eviction ties).
    seq: u64,
    flow_id: u64,
    uid: u64,
    kind: Kind,
    orig_h: IpAddr,
    orig_p: u16,
    resp_h: IpAddr,
    resp_p: u16,
    proto: u8,
    /// SCTP ports (orig, resp) for the Community ID; Zeek's conn id has none.
    sctp_ports: Option<(u16, u16)>,
    vlan: Option<u16>,
    inner_vlan: Option<u16>,
    ts_start: TimestampUs,
    last_time: TimestampUs,
    /// Time the flow was last put at the tail of its idle list.
    idle_base: TimestampUs,
    timer_deadline: TimestampUs,
    dir: [DirectionStats; 2],
    /// UDP/ICMP payload sizes per Zeek (`request_len`/`reply_len`); -1 = no packet.
    len: [i64; 2],
    hist: History,
    /// Community ID v1, computed when the flow is created.
    community_id: String,
    /// Bad-checksum packets per direction and the next count that logs `C`/`c`.
    bad_checksums: [(u32, u32); 2],
    tcp: TcpConn,
    tunnel_parents: Vec<u64>,
    /// Suricata's per-flow state, under Suricata semantics only.
    suri: Option<SuriFlow>,
}

impl Flow {
    fn flip(&mut self) {
        std::mem::swap(&mut self.orig_h, &mut self.resp_h);
        std::mem::swap(&mut self.orig_p, &mut self.resp_p);
        self.dir.swap(0, 1);
        self.len.swap(0, 1);
        if let Some((a, b)) = self.sctp_ports {
            self.sctp_ports = Some((b, a));
        }
    }

    fn idle_list(&self) -> u8 {
        if let Some(su) = &self.suri {
            return IDLE_SURICATA + su.idle_class(self.kind.proto()) as u8;
        }
        match self.kind {
            Kind::Tcp if self.tcp.established_timeout => IDLE_TCP,
            Kind::Tcp => IDLE_TCP_HANDSHAKE,
            Kind::Udp => IDLE_UDP,
            Kind::Icmp => IDLE_ICMP,
            Kind::Other => IDLE_OTHER,
        }
    }
}

/// The per-layer facts a flow needs.
struct Tuple {
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    kind: Kind,
    one_way: bool,
    sctp: Option<(u16, u16)>,
}

fn tuple_of(layer: &NetLayer) -> Tuple {
    let (sport, dport, kind, one_way, sctp) = match layer.transport {
        Transport::Tcp(t) => (t.src_port, t.dst_port, Kind::Tcp, false, None),
        Transport::Udp(u) => (u.src_port, u.dst_port, Kind::Udp, false, None),
        Transport::Icmp(i) => {
            let (c, ow) = icmp4_counterpart(i.icmp_type, i.code);
            (u16::from(i.icmp_type), c, Kind::Icmp, ow, None)
        }
        Transport::Icmpv6(i) => {
            let (c, ow) = icmp6_counterpart(i.icmp_type, i.code);
            (u16::from(i.icmp_type), c, Kind::Icmp, ow, None)
        }
        Transport::Sctp(s) => (0, 0, Kind::Other, false, Some((s.src_port, s.dst_port))),
        Transport::Other => (0, 0, Kind::Other, false, None),
    };
    Tuple { src: layer.src, dst: layer.dst, sport, dport, kind, one_way, sctp }
}

/// IP payload length as Zeek's `IP_Hdr::PayloadLen` gives it, falling back to the decoder's
/// transport payload when the IP length is unusable (e.g. 0 with segmentation offload).
#[inline]
fn ip_payload_len(layer: &NetLayer) -> Option<u32> {
    layer
        .ip_total_len
        .checked_sub(u32::from(layer.ip_header_len))
        .filter(|_| layer.ip_total_len > 0)
}

/// Builds flows from decoded packets.
#[derive(Debug)]
pub struct FlowTable {
    config: FlowTableConfig,
    stats: FlowTableStats,
    map: HashMap<FlowKey, u32, FxBuild>,
    flows: Slab<Flow, IDLE_LISTS, TIMER_LISTS>,
    /// uids of IP tunnels (GRE, IP-in-IP), which are parents but not flows.
    tunnels: HashMap<FlowKey, u64, FxBuild>,
    tcp_ports: PortSet,
    udp_ports: PortSet,
    dns_ports: PortSet,
    idle_timeouts: [i64; IDLE_LISTS],
    next_seq: u64,
}

impl FlowTable {
    /// An empty table.
    pub fn new(config: FlowTableConfig) -> Self {
        let mut idle_timeouts = [0; IDLE_LISTS];
        idle_timeouts[..IDLE_SURICATA as usize].copy_from_slice(&[
            config.tcp_idle_us,
            config.tcp_handshake_idle_us,
            config.udp_idle_us,
            config.icmp_idle_us,
            config.other_idle_us,
        ]);
        idle_timeouts[IDLE_SURICATA as usize..].copy_from_slice(&config.suricata.idle_timeouts());
        Self {
            tcp_ports: PortSet::new(&config.tcp_server_ports),
            udp_ports: PortSet::new(&config.udp_server_ports),
            dns_ports: PortSet::new(&config.dns_udp_ports),
            idle_timeouts,
            map: HashMap::with_capacity_and_hasher(
                config.max_flows.min(1 << 12),
                FxBuild::default(),
            ),
            flows: Slab::new(),
            tunnels: HashMap::default(),
            stats: FlowTableStats::default(),
            next_seq: 0,
            config,
        }
    }

    /// Account one packet, emitting any flows it ends.
    pub fn process(&mut self, pkt: &DecodedPacket, sink: &mut impl FlowSink) {
        self.process_observed(pkt, sink, &mut |_| {});
    }

    /// Like [`process`](Self::process), and tell `on_layer` which flow each layer of the
    /// packet was counted in (layers that count in no flow are not reported). Per-packet
    /// consumers such as the netFound tokenizer use this to follow flows.
    pub fn process_observed(
        &mut self,
        pkt: &DecodedPacket,
        sink: &mut impl FlowSink,
        on_layer: &mut impl FnMut(LayerFlow<'_>),
    ) {
        self.expire(pkt.ts, sink);
        if pkt.layers.is_empty() {
            if !pkt.held_fragment {
                self.stats.non_ip_packets += 1;
            }
            return;
        }
        let n = pkt.layers.len();
        let suricata = self.config.semantics == Semantics::Suricata;
        let mut parent = None;
        for (i, layer) in pkt.layers.iter().enumerate() {
            let depth = u8::try_from(i).unwrap_or(u8::MAX);
            if matches!(layer.transport, Transport::Other)
                && layer.src.is_ipv6()
                && matches!(layer.proto, 59 | 135)
            {
                // IPv6 "No Next Header" (e.g. Teredo bubbles) and Mobility headers: Zeek's IP
                // analyzer stops there without a connection.
                break;
            }
            if matches!(layer.transport, Transport::Other) && matches!(layer.proto, 1 | 6 | 17 | 58)
            {
                // A TCP/UDP/ICMP header too short to decode: Zeek cannot build a conn key.
                break;
            }
            let innermost = i + 1 == n && !pkt.held_fragment;
            if suricata {
                if let Some(p) = self.suricata_special(pkt, layer, depth, innermost) {
                    parent = p.or(parent);
                    continue;
                }
            } else if !innermost && matches!(layer.transport, Transport::Other) {
                // An IP tunnel header (GRE, IP-in-IP): Zeek logs no conn for it, but its inner
                // connections name the tunnel's uid as parent.
                parent = Some(self.tunnel_uid(pkt, layer));
                continue;
            }
            parent = Some(self.process_layer(pkt, layer, depth, parent, sink, on_layer));
        }
    }

    /// Suricata's rules for layers that are not ordinary flow packets: ICMPv4 errors (attached
    /// to the quoted flow or dropped), GRE (no flow) and other IP tunnel headers. `None` =
    /// process the layer as usual; `Some(parent)` = done, with the tunnel uid for inner layers.
    fn suricata_special(
        &mut self,
        pkt: &DecodedPacket,
        layer: &NetLayer,
        depth: u8,
        innermost: bool,
    ) -> Option<Option<u64>> {
        if suricata::is_icmp4_error(layer) {
            if let Some(target) = suricata::icmp_error_target(layer)
                && self.attach_icmp_error(pkt, layer, depth, target)
            {
                self.stats.icmp_errors_attached += 1;
            } else {
                self.stats.icmp_errors_unattached += 1;
            }
            return Some(None);
        }
        let tunnel_header = !innermost && matches!(layer.transport, Transport::Other);
        if !suricata::layer_has_flow(layer)
            || (tunnel_header && !suricata::tunnel_layer_has_flow(layer))
        {
            return Some(tunnel_header.then(|| self.tunnel_uid(pkt, layer)));
        }
        None
    }

    /// Counts an ICMP error in the flow of the packet it quotes, if that flow exists.
    fn attach_icmp_error(
        &mut self,
        pkt: &DecodedPacket,
        layer: &NetLayer,
        depth: u8,
        (qsrc, qsport, qdst, qdport, qproto): (IpAddr, u16, IpAddr, u16, u8),
    ) -> bool {
        let (vlan, inner_vlan) = self.vlans(pkt);
        let mut key = FlowKey::new(
            addr16(&qsrc),
            qsport,
            addr16(&qdst),
            qdport,
            qproto,
            false,
            vlan,
            inner_vlan,
        );
        if self.config.suricata.recursion_level_tracking {
            key = key.at_depth(depth);
        }
        let Some(&s) = self.map.get(&key) else { return false };
        let f = self.flows.get_mut(s);
        // FlowGetPacketDirection for ICMP: toserver when the sender is the flow's source.
        let toserver = addr16(&layer.src) == addr16(&f.orig_h);
        let d = &mut f.dir[usize::from(!toserver)];
        d.pkts += 1;
        d.ip_bytes += u64::from(layer.ip_total_len);
        d.wire_bytes += suricata::packet_len(layer, depth, pkt.wire_len);
        f.last_time = pkt.ts;
        f.idle_base = pkt.ts;
        let idle = f.idle_list();
        self.flows.push_back(0, idle, s);
        true
    }

    /// Expire flows idle (or active) past their timeout at time `now`.
    pub fn advance(&mut self, now: TimestampUs, sink: &mut impl FlowSink) {
        self.expire(now, sink);
    }

    /// Emit every open flow (end of input).
    pub fn flush(&mut self, sink: &mut impl FlowSink) {
        let mut slots = self.flows.live_slots();
        slots.sort_by_key(|&s| self.flows.get(s).seq);
        for s in slots {
            self.stats.flushed += 1;
            self.emit(s, EndReason::Flush, sink);
        }
        self.tunnels.clear();
    }

    /// Counters so far.
    pub fn stats(&self) -> FlowTableStats {
        FlowTableStats { active: self.flows.len() as u64, ..self.stats }
    }

    fn vlans(&self, pkt: &DecodedPacket) -> (Option<u16>, Option<u16>) {
        if self.config.key_by_vlan { (pkt.vlan, pkt.inner_vlan) } else { (None, None) }
    }

    fn tunnel_uid(&mut self, pkt: &DecodedPacket, layer: &NetLayer) -> u64 {
        let (vlan, inner_vlan) = self.vlans(pkt);
        let key = FlowKey::new(
            addr16(&layer.src),
            0,
            addr16(&layer.dst),
            0,
            layer.proto,
            false,
            vlan,
            inner_vlan,
        );
        if let Some(&u) = self.tunnels.get(&key) {
            return u;
        }
        if self.tunnels.len() >= self.config.max_flows.max(1) {
            self.tunnels.clear();
        }
        let u = flow_number(&key, pkt.ts);
        self.tunnels.insert(key, u);
        self.stats.tunnel_layers += 1;
        u
    }

    /// Runs every timer due at `now`.
    fn expire(&mut self, now: TimestampUs, sink: &mut impl FlowSink) {
        for list in 0..IDLE_LISTS as u8 {
            let timeout = self.idle_timeouts[list as usize];
            while let Some(s) = self.flows.front(0, list) {
                if self.flows.get(s).idle_base.saturating_add(timeout) > now {
                    break;
                }
                self.stats.idle_expired += 1;
                self.emit(s, EndReason::IdleTimeout, sink);
            }
        }
        while let Some(s) = self.flows.front(1, TIMER_ATTEMPT) {
            let f = self.flows.get(s);
            if f.timer_deadline > now {
                break;
            }
            if f.tcp.is_attempt() {
                self.stats.attempt_expired += 1;
                self.stats.idle_expired += 1;
                self.emit(s, EndReason::IdleTimeout, sink);
            } else {
                self.flows.unlink(1, s);
            }
        }
        let dns_timeout = self.config.dns_session_timeout_us;
        while let Some(s) = self.flows.front(1, TIMER_DNS) {
            let f = self.flows.get_mut(s);
            if f.timer_deadline > now {
                break;
            }
            if now - f.last_time >= dns_timeout - 1_000_000 {
                self.stats.idle_expired += 1;
                self.emit(s, EndReason::IdleTimeout, sink);
            } else {
                f.timer_deadline = now + dns_timeout;
                self.flows.push_back(1, TIMER_DNS, s);
            }
        }
        while let Some(s) = self.flows.front(1, TIMER_CLOSE) {
            if self.flows.get(s).timer_deadline > now {
                break;
            }
            self.stats.closed += 1;
            self.emit(s, EndReason::Closed, sink);
        }
    }

    /// Evicts the least recently used flow; false when no flow is on an idle list (which
    /// would be a bug: every live flow is on one).
    fn evict_lru(&mut self, sink: &mut impl FlowSink) -> bool {
        let victim = (0..IDLE_LISTS as u8)
            .filter_map(|l| self.flows.front(0, l))
            .min_by_key(|&s| (self.flows.get(s).idle_base, self.flows.get(s).seq));
        let Some(s) = victim else {
            debug_assert!(self.flows.len() == 0, "live flows missing from the idle lists");
            return false;
        };
        self.stats.evicted += 1;
        self.emit(s, EndReason::Evicted, sink);
        true
    }

    fn new_flow(&mut self, key: FlowKey, t: &Tuple, layer: &NetLayer, pkt: &DecodedPacket) -> Flow {
        let (vlan, inner_vlan) = (pkt.vlan, pkt.inner_vlan);
        let seq = self.next_seq;
        self.next_seq += 1;
        let uid = flow_number(&key, pkt.ts);
        let flow_id = flow_id_of(uid, self.config.uid_seed);
        self.stats.created += 1;
        // Community ID orders the endpoints itself, so later role flips leave it unchanged.
        let (cp_s, cp_d) = t.sctp.unwrap_or((t.sport, t.dport));
        let community_id = community_id_v1(
            self.config.community_id_seed,
            &t.src,
            cp_s,
            &t.dst,
            cp_d,
            layer.proto,
            t.one_way,
        );
        let mut f = Flow {
            key,
            seq,
            flow_id,
            uid,
            community_id,
            kind: t.kind,
            orig_h: t.src,
            orig_p: t.sport,
            resp_h: t.dst,
            resp_p: t.dport,
            proto: layer.proto,
            sctp_ports: t.sctp,
            vlan,
            inner_vlan,
            ts_start: pkt.ts,
            last_time: pkt.ts,
            idle_base: pkt.ts,
            timer_deadline: 0,
            dir: [DirectionStats::default(); 2],
            len: [-1; 2],
            hist: History::new(),
            bad_checksums: [(0, 1); 2],
            tcp: TcpConn::new(),
            tunnel_parents: Vec::new(),
            suri: None,
        };
        if self.config.semantics == Semantics::Suricata {
            f.suri = Some(SuriFlow::new());
            if t.kind == Kind::Tcp
                && suricata::reverses_first_packet(layer, self.config.suricata.midstream)
            {
                f.flip();
                f.tcp.flip();
                f.hist.add('^');
            }
            return f;
        }
        // IPBasedAnalyzer::NewConn / WantConnection: guess the true originator by the ports.
        let flip = match (t.kind, layer.transport) {
            (Kind::Tcp, Transport::Tcp(h)) => want_flip(
                h.flags,
                self.tcp_ports.contains(t.sport),
                self.tcp_ports.contains(t.dport),
                t.sport,
                t.dport,
            ),
            (Kind::Udp, _) => self.udp_ports.contains(t.sport) && !self.udp_ports.contains(t.dport),
            _ => false,
        };
        if flip && !is_broadcast(&t.dst) {
            f.flip();
            f.tcp.flip();
            f.hist.add('^');
        }
        f
    }

    /// Updates (or creates) the flow of one layer and returns its uid number.
    fn process_layer(
        &mut self,
        pkt: &DecodedPacket,
        layer: &NetLayer,
        depth: u8,
        parent: Option<u64>,
        sink: &mut impl FlowSink,
        on_layer: &mut impl FnMut(LayerFlow<'_>),
    ) -> u64 {
        let t = tuple_of(layer);
        let (vlan, inner_vlan) = self.vlans(pkt);
        let suricata = self.config.semantics == Semantics::Suricata;
        let mut key = FlowKey::new(
            addr16(&t.src),
            t.sport,
            addr16(&t.dst),
            t.dport,
            layer.proto,
            t.one_way,
            vlan,
            inner_vlan,
        );
        if suricata && self.config.suricata.recursion_level_tracking {
            key = key.at_depth(depth);
        }
        let ts = pkt.ts;

        // Zeek's TCPAnalyzer::ExtractTCP_Header: a header longer than the IP payload or than
        // what was captured makes the packet create the connection but not count in it.
        let mut header_only = false;
        let seg = match layer.transport {
            Transport::Tcp(h) => {
                let hl = u32::from(h.header_len);
                let ip_payload = ip_payload_len(layer);
                header_only = hl < 20
                    || ip_payload.is_some_and(|p| hl > p)
                    || u32::from(h.options_len) < (hl.saturating_sub(20)).min(40);
                let len = ip_payload.map(|p| p.saturating_sub(hl)).unwrap_or(layer.payload_len);
                Some(Segment { flags: h.flags, seq: h.seq, ack: h.ack, len, window: h.window })
            }
            _ => None,
        };

        let mut slot = self.map.get(&key).copied();
        if let Some(s) = slot {
            let f = self.flows.get(s);
            let reuse = match (&seg, &f.suri) {
                (Some(seg), Some(su)) if f.kind == Kind::Tcp => {
                    let toserver = addr16(&t.src) == addr16(&f.orig_h) && t.sport == f.orig_p;
                    su.is_reuse(toserver, seg.flags, seg.seq, self.config.suricata.midstream)
                }
                (Some(seg), None) => f.kind == Kind::Tcp && f.tcp.is_reuse(seg),
                _ => false,
            };
            if reuse {
                self.stats.reused += 1;
                self.emit(s, EndReason::Reused, sink);
                slot = None;
            } else if let Some(active) = self.config.active_timeout_us
                && ts - f.ts_start >= active
            {
                self.stats.active_expired += 1;
                self.emit(s, EndReason::ActiveTimeout, sink);
                slot = None;
            }
        }
        let s = match slot {
            Some(s) => s,
            None => {
                while self.flows.len() >= self.config.max_flows.max(1) && self.evict_lru(sink) {}
                let mut f = self.new_flow(key, &t, layer, pkt);
                let dns = f.kind == Kind::Udp
                    && !suricata
                    && self.config.dns_session_timeout_us > 0
                    && self.dns_ports.contains(f.resp_p);
                if dns {
                    f.timer_deadline = ts.saturating_add(self.config.dns_session_timeout_us);
                }
                let idle = f.idle_list();
                let s = self.flows.insert(f);
                self.map.insert(key, s);
                // Every live flow sits on an idle list from its creation, so it idles out
                // and can be evicted even when its packet is not counted (header_only).
                self.flows.push_back(0, idle, s);
                if dns {
                    self.flows.push_back(1, TIMER_DNS, s);
                }
                s
            }
        };

        let f = self.flows.get_mut(s);
        if let Some(p) = parent
            && !f.tunnel_parents.contains(&p)
        {
            f.tunnel_parents.push(p);
        }
        let uid = f.uid;
        if header_only {
            return uid;
        }
        let mut is_orig = addr16(&t.src) == addr16(&f.orig_h) && t.sport == f.orig_p;
        if layer.bad_checksum {
            // Zeek's HandleBadChecksum: a scaled `C`/`c`; the packet is not analysed
            // or counted, but it keeps the connection alive.
            let (letter, i) = if is_orig { ('C', 0) } else { ('c', 1) };
            let (count, threshold) = &mut f.bad_checksums[i];
            f.hist.scaled(letter, count, threshold);
            f.last_time = ts;
            let idle = f.idle_list();
            f.idle_base = ts;
            self.flows.push_back(0, idle, s);
            return uid;
        }
        let mut touch = true;
        let mut timer: Option<(u8, TimestampUs)> = None;
        match f.kind {
            Kind::Tcp => {
                if let Some(seg) = &seg {
                    let out = f.tcp.process(&mut f.hist, is_orig, seg);
                    // Suricata keeps the first packet's direction (Zeek's role flip is undone
                    // in the endpoint states) and has none of Zeek's TCP timers.
                    let zeek = f.suri.is_none();
                    if out.flipped && zeek {
                        f.flip();
                        is_orig = !is_orig;
                    } else if out.flipped {
                        f.tcp.flip();
                    }
                    touch = out.touch || !zeek;
                    if zeek && out.close_complete {
                        let base = if touch { ts } else { f.last_time };
                        timer = Some((
                            TIMER_CLOSE,
                            base.saturating_add(self.config.tcp_close_delay_us),
                        ));
                    } else if zeek && out.attempt_timer && self.config.tcp_attempt_delay_us > 0 {
                        timer = Some((
                            TIMER_ATTEMPT,
                            ts.saturating_add(self.config.tcp_attempt_delay_us),
                        ));
                    }
                }
            }
            Kind::Udp => {
                let ulen = match layer.transport {
                    Transport::Udp(u) => i64::from(u.length) - 8,
                    _ => 0,
                };
                let i = usize::from(!is_orig);
                f.len[i] = if f.len[i] < 0 { ulen } else { f.len[i] + ulen };
                if is_orig {
                    f.hist.check(mask::ORIG_DATA, 'D');
                } else {
                    f.hist.check(mask::RESP_DATA, 'd');
                }
            }
            Kind::Icmp => {
                let plen = ip_payload_len(layer)
                    .map_or(i64::from(layer.payload_len), |p| i64::from(p) - 8);
                let i = usize::from(!is_orig);
                f.len[i] = if f.len[i] < 0 { plen } else { f.len[i] + plen };
            }
            Kind::Other => {}
        }

        if let Some(su) = &mut f.suri {
            let tcp = seg.as_ref().map(|g| (g.flags, g.seq));
            su.on_packet(is_orig, tcp, self.config.suricata.midstream);
        }
        let d = &mut f.dir[usize::from(!is_orig)];
        d.pkts += 1;
        d.ip_bytes += u64::from(layer.ip_total_len);
        d.wire_bytes += if suricata {
            suricata::packet_len(layer, depth, pkt.wire_len)
        } else {
            u64::from(pkt.wire_len)
        };
        if let Transport::Tcp(h) = layer.transport {
            d.tcp_flags |= h.flags;
        }
        on_layer(LayerFlow {
            layer: usize::from(depth),
            flow_id: f.flow_id,
            community_id: &f.community_id,
            is_orig,
            orig_h: f.orig_h,
            orig_p: f.orig_p,
        });
        if touch {
            f.last_time = ts;
        }
        let idle = f.idle_list();
        f.idle_base = ts;
        if let Some((list, deadline)) = timer {
            f.timer_deadline = deadline;
            self.flows.push_back(1, list, s);
        }
        self.flows.push_back(0, idle, s);
        uid
    }

    /// Removes the flow at `slot` and hands its record to the sink.
    fn emit(&mut self, slot: u32, reason: EndReason, sink: &mut impl FlowSink) {
        let f = self.flows.remove(slot);
        self.map.remove(&f.key);
        self.stats.emitted += 1;
        let seed = self.config.uid_seed;
        let (mut orig, mut resp) = (f.dir[0], f.dir[1]);
        let conn_state = match f.kind {
            Kind::Tcp => {
                let (os, rs) = f.tcp.sizes();
                orig.bytes = os;
                resp.bytes = rs;
                tcp_conn_state(f.tcp.ep[0].state, f.tcp.ep[1].state, os, rs, &f.hist.s)
            }
            Kind::Udp => {
                orig.bytes = f.len[0].max(0) as u64;
                resp.bytes = f.len[1].max(0) as u64;
                udp_conn_state(f.len[0] >= 0, f.len[1] >= 0)
            }
            Kind::Icmp => {
                orig.bytes = f.len[0].max(0) as u64;
                resp.bytes = f.len[1].max(0) as u64;
                "OTH"
            }
            Kind::Other => "OTH",
        };
        sink.flow(FlowRecord {
            flow_id: f.flow_id,
            uid: uid_string(f.uid, seed),
            community_id: f.community_id,
            ts_start: f.ts_start,
            ts_end: f.last_time,
            orig_h: f.orig_h,
            orig_p: f.orig_p,
            resp_h: f.resp_h,
            resp_p: f.resp_p,
            proto: f.proto,
            vlan: f.vlan,
            inner_vlan: f.inner_vlan,
            orig,
            resp,
            conn_state,
            history: f.hist.s,
            missed_bytes: 0,
            tunnel_parents: f.tunnel_parents.iter().map(|&u| uid_string(u, seed)).collect(),
            end_reason: reason,
        });
    }
}

/// Zeek does not flip roles towards a broadcast responder.
fn is_broadcast(a: &IpAddr) -> bool {
    matches!(a, IpAddr::V4(v4) if *v4 == Ipv4Addr::BROADCAST)
}
