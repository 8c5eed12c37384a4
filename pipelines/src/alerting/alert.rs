//! One alert, and alerts as rows of the `alerts` table.

use std::sync::Arc;

use arrow_array::builder::{
    Float32Builder, StringBuilder, TimestampMicrosecondBuilder, UInt8Builder, UInt16Builder,
    UInt32Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use sha2::Digest;

use crate::store::Table;

/// What a rule's alerts are signed with (Suricata's `alert` object).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Signature {
    /// Signature id.
    pub sid: u32,
    /// Generator id.
    pub gid: u32,
    /// Revision.
    pub rev: u32,
    /// The signature text.
    pub text: String,
    /// Category.
    pub category: String,
    /// 1 (high) to 3 (low).
    pub severity: u8,
}

/// The model behind an alert.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelRef {
    /// Manifest name (`sql` for SQL rules).
    pub name: String,
    /// Artifact version.
    pub version: Option<String>,
    /// sha256 of `model.onnx`.
    pub sha256: Option<String>,
}

/// One alert, before it becomes a row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Alert {
    /// Event time, µs.
    pub ts: i64,
    /// The rule's signature.
    pub sig: Signature,
    /// The model.
    pub model: ModelRef,
    /// Flow id, for flow alerts.
    pub flow_id: Option<u64>,
    /// Community ID, for flow alerts.
    pub community_id: Option<String>,
    /// Source address.
    pub src_ip: Option<String>,
    /// Source port.
    pub src_port: Option<u16>,
    /// Destination address.
    pub dest_ip: Option<String>,
    /// Destination port.
    pub dest_port: Option<u16>,
    /// IP protocol number.
    pub proto: Option<u8>,
    /// Entity (actions) or series (metrics).
    pub entity: Option<String>,
    /// The verdict's label.
    pub label: Option<String>,
    /// The compared value.
    pub score: f32,
    /// Why, as JSON.
    pub evidence: serde_json::Value,
    /// The row's sensor.
    pub sensor: String,
    /// Matches of the same rule and key held back before this one (for a summary: in
    /// the period it closes).
    pub suppressed: u64,
    /// A summary of matches held back until their thresholding period closed
    /// (`event_type` `alert_summary`), not an alert of its own.
    pub summary: bool,
}

/// The `event_type` of alerts.
pub const ALERT: &str = "alert";
/// The `event_type` of summaries of held-back matches.
pub const ALERT_SUMMARY: &str = "alert_summary";

