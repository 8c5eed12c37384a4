//! The event store's tables, their base schemas (`DESIGN.md`, "Data model") and the
//! kinds of records that land in them. They live here, below the runtime and the
//! query engine, so that every crate (the dashboard's included) shares them.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// One table of the event store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Flow records (`vigil_ingest::flows_schema`) plus one verdict struct per model.
    Flows,
    /// Metric points, with forecast and anomaly score where scored.
    Metrics,
    /// User and host actions, with HSTU's surprise where scored.
    Actions,
    /// EVE-style alerts raised by rules over model verdicts.
    Alerts,
    /// Input that could not be read: where it was, why, and its raw bytes.
    DeadLetters,
    /// An analyst's decisions on alerts (acknowledge, escalate, reopen), appended: an
    /// alert's state is its latest row, `new` without one.
    AlertState,
}

impl Table {
    /// Every table, in a stable order.
    pub const ALL: [Table; 6] = [
        Table::Flows,
        Table::Metrics,
        Table::Actions,
        Table::Alerts,
        Table::DeadLetters,
        Table::AlertState,
    ];

    /// The table's name, also its directory and its SQL name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Flows => "flows",
            Table::Metrics => "metrics",
            Table::Actions => "actions",
            Table::Alerts => "alerts",
            Table::DeadLetters => "dead_letters",
            Table::AlertState => "alert_state",
        }
    }

    /// The timestamp column that picks a row's date and hour partition.
    pub fn time_column(self) -> &'static str {
        match self {
            Table::Flows => "ts_start",
            Table::Alerts => "timestamp",
            Table::Metrics | Table::Actions | Table::DeadLetters | Table::AlertState => "ts",
        }
    }

    /// The columns every file of the table has; scoring adds columns after these.
    pub fn base_schema(self) -> SchemaRef {
        match self {
            Table::Flows => crate::flows_schema(),
            Table::Metrics => metrics_schema(),
            Table::Actions => actions_schema(),
            Table::Alerts => alerts_schema(),
            Table::DeadLetters => dead_letters_schema(),
            Table::AlertState => alert_state_schema(),
        }
    }
}

/// The kind of records in a batch; each lands in the store table of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    /// Flow records (`flows` schema, plus verdict columns).
    Flows,
    /// Metric points (`metrics` schema).
    Metrics,
    /// Actions (`actions` schema).
    Actions,
    /// Alerts (`alerts` schema).
    Alerts,
    /// Dead letters (`dead_letters` schema).
    DeadLetters,
}

impl RecordKind {
    /// The store table of this kind.
    pub fn table(self) -> Table {
        match self {
            RecordKind::Flows => Table::Flows,
            RecordKind::Metrics => Table::Metrics,
            RecordKind::Actions => Table::Actions,
            RecordKind::Alerts => Table::Alerts,
            RecordKind::DeadLetters => Table::DeadLetters,
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.table().name())
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Table {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Table::ALL.into_iter().find(|t| t.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
            format!("unknown table `{s}` (tables: {})", names.join(", "))
        })
    }
}

/// Timestamp in microseconds, UTC: the type of every table's time column.
pub fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// `metrics`: one row per series and step.
fn metrics_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("series", DataType::Utf8, false),
        Field::new("ts", ts_type(), false),
        Field::new("value", DataType::Float64, true),
        Field::new("forecast", DataType::Float64, true),
        Field::new("anomaly_score", DataType::Float32, true),
        Field::new("model", DataType::Utf8, true),
        Field::new("source", DataType::Utf8, false),
        Field::new("sensor", DataType::Utf8, false),
    ]))
}

/// `actions`: one row per action of an entity.
fn actions_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("entity", DataType::Utf8, false),
        Field::new("ts", ts_type(), false),
        Field::new("action", DataType::Utf8, false),
        Field::new("object", DataType::Utf8, true),
        Field::new("surprise", DataType::Float32, true),
        Field::new("rank", DataType::UInt32, true),
        Field::new("predicted", DataType::Utf8, true),
        Field::new("model", DataType::Utf8, true),
        Field::new("source", DataType::Utf8, false),
        Field::new("sensor", DataType::Utf8, false),
    ]))
}

/// `alerts`: EVE-style, flattened (`signature`, `category`, `severity` are EVE's
/// `alert.*` fields), one row per raised alert.
fn alerts_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("timestamp", ts_type(), false),
        Field::new("event_type", DataType::Utf8, false),
        Field::new("flow_id", DataType::UInt64, true),
        Field::new("community_id", DataType::Utf8, true),
        Field::new("src_ip", DataType::Utf8, true),
        Field::new("src_port", DataType::UInt16, true),
        Field::new("dest_ip", DataType::Utf8, true),
        Field::new("dest_port", DataType::UInt16, true),
        Field::new("proto", DataType::UInt8, true),
        Field::new("entity", DataType::Utf8, true),
        Field::new("signature", DataType::Utf8, false),
        Field::new("category", DataType::Utf8, false),
        Field::new("severity", DataType::UInt8, false),
        Field::new("model", DataType::Utf8, false),
        Field::new("label", DataType::Utf8, true),
        Field::new("score", DataType::Float32, false),
        Field::new("evidence", DataType::Utf8, false),
        Field::new("sensor", DataType::Utf8, false),
        // Added with the rules engine; files written before it lack them (null).
        Field::new("alert_id", DataType::Utf8, true),
        Field::new("gid", DataType::UInt32, true),
        Field::new("signature_id", DataType::UInt32, true),
        Field::new("rev", DataType::UInt32, true),
        Field::new("model_version", DataType::Utf8, true),
        Field::new("model_sha256", DataType::Utf8, true),
        Field::new("suppressed", DataType::UInt64, true),
    ]))
}

/// `dead_letters`: input that could not be read.
fn dead_letters_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("ts", ts_type(), false),
        Field::new("source", DataType::Utf8, false),
        Field::new("position", DataType::Utf8, false),
        Field::new("error", DataType::Utf8, false),
        Field::new("raw", DataType::Binary, false),
        Field::new("sensor", DataType::Utf8, false),
    ]))
}

/// `alert_state`: one row per decision on an alert (`state`: `new`, `acknowledged` or
/// `escalated`), by whom and why.
fn alert_state_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("ts", ts_type(), false),
        Field::new("alert_id", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("actor", DataType::Utf8, true),
        Field::new("comment", DataType::Utf8, true),
        Field::new("sensor", DataType::Utf8, false),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_time_columns_exist() {
        for t in Table::ALL {
            assert_eq!(t.name().parse::<Table>().unwrap(), t);
            let schema = t.base_schema();
            let f = schema.field_with_name(t.time_column()).unwrap();
            assert_eq!(f.data_type(), &ts_type(), "{t}");
        }
        assert!("flow".parse::<Table>().unwrap_err().contains("flows, metrics"));
    }
}
