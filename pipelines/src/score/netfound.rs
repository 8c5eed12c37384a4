//! netFound verdicts: one flow's bursts in, its traffic class, malicious
//! probability and embedding out.
//!
//! The graph takes `tokens` int64 [B, bursts, tokens_per_burst] (each burst cut
//! or zero-padded, missing bursts all zero), `directions` int64 [B, bursts],
//! `bytes`, `counts` and `iats` float32 [B, bursts] (raw tokenizer values) and
//! `protocol` int64 [B]. It gives `probs` [B, classes], and where trained
//! `malicious` [B] and `embedding` [B, D]. The verdict struct has `label` and
//! `score` (the top class and its probability) and `probs`, then `malicious`
//! and `embedding` when the model has those outputs.

use std::sync::Arc;

use anyhow::{Context, ensure};
use arrow_array::builder::{Float32Builder, ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, Float32Array, RecordBatch, StructArray};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use vigil_models::ndarray::{ArrayD, IxDyn};
use vigil_models::{InputTensor, Manifest, Model};
use vigil_tokenizers::{FlowTokens, IpNetwork, NetfoundConfig, netfound_schema, to_record_batch};

/// The fixed burst grid a netFound graph reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetfoundShape {
    /// Bursts per flow (later bursts are dropped, missing ones are zero).
    pub max_bursts: usize,
    /// Tokens per burst, CLS included (longer bursts are cut).
    pub tokens_per_burst: usize,
}

impl NetfoundShape {
    /// The shape from the manifest: `preprocessing.max_bursts` and
    /// `preprocessing.tokens_per_burst`, else the fixed dimensions of the `tokens` input.
    pub fn from_manifest(m: &Manifest) -> anyhow::Result<NetfoundShape> {
        let fixed =
            |axis: usize| m.input("tokens").and_then(|t| t.shape.get(axis)).and_then(|d| d.size());
        let from_prep = |key: &str| m.preprocessing[key].as_u64().map(|v| v as usize);
        let max_bursts = from_prep("max_bursts").or_else(|| fixed(1)).with_context(|| {
            format!("model {}: no preprocessing.max_bursts and no fixed burst axis", m.name)
        })?;
        let tokens_per_burst =
            from_prep("tokens_per_burst").or_else(|| fixed(2)).with_context(|| {
                format!(
                    "model {}: no preprocessing.tokens_per_burst and no fixed token axis",
                    m.name
                )
            })?;
        ensure!(max_bursts > 0 && tokens_per_burst > 0, "model {}: empty burst grid", m.name);
        Ok(NetfoundShape { max_bursts, tokens_per_burst })
    }
}

/// The tokenizer settings the model was trained with (`preprocessing.tokenizer`),
/// on top of the defaults, which are those of `vigil tokenize netfound`.
pub fn netfound_tokenizer_config(
    m: &Manifest,
    internal: &[IpNetwork],
) -> anyhow::Result<NetfoundConfig> {
    let mut c = NetfoundConfig { internal_networks: internal.to_vec(), ..Default::default() };
    let t = &m.preprocessing["tokenizer"];
    if let Some(ms) = t["burst_gap_ms"].as_f64() {
        c.burst_gap_us = (ms * 1000.0).round() as i64;
    }
    if let Some(n) = t["max_packets_per_burst"].as_u64() {
        c.max_packets_per_burst = n as usize;
    }
    if let Some(n) = t["max_bursts"].as_u64().or(m.preprocessing["max_bursts"].as_u64()) {
        c.max_bursts = n as usize;
        c.emit_after_bursts = Some(n as usize);
    }
    if let Some(b) = t["payload"].as_bool() {
        c.payload = b;
    }
    if let Some(b) = t["tcp_options"].as_bool() {
        c.tcp_options = b;
    }
    c.validate().with_context(|| format!("model {}: preprocessing.tokenizer", m.name))?;
    Ok(c)
}