impl Alert {
    /// A stable id: the same alert (rule, time, flow or key, sensor) gets the same id
    /// in a replay, so that receivers can drop repeats (the webhook's idempotency key).
    pub fn alert_id(&self) -> String {
        let mut h = sha2::Sha256::new();
        h.update(self.sig.gid.to_be_bytes());
        h.update(self.sig.sid.to_be_bytes());
        h.update(self.ts.to_be_bytes());
        h.update(self.flow_id.unwrap_or(u64::MAX).to_be_bytes());
        for s in [&self.src_ip, &self.dest_ip, &self.entity, &self.community_id] {
            h.update(s.as_deref().unwrap_or("").as_bytes());
            h.update([0]);
        }
        h.update(self.sensor.as_bytes());
        if self.summary {
            h.update(ALERT_SUMMARY.as_bytes());
        }
        let d = h.finalize();
        let hex: String = d[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
    }

    /// The summary of a closed thresholding period: the latest match held back, with the
    /// count held and the period in its evidence.
    pub fn summary_of(closed: super::threshold::Closed<Alert>) -> Alert {
        let mut a = closed.last;
        let (start, end) = closed.period;
        let last = std::mem::take(&mut a.evidence);
        a.evidence = serde_json::json!({
            "summary": {
                "suppressed": closed.held,
                "period_start": vigil_ingest::time::rfc3339_us(start),
                "period_end": vigil_ingest::time::rfc3339_us(end),
            },
            "last": last,
        });
        a.suppressed = closed.held;
        a.summary = true;
        a
    }

    /// The address the analyst would act on: the source, else the entity when it is an
    /// address (HSTU over access logs keys clients by address).
    pub fn source_address(&self) -> Option<&str> {
        self.src_ip
            .as_deref()
            .or_else(|| self.entity.as_deref().filter(|e| e.parse::<std::net::IpAddr>().is_ok()))
    }
}

/// Alerts as rows of the `alerts` table.
pub fn alerts_batch(alerts: &[Alert]) -> anyhow::Result<RecordBatch> {
    let n = alerts.len();
    let mut ts = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut event_type = StringBuilder::new();
    let mut flow_id = UInt64Builder::with_capacity(n);
    let mut cid = StringBuilder::new();
    let (mut src, mut dst) = (StringBuilder::new(), StringBuilder::new());
    let (mut sp, mut dp) = (UInt16Builder::with_capacity(n), UInt16Builder::with_capacity(n));
    let mut proto = UInt8Builder::with_capacity(n);
    let mut entity = StringBuilder::new();
    let (mut sig, mut cat) = (StringBuilder::new(), StringBuilder::new());
    let mut sev = UInt8Builder::with_capacity(n);
    let (mut model, mut label) = (StringBuilder::new(), StringBuilder::new());
    let mut score = Float32Builder::with_capacity(n);
    let (mut evidence, mut sensor) = (StringBuilder::new(), StringBuilder::new());
    let mut alert_id = StringBuilder::new();
    let (mut gid, mut sid, mut rev) = (
        UInt32Builder::with_capacity(n),
        UInt32Builder::with_capacity(n),
        UInt32Builder::with_capacity(n),
    );
    let (mut version, mut sha) = (StringBuilder::new(), StringBuilder::new());
    let mut suppressed = UInt64Builder::with_capacity(n);
    for a in alerts {
        ts.append_value(a.ts);
        event_type.append_value(if a.summary { ALERT_SUMMARY } else { ALERT });
        flow_id.append_option(a.flow_id);
        cid.append_option(a.community_id.as_deref());
        src.append_option(a.source_address());
        sp.append_option(a.src_port);
        dst.append_option(a.dest_ip.as_deref());
        dp.append_option(a.dest_port);
        proto.append_option(a.proto);
        entity.append_option(a.entity.as_deref());
        sig.append_value(&a.sig.text);
        cat.append_value(&a.sig.category);
        sev.append_value(a.sig.severity);
        model.append_value(&a.model.name);
        label.append_option(a.label.as_deref());
        score.append_value(a.score);
        evidence.append_value(a.evidence.to_string());
        sensor.append_value(&a.sensor);
        alert_id.append_value(a.alert_id());
        gid.append_value(a.sig.gid);
        sid.append_value(a.sig.sid);
        rev.append_value(a.sig.rev);
        version.append_option(a.model.version.as_deref());
        sha.append_option(a.model.sha256.as_deref());
        suppressed.append_value(a.suppressed);
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(ts.finish()),
        Arc::new(event_type.finish()),
        Arc::new(flow_id.finish()),
        Arc::new(cid.finish()),
        Arc::new(src.finish()),
        Arc::new(sp.finish()),
        Arc::new(dst.finish()),
        Arc::new(dp.finish()),
        Arc::new(proto.finish()),
        Arc::new(entity.finish()),
        Arc::new(sig.finish()),
        Arc::new(cat.finish()),
        Arc::new(sev.finish()),
        Arc::new(model.finish()),
        Arc::new(label.finish()),
        Arc::new(score.finish()),
        Arc::new(evidence.finish()),
        Arc::new(sensor.finish()),
        Arc::new(alert_id.finish()),
        Arc::new(gid.finish()),
        Arc::new(sid.finish()),
        Arc::new(rev.finish()),
        Arc::new(version.finish()),
        Arc::new(sha.finish()),
        Arc::new(suppressed.finish()),
    ];
    Ok(RecordBatch::try_new(Table::Alerts.base_schema(), cols)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let a =
            Alert { ts: 5, sig: Signature { sid: 1, ..Default::default() }, ..Default::default() };
        let b = Alert { ts: 6, ..a.clone() };
        assert_eq!(a.alert_id(), a.clone().alert_id());
        assert_ne!(a.alert_id(), b.alert_id());
        assert_eq!(a.alert_id().len(), 36);
    }

    #[test]
    fn an_address_entity_is_the_source() {
        let a = Alert { entity: Some("192.0.2.1".into()), ..Default::default() };
        assert_eq!(a.source_address(), Some("192.0.2.1"));
        let u = Alert { entity: Some("alice".into()), ..Default::default() };
        assert_eq!(u.source_address(), None);
        let b = alerts_batch(&[a, u]).unwrap();
        assert_eq!(b.num_rows(), 2);
    }
}
