//! Zeek's TCP endpoint state machine, sequence-space byte counting and TCP history letters,
//! after `TCPSessionAdapter.cc`, `TCP_Endpoint.cc` and `TCP.cc` (`WantConnection`, `IsReuse`).
//!
//! Not modelled: checksum validation (`C`), reassembly (content gaps `G` and `missed_bytes`),
//! deferred closes while data is pending, and `connection_partial_close`/`ExpireTimer` timers.

use super::history::{History, mask};
use crate::packet::tcp_flags::{ACK, FIN, RST, SYN};

/// Zeek's `TOO_LARGE_SEQ_DELTA`.
const TOO_LARGE_SEQ_DELTA: i32 = 1_048_576;

/// `EndpointState`, numbered as Zeek's script-level `TCP_*` constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum EpState {
    /// No packet seen.
    #[default]
    Inactive,
    /// SYN sent.
    SynSent,
    /// SYN-ACK sent (as originator).
    SynAckSent,
    /// Seen without a handshake.
    Partial,
    /// Handshake done.
    Established,
    /// FIN sent.
    Closed,
    /// RST sent.
    Reset,
}

#[inline]
fn is_handshake(s: EpState) -> bool {
    matches!(s, EpState::Inactive | EpState::SynSent | EpState::SynAckSent)
}

#[inline]
fn seq_delta(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// One side of a TCP connection (`TCP_Endpoint`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Endpoint {
    pub state: EpState,
    pub prev_state: EpState,
    start_seq: i64,
    last_seq: u32,
    ack_seq: u32,
    seq_wraps: u32,
    ack_wraps: u32,
    fin_cnt: u32,
    pub did_close: bool,
    hist_last_syn: u64,
    hist_last_fin: u64,
    hist_last_rst: u64,
    rxmt_cnt: u32,
    rxmt_thresh: u32,
    win0_cnt: u32,
    win0_thresh: u32,
}

impl Endpoint {
    fn new() -> Self {
        Self { rxmt_thresh: 1, win0_thresh: 1, ..Self::default() }
    }

    #[inline]
    fn start_seq32(&self) -> u32 {
        self.start_seq as u32
    }

    fn init_seqs(&mut self, start: u32, last: u32) {
        self.start_seq = i64::from(start);
        self.ack_seq = start;
        self.last_seq = last;
    }

    fn update_last_seq(&mut self, seq: u32) {
        if seq < self.last_seq {
            self.seq_wraps += 1;
        }
        self.last_seq = seq;
    }

    fn update_ack_seq(&mut self, seq: u32) {
        if seq < self.ack_seq {
            self.ack_wraps += 1;
        }
        self.ack_seq = seq;
    }

    fn no_data_acked(&self) -> bool {
        let ack = (u64::from(self.ack_wraps) << 32) + u64::from(self.ack_seq);
        let start = self.start_seq as u64;
        ack == start || ack == start.wrapping_add(1)
    }

    /// `get_relative_seq`: (relative sequence number, underflow).
    fn relative_seq(&self, cur: u32, last: u32, mut wraps: u32) -> (u64, bool) {
        let delta = seq_delta(cur, last);
        if delta < 0 {
            if wraps > 0 && cur > last {
                wraps -= 1;
            }
        } else if delta > 0 && cur < last {
            wraps += 1;
        }
        if wraps == 0 {
            let d = seq_delta(cur, self.start_seq32());
            return (i64::from(d) as u64, d < 0);
        }
        (((u64::from(wraps) << 32) + u64::from(cur)).wrapping_sub(self.start_seq as u64), false)
    }
}

