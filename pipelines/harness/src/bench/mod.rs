//! End-to-end throughput of capture → flows, side by side with peer tools; the
//! streaming runtime per source type ([`pipeline`]); our SQL against DuckDB ([`sql`]).
//!
//! Our run is timed in-process (best of N); each peer runs as a child process
//! on the same file, output discarded. Both wall-clock and CPU time (user +
//! system, from `getrusage`) are recorded; the CPU figure is the fair "one
//! core" comparison since every contender here is single-threaded.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;
use vigil_ingest::capture::CaptureLoop;
use vigil_ingest::{FlowRecord, PcapReader};

pub mod caps;
pub mod kafka;
pub mod pipeline;
pub mod pipeline_inputs;
mod score;
mod sessions;
pub mod sql;

pub use score::peer::python as peer_python;
pub use score::{Budget, Latency, PeerInfo, ScoreOptions, ScoreReport, ScoreTiming, bench_score};
pub use sessions::{SessionsTiming, bench_sessions};

/// One contender's timing on the capture.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    /// Tool name.
    pub tool: String,
    /// The command line run (empty for ours).
    pub command: String,
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// CPU seconds (user + system).
    pub cpu_s: f64,
}

/// Our figures on the capture.
#[derive(Debug, Clone, Serialize)]
pub struct FlowBench {
    /// Packets read.
    pub packets: u64,
    /// Flows emitted.
    pub flows: u64,
    /// Our best run.
    pub ours: Timing,
    /// Peer runs (only the ones found on `PATH`).
    pub peers: Vec<Timing>,
    /// Peers that could not be run, with the reason.
    pub skipped_peers: Vec<String>,
}

impl FlowBench {
    /// Packets per wall-clock second.
    pub fn packets_per_s(&self) -> f64 {
        self.packets as f64 / self.ours.wall_s
    }

    /// Flows per wall-clock second.
    pub fn flows_per_s(&self) -> f64 {
        self.flows as f64 / self.ours.wall_s
    }
}

/// CPU seconds used so far by `who` (`RUSAGE_SELF` or `RUSAGE_CHILDREN`).
pub(crate) fn cpu_seconds(who: libc::c_int) -> f64 {
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes the struct we hand it.
    let rc = unsafe { libc::getrusage(who, &mut ru) };
    assert_eq!(rc, 0, "getrusage: {}", std::io::Error::last_os_error());
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Time our extraction `repeat` times and keep the fastest run.
pub fn bench_ours(path: &Path, repeat: usize) -> anyhow::Result<(u64, u64, Timing)> {
    let mut best: Option<(u64, u64, Timing)> = None;
    for _ in 0..repeat.max(1) {
        let reader = PcapReader::open(path)?;
        let cpu0 = cpu_seconds(libc::RUSAGE_SELF);
        let t0 = Instant::now();
        let mut capture = CaptureLoop::default();
        let mut sink = |_f: FlowRecord| {};
        if let Some(e) = capture.read_capture(reader, &mut sink) {
            anyhow::bail!("{e}");
        }
        let stats = capture.finish(&mut sink);
        let timing = Timing {
            tool: "vigil".into(),
            command: String::new(),
            wall_s: t0.elapsed().as_secs_f64(),
            cpu_s: cpu_seconds(libc::RUSAGE_SELF) - cpu0,
        };
        if best.as_ref().is_none_or(|b| timing.wall_s < b.2.wall_s) {
            best = Some((stats.packets, stats.flows, timing));
        }
    }
    Ok(best.expect("at least one run"))
}

/// netFound tokenizing throughput against the flow-only path on the same capture.
#[derive(Debug, Clone, Serialize)]
pub struct NetfoundBench {
    /// Packets read.
    pub packets: u64,
    /// Flows tokenized.
    pub flows: u64,
    /// Tokens produced (CLS included).
    pub tokens: u64,
    /// Best wall-clock seconds of capture → flows → tokens.
    pub tokenize_s: f64,
    /// Best wall-clock seconds of capture → flows alone.
    pub flows_only_s: f64,
}

impl std::fmt::Display for NetfoundBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pps = self.packets as f64 / self.tokenize_s;
        writeln!(
            f,
            "netfound: {} packets, {} flows, {} tokens in {:.3} s: {:.0} packets/s, {:.0} tokens/s",
            self.packets,
            self.flows,
            self.tokens,
            self.tokenize_s,
            pps,
            self.tokens as f64 / self.tokenize_s
        )?;
        writeln!(
            f,
            "flows only: {:.3} s: {:.0} packets/s; with netFound tokens the path runs at {:.0}% of the flow-only rate",
            self.flows_only_s,
            self.packets as f64 / self.flows_only_s,
            100.0 * self.flows_only_s / self.tokenize_s
        )
    }
}

