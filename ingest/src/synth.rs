//! Synthetic traffic, built with etherparse's `PacketBuilder` and written as a classic
//! pcap: the attacks and the background the alerting and reliability tests need, and
//! that users can build on demand (`vigil gen`).
//!
//! Every kind is deterministic for a seed. Addresses come from the documentation
//! ranges: the attacker is 203.0.113.66, targets are in 192.0.2.0/24, benign servers in
//! 198.51.100.0/24, clients in 10.0.0.0/16 (random sources of a SYN flood anywhere).
//! Packets are spaced `1 / rate` seconds of capture time apart.

use std::io::Write;

use etherparse::{EtherType, Ethernet2Header, IpFragOffset, IpNumber, Ipv4Header, PacketBuilder};

/// What to generate; `count` is per kind (see each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrafficKind {
    /// One attacker probes `count` TCP ports of one host with SYNs; closed ports answer
    /// RST-ACK, one port in 16 is open (SYN-ACK, then the scanner's RST).
    PortScan,
    /// One attacker pings `count` hosts of a /16 (ICMP echo); one in 4 answers.
    HostSweep,
    /// One attacker makes `count` SSH connections to one server: handshake, a version
    /// exchange, a few small encrypted-looking exchanges, and the server's FIN.
    SshBruteForce,
    /// `count` SYNs to one web server from random sources and ports, unanswered.
    SynFlood,
    /// `count` UDP datagrams, each cut into 8-byte IPv4 fragments; every other datagram
    /// has an overlapping fragment rewriting part of the payload. Past 65,536 datagrams
    /// (the IPv4 identification's range) the source address changes, so that every
    /// datagram is a reassembly key of its own.
    Fragments,
    /// `count` UDP datagrams over IPv6, each cut into 8-byte fragments (32-bit
    /// identifications, one key each); every other one overlapping, as in `Fragments`.
    Ipv6Fragments,
    /// `count` ordinary sessions: DNS query and answer, HTTP GET, a TLS-like exchange on
    /// 443, NTP, in turn.
    BenignMix,
    /// The benign mix with a broken clock: of every 40 packets, one is stamped in 1970,
    /// one at the end of 2037 (the latest a classic pcap's signed seconds reach) and one
    /// three days back.
    ClockTrouble,
}

impl TrafficKind {
    /// Every kind, by its CLI name.
    pub const ALL: [(&'static str, TrafficKind); 8] = [
        ("port-scan", TrafficKind::PortScan),
        ("host-sweep", TrafficKind::HostSweep),
        ("ssh-brute-force", TrafficKind::SshBruteForce),
        ("syn-flood", TrafficKind::SynFlood),
        ("fragments", TrafficKind::Fragments),
        ("ipv6-fragments", TrafficKind::Ipv6Fragments),
        ("benign-mix", TrafficKind::BenignMix),
        ("clock-trouble", TrafficKind::ClockTrouble),
    ];
}

impl std::str::FromStr for TrafficKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        TrafficKind::ALL.iter().find(|(n, _)| *n == s).map(|(_, k)| *k).ok_or_else(|| {
            let names: Vec<&str> = TrafficKind::ALL.iter().map(|(n, _)| *n).collect();
            format!("unknown traffic kind `{s}` (one of {})", names.join(", "))
        })
    }
}

/// How much and how fast.
#[derive(Debug, Clone, Copy)]
pub struct GenConfig {
    /// Units of the kind (ports, hosts, connections, SYNs, datagrams, sessions).
    pub count: usize,
    /// Packets per second of capture time.
    pub rate: f64,
    /// The random seed.
    pub seed: u64,
    /// The first packet's time, µs since the epoch.
    pub start_us: i64,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig { count: 100, rate: 1000.0, seed: 1, start_us: 1_700_000_000_000_000 }
    }
}

/// One generated frame (Ethernet II) and its capture time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// µs since the epoch.
    pub ts_us: i64,
    /// The frame's bytes.
    pub frame: Vec<u8>,
}