/// Zeek's `TCP_Endpoint::Size()` given the peer's state: the payload bytes in sequence space.
fn endpoint_size(ep: &Endpoint, peer_state: EpState) -> u64 {
    if ep.prev_state == EpState::SynSent
        && ep.state == EpState::Reset
        && peer_state == EpState::Inactive
        && !ep.no_data_acked()
    {
        return 0;
    }
    let last = (u64::from(ep.seq_wraps) << 32) + u64::from(ep.last_seq);
    let ack = (u64::from(ep.ack_wraps) << 32) + u64::from(ep.ack_seq);
    let top = if last > ack { last } else { ack };
    let mut size = top.wrapping_sub(ep.start_seq as u64);
    size = size.saturating_sub(1);
    if ep.fin_cnt > 0 && size != 0 {
        size -= 1;
    }
    size
}

/// A TCP segment as the state machine sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Segment {
    /// Flag byte.
    pub flags: u8,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Payload length.
    pub len: u32,
    /// Unscaled window.
    pub window: u16,
}

impl Segment {
    #[inline]
    fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
}

/// What processing one segment did, for the flow table to act on.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Outcome {
    /// The roles flipped an odd number of times: swap originator and responder.
    pub flipped: bool,
    /// The originator just sent its first SYN: start the attempt timer.
    pub attempt_timer: bool,
    /// The connection just closed completely: start the close-delay timer.
    pub close_complete: bool,
    /// Update the connection's last time (Zeek skips it once both sides closed).
    pub touch: bool,
}

/// The two endpoints of a TCP connection; index 0 is the current originator.
#[derive(Debug, Clone)]
pub(crate) struct TcpConn {
    /// Originator (0) and responder (1).
    pub ep: [Endpoint; 2],
    /// The inactivity timeout switched from the handshake value to `tcp_inactivity_timeout`.
    pub established_timeout: bool,
}

impl Default for TcpConn {
    fn default() -> Self {
        Self::new()
    }
}

/// Zeek's `TCPAnalyzer::WantConnection` role decision for a connection's first segment.
pub(crate) fn want_flip(
    flags: u8,
    src_likely: bool,
    dst_likely: bool,
    sport: u16,
    dport: u16,
) -> bool {
    let syn = flags & SYN != 0;
    let ack = flags & ACK != 0;
    if syn && !ack {
        return false;
    }
    if src_likely { if dst_likely { !syn && sport < dport } else { true } } else { false }
}

impl TcpConn {
    /// A connection with both endpoints inactive.
    pub(crate) fn new() -> Self {
        Self { ep: [Endpoint::new(), Endpoint::new()], established_timeout: false }
    }

    /// Swaps the endpoints (the `FlipRoles` part that concerns TCP).
    pub(crate) fn flip(&mut self) {
        self.ep.swap(0, 1);
    }

    /// Zeek's `conn_state`-relevant sizes: (orig, resp).
    pub(crate) fn sizes(&self) -> (u64, u64) {
        (endpoint_size(&self.ep[0], self.ep[1].state), endpoint_size(&self.ep[1], self.ep[0].state))
    }

    /// Any side has closed (`IsClosed`).
    pub(crate) fn is_closed(&self) -> bool {
        self.ep[0].did_close || self.ep[1].did_close
    }

    /// Still an unanswered attempt (`AttemptTimer`'s condition).
    pub(crate) fn is_attempt(&self) -> bool {
        matches!(self.ep[0].state, EpState::SynSent | EpState::SynAckSent)
            && self.ep[1].state == EpState::Inactive
    }

    /// Zeek's `TCPSessionAdapter::IsReuse`: does this segment start a new connection?
    pub(crate) fn is_reuse(&self, seg: &Segment) -> bool {
        if !seg.has(SYN) {
            return false;
        }
        let mut conn_orig = &self.ep[0];
        if seg.has(ACK) {
            if self.ep[0].state != EpState::Inactive {
                return false;
            }
            conn_orig = &self.ep[1];
        }
        if !self.is_closed() {
            if i64::from(seg.seq) == conn_orig.start_seq {
                return false;
            }
            if !seg.has(ACK)
                && conn_orig.state == EpState::SynAckSent
                && self.ep[1].state == EpState::Inactive
                && i64::from(seg.seq) == self.ep[1].start_seq
            {
                return false;
            }
        }
        true
    }

