//! Decodes shared captures and checks facts verified with tshark.
//!
//! The data directory comes from `VIGIL_DATA` (default `../shared/data`
//! relative to the crate, or `../../shared/data`, i.e. `/work/shared/data`); tests skip with a
//! printed reason when it is absent. To print the decoded layers of a capture, run
//! the `decode_dump` example (`cargo run -p vigil-ingest --example decode_dump -- FILE`).

use std::path::{Path, PathBuf};

use vigil_ingest::packet::Encapsulation;
use vigil_ingest::{DecodedPacket, Decoder, PcapReader, Transport};

fn data_dir() -> Option<PathBuf> {
    vigil_ingest::data_dir::shared_data(Path::new(env!("CARGO_MANIFEST_DIR")), "pcap")
        .map(|p| p.parent().expect("pcap has a parent").to_path_buf())
}

fn decode_file(path: &std::path::Path) -> Vec<DecodedPacket> {
    let mut reader = PcapReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut decoder = Decoder::default();
    let mut out = Vec::new();
    while let Some(pkt) = reader.next_packet().unwrap_or(None) {
        out.push(decoder.decode(&pkt.raw()));
    }
    out
}

fn trace(rel: &str) -> Option<Vec<DecodedPacket>> {
    let path = data_dir()?.join("pcap").join(rel);
    if !path.exists() {
        assert!(!vigil_ingest::data_dir::data_required(), "{} is absent", path.display());
        eprintln!("skipping: {} absent", path.display());
        return None;
    }
    Some(decode_file(&path))
}

#[test]
fn every_indexed_capture_decodes_without_panic() {
    let Some(dir) = data_dir() else { return };
    let index = std::fs::read_to_string(dir.join("pcap/INDEX.csv")).unwrap_or_default();
    let mut files = 0;
    for line in index.lines().skip(1) {
        let Some(rel) = line.split(',').next() else { continue };
        let path = dir.join("pcap").join(rel);
        let Ok(mut reader) = PcapReader::open(&path) else { continue };
        let mut decoder = Decoder::default();
        while let Ok(Some(pkt)) = reader.next_packet() {
            let _ = decoder.decode(&pkt.raw());
        }
        files += 1;
    }
    eprintln!("decoded {files} captures");
    assert!(files > 100, "only {files} of the indexed captures could be opened");
}

fn addr(s: &str) -> std::net::IpAddr {
    s.parse().expect("address")
}

// Facts below were checked against tshark and Zeek's conn.log for the trace.

#[test]
fn q_in_q_sets_both_vlans() {
    let Some(pkts) = trace("zeek/traces/q-in-q.pcap") else { return };
    let p = &pkts[0];
    assert_eq!((p.vlan, p.inner_vlan), (Some(13), Some(10)));
    let l = p.innermost().expect("layer");
    assert_eq!((l.src, l.dst, l.ip_total_len), (addr("172.19.51.37"), addr("172.19.51.63"), 46));
    assert!(matches!(l.transport, Transport::Udp(u) if u.src_port == 47808));
}

#[test]
fn erspan_type_1_and_3() {
    let Some(pkts) = trace("zeek/traces/erspanI.pcap") else { return };
    let p = &pkts[0];
    assert_eq!(p.layers.len(), 2);
    assert_eq!(p.layers[1].encap, Encapsulation::Gre);
    assert_eq!((p.layers[1].src, p.layers[1].dst), (addr("172.16.133.2"), addr("172.217.11.78")));
    assert_eq!(p.layers[1].ip_total_len, 84);
    let Some(pkts) = trace("zeek/traces/erspanIII.pcap") else { return };
    assert_eq!(pkts[0].layers.len(), 2);
    assert_eq!(pkts[0].layers[1].src, addr("192.168.15.47"));
}

#[test]
fn wireless_link_types() {
    for t in ["zeek/traces/radiotap.pcap", "zeek/traces/wlanmon.pcap"] {
        let Some(pkts) = trace(t) else { return };
        let l = pkts[0].innermost().expect("layer");
        assert_eq!((l.src, l.dst), (addr("172.17.156.76"), addr("208.67.220.220")));
        assert!(matches!(l.transport, Transport::Udp(u) if u.dst_port == 53));
    }
}

#[test]
fn nflog_bad_tlv_len_is_a_weird() {
    let Some(pkts) = trace("zeek/traces/nflog-bad-tlv-len.pcap") else { return };
    assert!(pkts[0].weirds.iter().any(|w| w.name == "nflog_bad_tlv_len"));
}

#[test]
fn teredo_on_standard_and_other_ports() {
    let Some(pkts) = trace("zeek/traces/tunnels/Teredo.pcap") else { return };
    // Frame 6: router solicitation to UDP 3544.
    assert_eq!(pkts[5].layers.len(), 2);
    assert_eq!(pkts[5].layers[1].encap, Encapsulation::Teredo);
    // Frame 30: bubble to a peer on port 32900, told by the 2001:0::/32 source.
    assert_eq!(pkts[29].layers.len(), 2);
    assert_eq!(pkts[29].layers[1].src, addr("2001:0:4137:9e50:8000:f12a:b9c8:2815"));
}

#[test]
fn gtp_with_fragmented_outer_header() {
    let Some(pkts) = trace("zeek/traces/tunnels/gtp/gtp1_gn_normal_incl_fragmentation.pcap") else {
        return;
    };
    let l = &pkts[0].layers;
    assert_eq!(l.len(), 2);
    assert_eq!((l[1].encap, l[1].src), (Encapsulation::GtpU, addr("10.131.47.185")));
    // Frame 4 is a held first fragment; frame 5 completes the outer datagram.
    assert!(pkts[3].held_fragment && pkts[3].layers.is_empty());
    let outer = &pkts[4].layers[0];
    assert!(outer.reassembled);
    assert_eq!(outer.ip_total_len, 1516);
    assert_eq!(pkts[4].layers.len(), 2);
}

#[test]
fn max_size_inner_datagram_through_gre_ppp() {
    let rel = "suricata-verify/tests/defrag/bug-6942-6887-defrag-eth-ip-gre-ppp-ip-udp-data/eth-ip-gre-ppp-max-ip-packet.pcap";
    let Some(pkts) = trace(rel) else { return };
    assert!(pkts[..1023].iter().all(|p| p.held_fragment && p.layers.len() == 1));
    let last = pkts.last().expect("packets");
    assert_eq!(last.layers.len(), 2);
    assert!(last.layers[1].reassembled);
    assert_eq!(last.layers[1].ip_total_len, 65535);
}

#[test]
fn pppoe_session_carries_ipv6() {
    let Some(pkts) = trace("zeek/traces/pppoe.pcap") else { return };
    assert!(pkts[..3].iter().all(|p| p.layers.is_empty())); // discovery frames
    assert!(
        pkts.iter().any(|p| p.innermost().is_some_and(|l| l.src == addr("fe80::c801:eff:fe88:8")))
    );
}
