//! netFound: each flow's packet tokens → traffic class, probabilities, and where the
//! model has them, a malicious probability and an embedding.
//!
//! The graph reads a burst grid per flow (`B` flows, `NB` bursts, `T` tokens per
//! burst): `tokens` int64 `[B, NB, T]` (each burst's ids, CLS first, cut to `T` or
//! right-padded with 0; missing bursts all 0), `directions` int64 `[B, NB]` (1
//! forward), `bytes`, `counts`, `iats` float32 `[B, NB]` (raw tokenizer values, 0 for
//! padded bursts) and `protocol` int64 `[B]`. It gives `probs` `[B, classes]`, and
//! optionally `malicious` `[B]` and `embedding` `[B, dim]`.
//!
//! The manifest's `max_bursts` × `tokens_per_burst` is the largest grid. When the
//! graph's burst and token axes are dynamic (`-1` in the manifest), padding is masked,
//! so a flow scores the same on any grid that holds it: a batch is then sorted by flow
//! size and cut into groups of similar size, each run on the grid of its largest flow
//! ([`super::grouping`]). Most flows have one to three short bursts, so this does a fraction of
//! the padded grid's work. A graph with fixed axes gets the full grid.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, StructArray};
use arrow_schema::{DataType, Field, Fields};
use ndarray::{ArrayD, IxDyn};
use vigil_tokenizers::{FlowTokens, IpNetwork, NetfoundConfig, NetfoundTokenizer, TokenStamp};

