//! Gradient-free occlusion: which parts of an item (a flow's features, a flow's bursts)
//! a score rests on, for the evidence of an alert.
//!
//! An item with `P` parts is scored `P` more times, each with one part masked, all in
//! one batch; a part's weight is how much the score drops when it is masked. This needs
//! no gradients and no attention output from the graph, and costs `P` rows per item
//! explained: the scoring transforms explain only the items at or above an alerting
//! threshold, which are few.

use arrow_array::ArrayRef;
use arrow_schema::DataType;

use super::Scorer;
use super::columns::{pair_list_column, pair_list_type};
use crate::error::Result;

/// One part's weight.
#[derive(Debug, Clone, PartialEq)]
pub struct Occlusion {
    /// What was masked (a feature's name, a burst's summary).
    pub part: String,
    /// The score with the part minus the score without it (positive: it raised the score).
    pub delta: f32,
}

/// A scorer whose items can be explained by masking their parts.
pub trait Occlude: Scorer {
    /// The parts of `item` that can be masked (none: it cannot be explained).
    fn parts(&self, item: &Self::Item) -> usize;

    /// `item` with part `part` masked, and the part's name.
    fn masked(&self, item: &Self::Item, part: usize) -> (Self::Item, String);
}

/// Items scored per run at most while explaining.
const RUN_ROWS: usize = 1024;

/// For each item, its `top` parts by how much masking each lowers `score` (from
/// `base[i]`, the item's own score), largest first.
pub fn occlude<S: Occlude>(
    scorer: &S,
    items: &[&S::Item],
    base: &[f32],
    score: impl Fn(&S::Verdict) -> f32,
    top: usize,
) -> Result<Vec<Vec<Occlusion>>> {
    let mut masked = Vec::new();
    let mut owner: Vec<(usize, String)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        for p in 0..scorer.parts(item) {
            let (m, name) = scorer.masked(item, p);
            masked.push(m);
            owner.push((i, name));
        }
    }
    let mut out: Vec<Vec<Occlusion>> = vec![Vec::new(); items.len()];
    let mut owners = owner.into_iter();
    for chunk in masked.chunks(RUN_ROWS) {
        for (v, (i, part)) in scorer.score(chunk)?.iter().zip(owners.by_ref()) {
            out[i].push(Occlusion { part, delta: base[i] - score(v) });
        }
    }
    for parts in &mut out {
        parts.sort_by(|a, b| b.delta.total_cmp(&a.delta));
        parts.truncate(top);
    }
    Ok(out)
}

/// The Arrow type of an occlusion column: `list<struct<part: utf8, delta: f32>>`.
pub fn occlusion_type() -> DataType {
    pair_list_type("part", "delta")
}

/// An occlusion column, one list per row (`None`: not explained, null).
pub fn occlusion_column(rows: &[Option<Vec<Occlusion>>]) -> ArrayRef {
    let rows =
        rows.iter().map(|r| r.as_ref().map(|p| p.iter().map(|o| (o.part.as_str(), o.delta))));
    pair_list_column("part", "delta", rows)
}

#[cfg(test)]
mod tests {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;

    use super::*;

    #[test]
    fn columns_have_the_declared_type_and_nulls_for_rows_not_explained() {
        let rows = vec![
            Some(vec![
                Occlusion { part: "a".into(), delta: 0.5 },
                Occlusion { part: "b".into(), delta: 0.1 },
            ]),
            None,
        ];
        let c = occlusion_column(&rows);
        assert_eq!(c.data_type(), &occlusion_type());
        assert!(c.is_valid(0) && c.is_null(1));
        let first = c.as_list::<i32>().value(0);
        let parts = first.as_struct().column(0).as_string::<i32>().clone();
        assert_eq!((parts.value(0), parts.value(1)), ("a", "b"));
    }
}
