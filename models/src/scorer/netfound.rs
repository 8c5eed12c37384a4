//! netFound: each flow's packet tokens → traffic class, probabilities, and where the
//! model has them, a malicious probability and an embedding.
//!
//! The graph reads a fixed burst grid per flow (`B` flows, `NB` bursts, `T` tokens per
//! burst, from the manifest): `tokens` int64 `[B, NB, T]` (each burst's ids, CLS first,
//! cut to `T` or right-padded with 0; missing bursts all 0), `directions` int64
//! `[B, NB]` (1 forward), `bytes`, `counts`, `iats` float32 `[B, NB]` (raw tokenizer
//! values, 0 for padded bursts) and `protocol` int64 `[B]`. It gives `probs`
//! `[B, classes]`, and optionally `malicious` `[B]` and `embedding` `[B, dim]`.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, StructArray};
use arrow_schema::{DataType, Field, Fields};
use ndarray::{ArrayD, IxDyn};
use vigil_tokenizers::{FlowTokens, IpNetwork, NetfoundConfig, NetfoundTokenizer, TokenStamp};

use super::columns::{ClassVerdict, f32_list, output, rows_to_list};
use super::{Scorer, arrow_err, ensure_family, shape_err, tokenizer_err};
use crate::error::{Error, Result};
use crate::family::Family;
use crate::model::{InputTensor, Model, Outputs};
use crate::preprocessing::NetfoundPreprocessing;

/// netFound's scorer.
#[derive(Debug)]
pub struct NetfoundScorer {
    model: Arc<Model>,
    prep: NetfoundPreprocessing,
    malicious: bool,
    embedding: bool,
}

/// One flow's netFound verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct NetfoundVerdict {
    /// Traffic class, its probability and every class's.
    pub class: ClassVerdict,
    /// Probability that the flow is malicious, when the model has that output.
    pub malicious: Option<f32>,
    /// The flow's embedding, when the model has that output.
    pub embedding: Option<Vec<f32>>,
}

impl NetfoundScorer {
    /// The scorer of `model`, a netFound artifact.
    pub fn new(model: Arc<Model>) -> Result<Self> {
        ensure_family(&model, Self::FAMILY)?;
        let prep = model.manifest().netfound()?;
        let has = |name: &str| model.manifest().output(name).is_some();
        let (malicious, embedding) = (has("malicious"), has("embedding"));
        Ok(NetfoundScorer { model, prep, malicious, embedding })
    }

    /// The tokenizer settings the model was trained with, with `internal` as the
    /// internal networks (a deployment's choice, not the model's).
    pub fn tokenizer_config(&self, internal: &[IpNetwork]) -> NetfoundConfig {
        NetfoundConfig { internal_networks: internal.to_vec(), ..self.prep.tokenizer.clone() }
    }

    /// Bursts per flow and tokens per burst of the graph input.
    pub fn grid(&self) -> (usize, usize) {
        (self.prep.max_bursts, self.prep.tokens_per_burst)
    }
}

impl Scorer for NetfoundScorer {
    type Tokenizer = NetfoundTokenizer;
    type Item = FlowTokens;
    type Verdict = NetfoundVerdict;

    const FAMILY: Family = Family::Netfound;

    fn model(&self) -> &Model {
        &self.model
    }

    fn tokenizer(&self) -> Result<NetfoundTokenizer> {
        NetfoundTokenizer::new(self.tokenizer_config(&[])).map_err(tokenizer_err(&self.model))
    }

    fn inputs(&self, flows: &[FlowTokens]) -> Result<Vec<(&str, InputTensor)>> {
        encode(flows, self.grid()).map_err(shape_err(&self.model))
    }

    fn decode(&self, flows: &[FlowTokens], outputs: &Outputs) -> Result<Vec<NetfoundVerdict>> {
        let n = flows.len();
        let classes = ClassVerdict::decode_all(&self.model, outputs)?;
        let malicious = match self.malicious {
            true => {
                let m = output(outputs, &self.model, "malicious")?;
                let flat = m.to_shape(IxDyn(&[n])).map_err(|_| Error::Decode {
                    output: "malicious".into(),
                    message: format!("not one value per flow: shape {:?}", m.shape()),
                })?;
                Some(flat.iter().copied().collect::<Vec<f32>>())
            }
            false => None,
        };
        let embedding = match self.embedding {
            true => {
                let e = output(outputs, &self.model, "embedding")?;
                if e.ndim() != 2 || e.shape()[0] != n {
                    return Err(Error::Decode {
                        output: "embedding".into(),
                        message: format!("not [{n}, dim] but {:?}", e.shape()),
                    });
                }
                Some(e.outer_iter().map(|row| row.iter().copied().collect()).collect::<Vec<_>>())
            }
            false => None,
        };
        Ok(classes
            .into_iter()
            .enumerate()
            .map(|(i, class)| NetfoundVerdict {
                class,
                malicious: malicious.as_ref().map(|m| m[i]),
                embedding: embedding.as_ref().map(|e: &Vec<Vec<f32>>| e[i].clone()),
            })
            .collect())
    }

