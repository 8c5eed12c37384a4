//! Helpers shared by the `vigil-pipelines` integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use vigil_pipelines::sql::{QueryLimits, open_store, run_query};

/// The `vigil` binary under test.
pub const VIGIL: &str = env!("CARGO_BIN_EXE_vigil");

/// Run `vigil` with `args` and wait for it.
pub fn run(args: &[&str]) -> Output {
    Command::new(VIGIL).args(args).output().expect("vigil runs")
}

/// A repository path.
pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// A shipped model artifact directory.
pub fn artifact(name: &str) -> PathBuf {
    repo("onnx/artifacts").join(name)
}

/// True (after printing why) when the ONNX Runtime library cannot be found; fails
/// instead when `VIGIL_REQUIRE_DATA=1`.
pub fn no_runtime() -> bool {
    !vigil_models::runtime::available_for_tests()
}

/// Every batch of a Parquet file.
pub fn read(path: &Path) -> Vec<RecordBatch> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    reader.map(Result::unwrap).collect()
}

/// A classic pcap of Ethernet/IPv4/UDP packets: `flows` flows of `per_flow` packets,
/// flow `i` from 10.(i/65536).x.y:1024+… to 192.0.2.1:53, one packet every
/// `gap_us` microseconds of capture time, flows interleaved in order. Built with
/// etherparse's `PacketBuilder`, written by `vigil_ingest::synth::write_pcap`.
pub fn udp_capture(flows: u32, per_flow: u32, gap_us: u64) -> Vec<u8> {
    let mut packets = Vec::with_capacity((flows * per_flow) as usize);
    let mut t = 1_700_000_000_000_000i64;
    for _ in 0..per_flow {
        for i in 0..flows {
            let src = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
            let sport = 1024 + (i % 60_000) as u16;
            let b = etherparse::PacketBuilder::ethernet2([0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11])
                .ipv4(src, [192, 0, 2, 1], 64)
                .udp(sport, 53);
            let payload = [1, 2, 3, 4, 5, 6, 7, 8];
            let mut frame = Vec::with_capacity(b.size(payload.len()));
            b.write(&mut frame, &payload).unwrap();
            packets.push(vigil_ingest::synth::Packet { ts_us: t, frame });
            t += gap_us as i64;
        }
    }
    let mut v = Vec::new();
    vigil_ingest::synth::write_pcap(&mut v, &packets).unwrap();
    v
}

/// The first column of the first row of each query, as i64.
pub fn counts(store: &Path, queries: &[&str]) -> Vec<i64> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let ctx = open_store(store, QueryLimits::default()).await.unwrap();
        let mut out = Vec::new();
        for q in queries {
            let r = run_query(&ctx, q, &QueryLimits::default()).await.unwrap();
            out.push(r.batches[0].column(0).as_primitive::<Int64Type>().value(0));
        }
        out
    })
}

/// Resident memory of process `pid`, in bytes (0 once it is gone).
pub fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap_or("0 kB");
    kb.trim().trim_end_matches(" kB").trim().parse::<u64>().unwrap_or(0) * 1024
}

/// Every stage's counters of a running instance, from its `[http]` listener (`vigil
/// stats --json --url`); empty while it does not answer.
pub fn live_stages(port: u16) -> Vec<serde_json::Value> {
    let out = Command::new(VIGIL)
        .args(["stats", "--json", "--url", &format!("127.0.0.1:{port}")])
        .output()
        .expect("vigil runs");
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

/// The counters of `stage` of a running instance (see [`live_stages`]).
pub fn live_stage(port: u16, stage: &str) -> Option<serde_json::Value> {
    live_stages(port).into_iter().find(|s| s["stage"] == stage)
}
