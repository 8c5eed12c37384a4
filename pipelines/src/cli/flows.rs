//! `vigil flows`: captures in, flow records out.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use vigil_ingest::capture::{CaptureLoop, CaptureStats};
use vigil_ingest::flow::Semantics;
use vigil_ingest::packet::DecoderConfig;
use vigil_ingest::{FlowTableConfig, PcapReader};
use vigil_pipelines::extract::{WeirdEvent, extract_capture};
use vigil_pipelines::output::{FlowFormat, ThreadedWriterSink, writer_for};

use super::Outcome;
use super::inputs::CaptureInputs;
use super::progress::bytes_bar;

/// Arguments of `vigil flows`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  vigil flows trace.pcap\n  vigil flows -f parquet -o flows.parquet captures/\n  zcat trace.pcap.gz | vigil flows - -f json\n  vigil flows --interface eth0 -f json -o flows.json"
)]
pub struct FlowsArgs {
    /// Capture files (pcap, pcapng, optionally gzip-compressed), directories of
    /// them (read in name order), or `-` for standard input. Several inputs
    /// share one flow table, as if concatenated.
    #[arg(required_unless_present = "interface", conflicts_with = "interface")]
    inputs: Vec<PathBuf>,
    /// Started as root: the user to switch to once the interface is open.
    #[arg(long, value_name = "USER", requires = "interface", default_value = vigil_pipelines::privileges::DEFAULT_USER)]
    user: String,
    /// Capture live from this interface instead (Ctrl-C stops and flushes).
    #[arg(short, long, value_name = "IFACE")]
    interface: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = FlowFormat::Conn)]
    format: FlowFormat,
    /// Whose flow semantics to follow. `zeek`: one flow per Zeek conn.log row (port-based
    /// originator guess, close/attempt delays, DNS session split, the timeouts below).
    /// `suricata`: one flow per Suricata flow event (first packet's sender is `toserver`,
    /// Suricata's default per-state timeouts instead of the ones below, TCP session reuse,
    /// ICMP unreachables counted in the flow they quote, tunnel depth in the key, tunnelled
    /// packets counted from their inner L2 header in the wire bytes).
    #[arg(long, value_enum, default_value_t = SemanticsArg::Zeek)]
    semantics: SemanticsArg,
    /// Write here instead of standard output (`-` is standard output).
    #[arg(short, long, visible_alias = "out", value_name = "FILE")]
    output: Option<PathBuf>,
    /// TCP idle timeout in seconds (Zeek `tcp_inactivity_timeout`).
    #[arg(long, value_name = "SECS", default_value_t = 300.0)]
    tcp_timeout: f64,
    /// UDP idle timeout in seconds (Zeek `udp_inactivity_timeout`).
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    udp_timeout: f64,
    /// ICMP idle timeout in seconds (Zeek `icmp_inactivity_timeout`).
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    icmp_timeout: f64,
    /// Idle timeout in seconds for other IP protocols.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    other_timeout: f64,
    /// Cut flows that stay active longer than this many seconds (default: never, as Zeek).
    #[arg(long, value_name = "SECS")]
    active_timeout: Option<f64>,
    /// Most flows held in memory; beyond it the least recently used flow is emitted early.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    max_flows: usize,
    /// Do not decapsulate tunnels (GRE, VXLAN, Geneve, Teredo, GTP-U, AYIYA, IP-in-IP).
    #[arg(long)]
    no_decap: bool,
    /// Verify IPv4, TCP, UDP and ICMP checksums as Zeek does without `-C`: a bad IP
    /// header drops the packet, a bad segment adds `C`/`c` to the history and is not
    /// counted. Off by default, since checksum offload leaves bad checksums on every
    /// packet the capturing host sent.
    #[arg(long)]
    verify_checksums: bool,
    /// Sensor name stamped on Parquet rows.
    #[arg(long, default_value = vigil_ingest::flow::DEFAULT_SENSOR)]
    sensor: String,
    /// Also write decoding anomalies (Zeek-style weird events) as JSON lines to this file.
    #[arg(long, value_name = "FILE")]
    weirds: Option<PathBuf>,
    /// Print the run summary as JSON on stderr instead of text.
    #[arg(long)]
    summary_json: bool,
}

/// `--semantics` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SemanticsArg {
    /// Zeek's conn.log.
    Zeek,
    /// Suricata's flow events.
    Suricata,
}

impl From<SemanticsArg> for Semantics {
    fn from(s: SemanticsArg) -> Self {
        match s {
            SemanticsArg::Zeek => Semantics::Zeek,
            SemanticsArg::Suricata => Semantics::Suricata,
        }
    }
}

fn secs_to_us(name: &str, secs: f64) -> anyhow::Result<i64> {
    if !(secs.is_finite() && secs > 0.0) {
        bail!("--{name} must be a positive number of seconds, got {secs}");
    }
    Ok((secs * 1e6).round() as i64)
}

