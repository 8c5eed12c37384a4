//! Occlusion evidence for the flows a classifier would alert on: the `occlusion` field of
//! the verdict (FlowTransformer: the scored flow's features; netFound: its bursts), each
//! part with how much the alerting score drops without it.
//!
//! The score is the one the manifest's operating points are chosen on (`1 - P(label)`
//! or `malicious`), and rows are explained from the lowest of their thresholds (or
//! `explain_above`). A part's `delta` is the drop of the score's log-odds without it:
//! near the thresholds (0.99 and above) probabilities saturate, log-odds do not.
//!
//! Each explained row costs one model row per part (about 80 for FlowTransformer, at
//! most 12 for netFound), so a flood must not multiply the scoring work. As the shipped
//! rules raise one alert per source and minute, a source is explained at most once per
//! [`EVERY_US`] of event time, and a batch explains at most `explain_max_rows` rows (the
//! rest are counted as unexplained). A model without operating points, or without that
//! score, is not explained.

use arrow_array::{ArrayRef, StructArray};
use arrow_schema::{DataType, Field, Fields};
use vigil_models::{
    ClassVerdict, Model, NetfoundVerdict, Occlude, occlude, occlusion_column, occlusion_type,
};

/// The verdict field holding the evidence.
pub const OCCLUSION: &str = "occlusion";
/// Parts kept per row.
pub const TOP_PARTS: usize = 5;
/// Rows explained per batch at most, unless configured.
pub const DEFAULT_MAX_ROWS: usize = 16;
/// A source is explained at most once per this much event time (µs): the shipped
/// rules' thresholding period.
pub const EVERY_US: i64 = 60_000_000;
/// Sources remembered at most (past it the memory starts afresh).
const MAX_SOURCES: usize = 100_000;

/// The score a model alerts on.
#[derive(Debug, Clone, Copy, PartialEq)]
enum AlertScore {
    /// `1 - P(labels[i])`.
    NotClass(usize),
    /// The `malicious` output.
    Malicious,
}

/// Which rows to explain, and with what score.
#[derive(Debug, Clone)]
pub struct Explain {
    score: AlertScore,
    /// Rows scoring at least this are explained.
    pub min: f32,
    /// Rows explained per batch at most.
    pub max_rows: usize,
    /// Each source's last explained event time.
    last: std::collections::HashMap<String, i64>,
}

/// What a verdict holds that an alerting score is made from.
pub trait AlertScored {
    /// The class probabilities and the malicious probability, if any.
    fn parts(&self) -> (&ClassVerdict, Option<f32>);
}

impl AlertScored for ClassVerdict {
    fn parts(&self) -> (&ClassVerdict, Option<f32>) {
        (self, None)
    }
}

impl AlertScored for NetfoundVerdict {
    fn parts(&self) -> (&ClassVerdict, Option<f32>) {
        (&self.class, self.malicious)
    }
}

impl Explain {
    /// From `model`'s manifest; `min` overrides the lowest operating threshold and
    /// `max_rows` the default cap. `None`: the manifest states no usable score.
    pub fn from_model(model: &Model, min: Option<f32>, max_rows: Option<usize>) -> Option<Explain> {
        let m = model.manifest();
        let (text, lowest) = m.operating_points.values().fold((None, None), |(t, lo), p| {
            let lo: Option<f64> = Some(lo.map_or(p.threshold, |l: f64| l.min(p.threshold)));
            (t.or(p.score.clone()), lo)
        });
        let text = text?;
        let score = if text.trim() == "malicious" {
            AlertScore::Malicious
        } else {
            let label = text.trim().strip_prefix("1 - P(")?.strip_suffix(')')?;
            AlertScore::NotClass(m.labels.iter().position(|l| l == label)?)
        };
        Some(Explain {
            score,
            min: min.unwrap_or(lowest? as f32),
            max_rows: max_rows.unwrap_or(DEFAULT_MAX_ROWS),
            last: Default::default(),
        })
    }

    /// The alerting score of a verdict.
    pub fn score_of(&self, v: &impl AlertScored) -> Option<f32> {
        let (class, malicious) = v.parts();
        match self.score {
            AlertScore::Malicious => malicious,
            AlertScore::NotClass(i) => class.probs.get(i).map(|p| 1.0 - p),
        }
    }

    /// The occlusion column for `items` and their `verdicts`; `source_of(i)` is item
    /// i's (source address, event time µs), asked only of items at the threshold. Also
    /// returns the rows at the threshold left unexplained by the cap (a source's repeats
    /// within [`EVERY_US`] are not counted).
    pub fn column<'a, S>(
        &mut self,
        scorer: &S,
        items: &[S::Item],
        verdicts: &[S::Verdict],
        source_of: impl Fn(usize) -> (&'a str, i64),
    ) -> anyhow::Result<(ArrayRef, u64)>
    where
        S: Occlude,
        S::Verdict: AlertScored,
    {
        if self.last.len() > MAX_SOURCES {
            self.last.clear();
        }
        let mut chosen: Vec<(usize, f32)> = Vec::new();
        let mut skipped = 0u64;
        for (i, v) in verdicts.iter().enumerate() {
            let Some(s) = self.score_of(v).filter(|s| *s >= self.min) else { continue };
            let (src, ts) = source_of(i);
            if self.last.get(src).is_some_and(|t| ts >= *t && ts < t.saturating_add(EVERY_US)) {
                continue;
            }
            if chosen.len() < self.max_rows {
                self.last.insert(src.to_string(), ts);
                chosen.push((i, s));
            } else {
                skipped += 1;
            }
        }
        let mut rows: Vec<Option<Vec<vigil_models::Occlusion>>> = vec![None; items.len()];
        if !chosen.is_empty() {
            let picked: Vec<&S::Item> = chosen.iter().map(|(i, _)| &items[*i]).collect();
            let base: Vec<f32> = chosen.iter().map(|(_, s)| log_odds(*s)).collect();
            let score = |v: &S::Verdict| log_odds(self.score_of(v).unwrap_or(0.0));
            let found = occlude(scorer, &picked, &base, score, TOP_PARTS)?;
            for ((i, _), parts) in chosen.iter().zip(found) {
                rows[*i] = Some(parts);
            }
        }
        Ok((occlusion_column(&rows), skipped))
    }
}

/// `ln(p / (1 - p))`, with `p` kept within 1e-7 of 0 and 1.
fn log_odds(p: f32) -> f32 {
    let p = f64::from(p).clamp(1e-7, 1.0 - 1e-7);
    (p / (1.0 - p)).ln() as f32
}

/// The verdict type with the occlusion field added.
pub fn with_occlusion_type(verdict: &DataType) -> DataType {
    match verdict {
        DataType::Struct(fields) => {
            let mut f: Vec<Field> = fields.iter().map(|f| f.as_ref().clone()).collect();
            f.push(Field::new(OCCLUSION, occlusion_type(), true));
            DataType::Struct(Fields::from(f))
        }
        other => other.clone(),
    }
}

/// `scored` with the occlusion column added as a field.
pub fn with_occlusion(scored: StructArray, occlusion: ArrayRef) -> anyhow::Result<StructArray> {
    let (fields, mut columns, nulls) = scored.into_parts();
    let mut f: Vec<Field> = fields.iter().map(|f| f.as_ref().clone()).collect();
    f.push(Field::new(OCCLUSION, occlusion.data_type().clone(), true));
    columns.push(occlusion);
    Ok(StructArray::try_new(Fields::from(f), columns, nulls)?)
}
