//! JSON lines with Zeek's field names (as Zeek writes with `LogAscii::use_json`).

use std::io::{self, Write};

use serde_json::{Map, Number, Value};
use vigil_ingest::FlowRecord;

use super::FlowWriter;
use super::conn_fields::{CONN_COLUMNS, ConnValue, conn_values};

/// One JSON object per flow; unset fields are omitted, times are epoch seconds.
pub struct JsonLinesWriter {
    out: io::BufWriter<Box<dyn Write + Send>>,
}

impl JsonLinesWriter {
    /// A writer over `out`.
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Self { out: io::BufWriter::with_capacity(1 << 16, out) }
    }
}

/// The JSON object of one flow.
pub fn flow_json(flow: &FlowRecord) -> Value {
    let mut obj = Map::with_capacity(CONN_COLUMNS.len());
    for ((name, _), v) in CONN_COLUMNS.iter().zip(conn_values(flow)) {
        let json = match v {
            ConnValue::Unset => continue,
            ConnValue::Set(items) if items.is_empty() => continue,
            ConnValue::Str(s) => Value::String(s),
            ConnValue::Count(n) => Value::Number(n.into()),
            ConnValue::Time(us) | ConnValue::Interval(us) => {
                Number::from_f64(us as f64 / 1e6).map_or(Value::Null, Value::Number)
            }
            ConnValue::Set(items) => Value::Array(items.into_iter().map(Value::String).collect()),
        };
        obj.insert((*name).to_string(), json);
    }
    Value::Object(obj)
}

impl FlowWriter for JsonLinesWriter {
    fn write(&mut self, flow: &FlowRecord) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, &flow_json(flow))?;
        self.out.write_all(b"\n")
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::test_flows::sample;

    #[test]
    fn fields_are_typed_and_unset_ones_omitted() {
        let flows = sample();
        let v = flow_json(&flows[0]);
        assert_eq!(v["id.orig_h"], "10.0.0.1");
        assert_eq!(v["id.resp_p"], 80);
        assert_eq!(v["duration"], 1.5);
        assert_eq!(v["vlan"], 7);
        assert!(v.get("service").is_none());
        assert!(v.get("tunnel_parents").is_none());
        let u = flow_json(&flows[1]);
        assert_eq!(u["tunnel_parents"], serde_json::json!(["CAbc", "CXyz"]));
        assert!(u.get("duration").is_none());
    }
}
