//! Turning model outputs into scores, labels, forecasts and embeddings.

use ndarray::{ArrayD, Axis};

use crate::error::{Error, Result};

/// The best class of one item of a classifier's output.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Index on the class axis.
    pub index: usize,
    /// The manifest's name for that class.
    pub label: String,
    /// Its probability (or whatever score the output holds).
    pub score: f32,
}

/// Softmax over the last axis (numerically stable), for models that output logits.
pub fn softmax(logits: &ArrayD<f32>) -> ArrayD<f32> {
    let mut out = logits.clone();
    if out.ndim() == 0 {
        out.fill(1.0);
        return out;
    }
    let last = Axis(out.ndim() - 1);
    for mut lane in out.lanes_mut(last) {
        let max = lane.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        lane.mapv_inplace(|v| (v - max).exp());
        let sum = lane.sum();
        lane.mapv_inplace(|v| v / sum);
    }
    out
}

/// The best class per item of `scores` (`[batch, classes]`), named with `labels`.
///
/// `output` names the output in errors.
pub fn top_labels(
    scores: &ArrayD<f32>,
    labels: &[String],
    output: &str,
) -> Result<Vec<Prediction>> {
    let err = |message: String| Error::Decode { output: output.to_string(), message };
    if scores.ndim() != 2 {
        return Err(err(format!("expected [batch, classes], got shape {:?}", scores.shape())));
    }
    if scores.shape()[1] != labels.len() {
        return Err(err(format!(
            "{} classes but the manifest has {} labels",
            scores.shape()[1],
            labels.len()
        )));
    }
    scores
        .outer_iter()
        .map(|row| {
            let (index, score) = row
                .iter()
                .copied()
                .enumerate()
                .fold(None, |best: Option<(usize, f32)>, (i, v)| match best {
                    Some((_, b)) if b >= v || v.is_nan() => best,
                    _ => Some((i, v)),
                })
                .ok_or_else(|| err("no classes".into()))?;
            Ok(Prediction { index, label: labels[index].clone(), score })
        })
        .collect()
}

/// Pass-through for forecasts and embeddings: one array per item along the batch axis.
pub fn per_item(values: &ArrayD<f32>) -> Vec<ArrayD<f32>> {
    if values.ndim() == 0 {
        return vec![values.clone()];
    }
    values.outer_iter().map(|item| item.to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{IxDyn, array};

    #[test]
    fn softmax_rows_sum_to_one() {
        let p = softmax(&array![[1.0f32, 2.0, 3.0], [1000.0, 1000.0, 1000.0]].into_dyn());
        for row in p.outer_iter() {
            assert!((row.sum() - 1.0).abs() < 1e-6);
        }
        assert!(p[[0, 2]] > p[[0, 1]]);
        assert!((p[[1, 0]] - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn top_labels_names_the_best_class() {
        let labels: Vec<String> = ["benign", "scan", "dos"].map(String::from).to_vec();
        let p = array![[0.1f32, 0.7, 0.2], [0.5, 0.2, 0.3]].into_dyn();
        let preds = top_labels(&p, &labels, "probs").unwrap();
        assert_eq!(preds[0].label, "scan");
        assert_eq!(preds[0].index, 1);
        assert_eq!(preds[1].label, "benign");
        assert!((preds[1].score - 0.5).abs() < 1e-7);
        let e = top_labels(&p, &labels[..2], "probs").unwrap_err();
        assert!(e.to_string().contains("2 labels"), "{e}");
        let e = top_labels(&ArrayD::zeros(IxDyn(&[3])), &labels, "probs").unwrap_err();
        assert!(e.to_string().contains("probs"), "{e}");
    }

    #[test]
    fn per_item_splits_the_batch_axis() {
        let v =
            ArrayD::from_shape_vec(IxDyn(&[2, 3, 2]), (0..12).map(|i| i as f32).collect()).unwrap();
        let items = per_item(&v);
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].shape(), &[3, 2]);
        assert_eq!(items[1][[0, 0]], 6.0);
    }
}