const ATTACKER: [u8; 4] = [203, 0, 113, 66];
const TARGET: [u8; 4] = [192, 0, 2, 10];
const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

/// SplitMix64: a small, fast, deterministic generator (the state is the seed).
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// A direction of a conversation: who sends.
#[derive(Clone, Copy)]
struct Ends {
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
}

impl Ends {
    fn reverse(self) -> Ends {
        Ends { src: self.dst, dst: self.src, sport: self.dport, dport: self.sport }
    }
    fn macs(&self, forward: bool) -> ([u8; 6], [u8; 6]) {
        if forward { (MAC_A, MAC_B) } else { (MAC_B, MAC_A) }
    }
}

/// TCP flags of a segment.
#[derive(Clone, Copy, Default)]
struct Flags {
    syn: bool,
    ack: bool,
    fin: bool,
    rst: bool,
    psh: bool,
}

fn tcp(e: Ends, forward: bool, seq: u32, ack: u32, f: Flags, payload: &[u8]) -> Vec<u8> {
    let (sm, dm) = e.macs(forward);
    let mut b =
        PacketBuilder::ethernet2(sm, dm).ipv4(e.src, e.dst, 64).tcp(e.sport, e.dport, seq, 64240);
    if f.syn {
        b = b.syn();
    }
    if f.ack {
        b = b.ack(ack);
    }
    if f.fin {
        b = b.fin();
    }
    if f.rst {
        b = b.rst();
    }
    if f.psh {
        b = b.psh();
    }
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, payload).expect("a TCP segment fits");
    out
}

fn udp(e: Ends, forward: bool, payload: &[u8]) -> Vec<u8> {
    let (sm, dm) = e.macs(forward);
    let b = PacketBuilder::ethernet2(sm, dm).ipv4(e.src, e.dst, 64).udp(e.sport, e.dport);
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, payload).expect("a UDP datagram fits");
    out
}

fn echo(src: [u8; 4], dst: [u8; 4], forward: bool, id: u16, seq: u16) -> Vec<u8> {
    let (sm, dm) = if forward { (MAC_A, MAC_B) } else { (MAC_B, MAC_A) };
    let b = PacketBuilder::ethernet2(sm, dm).ipv4(src, dst, 64);
    let b = if forward { b.icmpv4_echo_request(id, seq) } else { b.icmpv4_echo_reply(id, seq) };
    let payload = [0x42u8; 32];
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, &payload).expect("an ICMP echo fits");
    out
}

/// A TCP conversation: handshake, `exchanges` (true: the client sends), then the
/// closing side's FIN and its answer.
fn tcp_session(e: Ends, exchanges: &[(bool, Vec<u8>)], server_closes: bool) -> Vec<Vec<u8>> {
    let (mut cs, mut ss) = (1000u32, 5000u32);
    let syn = Flags { syn: true, ..Flags::default() };
    let synack = Flags { syn: true, ack: true, ..Flags::default() };
    let ack = Flags { ack: true, ..Flags::default() };
    let data = Flags { ack: true, psh: true, ..Flags::default() };
    let fin = Flags { fin: true, ack: true, ..Flags::default() };
    let r = e.reverse();
    let mut out = vec![tcp(e, true, cs, 0, syn, &[])];
    out.push(tcp(r, false, ss, cs + 1, synack, &[]));
    cs += 1;
    ss += 1;
    out.push(tcp(e, true, cs, ss, ack, &[]));
    for (from_client, bytes) in exchanges {
        if *from_client {
            out.push(tcp(e, true, cs, ss, data, bytes));
            cs += bytes.len() as u32;
            out.push(tcp(r, false, ss, cs, ack, &[]));
        } else {
            out.push(tcp(r, false, ss, cs, data, bytes));
            ss += bytes.len() as u32;
            out.push(tcp(e, true, cs, ss, ack, &[]));
        }
    }
    if server_closes {
        out.push(tcp(r, false, ss, cs, fin, &[]));
        out.push(tcp(e, true, cs, ss + 1, fin, &[]));
        out.push(tcp(r, false, ss + 1, cs + 1, ack, &[]));
    } else {
        out.push(tcp(e, true, cs, ss, fin, &[]));
        out.push(tcp(r, false, ss, cs + 1, fin, &[]));
        out.push(tcp(e, true, cs + 1, ss + 1, ack, &[]));
    }
    out
}

