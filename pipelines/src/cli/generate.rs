//! `vigil gen`: synthetic captures (attacks and a benign background) built with
//! etherparse, for tests, benchmarks and users' own checks; see
//! [`vigil_ingest::synth`].

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use vigil_ingest::synth::{GenConfig, TrafficKind, generate, write_pcap};

use super::Outcome;

/// Arguments of `vigil gen`.
#[derive(Debug, Args)]
#[command(after_help = "Kinds (COUNT is of what each makes):\n  \
port-scan        SYNs to COUNT ports of one host (closed ports answer RST-ACK, 1 in 16 is open)\n  \
host-sweep       ICMP echo to COUNT hosts (1 in 4 answers)\n  \
ssh-brute-force  COUNT SSH connections to one server, each a short full session\n  \
syn-flood        COUNT SYNs to one web server from random sources, unanswered\n  \
fragments        COUNT UDP datagrams in 8-byte IPv4 fragments, every other one overlapping\n  \
ipv6-fragments   the same over IPv6 (one fragment-header identification each)\n  \
benign-mix       COUNT sessions: DNS, HTTP, TLS-like and NTP in turn\n  \
clock-trouble    the benign mix, 1 packet in 40 each stamped 1970, 2037 and 3 days back\n\n\
Examples:\n  vigil gen port-scan --count 1000 --out scan.pcap\n  \
vigil gen syn-flood --count 100000 --rate 50000 --out - | vigil flows -")]
pub struct GenArgs {
    /// What to generate (see below).
    #[arg(value_name = "KIND")]
    kind: TrafficKind,
    /// The pcap file to write (`-` for standard output).
    #[arg(short, long, visible_alias = "output", value_name = "FILE.pcap")]
    out: PathBuf,
    /// How many units of the kind (ports, hosts, connections, SYNs, datagrams, sessions).
    #[arg(long, default_value_t = 100, value_name = "N")]
    count: usize,
    /// Packets per second of capture time.
    #[arg(long, default_value_t = 1000.0, value_name = "PPS")]
    rate: f64,
    /// The random seed (the same seed gives the same capture).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The first packet's time, seconds since the epoch.
    #[arg(long, default_value_t = 1_700_000_000, value_name = "SECS")]
    start: i64,
}

/// Run `vigil gen`.
pub fn run(args: GenArgs, quiet: bool) -> anyhow::Result<Outcome> {
    anyhow::ensure!(args.rate > 0.0 && args.rate.is_finite(), "--rate must be a positive number");
    let config = GenConfig {
        count: args.count,
        rate: args.rate,
        seed: args.seed,
        start_us: args.start * 1_000_000,
    };
    let packets = generate(args.kind, &config);
    if args.out.as_os_str() == "-" {
        write_pcap(BufWriter::new(std::io::stdout().lock()), &packets)?;
    } else {
        // Written whole under a temporary name, then renamed.
        let tmp = args.out.with_extension("pcap.tmp");
        let file = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut w = BufWriter::new(file);
        write_pcap(&mut w, &packets).with_context(|| format!("cannot write {}", tmp.display()))?;
        w.flush()?;
        std::fs::rename(&tmp, &args.out)
            .with_context(|| format!("cannot write {}", args.out.display()))?;
    }
    if !quiet {
        eprintln!(
            "vigil gen: {} packets ({} × {:?}) to {}",
            packets.len(),
            args.count,
            args.kind,
            args.out.display()
        );
    }
    Ok(Outcome::Complete)
}
