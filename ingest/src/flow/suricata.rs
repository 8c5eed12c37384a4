//! Suricata's flow semantics (`Semantics::Suricata`), kept apart from the Zeek rules.
//!
//! Each rule, and where it comes from in Suricata's source (OISF/suricata, master):
//! - **Direction** (`src/flow.c` `FlowGetPacketDirection`): `toserver` is the direction of the
//!   flow's first packet; no port heuristics. The one exception is `src/stream-tcp.c`
//!   (`StreamTcpPacketStateNone`): a TCP flow picked up on a SYN/ACK is reversed (`FlowSwap`),
//!   but only when `stream.midstream` is on, which Suricata's default `suricata.yaml` leaves
//!   off — so by default ([`SuricataConfig::midstream`] false) nothing is reversed.
//! - **Lifetime** (`src/flow-manager.c`, `suricata.yaml.in` `flow-timeouts`): no close delay,
//!   attempt timer or DNS session timer; a flow ends when idle past the timeout of its
//!   protocol and flow state (new / established / closed), or at flush. TCP's flow state
//!   follows the stream engine's session state (`StreamTcpPacketSetState`: ESTABLISHED,
//!   FIN_WAIT1/2, CLOSING, CLOSE_WAIT → established; LAST_ACK, TIME_WAIT, CLOSED → closed);
//!   other protocols are established once both directions were seen (`FlowHandlePacketUpdate`;
//!   ICMP errors do not count as seen, `FlowUpdateSeenFlag`).
//! - **TCP reuse** (`src/stream-tcp.c` `TcpSessionPacketSsnReuse`): a SYN (without ACK, RST
//!   or FIN) on an existing TCP flow starts a new flow when the flow has no TCP session (it
//!   was not started by a SYN and midstream is off), or when the session is NONE or at least
//!   LAST_ACK (LAST_ACK, CLOSE_WAIT, CLOSING, CLOSED; *not* TIME_WAIT, which Suricata numbers
//!   below LAST_ACK), unless it is a retransmission of the client's initial SYN (same ISN).
//!   With midstream, a SYN/ACK reuses the same way (toclient retransmissions of the server's
//!   ISN excepted; toclient without a session does not reuse).
//! - **ICMP errors** (`src/flow-hash.c` `FlowGetHash`, `FlowCompareICMPv4`, `FlowCreateCheck`;
//!   `src/decode-icmpv4.c` `DecodePartialIPV4`): an ICMPv4 destination unreachable whose quote
//!   reaches the ports of a TCP or UDP header (`ICMPV4_DEST_UNREACH_IS_VALID`) belongs to the
//!   flow of the quoted packet, whichever way the quote points; its direction is `toserver`
//!   when the ICMP packet's source is the flow's source, else `toclient`
//!   (`FlowGetPacketDirection` for ICMP compares addresses only). ICMPv4 error messages
//!   (types 3, 4, 5, 11, 12) never create a flow, so one that matches none is in no flow.
//!   ICMPv6 errors get no such treatment in Suricata (`FlowCompare` only special-cases
//!   `IPPROTO_ICMP`): they are ordinary ICMPv6 flows.
//! - **Tunnels** (`src/flow-hash.c` `FlowHashIp4Fill` / `recursion_level`, `src/decode.c`
//!   `PacketTunnelPktSetup`): the tunnel depth is part of the flow key
//!   (`decoder.recursion-level.use-for-tracking: true` by default,
//!   [`SuricataConfig::recursion_level_tracking`]); a decapsulated packet's length is the
//!   tunnel payload from its inner L2 header (`ip_total_len + l2_len`); the outer UDP of
//!   VXLAN/Geneve/Teredo/GTP and the outer IP of IP-in-IP have flows (`FlowSetupPacket` in
//!   `decode-udp.c`, `decode-ipv4.c`, `decode-ipv6.c`), GRE has none (`decode-gre.c` never
//!   sets one up).

use crate::packet::{NetLayer, Transport, tcp_flags};

/// Which tool's flow semantics the table follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Semantics {
    /// Zeek's `conn.log` (the default).
    #[default]
    Zeek,
    /// Suricata's flow events (see the module doc of `flow::suricata`).
    Suricata,
}

impl Semantics {
    /// Parses `zeek` or `suricata` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "zeek" => Some(Self::Zeek),
            "suricata" => Some(Self::Suricata),
            _ => None,
        }
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Zeek => "zeek",
            Self::Suricata => "suricata",
        }
    }
}

