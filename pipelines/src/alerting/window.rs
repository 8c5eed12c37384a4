//! The recent rows of a table that SQL rules read: batches kept in arrival order,
//! projected on the table's base columns, and dropped once no rule's window can reach
//! them any more, or past a cap on rows (the oldest first, counted).

use std::collections::VecDeque;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, new_null_array};
use arrow_schema::SchemaRef;
use datafusion::arrow::compute::{cast, filter_record_batch};
use vigil_ingest::tables::Table;

/// Rows a table's window keeps at most, unless configured otherwise.
pub const DEFAULT_MAX_ROWS: usize = 1_000_000;

/// One table's recent rows.
#[derive(Debug)]
pub struct TableWindow {
    schema: SchemaRef,
    time_column: &'static str,
    /// Batches with the event times of their oldest and newest rows.
    batches: VecDeque<(RecordBatch, i64, i64)>,
    rows: usize,
    max_rows: usize,
    /// The newest event time seen.
    pub watermark: Option<i64>,
    /// Rows dropped because they came after every window they belong to was evaluated.
    pub late_rows: u64,
    /// Rows dropped at the cap.
    pub evicted_rows: u64,
}

impl TableWindow {
    /// An empty window of `table`, keeping at most `max_rows` rows.
    pub fn new(table: Table, max_rows: usize) -> TableWindow {
        let base = table.base_schema();
        let nullable: Vec<arrow_schema::Field> =
            base.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
        TableWindow {
            schema: Arc::new(arrow_schema::Schema::new(nullable)),
            time_column: table.time_column(),
            batches: VecDeque::new(),
            rows: 0,
            max_rows: max_rows.max(1),
            watermark: None,
            late_rows: 0,
            evicted_rows: 0,
        }
    }

    /// The columns the rules see: the table's base columns, all nullable.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Rows held now.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Take in a batch's rows newer than `horizon` (older ones are late: counted and
    /// dropped); returns the event times taken.
    pub fn push(&mut self, batch: &RecordBatch, horizon: Option<i64>) -> anyhow::Result<Vec<i64>> {
        let projected = self.project(batch)?;
        let times = times(&projected, self.time_column)?;
        let keep: Vec<bool> = times.iter().map(|t| horizon.is_none_or(|h| *t > h)).collect();
        let kept: Vec<i64> =
            times.iter().zip(&keep).filter(|(_, k)| **k).map(|(t, _)| *t).collect();
        self.late_rows += (times.len() - kept.len()) as u64;
        if kept.is_empty() {
            return Ok(kept);
        }
        let batch = if kept.len() == times.len() {
            projected
        } else {
            filter_record_batch(&projected, &BooleanArray::from(keep))?
        };
        let (lo, hi) = (*kept.iter().min().unwrap(), *kept.iter().max().unwrap());
        self.watermark = Some(self.watermark.map_or(hi, |w| w.max(hi)));
        self.rows += batch.num_rows();
        self.batches.push_back((batch, lo, hi));
        while self.rows > self.max_rows {
            let Some((b, _, _)) = self.batches.pop_front() else { break };
            self.rows -= b.num_rows();
            self.evicted_rows += b.num_rows() as u64;
        }
        Ok(kept)
    }

    /// The rows with event times in `(start, end]`.
    pub fn slice(&self, start: i64, end: i64) -> anyhow::Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        for (b, lo, hi) in &self.batches {
            if *hi <= start || *lo > end {
                continue;
            }
            if *lo > start && *hi <= end {
                out.push(b.clone());
                continue;
            }
            let mask: BooleanArray =
                times(b, self.time_column)?.iter().map(|t| Some(*t > start && *t <= end)).collect();
            let f = filter_record_batch(b, &mask)?;
            if f.num_rows() > 0 {
                out.push(f);
            }
        }
        Ok(out)
    }

    /// Drop the batches whose rows are all at or before `horizon`.
    pub fn forget_until(&mut self, horizon: i64) {
        while let Some((b, _, hi)) = self.batches.front() {
            if *hi > horizon {
                break;
            }
            self.rows -= b.num_rows();
            self.batches.pop_front();
        }
    }

    /// `batch` with the base columns only, in their order and types.
    fn project(&self, batch: &RecordBatch) -> anyhow::Result<RecordBatch> {
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for f in self.schema.fields() {
            let col = match batch.column_by_name(f.name()) {
                Some(c) if c.data_type() == f.data_type() => c.clone(),
                Some(c) => cast(c, f.data_type())?,
                None => new_null_array(f.data_type(), batch.num_rows()),
            };
            cols.push(col);
        }
        Ok(RecordBatch::try_new(self.schema.clone(), cols)?)
    }
}

fn times(b: &RecordBatch, column: &str) -> anyhow::Result<Vec<i64>> {
    let c = b.column_by_name(column).ok_or_else(|| anyhow::anyhow!("rows without `{column}`"))?;
    let c = c
        .as_primitive_opt::<TimestampMicrosecondType>()
        .ok_or_else(|| anyhow::anyhow!("`{column}` is {}, not a timestamp", c.data_type()))?;
    Ok((0..c.len()).map(|i| if c.is_valid(i) { c.value(i) } else { i64::MIN }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::rows::actions_batch;
    use vigil_ingest::actions::ActionEvent;

    fn actions(times: &[i64]) -> RecordBatch {
        let events: Vec<ActionEvent> = times
            .iter()
            .map(|t| ActionEvent {
                entity: "e".into(),
                ts: *t,
                action: "a".into(),
                object: "o".into(),
            })
            .collect();
        actions_batch(&events, "test", "s1")
    }

    #[test]
    fn windows_slice_by_event_time_and_forget_old_rows() {
        let mut w = TableWindow::new(Table::Actions, 100);
        assert_eq!(w.push(&actions(&[1, 2, 3]), None).unwrap(), [1, 2, 3]);
        w.push(&actions(&[10, 11]), None).unwrap();
        let rows = |b: Vec<RecordBatch>| b.iter().map(RecordBatch::num_rows).sum::<usize>();
        assert_eq!(rows(w.slice(2, 10).unwrap()), 2, "(2, 10] holds 3 and 10");
        assert_eq!(rows(w.slice(0, 100).unwrap()), 5);
        assert_eq!(w.watermark, Some(11));
        // Late rows (at or before the horizon) are dropped and counted.
        assert_eq!(w.push(&actions(&[4, 12]), Some(5)).unwrap(), [12]);
        assert_eq!(w.late_rows, 1);
        w.forget_until(3);
        assert_eq!(w.rows(), 3);
    }

    #[test]
    fn the_cap_evicts_the_oldest_batches() {
        let mut w = TableWindow::new(Table::Actions, 4);
        w.push(&actions(&[1, 2, 3]), None).unwrap();
        w.push(&actions(&[4, 5]), None).unwrap();
        assert_eq!((w.rows(), w.evicted_rows), (2, 3));
    }
}