    /// `label`, `score`, `probs`, then `malicious` and `embedding` where the model has
    /// them.
    fn verdict_type(&self) -> DataType {
        let mut fields = ClassVerdict::fields();
        if self.malicious {
            fields.push(Field::new("malicious", DataType::Float32, false));
        }
        if self.embedding {
            fields.push(Field::new("embedding", f32_list(), false));
        }
        DataType::Struct(Fields::from(fields))
    }

    fn verdict_column(&self, verdicts: &[NetfoundVerdict]) -> Result<StructArray> {
        let mut children = ClassVerdict::columns(verdicts.iter().map(|v| &v.class));
        if self.malicious {
            let m: Vec<f32> = verdicts.iter().map(|v| v.malicious.unwrap_or(f32::NAN)).collect();
            children.push(Arc::new(Float32Array::from(m)) as ArrayRef);
        }
        if self.embedding {
            children.push(rows_to_list(
                verdicts.iter().map(|v| v.embedding.as_deref().unwrap_or_default()),
            ));
        }
        let DataType::Struct(fields) = self.verdict_type() else { unreachable!("a struct type") };
        StructArray::try_new(fields, children, None).map_err(arrow_err(&self.model))
    }

    fn token_stamp(&self) -> TokenStamp {
        TokenStamp::netfound(&self.prep.tokenizer)
    }
}

/// The graph inputs of `flows` on a grid of `(bursts, tokens per burst)`, in the order
/// of the module docs.
fn encode(
    flows: &[FlowTokens],
    (nb, t): (usize, usize),
) -> std::result::Result<Vec<(&'static str, InputTensor)>, ndarray::ShapeError> {
    let b = flows.len();
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
    let per_burst = |v: Vec<f32>| ArrayD::from_shape_vec(IxDyn(&[b, nb]), v).map(InputTensor::from);
    Ok(vec![
        ("tokens", ArrayD::from_shape_vec(IxDyn(&[b, nb, t]), tokens)?.into()),
        ("directions", ArrayD::from_shape_vec(IxDyn(&[b, nb]), directions)?.into()),
        ("bytes", per_burst(bytes)?),
        ("counts", per_burst(counts)?),
        ("iats", per_burst(iats)?),
        ("protocol", ArrayD::from_shape_vec(IxDyn(&[b]), protocol)?.into()),
    ])
}

#[cfg(test)]
mod tests {
    use ndarray::s;
    use vigil_tokenizers::{Burst, EmitReason};

    use super::*;

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
        // Five bursts of six tokens: two bursts dropped, two tokens cut from each.
        let inputs = encode(&[flow(5, 6), flow(1, 2)], (3, 4)).unwrap();
        let names: Vec<&str> = inputs.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["tokens", "directions", "bytes", "counts", "iats", "protocol"]);
        let InputTensor::I64(tokens) = &inputs[0].1 else { panic!("int64 tokens") };
        assert_eq!(tokens.shape(), &[2, 3, 4]);
        assert_eq!(tokens.slice(s![0, 2, ..]).to_vec(), [1, 2, 3, 4]);
        // The second flow: one burst of two tokens, zero-padded; missing bursts all zero.
        assert_eq!(tokens.slice(s![1, 0, ..]).to_vec(), [1, 2, 0, 0]);
        assert!(tokens.slice(s![1, 1.., ..]).iter().all(|&v| v == 0));
        let InputTensor::I64(dirs) = &inputs[1].1 else { panic!("int64 directions") };
        assert_eq!(dirs.slice(s![0, ..]).to_vec(), [1, 0, 1]);
        let InputTensor::F32(bytes) = &inputs[2].1 else { panic!("f32 bytes") };
        assert_eq!(bytes.slice(s![1, ..]).to_vec(), [100.0, 0.0, 0.0]);
        let InputTensor::I64(proto) = &inputs[5].1 else { panic!("int64 protocol") };
        assert_eq!(proto.iter().copied().collect::<Vec<_>>(), [17, 17]);
    }
}
