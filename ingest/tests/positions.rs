//! Dead letters name 1-based lines in every line reader, and a short or long row
//! shifts no later line number.

use vigil_ingest::actions::{ActionColumns, ActionLogFormat, ActionReader};
use vigil_ingest::metrics::{MetricsReader, MetricsReaderConfig};

fn lines(dead: &[vigil_ingest::DeadLetter]) -> Vec<u64> {
    dead.iter().map(|d| d.line().expect("a line position")).collect()
}

#[test]
fn metrics_csv_rows_keep_their_lines() {
    let text = "timestamp,value\n2020-01-01 00:00:00,1\n2020-01-01 00:01:00\nbad,2\n2020-01-01 00:03:00,3,4\nnope,5\n";
    let mut r =
        MetricsReader::from_reader("m.csv", text.as_bytes(), MetricsReaderConfig::default())
            .unwrap();
    let points = r.read_all().unwrap();
    assert_eq!(points.len(), 1);
    assert_eq!(lines(&r.take_dead_letters()), vec![3, 4, 5, 6]);
}

#[test]
fn action_csv_rows_keep_their_lines() {
    let text = "entity,ts,action,object\nbob,2020-01-01T00:00:00Z,login,vpn\nbob\nbob,notatime,login,vpn\nbob,2020-01-01T00:00:01Z,login,vpn,extra\nbob,x,y,z\n";
    let mut r = ActionReader::from_reader(
        "a.csv",
        text.as_bytes(),
        ActionLogFormat::Csv(ActionColumns::default()),
    )
    .unwrap();
    while r.next_event().unwrap().is_some() {}
    let dead = r.take_dead_letters();
    // The action reader takes extra columns (line 5 is an event).
    assert_eq!(lines(&dead), vec![3, 4, 6], "{dead:?}");
    assert_eq!(dead[0].raw_lossy(), "bob");
}
