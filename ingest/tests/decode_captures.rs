//! Decodes shared captures and checks facts verified with tshark.
//!
//! The data directory comes from `VIGIL_DATA` (default `../shared/data`
//! relative to the crate, or `../../shared/data`, i.e. `/work/shared/data`); tests skip with a
//! printed reason when it is absent. `VIGIL_DUMP=path/to.pcap` prints the
//! decoded layers of one capture (`cargo test --test decode_captures dump -- --nocapture`).

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
        eprintln!("skipping: {} absent", path.display());
        return None;
    }
    Some(decode_file(&path))
}

fn describe(p: &DecodedPacket) -> String {
    let mut s = format!("vlan={:?}/{:?} held={}", p.vlan, p.inner_vlan, p.held_fragment);
    for l in &p.layers {
        s.push_str(&format!(
            " | {:?} {}->{} p{} len{} pl{} {}{:?}",
            l.encap,
            l.src,
            l.dst,
            l.proto,
            l.ip_total_len,
            l.payload_len,
            if l.reassembled { "R " } else { "" },
            l.transport_ports()
        ));
    }
    for w in &p.weirds {
        s.push_str(&format!(" !{}", w.name));
    }
    s
}

trait Ports {
    fn transport_ports(&self) -> Option<(u16, u16)>;
}

impl Ports for vigil_ingest::NetLayer {
    fn transport_ports(&self) -> Option<(u16, u16)> {
        match self.transport {
            vigil_ingest::Transport::Tcp(t) => Some((t.src_port, t.dst_port)),
            vigil_ingest::Transport::Udp(u) => Some((u.src_port, u.dst_port)),
            vigil_ingest::Transport::Sctp(u) => Some((u.src_port, u.dst_port)),
            vigil_ingest::Transport::Icmp(i) | vigil_ingest::Transport::Icmpv6(i) => {
                Some((i.icmp_type as u16, i.code as u16))
            }
            vigil_ingest::Transport::Other => None,
        }
    }
}

#[test]
fn dump() {
    let Some(path) = std::env::var_os("VIGIL_DUMP") else { return };
    for (i, p) in decode_file(std::path::Path::new(&path)).iter().enumerate() {
        println!("{} {}", i + 1, describe(p));
    }
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
}

/// `VIGIL_DUMP_LIST=list.txt VIGIL_DUMP_OUT=out.tsv`: one line per layer of
/// every packet of every listed capture (for comparing with Zeek's conn.log).
#[test]
fn dump_tsv() {
    use std::io::Write;
    let (Some(list), Some(out)) =
        (std::env::var_os("VIGIL_DUMP_LIST"), std::env::var_os("VIGIL_DUMP_OUT"))
    else {
        return;
    };
    let mut w = std::io::BufWriter::new(std::fs::File::create(out).expect("create"));
    for path in std::fs::read_to_string(list).expect("list").lines() {
        for (i, p) in decode_file(std::path::Path::new(path)).iter().enumerate() {
            for (j, l) in p.layers.iter().enumerate() {
                let (sp, dp) = l.transport_ports().unwrap_or((0, 0));
                writeln!(
                    w,
                    "{path}\t{i}\t{j}\t{:?}\t{}\t{sp}\t{}\t{dp}\t{}\t{}\t{}\t{}",
                    l.encap, l.src, l.dst, l.proto, l.ip_total_len, l.payload_len, l.reassembled
                )
                .expect("write");
            }
            if p.held_fragment {
                writeln!(w, "{path}\t{i}\tHELD").expect("write");
            }
        }
    }
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