    fn set_state(&mut self, i: usize, new: EpState) {
        let peer_state = self.ep[1 - i].state;
        let ep = &mut self.ep[i];
        if new != ep.state {
            if !is_handshake(new) && is_handshake(ep.state) && is_handshake(peer_state) {
                self.established_timeout = true;
            }
            ep.prev_state = ep.state;
            ep.state = new;
        }
    }

    /// `TCP_Endpoint::CheckHistory`, including the flip when a connection whose history is
    /// just `H` sees an ACK or data.
    fn check_history(
        &mut self,
        h: &mut History,
        e: &mut usize,
        out: &mut Outcome,
        m: u32,
        code: char,
    ) -> bool {
        if (code == 'A' || code == 'D') && h.s == "H" {
            self.flip();
            h.s.clear();
            h.s.push_str("^h");
            out.flipped = !out.flipped;
            *e ^= 1;
        }
        if *e == 0 { h.check(m, code) } else { h.check(m << 16, code.to_ascii_lowercase()) }
    }

    #[inline]
    fn add_history(h: &mut History, e: usize, code: char) {
        h.add(if e == 0 { code } else { code.to_ascii_lowercase() });
    }

    /// Processes one segment sent by the originator (`is_orig`) or the responder.
    pub(crate) fn process(&mut self, h: &mut History, is_orig: bool, seg: &Segment) -> Outcome {
        let mut out = Outcome::default();
        let mut e = if is_orig { 0 } else { 1 };
        let len = seg.len;
        let (syn, fin, rst, ack) = (seg.has(SYN), seg.has(FIN), seg.has(RST), seg.has(ACK));

        let mut seg_len = len;
        if syn {
            seg_len += 1;
        }
        if fin {
            seg_len += 1;
        }
        if rst {
            seg_len -= len;
        }
        let seq_one_past = seg.seq.wrapping_add(seg_len);

        self.init_endpoint(e, syn, seg.seq, seq_one_past);

        let (rel_seq, _underflow) = {
            let ep = &self.ep[e];
            ep.relative_seq(seg.seq, ep.last_seq, ep.seq_wraps)
        };

        self.update_history(h, &mut e, &mut out, seg, rel_seq);

        // update_window: zero windows.
        {
            let p = 1 - e;
            if seg.window == 0
                && !rst
                && self.ep[p].state != EpState::Closed
                && self.ep[e].state != EpState::Reset
            {
                let code = if e == 0 { 'W' } else { 'w' };
                let ep = &mut self.ep[e];
                h.scaled(code, &mut ep.win0_cnt, &mut ep.win0_thresh);
            }
        }

        out.touch = !self.ep[0].did_close || !self.ep[1].did_close;

        if fin {
            self.ep[e].fin_cnt += 1;
        }

        if ack {
            let p = 1 - e;
            if self.ep[p].state == EpState::Inactive {
                let s = seg.ack.wrapping_sub(1);
                let peer = &mut self.ep[p];
                peer.start_seq = i64::from(s);
                peer.ack_seq = s;
                peer.last_seq = s;
            } else {
                let peer = &self.ep[p];
                let (_rel_ack, underflow) =
                    peer.relative_seq(seg.ack, peer.ack_seq, peer.ack_wraps);
                if !underflow && !rst {
                    let peer = &mut self.ep[p];
                    let delta_ack = seq_delta(seg.ack, peer.ack_seq);
                    if seg.ack == 0 && delta_ack > TOO_LARGE_SEQ_DELTA {
                        // Probably a bogus zero ack.
                    } else if delta_ack > 0 {
                        peer.update_ack_seq(seg.ack);
                    }
                }
            }
        }

        let delta_last = self.update_last_seq(h, e, seq_one_past, seg);

        let (do_close, _gen_event) =
            self.update_state_machine(h, &mut e, &mut out, is_orig, seg, delta_last);

        if do_close {
            let p = 1 - e;
            if !self.ep[e].did_close {
                self.ep[e].did_close = true;
                let complete = self.ep[e].state == EpState::Reset
                    || self.ep[p].did_close
                    || self.ep[p].state == EpState::Inactive;
                if complete {
                    out.close_complete = true;
                }
            }
        }
        out
    }

