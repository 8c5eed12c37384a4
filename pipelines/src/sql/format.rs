//! Query results written as a table, CSV, JSON lines or an Arrow IPC stream.
//!
//! CSV cells are flat, so in CSV a nested value (struct, list, map: a model's verdict
//! such as `netfound`) is written as its JSON text in one cell, e.g.
//! `"{""label"":""benign"",""score"":0.9}"`; a null is an empty cell.

use std::io::Write;
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::json::LineDelimitedWriter;
use datafusion::arrow::json::writer::{EncoderOptions, make_encoder};
use datafusion::arrow::util::pretty::pretty_format_batches;

/// How `vigil sql` prints results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// An aligned text table.
    Table,
    /// CSV with a header line; nested values as JSON text.
    Csv,
    /// One JSON object per row.
    Json,
    /// An Arrow IPC stream (binary).
    Arrow,
}

/// Write `batches` to `out` in `format`. `schema` names the columns when there are no rows.
pub fn write_batches(
    out: &mut dyn Write,
    format: OutputFormat,
    schema: &arrow_schema::SchemaRef,
    batches: &[RecordBatch],
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Table => {
            if batches.iter().all(|b| b.num_rows() == 0) {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                writeln!(out, "{}\n(0 rows)", names.join(" | "))?;
            } else {
                writeln!(out, "{}", pretty_format_batches(batches)?)?;
            }
        }
        OutputFormat::Csv => {
            // Converted before the first line is written, so a failure prints nothing.
            let schema = flat_schema(schema);
            let batches = batches
                .iter()
                .map(|b| nested_as_json(b, &schema))
                .collect::<Result<Vec<_>, _>>()?;
            let mut w = CsvWriterBuilder::new().with_header(true).build(&mut *out);
            if batches.is_empty() {
                w.write(&RecordBatch::new_empty(schema))?;
            }
            for b in &batches {
                w.write(b)?;
            }
        }
        OutputFormat::Json => {
            let mut w = LineDelimitedWriter::new(&mut *out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
        OutputFormat::Arrow => {
            let mut w = StreamWriter::try_new(&mut *out, schema)?;
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
    }
    out.flush()?;
    Ok(())
}

/// `schema` with every nested column as a nullable `Utf8` (its JSON text).
fn flat_schema(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            if f.data_type().is_nested() {
                Field::new(f.name(), DataType::Utf8, true)
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// `batch` with each nested column replaced by its values' JSON text (see [`flat_schema`]).
fn nested_as_json(
    batch: &RecordBatch,
    schema: &SchemaRef,
) -> Result<RecordBatch, datafusion::arrow::error::ArrowError> {
    if !batch.schema().fields().iter().any(|f| f.data_type().is_nested()) {
        return Ok(batch.clone());
    }
    let options = EncoderOptions::default().with_explicit_nulls(true);
    let columns = batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| {
            if !field.data_type().is_nested() {
                return Ok(column.clone());
            }
            let mut encoder = make_encoder(field, column.as_ref(), &options)?;
            let mut text = StringBuilder::new();
            let mut buf = Vec::new();
            for i in 0..column.len() {
                if column.is_null(i) {
                    text.append_null();
                    continue;
                }
                buf.clear();
                encoder.encode(i, &mut buf);
                text.append_value(String::from_utf8_lossy(&buf));
            }
            Ok(Arc::new(text.finish()) as ArrayRef)
        })
        .collect::<Result<Vec<_>, datafusion::arrow::error::ArrowError>>()?;
    RecordBatch::try_new(schema.clone(), columns)
}

#[cfg(test)]
mod tests {
    use arrow_array::builder::{Float32Builder, ListBuilder};
    use arrow_array::{Float32Array, Int64Array, StringArray, StructArray};
    use arrow_schema::Fields;

    use super::*;

    #[test]
    fn csv_writes_nested_values_as_json_text() {
        let fields = Fields::from(vec![
            Field::new("label", DataType::Utf8, true),
            Field::new("score", DataType::Float32, true),
        ]);
        let verdict = StructArray::new(
            fields.clone(),
            vec![
                Arc::new(StringArray::from(vec![Some("benign"), Some("x"), None])) as ArrayRef,
                Arc::new(Float32Array::from(vec![Some(0.5), Some(1.0), None])),
            ],
            Some(vec![true, true, false].into()),
        );
        let mut list = ListBuilder::new(Float32Builder::new());
        list.append_value([Some(1.0), None]);
        list.append_null();
        list.append_value([]);
        let list = list.finish();
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("netfound", DataType::Struct(fields), true),
            Field::new("scores", list.data_type().clone(), true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(vec![1, 2, 3])), Arc::new(verdict), Arc::new(list)],
        )
        .unwrap();
        let mut out = Vec::new();
        write_batches(&mut out, OutputFormat::Csv, &schema, &[batch]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "n,netfound,scores\n\
             1,\"{\"\"label\"\":\"\"benign\"\",\"\"score\"\":0.5}\",\"[1.0,null]\"\n\
             2,\"{\"\"label\"\":\"\"x\"\",\"\"score\"\":1.0}\",\n\
             3,,[]\n"
        );
        // No rows: the header alone.
        let mut out = Vec::new();
        write_batches(&mut out, OutputFormat::Csv, &schema, &[]).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "n,netfound,scores\n");
    }
}