/// Time capture → flows → netFound tokens against capture → flows, best of `repeat`.
pub fn bench_netfound(path: &Path, repeat: usize) -> anyhow::Result<NetfoundBench> {
    let (_, _, flows_only) = bench_ours(path, repeat)?;
    let mut best: Option<NetfoundBench> = None;
    for _ in 0..repeat.max(1) {
        let reader = PcapReader::open(path)?;
        let t0 = Instant::now();
        let mut tokens = 0u64;
        let run = vigil_pipelines::tokenize::netfound_from_capture(
            reader,
            Default::default(),
            Default::default(),
            vigil_tokenizers::NetfoundConfig::default(),
            &mut |t| tokens += t.bursts.iter().map(|b| b.tokens.len() as u64).sum::<u64>(),
            &mut |_: FlowRecord| {},
        )?;
        let secs = t0.elapsed().as_secs_f64();
        if best.as_ref().is_none_or(|b| secs < b.tokenize_s) {
            best = Some(NetfoundBench {
                packets: run.packets,
                flows: run.token_rows,
                tokens,
                tokenize_s: secs,
                flows_only_s: flows_only.wall_s,
            });
        }
    }
    Ok(best.expect("at least one run"))
}

/// The peer command lines for `file`: ndpiReader, softflowd, tshark.
pub fn peer_commands(file: &Path) -> Vec<(&'static str, Vec<String>)> {
    let f = file.display().to_string();
    // softflowd 1.1.0 hangs in accept() after EOF when its control socket path
    // is longer than about 12 bytes, so these names stay in /tmp and stay short.
    let sf = |n: &str| format!("/tmp/v.{n}");
    vec![
        ("ndpiReader", vec!["-i".into(), f.clone(), "-q".into(), "-n".into(), "1".into()]),
        (
            "softflowd",
            vec![
                "-r".into(),
                f.clone(),
                "-d".into(),
                "-m".into(),
                "1000000".into(),
                "-n".into(),
                "127.0.0.1:9".into(),
                "-p".into(),
                sf("pid"),
                "-c".into(),
                sf("ctl"),
            ],
        ),
        ("tshark", vec!["-q".into(), "-z".into(), "conv,ip".into(), "-r".into(), f]),
    ]
}

/// Run one peer to completion, best of `repeat`, output discarded.
pub fn bench_peer(tool: &str, args: &[String], repeat: usize) -> Result<Timing, String> {
    let mut best: Option<Timing> = None;
    for _ in 0..repeat.max(1) {
        let cpu0 = cpu_seconds(libc::RUSAGE_CHILDREN);
        let t0 = Instant::now();
        let status = Command::new(tool)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("{tool}: {e}"))?;
        let wall = t0.elapsed();
        if !status.success() {
            return Err(format!("{tool}: exited with {status}"));
        }
        let t = Timing {
            tool: tool.into(),
            command: format!("{tool} {}", args.join(" ")),
            wall_s: wall.max(Duration::from_micros(1)).as_secs_f64(),
            cpu_s: cpu_seconds(libc::RUSAGE_CHILDREN) - cpu0,
        };
        if best.as_ref().is_none_or(|b| t.wall_s < b.wall_s) {
            best = Some(t);
        }
    }
    Ok(best.expect("at least one run"))
}

/// Our run plus each peer that is installed.
pub fn bench_flows(path: &Path, repeat: usize, peers: bool) -> anyhow::Result<FlowBench> {
    let (packets, flows, ours) = bench_ours(path, repeat)?;
    let mut bench =
        FlowBench { packets, flows, ours, peers: Vec::new(), skipped_peers: Vec::new() };
    if peers {
        for (tool, args) in peer_commands(path) {
            match bench_peer(tool, &args, repeat) {
                Ok(t) => bench.peers.push(t),
                Err(why) => bench.skipped_peers.push(why),
            }
        }
    }
    Ok(bench)
}

impl std::fmt::Display for FlowBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "vigil: {} packets, {} flows in {:.3} s wall, {:.3} s CPU: {:.0} packets/s, {:.0} flows/s",
            self.packets,
            self.flows,
            self.ours.wall_s,
            self.ours.cpu_s,
            self.packets_per_s(),
            self.flows_per_s()
        )?;
        if self.peers.is_empty() {
            return Ok(());
        }
        writeln!(
            f,
            "\n{:<12} {:>9} {:>9} {:>12} {:>14}",
            "tool", "wall s", "cpu s", "packets/s", "vigil speedup"
        )?;
        for t in std::iter::once(&self.ours).chain(&self.peers) {
            writeln!(
                f,
                "{:<12} {:>9.3} {:>9.3} {:>12.0} {:>13.2}x",
                t.tool,
                t.wall_s,
                t.cpu_s,
                self.packets as f64 / t.wall_s,
                t.wall_s / self.ours.wall_s
            )?;
        }
        for s in &self.skipped_peers {
            writeln!(f, "skipped: {s}")?;
        }
        Ok(())
    }
}