/// `datagram` cut into 8-byte pieces (offset, bytes, more fragments follow) and, with
/// `overlap`, one more piece rewriting bytes 16..32 of it (payload bytes 8..24).
fn pieces(datagram: &[u8], overlap: bool) -> Vec<(usize, Vec<u8>, bool)> {
    let mut pieces: Vec<(usize, Vec<u8>, bool)> = datagram
        .chunks(8)
        .enumerate()
        .map(|(i, c)| (i * 8, c.to_vec(), (i + 1) * 8 < datagram.len()))
        .collect();
    if overlap && datagram.len() > 32 {
        pieces.insert(2, (16, vec![0xee; 16], true));
    }
    pieces
}

/// The IPv4 fragments of a UDP datagram cut into 8-byte pieces (and, with `overlap`, one
/// more fragment rewriting bytes 8..24 of the payload).
fn fragments(e: Ends, id: u16, payload: &[u8], overlap: bool) -> Vec<Vec<u8>> {
    let mut datagram = Vec::new();
    let header =
        etherparse::UdpHeader::with_ipv4_checksum(e.sport, e.dport, &ipv4(e, 0, 0, false), payload)
            .expect("a small datagram");
    datagram.extend_from_slice(&header.to_bytes());
    datagram.extend_from_slice(payload);
    pieces(&datagram, overlap)
        .into_iter()
        .map(|(off, bytes, more)| {
            let mut ip = ipv4(e, id, off, more);
            ip.set_payload_len(bytes.len()).expect("8 bytes fit");
            ip.header_checksum = ip.calc_header_checksum();
            let eth =
                Ethernet2Header { source: MAC_A, destination: MAC_B, ether_type: EtherType::IPV4 };
            let mut out = Vec::with_capacity(14 + 20 + bytes.len());
            eth.write(&mut out).expect("to a vector");
            ip.write_raw(&mut out).expect("to a vector");
            out.extend_from_slice(&bytes);
            out
        })
        .collect()
}

