//! Helpers shared by the `vigil-pipelines` integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

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
/// `gap_us` microseconds of capture time, flows interleaved in order.
pub fn udp_capture(flows: u32, per_flow: u32, gap_us: u64) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [0xa1b2c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    let mut t = 1_700_000_000_000_000u64;
    for round in 0..per_flow {
        for i in 0..flows {
            let mut f = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00];
            let src = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
            f.extend_from_slice(&[0x45, 0, 0, 36, 0, round as u8, 0x40, 0, 64, 17, 0, 0]);
            f.extend_from_slice(&src);
            f.extend_from_slice(&[192, 0, 2, 1]);
            f.extend_from_slice(&(1024 + (i % 60_000) as u16).to_be_bytes());
            f.extend_from_slice(&53u16.to_be_bytes());
            f.extend_from_slice(&[0, 16, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
            let (sec, usec) = ((t / 1_000_000) as u32, (t % 1_000_000) as u32);
            for x in [sec, usec, f.len() as u32, f.len() as u32] {
                v.extend_from_slice(&x.to_le_bytes());
            }
            v.extend_from_slice(&f);
            t += gap_us;
        }
    }
    v
}
