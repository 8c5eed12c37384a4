//! Differential decoding over every shared capture: each packet is decoded by
//! our decoder and by etherparse (`vigil_ingest::packet::oracle`), and every
//! field where they disagree is classified. The test fails on a disagreement
//! that no rule explains, and on a known class that grows past its bound
//! below, so a new kind of disagreement (or more of an old one) is noticed.
//!
//! The captures are `$VIGIL_DATA/pcap/**/*.{pcap,pcapng,cap}` (also `.gz`);
//! the test skips with a printed reason when they are absent, unless
//! `VIGIL_REQUIRE_DATA=1`. Set `VIGIL_ORACLE_EXAMPLES=N` to print up to N
//! examples per class (capture, packet index, both values).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vigil_ingest::packet::oracle::{self, Class, Field, TheirParse};
use vigil_ingest::{DecodedPacket, Decoder, PcapReader};

/// The known disagreement classes, with the most occurrences allowed over the
/// shared captures (the counts seen when the list was written). The reasons
/// are `oracle`'s constants; where they differ, who is right and why.
///
/// Fixed in our decoder, so absent here: the packet an ICMPv6 error quotes was
/// not walked past an authentication header (nor mobility, HIP, shim6), giving
/// quoted protocol 51 instead of 58 (denial6-5.pcap #14 and 14 more).
const ALLOWED: &[(Field, Class, usize)] = &[
    // etherparse stops at link-layer shims our decoder follows (mixed-vlan-mpls.pcap,
    // pppoe.pcap, discord_mid_flow.pcap, pbb.pcap, vntag*.pcap, cisco-fabric-path.pcap,
    // ajp.pcap, decode-nsh-type*): it finds no IP header, and misses the tags after the shim.
    (Field::Ip, Class::TheirsWrong(oracle::NO_MPLS), 11),
    (Field::Ip, Class::TheirsWrong(oracle::NO_PPPOE), 65),
    (Field::Ip, Class::TheirsWrong(oracle::NO_PBB), 10),
    (Field::Ip, Class::TheirsWrong(oracle::NO_VN_TAG), 9),
    (Field::Ip, Class::TheirsWrong(oracle::NO_FABRICPATH), 76),
    (Field::Ip, Class::TheirsWrong(oracle::NO_NSH), 2),
    (Field::Vlan, Class::TheirsWrong(oracle::NO_PBB), 8),
    (Field::Vlan, Class::TheirsWrong(oracle::NO_VN_TAG), 9),
    (Field::Vlan, Class::TheirsWrong(oracle::NO_FABRICPATH), 12),
    // fuzz-2006-06-26-2594.pcap #668: IPv6 bytes under ethertype 0x0800. Strict etherparse
    // rejects it; the lax slicer decodes IPv6; ours (like Zeek) reports a bad IPv4 version.
    (Field::Ip, Class::TheirsWrong(oracle::LAX_VERSION_NIBBLE), 1),
    // fuzz-2021-10-13.pcap #0: a garbage BSD loopback family, which ours rejects and the
    // oracle does not hand to etherparse (it has no NULL reader).
    (Field::Ip, Class::OutOfScope(oracle::NULL_FAMILY), 1),
    // cisco-fabric-path.pcap #112..: IPv6 with payload length 0 and no hop-by-hop header:
    // ours reads an empty payload, etherparse takes the 6 bytes of Ethernet padding.
    (Field::IpPayloadLen, Class::TheirsWrong(oracle::IPV6_ZERO_PAYLOAD_LEN), 8),
    // fuzz-2006-09-29-28586.pcap #26, reasm_crash_anon.pcapng #86: a TCP data offset past the
    // segment. Ours keeps the ports (a connection, as Zeek) with a truncated_header weird.
    (Field::Transport, Class::OutOfScope(oracle::CUT_TRANSPORT_HEADER), 3),
    // frag-11.pcap #5: over a hundred atomic fragment headers; ours stops at 32.
    (Field::Proto, Class::OutOfScope(oracle::EXT_HEADER_BOUND), 1),
    (Field::IpHeaderLen, Class::OutOfScope(oracle::EXT_HEADER_BOUND), 1),
    (Field::IpPayloadLen, Class::OutOfScope(oracle::EXT_HEADER_BOUND), 1),
    (Field::Transport, Class::OutOfScope(oracle::EXT_HEADER_BOUND), 1),
    // frag-11.pcap #6: the ICMPv6 error quoting that packet; our quote walk stops at 8.
    (Field::QuotedProto, Class::OutOfScope(oracle::QUOTE_EXT_HEADER_BOUND), 1),
    // Fragments (dns_fragmented.pcap, gtp1_gn_normal_incl_fragmentation.pcap,
    // ipv6-malformed-fragments-*, defrag/*): ours reports the reassembled datagram
    // (protocol, lengths, transport) where etherparse reads the last fragment alone;
    // frag-36.pcap #6 has fragments that disagree on the next header.
    (Field::Proto, Class::OutOfScope(oracle::FRAGMENT), 1),
    (Field::IpHeaderLen, Class::OutOfScope(oracle::FRAGMENT), 9),
    (Field::IpPayloadLen, Class::OutOfScope(oracle::FRAGMENT), 98),
    (Field::Transport, Class::OutOfScope(oracle::FRAGMENT), 95),
];