/// The graph inputs for `flows`, in the order of the module docs.
pub fn netfound_inputs(
    flows: &[FlowTokens],
    shape: NetfoundShape,
) -> anyhow::Result<Vec<(&'static str, InputTensor)>> {
    let (b, nb, t) = (flows.len(), shape.max_bursts, shape.tokens_per_burst);
    let mut tokens = vec![0i64; b * nb * t];
    let mut directions = vec![0i64; b * nb];
    let (mut bytes, mut counts, mut iats) =
        (vec![0f32; b * nb], vec![0f32; b * nb], vec![0f32; b * nb]);
    let mut protocol = Vec::with_capacity(b);
    for (i, flow) in flows.iter().enumerate() {
        protocol.push(i64::from(flow.protocol));
        for (k, burst) in flow.bursts.iter().take(nb).enumerate() {
            let at = i * nb + k;
            let row = &mut tokens[at * t..(at + 1) * t];
            row.iter_mut().zip(&burst.tokens).for_each(|(dst, &src)| *dst = i64::from(src));
            directions[at] = i64::from(burst.direction);
            bytes[at] = burst.bytes as f32;
            counts[at] = burst.packets as f32;
            iats[at] = burst.iat_us as f32;
        }
    }
    let per_burst = |v: Vec<f32>| -> anyhow::Result<InputTensor> {
        Ok(InputTensor::from(ArrayD::from_shape_vec(IxDyn(&[b, nb]), v)?))
    };
    Ok(vec![
        ("tokens", InputTensor::from(ArrayD::from_shape_vec(IxDyn(&[b, nb, t]), tokens)?)),
        ("directions", InputTensor::from(ArrayD::from_shape_vec(IxDyn(&[b, nb]), directions)?)),
        ("bytes", per_burst(bytes)?),
        ("counts", per_burst(counts)?),
        ("iats", per_burst(iats)?),
        ("protocol", InputTensor::from(ArrayD::from_shape_vec(IxDyn(&[b]), protocol)?)),
    ])
}

fn f32_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Float32, true)))
}

/// The struct type of a netFound verdict, given which optional outputs the model has.
fn verdict_type(malicious: bool, embedding: bool) -> DataType {
    let mut fields = vec![
        Field::new("label", DataType::Utf8, false),
        Field::new("score", DataType::Float32, false),
        Field::new("probs", f32_list(), false),
    ];
    if malicious {
        fields.push(Field::new("malicious", DataType::Float32, false));
    }
    if embedding {
        fields.push(Field::new("embedding", f32_list(), false));
    }
    DataType::Struct(Fields::from(fields))
}

fn has_output(model: &Model, name: &str) -> bool {
    model.manifest().output(name).is_some()
}

/// The schema of scored netFound rows: the token columns plus `<model name>` (struct).
pub fn scored_netfound_schema(model: &Model) -> SchemaRef {
    let mut fields: Vec<Field> =
        netfound_schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    let verdict = verdict_type(has_output(model, "malicious"), has_output(model, "embedding"));
    fields.push(Field::new(model.name(), verdict, false));
    Arc::new(Schema::new(fields))
}

/// A list column of the rows of a [B, n] output.
fn rows_to_list(values: &ArrayD<f32>) -> ArrayRef {
    let mut lists = ListBuilder::new(Float32Builder::new());
    for row in values.outer_iter() {
        row.iter().for_each(|v| lists.values().append_value(*v));
        lists.append(true);
    }
    Arc::new(lists.finish())
}