/// Settings used only under [`Semantics::Suricata`]. Defaults are `suricata.yaml.in`'s.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SuricataConfig {
    /// `flow-timeouts.tcp.new` (60 s), µs.
    pub tcp_new_us: i64,
    /// `flow-timeouts.tcp.established` (600 s), µs.
    pub tcp_established_us: i64,
    /// `flow-timeouts.tcp.closed` (60 s), µs.
    pub tcp_closed_us: i64,
    /// `flow-timeouts.udp.new` (30 s), µs.
    pub udp_new_us: i64,
    /// `flow-timeouts.udp.established` (300 s), µs.
    pub udp_established_us: i64,
    /// `flow-timeouts.icmp.new` (30 s), µs.
    pub icmp_new_us: i64,
    /// `flow-timeouts.icmp.established` (300 s), µs.
    pub icmp_established_us: i64,
    /// `flow-timeouts.default.new` (30 s), µs, for other IP protocols.
    pub default_new_us: i64,
    /// `flow-timeouts.default.established` (300 s), µs.
    pub default_established_us: i64,
    /// `stream.midstream` (false): pick up TCP sessions without a SYN, reversing a flow whose
    /// first packet is a SYN/ACK.
    pub midstream: bool,
    /// `decoder.recursion-level.use-for-tracking` (true): the tunnel depth is part of the key.
    pub recursion_level_tracking: bool,
}

impl Default for SuricataConfig {
    fn default() -> Self {
        const S: i64 = 1_000_000;
        Self {
            tcp_new_us: 60 * S,
            tcp_established_us: 600 * S,
            tcp_closed_us: 60 * S,
            udp_new_us: 30 * S,
            udp_established_us: 300 * S,
            icmp_new_us: 30 * S,
            icmp_established_us: 300 * S,
            default_new_us: 30 * S,
            default_established_us: 300 * S,
            midstream: false,
            recursion_level_tracking: true,
        }
    }
}

/// Number of Suricata idle classes (see [`SuriFlow::idle_class`]).
pub(crate) const IDLE_CLASSES: usize = 9;

impl SuricataConfig {
    /// Timeouts indexed like [`SuriFlow::idle_class`].
    pub(crate) fn idle_timeouts(&self) -> [i64; IDLE_CLASSES] {
        [
            self.tcp_new_us,
            self.tcp_established_us,
            self.tcp_closed_us,
            self.udp_new_us,
            self.udp_established_us,
            self.icmp_new_us,
            self.icmp_established_us,
            self.default_new_us,
            self.default_established_us,
        ]
    }
}

/// The protocol family that picks a timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    Tcp,
    Udp,
    Icmp,
    Other,
}

/// Suricata's TCP session states (`enum TcpState`, numbered as there: order matters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TcpState {
    None,
    SynSent,
    SynRecv,
    Established,
    FinWait1,
    FinWait2,
    TimeWait,
    LastAck,
    CloseWait,
    Closing,
    Closed,
}

/// Suricata's flow state (`FLOW_STATE_*`), which picks the timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlowState {
    New,
    Established,
    Closed,
}

/// Per-flow Suricata state: a simplified stream-engine session (header-driven, no sequence
/// validation) and which directions were seen.
#[derive(Debug, Clone)]
pub(crate) struct SuriFlow {
    /// A TCP session exists (the flow began with a SYN, or midstream picked it up).
    session: bool,
    state: TcpState,
    client_isn: u32,
    server_isn: Option<u32>,
    /// toserver / toclient seen by a packet that is not an ICMP error.
    seen: [bool; 2],
}

impl SuriFlow {
    /// State of a new flow.
    pub(crate) fn new() -> Self {
        Self {
            session: false,
            state: TcpState::None,
            client_isn: 0,
            server_isn: None,
            seen: [false; 2],
        }
    }

    /// Accounts a packet of the flow itself (not an attached ICMP error).
    pub(crate) fn on_packet(&mut self, toserver: bool, tcp: Option<(u8, u32)>, midstream: bool) {
        self.seen[usize::from(!toserver)] = true;
        if let Some((flags, seq)) = tcp {
            self.on_tcp(toserver, flags, seq, midstream);
        }
    }

    fn on_tcp(&mut self, toserver: bool, flags: u8, seq: u32, midstream: bool) {
        use TcpState::*;
        let has = |f: u8| flags & f != 0;
        let (syn, ack, fin, rst) =
            (has(tcp_flags::SYN), has(tcp_flags::ACK), has(tcp_flags::FIN), has(tcp_flags::RST));
        if !self.session {
            if syn && !ack && !rst && !fin {
                self.session = true;
                self.state = SynSent;
                self.client_isn = seq;
            } else if midstream && !rst {
                self.session = true;
                self.state = if syn && ack { SynRecv } else { Established };
                if syn && ack {
                    self.server_isn = Some(seq);
                }
            }
            return;
        }
        if rst {
            self.state = Closed;
            return;
        }
        self.state = match (self.state, toserver) {
            (SynSent, false) if syn && ack => {
                self.server_isn = Some(seq);
                SynRecv
            }
            (SynRecv, true) if ack && !syn => {
                if fin {
                    FinWait1
                } else {
                    Established
                }
            }
            (Established, true) if fin => FinWait1,
            (Established, false) if fin => CloseWait,
            (FinWait1, false) if fin && ack => TimeWait,
            (FinWait1, false) if fin => Closing,
            (FinWait1, false) if ack => FinWait2,
            (FinWait2, false) if fin => TimeWait,
            (Closing, _) if ack => TimeWait,
            (CloseWait, true) if fin => LastAck,
            (LastAck, false) if ack => Closed,
            (TimeWait, true) if ack => Closed,
            (s, _) => s,
        };
    }