    fn init_endpoint(&mut self, e: usize, syn: bool, first_seq: u32, mut last_seq: u32) {
        let ep = &mut self.ep[e];
        match ep.state {
            EpState::Inactive => {
                if syn {
                    ep.init_seqs(first_seq, last_seq);
                } else {
                    last_seq = first_seq;
                    ep.init_seqs(first_seq.wrapping_sub(1), last_seq);
                }
            }
            EpState::SynSent | EpState::SynAckSent => {
                if syn && i64::from(first_seq) != ep.start_seq {
                    ep.init_seqs(first_seq, last_seq);
                }
            }
            EpState::Established | EpState::Partial => {
                if syn {
                    ep.init_seqs(first_seq, last_seq);
                }
            }
            EpState::Reset => {
                if syn && ep.prev_state == EpState::Inactive {
                    ep.init_seqs(first_seq, last_seq);
                }
            }
            EpState::Closed => {}
        }
    }

    fn update_history(
        &mut self,
        h: &mut History,
        e: &mut usize,
        out: &mut Outcome,
        seg: &Segment,
        rel_seq: u64,
    ) {
        let (syn, fin, rst) = (seg.has(SYN), seg.has(FIN), seg.has(RST));
        let bits = u8::from(syn) + u8::from(fin) + u8::from(rst);
        let len = u64::from(seg.len);
        if bits > 1 {
            if fin && rst {
                self.check_history(h, e, out, mask::FIN_RST, 'I');
            } else {
                self.check_history(h, e, out, mask::MULTI_FLAG, 'Q');
            }
        } else if bits == 1 {
            if syn {
                let code = if seg.has(ACK) { 'H' } else { 'S' };
                if self.check_history(h, e, out, mask::SYN, code)
                    && rel_seq != self.ep[*e].hist_last_syn
                {
                    Self::add_history(h, *e, code);
                }
                self.ep[*e].hist_last_syn = rel_seq;
            }
            if fin {
                let end = rel_seq.wrapping_add(len);
                if self.check_history(h, e, out, mask::FIN, 'F') && end != self.ep[*e].hist_last_fin
                {
                    Self::add_history(h, *e, 'F');
                }
                self.ep[*e].hist_last_fin = end;
            }
            if rst {
                if self.check_history(h, e, out, mask::RST, 'R')
                    && rel_seq != self.ep[*e].hist_last_rst
                {
                    Self::add_history(h, *e, 'R');
                }
                self.ep[*e].hist_last_rst = rel_seq;
            }
        } else if len > 0 {
            self.check_history(h, e, out, mask::DATA, 'D');
        } else if seg.has(ACK) {
            self.check_history(h, e, out, mask::ACK, 'A');
        }
    }

    fn update_last_seq(&mut self, h: &mut History, e: usize, last_seq: u32, seg: &Segment) -> i32 {
        let (syn, fin, rst) = (seg.has(SYN), seg.has(FIN), seg.has(RST));
        let code = if e == 0 { 'T' } else { 't' };
        let ep = &mut self.ep[e];
        let delta = seq_delta(last_seq, ep.last_seq);
        if (syn || rst) && !(-TOO_LARGE_SEQ_DELTA..=TOO_LARGE_SEQ_DELTA).contains(&delta) {
            // Bogus sequence number on a SYN or RST: ignore.
        } else if fin && ep.last_seq == ep.start_seq32().wrapping_add(1) {
            ep.update_last_seq(last_seq);
        } else if ep.state == EpState::Reset {
            // Sequence numbers after a RST are meaningless.
        } else if delta > 0 {
            ep.update_last_seq(last_seq);
        } else if seg.len > 0 {
            h.scaled(code, &mut ep.rxmt_cnt, &mut ep.rxmt_thresh);
        }
        delta
    }

