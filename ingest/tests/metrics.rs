//! Metrics readers on lines copied from the shared data, on garbage, and on
//! the real ETTh1 file when `VIGIL_DATA` (default `../shared/data`) has it.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use vigil_ingest::metrics::{
    IndexTime, MetricsFormat, MetricsReader, MetricsReaderConfig, ResampleConfig, metrics_to_batch,
    parse_timestamp, resample,
};

/// The header and first three rows of `timeseries/ett/ETTh1.csv`.
const ETTH1_HEAD: &str = "date,HUFL,HULL,MUFL,MULL,LUFL,LULL,OT
2016-07-01 00:00:00,5.827000141143799,2.009000062942505,1.5989999771118164,0.4620000123977661,4.203000068664552,1.3400000333786009,30.5310001373291
2016-07-01 01:00:00,5.692999839782715,2.075999975204468,1.4919999837875366,0.4259999990463257,4.142000198364259,1.371000051498413,27.78700065612793
2016-07-01 02:00:00,5.1570000648498535,1.741000056266785,1.2790000438690186,0.35499998927116394,3.776999950408936,1.218000054359436,27.78700065612793
";

/// The header and first rows of `timeseries/nab/data/realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv`.
const NAB_HEAD: &str = "timestamp,value
2014-02-14 14:30:00,0.132
2014-02-14 14:35:00,0.134
2014-02-14 14:40:00,0.134
";

fn reader(name: &str, text: &str) -> MetricsReader {
    MetricsReader::from_reader(
        name,
        std::io::Cursor::new(text.as_bytes().to_vec()),
        MetricsReaderConfig::default(),
    )
    .unwrap()
}

#[test]
fn etth1_wide_rows() {
    let mut r = reader("ETTh1.csv", ETTH1_HEAD);
    assert_eq!(
        r.wide_series().unwrap(),
        ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"].map(String::from)
    );
    let pts = r.read_all().unwrap();
    assert_eq!(pts.len(), 21);
    assert_eq!(pts[6].series, "OT");
    assert_eq!(pts[6].value, 30.5310001373291);
    assert_eq!(pts[7].ts - pts[0].ts, 3_600_000_000);
    assert_eq!(pts[0].ts, parse_timestamp("2016-07-01T00:00:00Z").unwrap());
    assert_eq!(r.stats().rows, 3);
    assert_eq!(r.stats().dead_letters, 0);
    assert_eq!(metrics_to_batch(&pts).unwrap().num_rows(), 21);
}

#[test]
fn nab_long_rows_take_the_file_stem() {
    let mut r = reader("realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv", NAB_HEAD);
    let pts = r.read_all().unwrap();
    assert_eq!(pts.len(), 3);
    assert!(pts.iter().all(|p| p.series == "ec2_cpu_utilization_24ae8d"));
    assert_eq!(pts[1].ts - pts[0].ts, 300_000_000);
}

#[test]
fn garbage_rows_are_dead_letters_and_reading_goes_on() {
    let text = format!(
        "{NAB_HEAD}not-a-date,1.0\n2014-02-14 14:45:00,abc\n2014-02-14 14:50:00\n2014-02-14 14:55:00,,\n2014-02-14 15:00:00,NaN\n2014-02-14 15:05:00,{}\n2014-02-14 15:10:00,0.2\n",
        "9".repeat(2000) + "x"
    );
    let mut r = reader("nab.csv", &text);
    let pts = r.read_all().unwrap();
    assert_eq!(pts.len(), 4, "three good rows, then 15:10");
    assert_eq!(pts[3].value, 0.2);
    let dead = r.take_dead_letters();
    let lines: Vec<u64> = dead.iter().map(|d| d.line().unwrap()).collect();
    assert_eq!(lines, vec![5, 6, 7, 8, 10]);
    assert!(dead[0].reason.contains("timestamp"), "{}", dead[0].reason);
    assert!(dead[1].reason.contains("not a number"));
    assert!(dead[2].reason.contains("expected 2 fields"));
    assert_eq!(dead[0].raw_lossy(), "not-a-date,1.0");
    assert_eq!(dead[0].source, "nab.csv");
    assert!(dead[4].raw.len() <= vigil_ingest::metrics::MAX_RAW_LEN);
    let s = r.stats();
    assert_eq!((s.rows, s.points, s.missing_values, s.dead_letters), (10, 4, 1, 5));
}

