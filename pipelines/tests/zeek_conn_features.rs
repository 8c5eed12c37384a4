//! Our flows of `samples/ssh.pcap`, as `zeek_conn` features, against Zeek's own conn.log of the
//! same capture read with the `zeek_conn` mapping: the same features for every connection,
//! `service` aside (Zeek's analyzers fill it; we run none).

use std::collections::HashMap;
use std::path::Path;

use vigil_ingest::FlowTableConfig;
use vigil_ingest::flow_records::{ColumnMapping, FlowCsvReader, FlowFeatureSet, FlowFeatures};
use vigil_ingest::packet::DecoderConfig;
use vigil_pipelines::extract::flows_from_capture;

type Key = (String, Option<u16>, String, Option<u16>, Option<u8>);

fn key(f: &FlowFeatures) -> Key {
    let t = &f.tuple;
    let addr = |a: Option<std::net::IpAddr>| a.map(|a| a.to_string()).unwrap_or_default();
    (addr(t.src_addr), t.src_port, addr(t.dst_addr), t.dst_port, t.proto)
}

/// Numerics compared bit for bit, NaN (Zeek's unset) equal to NaN.
fn same_numeric(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
}

#[test]
fn ssh_pcap_flows_give_zeeks_conn_log_features() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(conn_log) = vigil_ingest::data_dir::shared_data(
        crate_dir,
        "pcap/zeek/baselines/scripts.base.protocols.ssh.basic/conn.log",
    ) else {
        return;
    };
    let mut mapping = ColumnMapping::builtin("zeek_conn").unwrap();
    mapping.ts = None; // btest masks the baseline's timestamps
    mapping.label = None; // IoT-23's column; Zeek's own log has none
    let mut reader = FlowCsvReader::open(&conn_log, &mapping).unwrap();
    let mut zeek: HashMap<Key, FlowFeatures> = HashMap::new();
    while let Some(r) = reader.next_record().unwrap() {
        zeek.insert(key(&r), r);
    }
    assert_eq!(reader.dead_letter_count(), 0);
    assert_eq!(zeek.len(), 25);

    let pcap = crate_dir.join("../samples/ssh.pcap");
    let (flows, err) =
        flows_from_capture(&pcap, DecoderConfig::default(), FlowTableConfig::default());
    assert!(err.is_none(), "{err:?}");
    let ours: Vec<FlowFeatures> =
        flows.iter().map(|f| FlowFeatureSet::ZeekConn.features(f)).collect();
    assert_eq!(ours.len(), zeek.len());
    let service = ours[0].names.categorical.iter().position(|n| n == "service").unwrap();
    for f in &ours {
        let z = zeek.get(&key(f)).unwrap_or_else(|| panic!("no Zeek row for {:?}", key(f)));
        assert_eq!(f.names, z.names);
        assert!(
            same_numeric(&f.numeric, &z.numeric),
            "{:?}: {:?} vs {:?}",
            key(f),
            f.numeric,
            z.numeric
        );
        let mut want = z.categorical.clone();
        want[service] = "-".into();
        assert_eq!(f.categorical, want, "{:?}", key(f));
    }
}