    /// Suricata's flow state for a flow of protocol `proto`.
    pub(crate) fn flow_state(&self, proto: Proto) -> FlowState {
        use TcpState::*;
        if proto == Proto::Tcp {
            return match self.state {
                None | SynSent | SynRecv => FlowState::New,
                Established | FinWait1 | FinWait2 | Closing | CloseWait => FlowState::Established,
                LastAck | TimeWait | Closed => FlowState::Closed,
            };
        }
        if self.seen == [true, true] { FlowState::Established } else { FlowState::New }
    }

    /// Index into [`SuricataConfig::idle_timeouts`].
    pub(crate) fn idle_class(&self, proto: Proto) -> usize {
        let st = self.flow_state(proto);
        match (proto, st) {
            (Proto::Tcp, FlowState::New) => 0,
            (Proto::Tcp, FlowState::Established) => 1,
            (Proto::Tcp, FlowState::Closed) => 2,
            (Proto::Udp, FlowState::New) => 3,
            (Proto::Udp, _) => 4,
            (Proto::Icmp, FlowState::New) => 5,
            (Proto::Icmp, _) => 6,
            (Proto::Other, FlowState::New) => 7,
            (Proto::Other, _) => 8,
        }
    }

    /// `TcpSessionPacketSsnReuse`: does this segment start a new flow on the same tuple?
    pub(crate) fn is_reuse(&self, toserver: bool, flags: u8, seq: u32, midstream: bool) -> bool {
        use tcp_flags::{ACK, FIN, RST, SYN};
        if flags & (RST | FIN) != 0 {
            return false;
        }
        let syn = flags & (SYN | ACK) == SYN;
        let syn_ack = flags & (SYN | ACK) == SYN | ACK;
        if !(syn || (midstream && syn_ack)) {
            return false;
        }
        if !self.session {
            // No session: a SYN always reuses; a SYN/ACK only toserver.
            return syn || toserver;
        }
        let retransmission = if syn {
            toserver && seq == self.client_isn
        } else {
            !toserver && self.server_isn == Some(seq)
        };
        !retransmission && (self.state >= TcpState::LastAck || self.state == TcpState::None)
    }
}

/// Whether a TCP flow's first packet makes Suricata reverse it (midstream SYN/ACK pickup).
pub(crate) fn reverses_first_packet(layer: &NetLayer, midstream: bool) -> bool {
    use tcp_flags::{ACK, SYN};
    midstream && matches!(layer.transport, Transport::Tcp(h) if h.flags & (SYN | ACK) == SYN | ACK)
}

/// An ICMPv4 message Suricata treats as an error (`ICMPV4_IS_ERROR_MSG`): never creates a flow.
pub(crate) fn is_icmp4_error(layer: &NetLayer) -> bool {
    matches!(layer.transport, Transport::Icmp(h) if matches!(h.icmp_type, 3 | 4 | 5 | 11 | 12))
}

/// The quoted tuple `(src, sport, dst, dport, proto)` an ICMPv4 destination unreachable is
/// attached to (`ICMPV4_DEST_UNREACH_IS_VALID`: the quote reaches TCP or UDP ports).
pub(crate) fn icmp_error_target(
    layer: &NetLayer,
) -> Option<(std::net::IpAddr, u16, std::net::IpAddr, u16, u8)> {
    let Transport::Icmp(h) = layer.transport else { return None };
    let q = h.quoted?;
    (h.icmp_type == 3 && q.has_ports && matches!(q.proto, 6 | 17) && q.src.is_ipv4())
        .then_some((q.src, q.src_port, q.dst, q.dst_port, q.proto))
}

/// Whether a layer that is not the innermost makes a flow: the outer IP of IP-in-IP does;
/// GRE (and other IP tunnels) does not. UDP tunnels are decided by their transport.
pub(crate) fn tunnel_layer_has_flow(layer: &NetLayer) -> bool {
    matches!(layer.proto, 4 | 41)
}

/// Whether a layer makes a flow at all under Suricata semantics (GRE never does).
pub(crate) fn layer_has_flow(layer: &NetLayer) -> bool {
    layer.proto != 47
}

/// Bytes Suricata counts for a layer at tunnel depth `depth`: the whole frame outside tunnels,
/// the decapsulated packet from its inner L2 header inside.
pub(crate) fn packet_len(layer: &NetLayer, depth: u8, wire_len: u32) -> u64 {
    if depth == 0 {
        u64::from(wire_len)
    } else {
        u64::from(layer.ip_total_len) + u64::from(layer.l2_len)
    }
}
