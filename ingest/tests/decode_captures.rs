//! Decodes shared captures and checks facts verified with tshark.
//!
//! The data directory comes from `VIGIL_DATA` (default `../shared/data`
//! relative to the crate, or `../../shared/data`, i.e. `/work/shared/data`); tests skip with a
//! printed reason when it is absent. `VIGIL_DUMP=path/to.pcap` prints the
//! decoded layers of one capture (`cargo test --test decode_captures dump -- --nocapture`).

use std::path::PathBuf;

use vigil_ingest::{DecodedPacket, Decoder, PcapReader};

fn data_dir() -> Option<PathBuf> {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = match std::env::var_os("VIGIL_DATA") {
        Some(d) => PathBuf::from(d),
        None => [crate_dir.join("../shared/data"), crate_dir.join("../../shared/data")]
            .into_iter()
            .find(|d| d.join("pcap").is_dir())
            .unwrap_or_else(|| crate_dir.join("../shared/data")),
    };
    if dir.join("pcap").is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: no capture data at {}", dir.display());
        None
    }
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
