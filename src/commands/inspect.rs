//! `hardneg inspect`: schema, row count, negatives per row and score statistics of an output.

use std::fs::File;
use std::path::Path;

use arrow::array::{Array, AsArray, ListArray};
use arrow::datatypes::{DataType, Float32Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Result};
use crate::stats::{ScoreStats, table};

/// Describes a Parquet training set (or a JSONL one through its provenance sidecar).
pub fn run(path: &Path) -> Result<String> {
    let parquet_path = crate::output::provenance_parquet(path)?;
    let perr = |e: &dyn std::fmt::Display| Error::Parquet {
        path: parquet_path.clone(),
        message: e.to_string(),
    };
    let file = File::open(&parquet_path).map_err(|e| Error::io(&parquet_path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| perr(&e))?;
    let schema = builder.schema().clone();
    let rows = builder.metadata().file_metadata().num_rows();
    let mut out = format!("{}\n{} rows\nschema:\n", parquet_path.display(), rows);
    for f in schema.fields() {
        out.push_str(&format!(
            "  {}: {}{}\n",
            f.name(),
            f.data_type(),
            if f.is_nullable() { "" } else { " not null" }
        ));
    }
    let mut per_row: Vec<usize> = Vec::new();
    let mut negative = Vec::new();
    let mut positive = Vec::new();
    for batch in builder.build().map_err(|e| perr(&e))? {
        let batch = batch.map_err(|e| perr(&e))?;
        if let Some(col) = batch.column_by_name("negative_scores") {
            let list: &ListArray = col.as_list::<i32>();
            for i in 0..list.len() {
                let v = list.value(i);
                let v = v.as_primitive::<Float32Type>();
                per_row.push(v.len());
                negative.extend(v.iter().flatten().map(f64::from));
            }
        } else if let Some(col) = batch.column_by_name("negative_score") {
            negative.extend(col.as_primitive::<Float32Type>().iter().flatten().map(f64::from));
        }
        if let Some(col) = batch
            .column_by_name("positive_score")
            .filter(|c| c.data_type() == &DataType::Float32)
        {
            positive.extend(col.as_primitive::<Float32Type>().iter().flatten().map(f64::from));
        }
    }
    if !per_row.is_empty() {
        let mut hist = std::collections::BTreeMap::new();
        per_row.iter().for_each(|n| *hist.entry(*n).or_insert(0usize) += 1);
        out.push_str("negatives per row:");
        for (n, count) in hist {
            out.push_str(&format!(" {n}:{count}"));
        }
        out.push('\n');
    }
    if !negative.is_empty() || !positive.is_empty() {
        out.push_str(&table(&[
            ("Positive", &ScoreStats::of(positive)),
            ("Negative", &ScoreStats::of(negative)),
        ]));
        out.push('\n');
    }
    Ok(out)
}