fn captures(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            captures(&p, out);
        } else {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let name = name.strip_suffix(".gz").unwrap_or(name);
            if [".pcap", ".pcapng", ".cap"].iter().any(|ext| name.ends_with(ext)) {
                out.push(p);
            }
        }
    }
}

#[derive(Default)]
struct Tally {
    count: usize,
    /// (capture, packet index, ours, theirs) of the first few.
    examples: Vec<(String, u64, String, String)>,
}

#[test]
fn every_shared_capture_agrees_with_etherparse() {
    let Some(pcap_dir) =
        vigil_ingest::data_dir::shared_data(Path::new(env!("CARGO_MANIFEST_DIR")), "pcap")
    else {
        return;
    };
    let mut files = Vec::new();
    captures(&pcap_dir, &mut files);
    files.sort();
    let keep: usize =
        std::env::var("VIGIL_ORACLE_EXAMPLES").ok().and_then(|v| v.parse().ok()).unwrap_or(1);

    let mut by_class: BTreeMap<(Field, Class), Tally> = BTreeMap::new();
    let (mut opened, mut packets, mut compared, mut agreeing) = (0usize, 0u64, 0u64, 0u64);
    let mut not_compared: BTreeMap<&str, u64> = BTreeMap::new();
    let mut unreadable = Vec::new();
    for path in &files {
        let rel = path.strip_prefix(&pcap_dir).unwrap_or(path).display().to_string();
        let mut reader = match PcapReader::open(path) {
            Ok(r) => r,
            Err(e) => {
                unreadable.push(format!("{rel}: {e}"));
                continue;
            }
        };
        opened += 1;
        let mut decoder = Decoder::default();
        let mut ours = DecodedPacket::default();
        while let Ok(Some(pkt)) = reader.next_packet() {
            packets += 1;
            let raw = pkt.raw();
            decoder.decode_into(&raw, &mut ours);
            let c = oracle::compare(&raw, &ours);
            if c.compared {
                compared += 1;
                agreeing += u64::from(c.agrees());
            } else {
                let why = match (c.theirs, c.ours_ip, c.theirs_ip) {
                    (TheirParse::Unsupported, ..) => "link type etherparse cannot read",
                    (TheirParse::Failed, ..) => "etherparse rejects the link header",
                    (_, false, false) => "no IP header (ARP, LLDP, ...)",
                    (_, true, true) => "fragment held for reassembly",
                    _ => "IP header found by one side only",
                };
                *not_compared.entry(why).or_default() += 1;
            }
            for d in c.disagreements {
                let t = by_class.entry((d.field, d.class)).or_default();
                t.count += 1;
                if t.examples.len() < keep {
                    t.examples.push((rel.clone(), pkt.index, d.ours, d.theirs));
                }
            }
        }
    }

    println!("captures: {} found, {opened} read; packets: {packets}", files.len());
    println!(
        "both decoded IP: {compared}, agreeing on every field: {agreeing} ({:.2}%)",
        100.0 * agreeing as f64 / compared.max(1) as f64
    );
    for (why, n) in &not_compared {
        println!("not compared: {n:>7}  {why}");
    }
    for u in &unreadable {
        println!("unreadable: {u}");
    }
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for ((_, class), t) in &by_class {
        *by_kind.entry(class.kind()).or_default() += t.count;
    }
    println!("disagreements by class: {by_kind:?}");
    println!(
        "{:<15} {:>7}  {:<13} reason / example (capture #index: ours | theirs)",
        "field", "count", "class"
    );
    let mut failures = Vec::new();
    for ((field, class), t) in &by_class {
        println!("{:<15} {:>7}  {:<13} {}", field.name(), t.count, class.kind(), class.reason());
        for (rel, idx, o, th) in &t.examples {
            println!("{:<15} {:>7}  {:<13}   e.g. {rel} #{idx}: {o} | {th}", "", "", "");
        }
        let allowed = ALLOWED.iter().find(|(f, c, _)| f == field && c == class);
        match (class, allowed) {
            (Class::Unexplained, _) | (_, None) => {
                failures.push(format!("{field} [{class}]: {} not in the allowlist", t.count))
            }
            (_, Some((_, _, max))) if t.count > *max => {
                failures.push(format!("{field} [{class}]: {} > {max}", t.count))
            }
            _ => {}
        }
    }
    assert!(
        opened * 10 >= files.len() * 9,
        "only {opened} of {} captures could be read",
        files.len()
    );
    assert!(failures.is_empty(), "unexplained disagreements:\n{}", failures.join("\n"));
}