impl FlowsArgs {
    fn table_config(&self) -> anyhow::Result<FlowTableConfig> {
        if self.max_flows == 0 {
            bail!("--max-flows must be at least 1");
        }
        Ok(FlowTableConfig {
            tcp_idle_us: secs_to_us("tcp-timeout", self.tcp_timeout)?,
            udp_idle_us: secs_to_us("udp-timeout", self.udp_timeout)?,
            icmp_idle_us: secs_to_us("icmp-timeout", self.icmp_timeout)?,
            other_idle_us: secs_to_us("other-timeout", self.other_timeout)?,
            active_timeout_us: self
                .active_timeout
                .map(|s| secs_to_us("active-timeout", s))
                .transpose()?,
            max_flows: self.max_flows,
            semantics: self.semantics.into(),
            uid_seed: vigil_ingest::flow::sensor_seed(&self.sensor),
            ..FlowTableConfig::default()
        })
    }

    fn output(&self) -> anyhow::Result<Box<dyn Write + Send>> {
        match self.output.as_deref().filter(|p| *p != Path::new("-")) {
            None => {
                if self.format == FlowFormat::Parquet && io::stdout().is_terminal() {
                    bail!("refusing to write Parquet to a terminal; use -o FILE or a pipe");
                }
                Ok(Box::new(io::stdout()))
            }
            Some(path) => {
                let f = File::create(path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                Ok(Box::new(f))
            }
        }
    }
}

/// Where `vigil flows` reads packets.
enum Input {
    /// A live interface, stopped by Ctrl-C.
    Live(PcapReader),
    /// Capture files (checked readable).
    Files(CaptureInputs),
}

/// Run `vigil flows`.
pub fn run(args: FlowsArgs, quiet: bool) -> anyhow::Result<Outcome> {
    let table = args.table_config()?;
    let decoder = DecoderConfig {
        decapsulate: !args.no_decap,
        verify_checksums: args.verify_checksums,
        ..DecoderConfig::default()
    };
    // The inputs first: nothing is written unless they can be read.
    let input = match &args.interface {
        Some(iface) => Input::Live(PcapReader::live(iface)?),
        None => Input::Files(CaptureInputs::open(&args.inputs)?),
    };
    // Output is formatted and written on a thread of its own, overlapping the reading.
    let mut sink = ThreadedWriterSink::new(writer_for(args.format, args.output()?, &args.sensor)?)?;
    let mut weird_out = match &args.weirds {
        Some(p) => Some(io::BufWriter::new(
            File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => None,
    };
    if matches!(input, Input::Live(_)) {
        // Everything is open: the rest does without root.
        vigil_pipelines::privileges::drop_root(&args.user, None)?;
    }
    let mut weird_error = None;
    let mut on_weird = |w: WeirdEvent| {
        if let Some(out) = weird_out.as_mut()
            && weird_error.is_none()
            && let Err(e) = serde_json::to_writer(&mut *out, &w)
                .and_then(|_| out.write_all(b"\n").map_err(serde_json::Error::io))
        {
            weird_error = Some(e);
        }
    };

    let mut capture = CaptureLoop::new(decoder, table);
    let mut partial = false;
    match input {
        Input::Live(mut reader) => {
            let stop = Arc::new(AtomicBool::new(false));
            let flag = stop.clone();
            ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))
                .context("cannot install the Ctrl-C handler")?;
            reader.stop_when(stop);
            partial |= extract_capture(&mut capture, reader, &mut sink, &mut on_weird, &mut |_| {})
                .is_some();
        }
        Input::Files(captures) => {
            for input in captures {
                let (path, reader) = input?;
                let bar = bytes_bar(reader.total_bytes(), &path.display().to_string(), quiet);
                let failed =
                    extract_capture(&mut capture, reader, &mut sink, &mut on_weird, &mut |b| {
                        bar.set_position(b)
                    });
                bar.finish_and_clear();
                if let Some(e) = failed {
                    tracing::error!("{e}");
                    partial = true;
                }
            }
        }
    }
    let stats = capture.finish(&mut sink);
    sink.finish().context("cannot write the flows")?;
    if let Some(e) = weird_error {
        return Err(e).context("cannot write the weird events");
    }
    if let Some(mut out) = weird_out {
        out.flush().context("cannot write the weird events")?;
    }
    if !quiet {
        print_summary(&stats, args.summary_json)?;
    }
    Ok(if partial { Outcome::Partial } else { Outcome::Complete })
}

fn print_summary(stats: &CaptureStats, json: bool) -> anyhow::Result<()> {
    let mut err = io::stderr().lock();
    if json {
        serde_json::to_writer(&mut err, stats)?;
        writeln!(err)?;
        return Ok(());
    }
    let weirds: u64 = stats.weirds.values().sum();
    writeln!(
        err,
        "vigil: {} packets, {} flows, {} non-IP, {} weird, {} evicted, {} input errors",
        stats.packets,
        stats.flows,
        stats.non_ip_packets,
        weirds,
        stats.table.evicted,
        stats.errors.len()
    )?;
    Ok(())
}