    /// `UpdateStateMachine`; `is_orig` is the direction as it was before any flip in this
    /// packet (Zeek passes the stale value too). Returns (do_close, gen_event).
    fn update_state_machine(
        &mut self,
        h: &mut History,
        e: &mut usize,
        out: &mut Outcome,
        is_orig: bool,
        seg: &Segment,
        delta_last: i32,
    ) -> (bool, bool) {
        let (syn, fin, rst, ack) = (seg.has(SYN), seg.has(FIN), seg.has(RST), seg.has(ACK));
        let mut do_close = false;
        let mut gen_event = false;
        let _ = delta_last;
        match self.ep[*e].state {
            EpState::Inactive => {
                if syn {
                    if is_orig {
                        let s = if ack { EpState::SynAckSent } else { EpState::SynSent };
                        self.set_state(*e, s);
                        out.attempt_timer = true;
                    } else {
                        let p = 1 - *e;
                        if ack {
                            // bad_SYN_ack weird only.
                        } else if self.ep[p].state == EpState::SynAckSent
                            && i64::from(seg.seq) == self.ep[*e].start_seq
                        {
                            // The "originator" sent a SYN-ACK and this is the SYN it answered.
                            self.flip();
                            h.add('^');
                            out.flipped = !out.flipped;
                            *e ^= 1;
                            let p = 1 - *e;
                            self.set_state(p, EpState::Established);
                        }
                        let p = 1 - *e;
                        if self.ep[p].state == EpState::SynSent {
                            self.set_state(p, EpState::Established);
                        }
                        self.set_state(*e, EpState::Established);
                    }
                }
                if fin {
                    self.set_state(*e, EpState::Closed);
                    do_close = true;
                    gen_event = true;
                }
                if rst {
                    self.set_state(*e, EpState::Reset);
                    let p = 1 - *e;
                    let is_reject = if is_orig {
                        self.ep[p].state == EpState::Established
                    } else {
                        matches!(self.ep[p].state, EpState::SynSent | EpState::SynAckSent)
                    };
                    do_close = true;
                    gen_event = !is_reject;
                }
                if self.ep[*e].state == EpState::Inactive {
                    let p = 1 - *e;
                    if !is_orig && seg.len == 0 && self.ep[0].state == EpState::SynSent {
                        // Pure ACK to a SYN: stay inactive.
                    } else if ack && self.ep[p].state == EpState::Established {
                        self.set_state(*e, EpState::Established);
                    } else {
                        self.set_state(*e, EpState::Partial);
                    }
                }
            }
            EpState::SynSent | EpState::SynAckSent => {
                if fin {
                    self.set_state(*e, EpState::Closed);
                    do_close = true;
                    gen_event = true;
                }
                if rst {
                    self.set_state(*e, EpState::Reset);
                    do_close = true;
                }
            }
            EpState::Established | EpState::Partial => {
                let p = 1 - *e;
                if syn
                    && self.ep[*e].state == EpState::Partial
                    && self.ep[p].state == EpState::Inactive
                    && !ack
                {
                    self.set_state(*e, EpState::SynSent);
                }
                if fin && !rst {
                    self.set_state(*e, EpState::Closed);
                    if self.ep[p].state == EpState::Reset
                        && self.ep[p].prev_state == EpState::Closed
                    {
                        self.set_state(p, EpState::Closed);
                    }
                    do_close = true;
                    gen_event = true;
                }
                if rst {
                    self.set_state(*e, EpState::Reset);
                    do_close = true;
                }
            }
            EpState::Closed => {
                let p = 1 - *e;
                if rst && self.ep[p].state != EpState::Closed {
                    self.set_state(*e, EpState::Reset);
                    if !self.ep[*e].did_close {
                        do_close = true;
                    }
                }
            }
            EpState::Reset => {}
        }
        (do_close, gen_event)
    }
}