use super::columns::{ClassVerdict, f32_list, output, rows_to_list};
use super::grouping::{Group, groups};
use super::occlusion::Occlude;
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
    /// Whether the graph takes any grid up to the manifest's (dynamic burst and
    /// token axes).
    packs: bool,
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
        let packs = model.manifest().input("tokens").is_some_and(|spec| {
            spec.shape.len() == 3 && spec.shape[1..].iter().all(|d| d.size().is_none())
        });
        Ok(NetfoundScorer { model, prep, malicious, embedding, packs })
    }

    /// The tokenizer settings the model was trained with, with `internal` as the
    /// internal networks (a deployment's choice, not the model's).
    pub fn tokenizer_config(&self, internal: &[IpNetwork]) -> NetfoundConfig {
        NetfoundConfig { internal_networks: internal.to_vec(), ..self.prep.tokenizer.clone() }
    }

    /// Bursts per flow and tokens per burst of the graph input (the largest grid,
    /// when it [`packs`](Self::packs)).
    pub fn grid(&self) -> (usize, usize) {
        (self.prep.max_bursts, self.prep.tokens_per_burst)
    }

    /// Whether batches are cut to their flows' sizes (the graph's burst and token axes
    /// are dynamic), rather than padded to [`grid`](Self::grid).
    pub fn packs(&self) -> bool {
        self.packs
    }

    /// The grid a batch of `flows` is run on: the full grid, or cut to its largest
    /// flow when the model packs.
    fn grid_of<'a>(&self, flows: impl IntoIterator<Item = &'a FlowTokens>) -> (usize, usize) {
        let full = self.grid();
        if !self.packs {
            return full;
        }
        flows.into_iter().map(|f| extent(f, full)).fold((1, 1), |a, b| (a.0.max(b.0), a.1.max(b.1)))
    }

    /// One verdict per flow from the outputs of a run on `n` flows.
    fn decode_n(&self, n: usize, outputs: &Outputs) -> Result<Vec<NetfoundVerdict>> {
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
        encode(flows, self.grid_of(flows)).map_err(shape_err(&self.model))
    }

    fn decode(&self, flows: &[FlowTokens], outputs: &Outputs) -> Result<Vec<NetfoundVerdict>> {
        self.decode_n(flows.len(), outputs)
    }

    /// Flows grouped by size when the model packs ([`groups`] of their extents; else one group on the
    /// full grid), each group run on its own grid (the groups spread over the model's
    /// sessions), verdicts in the order of `flows`.
    fn score(&self, flows: &[FlowTokens]) -> Result<Vec<NetfoundVerdict>> {
        if flows.is_empty() {
            return Ok(Vec::new());
        }
        let groups = match self.packs {
            true => groups(&sizes(flows, self.grid()), self.model.max_batch()),
            false => vec![Group { members: (0..flows.len()).collect(), grid: self.grid() }],
        };
        let inputs = groups
            .iter()
            .map(|g| encode(g.members.iter().map(|&i| &flows[i]), g.grid))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(shape_err(&self.model))?;
        let outputs = self.model.run_each(&inputs)?;
        let mut verdicts: Vec<Option<NetfoundVerdict>> = vec![None; flows.len()];
        for (group, outputs) in groups.iter().zip(&outputs) {
            for (&i, v) in group.members.iter().zip(self.decode_n(group.members.len(), outputs)?) {
                verdicts[i] = Some(v);
            }
        }
        Ok(verdicts.into_iter().map(|v| v.expect("every flow is in a group")).collect())
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
fn encode<'a>(
    flows: impl IntoIterator<Item = &'a FlowTokens, IntoIter: ExactSizeIterator>,
    (nb, t): (usize, usize),
) -> std::result::Result<Vec<(&'static str, InputTensor)>, ndarray::ShapeError> {
    let flows = flows.into_iter();
    let b = flows.len();
    let mut tokens = vec![0i64; b * nb * t];
    let mut directions = vec![0i64; b * nb];
    let (mut bytes, mut counts, mut iats) =
        (vec![0f32; b * nb], vec![0f32; b * nb], vec![0f32; b * nb]);
    let mut protocol = Vec::with_capacity(b);
    for (i, flow) in flows.enumerate() {
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

/// Each flow's [`extent`] in the `grid`.
fn sizes(flows: &[FlowTokens], grid: (usize, usize)) -> Vec<(usize, usize)> {
    flows.iter().map(|f| extent(f, grid)).collect()
}

/// The bursts and tokens per burst `flow` fills of the `(bursts, tokens)` grid: at least
/// one of each, at most the grid.
/// The flow without one of its bursts (those the grid holds), named by direction, size
/// and gap; a flow of one burst cannot be explained this way.
impl Occlude for NetfoundScorer {
    fn parts(&self, flow: &FlowTokens) -> usize {
        let n = flow.bursts.len().min(self.prep.max_bursts);
        if n > 1 { n } else { 0 }
    }

    fn masked(&self, flow: &FlowTokens, part: usize) -> (FlowTokens, String) {
        let mut m = flow.clone();
        let b = m.bursts.remove(part);
        let name = format!(
            "burst {part} ({}, {} pkts, {} B, gap {:.1} ms)",
            if b.direction { "fwd" } else { "bwd" },
            b.packets,
            b.bytes,
            b.iat_us as f64 / 1000.0
        );
        (m, name)
    }
}

fn extent(flow: &FlowTokens, (nb, t): (usize, usize)) -> (usize, usize) {
    let bursts = &flow.bursts[..flow.bursts.len().min(nb)];
    let tokens = bursts.iter().map(|b| b.tokens.len()).max().unwrap_or(0);
    (bursts.len().clamp(1, nb.max(1)), tokens.clamp(1, t.max(1)))
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

    #[test]
    fn flows_are_grouped_by_size_each_once() {
        // 40 one-burst flows of 5 tokens, 40 of twelve bursts of 55, one in between.
        let mut flows: Vec<FlowTokens> = Vec::new();
        for i in 0..81 {
            flows.push(match i % 2 {
                _ if i == 80 => flow(4, 20),
                0 => flow(1, 5),
                _ => flow(12, 60),
            });
        }
        let found = groups(&sizes(&flows, (12, 55)), 256);
        for g in &found {
            let widest = g.members.iter().map(|&i| extent(&flows[i], (12, 55)));
            let grid = widest.fold((1, 1), |a, b| (a.0.max(b.0), a.1.max(b.1)));
            assert_eq!(g.grid, grid, "a group's grid holds its largest flow, no more");
        }
        let grouped: Vec<Vec<usize>> = found.into_iter().map(|g| g.members).collect();
        let mut seen: Vec<usize> = grouped.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..81).collect::<Vec<_>>(), "each flow once");
        // The big flows are not mixed with the small ones, and come first (the odd one
        // joins whichever group is still below GROUP_MIN).
        let of =
            |g: &Vec<usize>| g.iter().map(|&i| extent(&flows[i], (12, 55))).collect::<Vec<_>>();
        assert!(grouped[0].contains(&1), "the largest group first");
        assert!(of(&grouped[0]).iter().all(|&(b, _)| b >= 4), "{:?}", of(&grouped[0]));
        let small = grouped.iter().find(|g| g.contains(&0)).unwrap();
        assert!(of(small).iter().all(|&(b, _)| b < 12), "{:?}", of(small));
        // At most max_batch per group.
        assert!(
            groups(&sizes(&flows, (12, 55)), 7)
                .iter()
                .all(|g| !g.members.is_empty() && g.members.len() <= 7)
        );
        assert_eq!(extent(&flow(0, 0), (12, 55)), (1, 1), "an empty flow still has a cell");
        assert_eq!(extent(&flow(20, 3), (12, 55)), (12, 3));
    }
}
