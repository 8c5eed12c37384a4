//! FlowTransformer windows over the real `cicids2017-improved-sampled` CSVs
//! (`VIGIL_DATA`, default `../shared/data` from the repository root); skipped
//! with a printed reason when the data is not there.

use std::path::PathBuf;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use vigil_ingest::flow_records::{ColumnMapping, FlowCsvReader, FlowFeatures};
use vigil_tokenizers::flow_window::{
    FlowWindowConfig, FlowWindowTokenizer, GroupBy, PreprocessConfig, Preprocessor, columns,
    flow_window_schema, windows_to_record_batch,
};

fn cic_dir() -> Option<PathBuf> {
    let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    vigil_ingest::data_dir::shared_data(crate_dir, "flows/cicids2017-improved-sampled")
}

#[test]
fn cicids2017_improved_sampled_end_to_end() {
    let Some(dir) = cic_dir() else { return };
    let mapping = ColumnMapping::builtin("cicflowmeter").expect("embedded mapping");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("data dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "csv")
                && p.file_name().is_none_or(|n| n != "data_header_reference.csv")
        })
        .collect();
    paths.sort();
    let mut flows: Vec<FlowFeatures> = Vec::new();
    let mut dead = 0;
    for p in &paths {
        let mut r = FlowCsvReader::open(p, &mapping).expect("header matches the mapping");
        while let Some(f) = r.next_record().expect("readable") {
            flows.push(f);
        }
        dead += r.dead_letter_count();
        for d in r.dead_letters().iter().take(3) {
            eprintln!("dead letter {}:{}: {}", d.source, d.line().unwrap(), d.reason);
        }
    }
    eprintln!("{} files, {} flows, {} dead letters", paths.len(), flows.len(), dead);
    // 16 files, 17 636 lines, 16 of them headers (PROVENANCE.md: <= 2,500 rows per class).
    assert_eq!(flows.len() as u64 + dead, 17_620);
    assert_eq!(dead, 0, "every row of the sample reads");
    assert!(flows.iter().all(|f| f.tuple.ts_us.is_some() && f.tuple.src_addr.is_some()));
    flows.sort_by_key(|f| f.tuple.ts_us);

    // Fit on the first 80 % (by time), score everything.
    let cut = flows.len() * 8 / 10;
    let pre = Preprocessor::fit(PreprocessConfig::default(), &flows[..cut]).expect("fit");
    let pre = Preprocessor::from_json(&pre.to_json()).expect("round trip");
    assert_eq!(pre.numeric.len(), mapping.numeric.len());
    let dport = pre.categorical.iter().find(|c| c.name == "Dst Port").expect("Dst Port");
    assert_eq!(dport.levels.len(), 32);

    let config = FlowWindowConfig { group_by: GroupBy::SrcAddr, ..FlowWindowConfig::default() };
    let mut tok = FlowWindowTokenizer::new(pre, config).expect("config");
    let windows: Vec<_> = flows.iter().map(|f| tok.push(f).expect("same features")).collect();
    for w in &windows {
        assert_eq!(w.len(), 8);
        assert!(w.numeric.iter().all(|x| x.is_finite() && *x >= 0.0));
    }
    // Training rows are within [0, 1]; later rows may exceed 1 above the fitted max.
    let batch = windows_to_record_batch(&windows[..1000]).expect("batch");
    assert_eq!(batch.schema(), flow_window_schema());
    assert_eq!(batch.num_rows(), 1000);
    let cats = batch.column_by_name(columns::CATEGORICAL).expect("column").as_list::<i32>();
    let last = cats.value(0);
    let inner = last.as_list::<i32>();
    assert_eq!(inner.len(), 8);
    assert_eq!(inner.value(7).as_primitive::<UInt32Type>().len(), mapping.categorical.len());
    eprintln!("windows: {:?}", tok.stats());
}
