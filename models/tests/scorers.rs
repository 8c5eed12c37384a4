//! The family scorers on the shipped artifacts: each refuses a model of another family,
//! derives its tokenizer settings and token stamp from the manifest, scores items made
//! by its own tokenizer, and gives a verdict column of its verdict type.
//!
//! They need the ONNX Runtime library; without it they print why and pass.

use std::path::Path;
use std::sync::Arc;

use arrow_array::Array;
use vigil_ingest::actions::ActionEvent;
use vigil_ingest::metrics::ResampledStep;
use vigil_models::{
    Error, Family, FlowScorer, HstuScorer, Model, NetfoundScorer, Occlude, Scorer, VariateItem,
    VariateScorer, occlude,
};
use vigil_tokenizers::{Burst, EmitReason, FlowTokens, NetfoundConfig, TokenStamp};

fn load(name: &str) -> Option<Arc<Model>> {
    if !vigil_models::runtime::available_for_tests() {
        return None;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../onnx/artifacts").join(name);
    Some(Arc::new(Model::load(dir).unwrap()))
}

#[test]
fn a_scorer_refuses_a_model_of_another_family() {
    let Some(hstu) = load("hstu-ml100k") else { return };
    assert_eq!(hstu.manifest().family, Family::Hstu);
    let e = NetfoundScorer::new(hstu.clone()).unwrap_err();
    assert!(matches!(e, Error::Family { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "model hstu-ml100k is a `hstu` model, not a netFound (netfound) model"
    );
    assert!(FlowScorer::new(hstu.clone()).is_err());
    assert!(VariateScorer::new(hstu, None, None).is_err());
    let Some(linear) = load("test-linear") else { return };
    assert_eq!(linear.manifest().family, Family::Other("test".into()));
    assert!(HstuScorer::new(linear).unwrap_err().to_string().contains("`test` model"));
}

#[test]
fn netfound_scores_flows_with_the_manifests_tokenizer_settings() {
    let Some(model) = load("netfound") else { return };
    let scorer = NetfoundScorer::new(model).unwrap();
    assert_eq!(scorer.grid(), (12, 55));
    assert_eq!(scorer.tokenizer_config(&[]), NetfoundConfig::default());
    assert_eq!(scorer.token_stamp(), TokenStamp::netfound(&NetfoundConfig::default()));
    scorer.check_tokens(Some(&scorer.token_stamp()), "t.parquet").unwrap();

    let flow = |bursts: u32| FlowTokens {
        flow_id: 1,
        community_id: "1:x".into(),
        protocol: 6,
        flow_duration_us: 10,
        bursts: (0..bursts)
            .map(|k| Burst {
                tokens: vec![65537, 21, 1, 29, 3, 65],
                direction: k % 2 == 0,
                bytes: 60,
                iat_us: 1000,
                packets: 1,
                ts_start: 0,
            })
            .collect(),
        reason: EmitReason::Closed,
    };
    let verdicts = scorer.score(&[flow(1), flow(20)]).unwrap();
    assert_eq!(verdicts.len(), 2);
    for v in &verdicts {
        assert_eq!(v.class.probs.len(), 6);
        assert!((v.class.probs.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        assert!(v.malicious.is_some_and(|m| (0.0..=1.0).contains(&m)));
        assert_eq!(v.embedding.as_ref().map(Vec::len), Some(64));
    }
    let column = scorer.verdict_column(&verdicts).unwrap();
    assert_eq!(column.data_type(), &scorer.verdict_type());
    assert_eq!(column.len(), 2);
    assert!(scorer.score(&[]).unwrap().is_empty(), "no items, no run");
}

/// Flows of 1 to 14 bursts and 1 to 70 tokens a burst (more than the grid holds).
fn netfound_flows(n: usize) -> Vec<FlowTokens> {
    (0..n)
        .map(|i| FlowTokens {
            flow_id: i as u64,
            community_id: format!("1:{i}"),
            protocol: [6, 17, 1][i % 3],
            flow_duration_us: 10,
            bursts: (0..1 + (i * 7) % 14)
                .map(|k| Burst {
                    tokens: std::iter::once(65537)
                        .chain((0..(i * 13 + k * 5) % 70).map(|t| (t * 31 + i) as u32 % 65536 + 1))
                        .collect(),
                    direction: (i + k) % 2 == 0,
                    bytes: 60 + (i * k) as u32 % 1400,
                    iat_us: 1000 * k as u64,
                    packets: 1 + (k as u32 % 6),
                    ts_start: 0,
                })
                .collect(),
            reason: EmitReason::Closed,
        })
        .collect()
}

#[test]
fn netfound_batches_cut_to_their_flows_score_as_the_padded_grid() {
    let Some(model) = load("netfound") else { return };
    let scorer = NetfoundScorer::new(model.clone()).unwrap();
    assert!(scorer.packs(), "the shipped netFound has dynamic burst and token axes");
    let flows = netfound_flows(300);
    let packed = scorer.score(&flows).unwrap();
    // The same flows on the full 12 x 55 grid, built here by hand.
    let (nb, t) = scorer.grid();
    let n = flows.len();
    let mut tokens = ndarray::Array3::<i64>::zeros((n, nb, t));
    let mut dirs = ndarray::Array2::<i64>::zeros((n, nb));
    let (mut bytes, mut counts, mut iats) = (
        ndarray::Array2::<f32>::zeros((n, nb)),
        ndarray::Array2::zeros((n, nb)),
        ndarray::Array2::zeros((n, nb)),
    );
    for (i, f) in flows.iter().enumerate() {
        for (k, b) in f.bursts.iter().take(nb).enumerate() {
            for (j, &tok) in b.tokens.iter().take(t).enumerate() {
                tokens[[i, k, j]] = i64::from(tok);
            }
            dirs[[i, k]] = i64::from(b.direction);
            (bytes[[i, k]], counts[[i, k]], iats[[i, k]]) =
                (b.bytes as f32, b.packets as f32, b.iat_us as f32);
        }
    }
    let protocol = ndarray::Array1::from_iter(flows.iter().map(|f| i64::from(f.protocol)));
    let outputs = model
        .run(&[
            ("tokens", tokens.into_dyn().into()),
            ("directions", dirs.into_dyn().into()),
            ("bytes", bytes.into_dyn().into()),
            ("counts", counts.into_dyn().into()),
            ("iats", iats.into_dyn().into()),
            ("protocol", protocol.into_dyn().into()),
        ])
        .unwrap();
    let padded = scorer.decode(&flows, &outputs).unwrap();
    let mut worst = 0f32;
    for (p, q) in packed.iter().zip(&padded) {
        assert_eq!(p.class.label, q.class.label);
        let probs = p.class.probs.iter().zip(&q.class.probs);
        let emb = p.embedding.as_ref().unwrap().iter().zip(q.embedding.as_ref().unwrap());
        for (a, b) in probs.chain(emb) {
            worst = worst.max((a - b).abs());
        }
        worst = worst.max((p.malicious.unwrap() - q.malicious.unwrap()).abs());
    }
    assert!(worst < 1e-4, "packed vs padded: max |diff| {worst}");
}

#[test]
fn occlusion_ranks_a_flows_bursts_by_how_much_the_score_drops_without_each() {
    let Some(model) = load("netfound") else { return };
    let scorer = NetfoundScorer::new(model).unwrap();
    let flows: Vec<FlowTokens> =
        netfound_flows(40).into_iter().filter(|f| f.bursts.len() >= 2).take(8).collect();
    assert!(scorer.parts(&flows[0]) >= 2);
    let single = FlowTokens { bursts: flows[0].bursts[..1].to_vec(), ..flows[0].clone() };
    assert_eq!(scorer.parts(&single), 0, "a one-burst flow has nothing to mask");
    let malicious = |v: &vigil_models::NetfoundVerdict| v.malicious.unwrap();
    let base: Vec<f32> = scorer.score(&flows).unwrap().iter().map(malicious).collect();
    let refs: Vec<&FlowTokens> = flows.iter().collect();
    let explained = occlude(&scorer, &refs, &base, malicious, 5).unwrap();
    for ((flow, parts), b) in flows.iter().zip(&explained).zip(&base) {
        assert_eq!(parts.len(), scorer.parts(flow).min(5));
        assert!(parts.windows(2).all(|w| w[0].delta >= w[1].delta), "largest drop first");
        // The top part's delta is the score without that burst, recomputed here.
        let top = &parts[0];
        assert!(top.part.starts_with("burst "), "{}", top.part);
        let k: usize = top.part[6..].split(' ').next().unwrap().parse().unwrap();
        let mut without = flow.clone();
        without.bursts.remove(k);
        let again = malicious(&scorer.score(&[without]).unwrap()[0]);
        assert!((b - again - top.delta).abs() < 1e-4, "{b} - {again} vs {}", top.delta);
    }
}

#[test]
fn flow_transformer_windows_come_from_the_manifests_preprocessor() {
    let Some(model) = load("flow-transformer-cicids2017") else { return };
    let scorer = FlowScorer::new(model).unwrap();
    assert_eq!(scorer.mapping(), Some("cicflowmeter"));
    let tok = scorer.tokenizer().unwrap();
    assert_eq!(tok.preprocessor().numeric.len(), 73);
    assert_eq!(
        scorer.token_stamp().settings.to_json(),
        r#"{"tokenizer":"flow","window":1,"group_by":"src_addr"}"#
    );
}

#[test]
fn itransformer_forecasts_windows_and_scores_the_next_step() {
    let Some(model) = load("itransformer-etth1") else { return };
    let e = VariateScorer::new(model.clone(), None, Some(0.0)).unwrap_err();
    assert!(e.to_string().contains("positive"), "{e}");
    let scorer = VariateScorer::new(model, None, None).unwrap();
    assert_eq!((scorer.series().len(), scorer.lookback()), (7, 96));
    let mut tok = scorer.tokenizer().unwrap();
    let step = |i: i64| ResampledStep {
        ts: i * 3_600_000_000,
        values: (0..7).map(|v| (i as f64 / 5.0).sin() + v as f64).collect(),
        missing: vec![false; 7],
    };
    let mut windows = Vec::new();
    for i in 0..98 {
        windows.extend(tok.push_step(&step(i)).unwrap());
    }
    assert_eq!(windows.len(), 3);
    let items: Vec<VariateItem> = windows
        .into_iter()
        .zip([Some(step(96).values), Some(step(97).values), None])
        .map(|(window, next)| VariateItem { window, next })
        .collect();
    let verdicts = scorer.score(&items).unwrap();
    assert_eq!(verdicts[0].forecast.len(), 7);
    assert_eq!(verdicts[0].forecast[0].len(), 96);
    assert!(verdicts[0].score.is_some_and(f32::is_finite));
    assert!(verdicts[2].score.is_none(), "no next step, no score");
    let column = scorer.verdict_column(&verdicts).unwrap();
    assert_eq!(column.data_type(), &scorer.verdict_type());
}

#[test]
fn hstu_scores_each_event_against_its_entitys_history() {
    let Some(model) = load("hstu-ml100k") else { return };
    let scorer = HstuScorer::new(model).unwrap();
    let mut seq = scorer.tokenizer().unwrap();
    let snaps: Vec<_> = (0..4)
        .map(|i| {
            seq.push(&ActionEvent {
                entity: "u1".into(),
                ts: 880_000_000_000_000 + i * 3_600_000_000,
                action: "rate".into(),
                object: ["50", "100", "181", "258"][i as usize].into(),
            })
        })
        .collect();
    let verdicts = scorer.score(&snaps).unwrap();
    assert!(verdicts[0].score.is_none() && verdicts[0].rank.is_none(), "no history");
    assert!(verdicts[1..].iter().all(|v| v.score.is_some_and(|s| s > 0.0) && v.rank.is_some()));
    let column = scorer.verdict_column(&verdicts).unwrap();
    assert_eq!(column.data_type(), &scorer.verdict_type());
    assert_eq!(column.column(1).null_count(), 1);

    let stamp = scorer.token_stamp();
    assert_eq!(
        stamp.settings.to_json(),
        r#"{"tokenizer":"actions","max_len":50,"num_buckets":128}"#
    );
    scorer.check_tokens(Some(&stamp), "t.parquet").unwrap();
    let e = scorer.check_tokens(None, "t.parquet").unwrap_err().to_string();
    assert!(e.starts_with("t.parquet: ") && e.contains("re-tokenize"), "{e}");
    // A row of another length is refused rather than scored.
    let mut short = snaps[1].clone();
    short.object_ids.pop();
    assert!(scorer.score(&[short]).unwrap_err().to_string().contains("row of 49 positions"));
}

#[test]
fn hstu_rows_cut_to_their_length_score_as_the_whole_rows() {
    let Some(model) = load("hstu-user-actions") else { return };
    let scorer = HstuScorer::new(model.clone()).unwrap();
    assert!(scorer.packs(), "the shipped HSTU has a dynamic length axis");
    // 60 entities with 1 to 60 events each, over the model's own vocabulary.
    let vocab = scorer.vocab();
    let action = vocab.actions.token(2).unwrap().to_string();
    let objects: Vec<String> =
        (2..12).map(|i| vocab.objects.token(i).unwrap().to_string()).collect();
    let mut seq = scorer.tokenizer().unwrap();
    let mut snaps = Vec::new();
    for e in 0..60i64 {
        for k in 0..=e {
            snaps.push(seq.push(&ActionEvent {
                entity: format!("10.0.0.{e}"),
                ts: 1_430_000_000_000_000 + (e * 100 + k) * 7_000_000,
                action: action.clone(),
                object: objects[((e + k) % 10) as usize].clone(),
            }));
        }
    }
    let packed = scorer.score(&snaps).unwrap();
    // The same rows whole (max_len positions), built here by hand.
    let l = scorer.sequence_config().max_len;
    let whole = |f: fn(&vigil_tokenizers::actions::SequenceSnapshot) -> &Vec<u32>| {
        let data = snaps.iter().flat_map(|s| f(s).iter().map(|&v| i64::from(v))).collect();
        ndarray::Array2::from_shape_vec((snaps.len(), l), data).unwrap().into_dyn()
    };
    let outputs = model
        .run(&[
            ("object_ids", whole(|s| &s.object_ids).into()),
            ("time_buckets", whole(|s| &s.time_buckets).into()),
            ("action_ids", whole(|s| &s.action_ids).into()),
        ])
        .unwrap();
    let padded = scorer.decode(&snaps, &outputs).unwrap();
    let mut worst = 0f32;
    for (p, q) in packed.iter().zip(&padded) {
        assert_eq!((&p.label, p.rank), (&q.label, q.rank));
        if let (Some(a), Some(b)) = (p.score, q.score) {
            worst = worst.max((a - b).abs());
        }
    }
    assert!(packed.iter().filter(|v| v.score.is_some()).count() > 1000);
    assert!(worst < 1e-4, "cut vs whole rows: max |diff| {worst}");
}