/// Score netFound flows and return them as one record batch of [`scored_netfound_schema`].
pub fn score_netfound(
    model: &Model,
    flows: &[FlowTokens],
    shape: NetfoundShape,
) -> anyhow::Result<RecordBatch> {
    ensure!(!flows.is_empty(), "no flows to score");
    let outputs = model.run(&netfound_inputs(flows, shape)?)?;
    let preds = model.top_labels(&outputs, "probs")?;
    let probs = outputs.get("probs").expect("top_labels checked the output");
    let mut labels = StringBuilder::with_capacity(flows.len(), flows.len() * 8);
    preds.iter().for_each(|p| labels.append_value(&p.label));
    let scores = Float32Array::from(preds.iter().map(|p| p.score).collect::<Vec<_>>());
    let mut children: Vec<ArrayRef> =
        vec![Arc::new(labels.finish()), Arc::new(scores), rows_to_list(probs)];
    let malicious = outputs.get("malicious");
    if let Some(m) = malicious {
        let flat =
            m.to_shape(IxDyn(&[flows.len()])).context("`malicious` is not one value per flow")?;
        children.push(Arc::new(Float32Array::from(flat.iter().copied().collect::<Vec<_>>())));
    }
    let embedding = outputs.get("embedding");
    if let Some(e) = embedding {
        ensure!(e.ndim() == 2, "`embedding` is not [batch, dim]");
        children.push(rows_to_list(e));
    }
    let DataType::Struct(fields) = verdict_type(malicious.is_some(), embedding.is_some()) else {
        unreachable!("a struct type")
    };
    let verdict = StructArray::try_new(fields, children, None)?;
    let base = to_record_batch(flows)?;
    let mut columns: Vec<ArrayRef> = base.columns().to_vec();
    columns.push(Arc::new(verdict));
    Ok(RecordBatch::try_new(scored_netfound_schema(model), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_tokenizers::{Burst, EmitReason};

    fn flow(bursts: usize, tokens: usize) -> FlowTokens {
        FlowTokens {
            flow_id: 1,
            community_id: "1:x".into(),
            protocol: 17,
            flow_duration_us: 10,
            bursts: (0..bursts)
                .map(|k| Burst {
                    tokens: (0..tokens as u32).map(|t| t + 1).collect(),
                    direction: k % 2 == 0,
                    bytes: 100 + k as u32,
                    iat_us: 7,
                    packets: 2,
                    ts_start: 0,
                })
                .collect(),
            reason: EmitReason::Closed,
        }
    }

    #[test]
    fn bursts_are_cut_and_padded_to_the_grid() {
        let shape = NetfoundShape { max_bursts: 3, tokens_per_burst: 4 };
        // Five bursts of six tokens: two bursts dropped, two tokens cut from each.
        let inputs = netfound_inputs(&[flow(5, 6), flow(1, 2)], shape).unwrap();
        let names: Vec<&str> = inputs.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["tokens", "directions", "bytes", "counts", "iats", "protocol"]);
        let InputTensor::I64(tokens) = &inputs[0].1 else { panic!("int64 tokens") };
        assert_eq!(tokens.shape(), &[2, 3, 4]);
        assert_eq!(tokens.slice(vigil_models::ndarray::s![0, 2, ..]).to_vec(), [1, 2, 3, 4]);
        // The second flow: one burst of two tokens, zero-padded; missing bursts all zero.
        assert_eq!(tokens.slice(vigil_models::ndarray::s![1, 0, ..]).to_vec(), [1, 2, 0, 0]);
        assert!(tokens.slice(vigil_models::ndarray::s![1, 1.., ..]).iter().all(|&v| v == 0));
        let InputTensor::I64(dirs) = &inputs[1].1 else { panic!("int64 directions") };
        assert_eq!(dirs.slice(vigil_models::ndarray::s![0, ..]).to_vec(), [1, 0, 1]);
        let InputTensor::F32(bytes) = &inputs[2].1 else { panic!("f32 bytes") };
        assert_eq!(bytes.slice(vigil_models::ndarray::s![1, ..]).to_vec(), [100.0, 0.0, 0.0]);
        let InputTensor::I64(proto) = &inputs[5].1 else { panic!("int64 protocol") };
        assert_eq!(proto.iter().copied().collect::<Vec<_>>(), [17, 17]);
    }
}
