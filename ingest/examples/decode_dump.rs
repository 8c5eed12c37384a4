//! Print the decoded layers of every packet of some captures: one line per packet,
//! or with `--tsv` one tab-separated line per layer (for comparing with Zeek's
//! conn.log or tshark).
//!
//! ```sh
//! cargo run -p vigil-ingest --example decode_dump -- trace.pcap
//! cargo run -p vigil-ingest --example decode_dump -- --tsv a.pcap b.pcapng > layers.tsv
//! ```

use std::io::{BufWriter, Write};

use vigil_ingest::{DecodedPacket, Decoder, NetLayer, PcapReader, Transport};

fn ports(l: &NetLayer) -> Option<(u16, u16)> {
    match l.transport {
        Transport::Tcp(t) => Some((t.src_port, t.dst_port)),
        Transport::Udp(u) => Some((u.src_port, u.dst_port)),
        Transport::Sctp(u) => Some((u.src_port, u.dst_port)),
        Transport::Icmp(i) | Transport::Icmpv6(i) => {
            Some((u16::from(i.icmp_type), u16::from(i.code)))
        }
        Transport::Other => None,
    }
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
            ports(l)
        ));
    }
    for w in &p.weirds {
        s.push_str(&format!(" !{}", w.name));
    }
    s
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let tsv = args.first().is_some_and(|a| a == "--tsv");
    if tsv {
        args.remove(0);
    }
    if args.is_empty() {
        eprintln!("usage: decode_dump [--tsv] CAPTURE...");
        std::process::exit(2);
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    for path in &args {
        let mut reader = PcapReader::open(path)?;
        let mut decoder = Decoder::default();
        let mut i = 0u64;
        while let Some(pkt) = reader.next_packet()? {
            i += 1;
            let p = decoder.decode(&pkt.raw());
            if !tsv {
                writeln!(out, "{i} {}", describe(&p))?;
                continue;
            }
            for (j, l) in p.layers.iter().enumerate() {
                let (sp, dp) = ports(l).unwrap_or((0, 0));
                writeln!(
                    out,
                    "{path}\t{i}\t{j}\t{:?}\t{}\t{sp}\t{}\t{dp}\t{}\t{}\t{}\t{}",
                    l.encap, l.src, l.dst, l.proto, l.ip_total_len, l.payload_len, l.reassembled
                )?;
            }
            if p.held_fragment {
                writeln!(out, "{path}\t{i}\tHELD")?;
            }
        }
    }
    Ok(())
}