#[test]
fn long_csv_with_series_and_epoch_times() {
    let text = "series,ts,value\ncpu,1467331200,1\nmem,1467331200000,2\n,1467331200,3\n";
    let mut r = reader("m.csv", text);
    let pts = r.read_all().unwrap();
    assert_eq!(pts.len(), 2);
    assert_eq!(pts[0].ts, pts[1].ts);
    assert_eq!(r.stats().dead_letters, 1);
}

#[test]
fn json_lines_long_and_wide() {
    let text = r#"{"ts":"2016-07-01T00:00:00Z","HUFL":5.8,"OT":30.5,"host":"a"}
{"series":"cpu","timestamp":1467331200,"value":0.5}

{"ts":"2016-07-01T01:00:00Z","HUFL":null}
[1,2]
{"ts":"yesterday","OT":1}
{"HUFL":1}
{"ts":"2016-07-01T02:00:00Z","host":"b"}
{broken
"#;
    let mut r = reader("m.jsonl", text);
    let pts = r.read_all().unwrap();
    assert_eq!(pts.len(), 3);
    assert_eq!((pts[2].series.as_str(), pts[2].value), ("cpu", 0.5));
    let dead: Vec<u64> = r.take_dead_letters().iter().map(|d| d.line().unwrap()).collect();
    assert_eq!(dead, vec![5, 6, 7, 8, 9]);
    assert_eq!(r.stats().missing_values, 1);
}

#[test]
fn gzip_is_transparent_and_headerless_index_time_works() {
    // Two rows of exchange_rate.txt (no header, no timestamps).
    let raw = "0.785500,1.611000,0.861698\n0.781800,1.610000,0.861104\n";
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(raw.as_bytes()).unwrap();
    let bytes = gz.finish().unwrap();
    let config = MetricsReaderConfig {
        has_header: false,
        format: MetricsFormat::WideCsv,
        index_time: Some(IndexTime { start_us: 0, step_us: 86_400_000_000 }),
        ..MetricsReaderConfig::default()
    };
    let mut r =
        MetricsReader::from_reader("exchange_rate.txt.gz", std::io::Cursor::new(bytes), config)
            .unwrap();
    let pts = r.read_all().unwrap();
    assert_eq!(pts.len(), 6);
    assert_eq!(r.wide_series().unwrap(), ["col0", "col1", "col2"].map(String::from));
    assert_eq!((pts[3].series.as_str(), pts[3].ts, pts[3].value), ("col0", 86_400_000_000, 0.7818));
}

#[test]
fn missing_timestamp_column_is_a_config_error() {
    let r = MetricsReader::from_reader(
        "x.csv",
        "a,b\n1,2\n".as_bytes(),
        MetricsReaderConfig::default(),
    );
    assert!(r.is_err());
}

fn data_dir() -> Option<PathBuf> {
    vigil_ingest::data_dir::shared_data(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        "timeseries/ett/ETTh1.csv",
    )
    .map(|_| vigil_ingest::data_dir::data_dir(Path::new(env!("CARGO_MANIFEST_DIR"))))
}

#[test]
fn real_etth1_reads_and_resamples_without_gaps() {
    let Some(dir) = data_dir() else { return };
    let mut r =
        MetricsReader::open(dir.join("timeseries/ett/ETTh1.csv"), MetricsReaderConfig::default())
            .unwrap();
    let pts = r.read_all().unwrap();
    assert_eq!(r.stats().dead_letters, 0);
    assert_eq!(r.stats().rows, 17_420);
    assert_eq!(pts.len(), 17_420 * 7);
    let frame = resample(&pts, r.wide_series(), ResampleConfig::default()).unwrap();
    assert_eq!(frame.steps.len(), 17_420);
    assert_eq!(frame.stats.missing, 0);
    assert_eq!(frame.stats.filled, 0);
}

#[test]
fn real_exchange_rate_gz_reads() {
    let Some(dir) = data_dir() else { return };
    let config = MetricsReaderConfig {
        has_header: false,
        index_time: Some(IndexTime { start_us: 631_152_000_000_000, step_us: 86_400_000_000 }),
        ..MetricsReaderConfig::default()
    };
    let mut r =
        MetricsReader::open(dir.join("timeseries/exchange_rate/exchange_rate.txt.gz"), config)
            .unwrap();
    let pts = r.read_all().unwrap();
    assert_eq!(r.stats().rows, 7_588);
    assert_eq!(pts.len(), 7_588 * 8);
    assert_eq!(r.stats().dead_letters, 0);
}