/// 2001:db8::66 → 2001:db8::10: a UDP datagram (5353 → 9999) with identification `id`,
/// cut into 8-byte IPv6 fragments (and, with `overlap`, one more rewriting payload bytes
/// 8..24).
fn ipv6_fragments(id: u32, payload: &[u8], overlap: bool) -> Vec<Vec<u8>> {
    let mut src = [0u8; 16];
    src[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    let mut dst = src;
    src[15] = 0x66;
    dst[15] = 0x10;
    let udp = etherparse::UdpHeader::with_ipv6_checksum(
        5353,
        9999,
        &etherparse::Ipv6Header { source: src, destination: dst, ..Default::default() },
        payload,
    )
    .expect("a small datagram");
    let mut datagram = udp.to_bytes().to_vec();
    datagram.extend_from_slice(payload);
    pieces(&datagram, overlap)
        .into_iter()
        .map(|(off, bytes, more)| {
            let mut f = vec![0u8; 12];
            f[..6].copy_from_slice(&MAC_B);
            f[6..].copy_from_slice(&MAC_A);
            f.extend_from_slice(&[0x86, 0xdd]);
            f.extend_from_slice(&[0x60, 0, 0, 0]);
            f.extend_from_slice(&((8 + bytes.len()) as u16).to_be_bytes());
            f.extend_from_slice(&[44, 64]); // next: fragment header; hop limit
            f.extend_from_slice(&src);
            f.extend_from_slice(&dst);
            f.extend_from_slice(&[17, 0]); // then UDP
            f.extend_from_slice(&(((off / 8) as u16) << 3 | u16::from(more)).to_be_bytes());
            f.extend_from_slice(&id.to_be_bytes());
            f.extend_from_slice(&bytes);
            f
        })
        .collect()
}

fn ipv4(e: Ends, id: u16, offset: usize, more: bool) -> Ipv4Header {
    let mut ip = Ipv4Header::new(0, 64, IpNumber::UDP, e.src, e.dst).expect("an empty header");
    ip.identification = id;
    ip.dont_fragment = false;
    ip.more_fragments = more;
    ip.fragment_offset = IpFragOffset::try_new((offset / 8) as u16).expect("a small offset");
    ip
}

fn dns_query(rng: &mut SplitMix64) -> Vec<u8> {
    let id = rng.below(65536) as u16;
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in ["www", "example", "com"] {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// The frames of `kind`, in order, before timestamps.
fn frames(kind: TrafficKind, count: usize, rng: &mut SplitMix64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    match kind {
        TrafficKind::PortScan => {
            for i in 0..count {
                let port = 1 + (i % 65535) as u16;
                let e = Ends {
                    src: ATTACKER,
                    dst: TARGET,
                    sport: 40000 + (i % 20000) as u16,
                    dport: port,
                };
                let syn = Flags { syn: true, ..Flags::default() };
                out.push(tcp(e, true, 7, 0, syn, &[]));
                if i % 16 == 0 {
                    let synack = Flags { syn: true, ack: true, ..Flags::default() };
                    out.push(tcp(e.reverse(), false, 900, 8, synack, &[]));
                    out.push(tcp(e, true, 8, 0, Flags { rst: true, ..Flags::default() }, &[]));
                } else {
                    let rst = Flags { rst: true, ack: true, ..Flags::default() };
                    out.push(tcp(e.reverse(), false, 0, 8, rst, &[]));
                }
            }
        }
        TrafficKind::HostSweep => {
            for i in 0..count {
                let host = [10, 1, (i / 254 % 256) as u8, (1 + i % 254) as u8];
                out.push(echo(ATTACKER, host, true, 0x7777, i as u16));
                if i % 4 == 0 {
                    out.push(echo(host, ATTACKER, false, 0x7777, i as u16));
                }
            }
        }
        TrafficKind::SshBruteForce => {
            for i in 0..count {
                let e = Ends {
                    src: ATTACKER,
                    dst: TARGET,
                    sport: 30000 + (i % 30000) as u16,
                    dport: 22,
                };
                let talk = vec![
                    (false, b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n".to_vec()),
                    (true, b"SSH-2.0-libssh2_1.10.0\r\n".to_vec()),
                    (true, rng.bytes(96)),
                    (false, rng.bytes(128)),
                    (true, rng.bytes(80)),
                    (false, rng.bytes(48)),
                ];
                out.extend(tcp_session(e, &talk, true));
            }
        }
        TrafficKind::SynFlood => {
            let syn = Flags { syn: true, ..Flags::default() };
            for _ in 0..count {
                let src = [
                    1 + rng.below(223) as u8,
                    rng.below(256) as u8,
                    rng.below(256) as u8,
                    1 + rng.below(254) as u8,
                ];
                let e = Ends { src, dst: TARGET, sport: 1024 + rng.below(64511) as u16, dport: 80 };
                out.push(tcp(e, true, rng.next_u64() as u32, 0, syn, &[]));
            }
        }
        TrafficKind::Fragments => {
            for i in 0..count {
                let src = match i >> 16 {
                    0 => ATTACKER,
                    hi => [198, 18, (hi >> 8) as u8, hi as u8],
                };
                let e = Ends { src, dst: TARGET, sport: 5353, dport: 9999 };
                let payload = rng.bytes(56);
                out.extend(fragments(e, 0x1000 + i as u16, &payload, i % 2 == 1));
            }
        }
        TrafficKind::Ipv6Fragments => {
            for i in 0..count {
                let payload = rng.bytes(56);
                out.extend(ipv6_fragments(i as u32, &payload, i % 2 == 1));
            }
        }
        TrafficKind::BenignMix | TrafficKind::ClockTrouble => {
            for i in 0..count {
                let client = [10, 0, (i / 250 % 256) as u8, (1 + i % 250) as u8];
                let server = [198, 51, 100, 1 + (i % 20) as u8];
                let sport = 49152 + (i % 16000) as u16;
                match i % 4 {
                    0 => {
                        let e = Ends { src: client, dst: server, sport, dport: 53 };
                        let q = dns_query(rng);
                        let mut a = q.clone();
                        a[2] = 0x81;
                        a[3] = 0x80;
                        a[7] = 1;
                        a.extend_from_slice(&[
                            0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 93, 184, 216, 34,
                        ]);
                        out.push(udp(e, true, &q));
                        out.push(udp(e.reverse(), false, &a));
                    }
                    1 => {
                        let e = Ends { src: client, dst: server, sport, dport: 80 };
                        let get = b"GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: curl/8.5.0\r\n\r\n".to_vec();
                        let mut resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 512\r\n\r\n".to_vec();
                        resp.extend(std::iter::repeat_n(b'x', 512));
                        out.extend(tcp_session(e, &[(true, get), (false, resp)], false));
                    }
                    2 => {
                        let e = Ends { src: client, dst: server, sport, dport: 443 };
                        let mut hello = vec![0x16, 0x03, 0x01, 0x00, 0xc0, 0x01];
                        hello.extend(rng.bytes(190));
                        let talk = vec![
                            (true, hello),
                            (false, rng.bytes(1200)),
                            (true, rng.bytes(300)),
                            (false, rng.bytes(900)),
                        ];
                        out.extend(tcp_session(e, &talk, false));
                    }
                    _ => {
                        let e = Ends { src: client, dst: server, sport: 123, dport: 123 };
                        let mut ntp = vec![0x23];
                        ntp.extend(vec![0; 47]);
                        out.push(udp(e, true, &ntp));
                        let mut reply = vec![0x24];
                        reply.extend(rng.bytes(47));
                        out.push(udp(e.reverse(), false, &reply));
                    }
                }
            }
        }
    }
    out
}

/// The packets of `kind`, timestamped.
pub fn generate(kind: TrafficKind, config: &GenConfig) -> Vec<Packet> {
    let mut rng = SplitMix64(config.seed ^ 0x5eed_0000_0000_0000);
    let gap = if config.rate > 0.0 && config.rate.is_finite() { 1e6 / config.rate } else { 1000.0 };
    frames(kind, config.count, &mut rng)
        .into_iter()
        .enumerate()
        .map(|(i, frame)| {
            let ts_us = config.start_us + (i as f64 * gap).round() as i64;
            let ts_us = match kind {
                TrafficKind::ClockTrouble => broken_clock(i, ts_us),
                _ => ts_us,
            };
            Packet { ts_us, frame }
        })
        .collect()
}

/// [`TrafficKind::ClockTrouble`]'s timestamp for packet `i`, due at `ts_us`.
fn broken_clock(i: usize, ts_us: i64) -> i64 {
    const US_PER_SEC: i64 = 1_000_000;
    match i % 40 {
        13 => i as i64 * US_PER_SEC,
        27 => 2_145_830_400 * US_PER_SEC + i as i64,
        33 => ts_us - 3 * 86_400 * US_PER_SEC,
        _ => ts_us,
    }
}

/// Write `packets` as a classic little-endian pcap (Ethernet, microseconds).
pub fn write_pcap(mut w: impl Write, packets: &[Packet]) -> std::io::Result<()> {
    for x in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 262_144, 1] {
        w.write_all(&x.to_le_bytes())?;
    }
    for p in packets {
        let (sec, usec) = (p.ts_us.div_euclid(1_000_000), p.ts_us.rem_euclid(1_000_000));
        let len = p.frame.len() as u32;
        for x in [sec as u32, usec as u32, len, len] {
            w.write_all(&x.to_le_bytes())?;
        }
        w.write_all(&p.frame)?;
    }
    w.flush()
}
