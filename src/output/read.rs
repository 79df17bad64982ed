//! Reading a training set back, in any of the formats the project writes: a Parquet file, a
//! folder of Parquet parts, or a JSONL file with its `.provenance.parquet` sidecar. Rows stream
//! from the provenance columns (ids, scores, ranks, sources, edits) batch by batch; texts are read
//! afterwards for the few rows asked for, so a large set is never held in memory.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StructArray};
use arrow::datatypes::{DataType, Float32Type, Float64Type, Int64Type};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReaderBuilder, RowSelection, RowSelector};

use super::rows::Edit;
use crate::error::{Error, Result};

/// One negative as its provenance records it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadNegative {
    /// Corpus id (or a counterfactual's derived id).
    pub id: String,
    /// Cosine to the query, when recorded.
    pub score: Option<f32>,
    /// 0-based rank in the query's ranking, for mined negatives.
    pub rank: Option<i64>,
    /// `mined` or `counterfactual:<family>` (`mined` when not recorded).
    pub source: String,
    /// The edit of a counterfactual.
    pub edit: Option<Edit>,
}

/// One (query, positive) row with its negatives.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadRow {
    /// Where the row starts: its first line (Parquet row or JSONL line) over the whole set.
    pub line: usize,
    /// Lines the row spans (one per negative in per-negative formats).
    pub lines: usize,
    /// Query id.
    pub query_id: String,
    /// Positive id.
    pub positive_id: String,
    /// Query–positive cosine, when recorded.
    pub positive_score: Option<f32>,
    /// The negatives, in the row's order.
    pub negatives: Vec<ReadNegative>,
}

/// The texts of one row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowTexts {
    /// The query (anchor).
    pub query: String,
    /// The positive.
    pub positive: String,
    /// The negatives, in the row's order.
    pub negatives: Vec<String>,
}

/// The files of a training set.
#[derive(Debug, Clone)]
pub struct TrainingSetFiles {
    /// The Parquet files holding provenance, in row order.
    pub parquet: Vec<PathBuf>,
    /// The JSONL file holding the texts, for the JSONL formats.
    pub jsonl: Option<PathBuf>,
}

impl TrainingSetFiles {
    /// Finds the files of the training set at `path`.
    pub fn locate(path: &Path) -> Result<Self> {
        if path.is_dir() {
            let mut parts: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| Error::io(path, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("part-") && n.ends_with(".parquet"))
                })
                .collect();
            parts.sort();
            if parts.is_empty() {
                return Err(Error::input(
                    path,
                    "a folder without part-*.parquet files: not a training set",
                ));
            }
            return Ok(TrainingSetFiles {
                parquet: parts,
                jsonl: None,
            });
        }
        let parquet = super::provenance_parquet(path)?;
        let jsonl = (parquet != path).then(|| path.to_path_buf());
        Ok(TrainingSetFiles {
            parquet: vec![parquet],
            jsonl,
        })
    }

    /// Streams the rows, in order, to `each`.
    pub fn for_each_row(&self, mut each: impl FnMut(ReadRow) -> Result<()>) -> Result<()> {
        let mut line = 0usize;
        let mut pending: Option<ReadRow> = None;
        for path in &self.parquet {
            let perr = |e: &dyn std::fmt::Display| Error::Parquet {
                path: path.clone(),
                message: e.to_string(),
            };
            let file = File::open(path).map_err(|e| Error::io(path, e))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| perr(&e))?;
            let schema = builder.schema().clone();
            let missing = |c: &str| {
                Error::input(
                    path,
                    format!(
                        "no `{c}` column: not a hardneg training set, or written with --no-provenance (hardneg reads the provenance columns)"
                    ),
                )
            };
            for c in ["query_id", "positive_id"] {
                schema.field_with_name(c).map_err(|_| missing(c))?;
            }
            let per_row = schema.field_with_name("negative_ids").is_ok();
            if !per_row && schema.field_with_name("negative_id").is_err() {
                return Err(missing("negative_ids"));
            }
            let keep: Vec<usize> = schema
                .fields()
                .iter()
                .enumerate()
                .filter(|(_, f)| PROVENANCE.contains(&f.name().as_str()))
                .map(|(i, _)| i)
                .collect();
            let mask = ProjectionMask::roots(builder.parquet_schema(), keep);
            let reader = builder.with_projection(mask).build().map_err(|e| perr(&e))?;
            for batch in reader {
                let batch = batch.map_err(|e| perr(&e))?;
                if per_row {
                    for row in list_rows(&batch, line) {
                        each(row)?;
                    }
                } else {
                    for (row, negative) in line_rows(&batch, line) {
                        match &mut pending {
                            Some(p) if p.query_id == row.query_id && p.positive_id == row.positive_id => {
                                p.lines += 1;
                                p.negatives.extend(negative);
                            }
                            _ => {
                                if let Some(done) = pending.take() {
                                    each(done)?;
                                }
                                let mut row = row;
                                row.negatives.extend(negative);
                                pending = Some(row);
                            }
                        }
                    }
                }
                line += batch.num_rows();
            }
        }
        if let Some(done) = pending {
            each(done)?;
        }
        Ok(())
    }

    /// The texts of the rows at `wanted` (a row's first line and line count), read only for them.
    pub fn texts(&self, wanted: &[(usize, usize)]) -> Result<BTreeMap<usize, RowTexts>> {
        let mut lines: Vec<usize> = wanted.iter().flat_map(|&(l, n)| l..l + n).collect();
        lines.sort_unstable();
        lines.dedup();
        let by_line = match &self.jsonl {
            Some(jsonl) => jsonl_lines(jsonl, &lines)?,
            None => parquet_lines(&self.parquet, &lines)?,
        };
        let mut out = BTreeMap::new();
        for &(first, count) in wanted {
            let mut texts = RowTexts::default();
            for l in first..first + count {
                let Some(line) = by_line.get(&l) else { continue };
                texts.query.clone_from(&line.query);
                if let Some(p) = &line.positive {
                    texts.positive.clone_from(p);
                }
                texts.negatives.extend(line.negatives.iter().cloned());
            }
            out.insert(first, texts);
        }
        Ok(out)
    }
}

/// The provenance columns (texts are left unread in the first pass).
const PROVENANCE: [&str; 12] = [
    "query_id",
    "positive_id",
    "positive_score",
    "negative_id",
    "negative_score",
    "negative_rank",
    "negative_source",
    "negative_ids",
    "negative_scores",
    "negative_ranks",
    "negative_sources",
    "negative_edits",
];

fn str_at(col: &ArrayRef, i: usize) -> Option<String> {
    (!col.is_null(i)).then(|| match col.data_type() {
        DataType::Utf8 => col.as_string::<i32>().value(i).to_string(),
        DataType::LargeUtf8 => col.as_string::<i64>().value(i).to_string(),
        _ => arrow::compute::cast(&col.slice(i, 1), &DataType::Utf8)
            .map(|s| s.as_string::<i32>().value(0).to_string())
            .unwrap_or_default(),
    })
}

fn f32_at(col: &ArrayRef, i: usize) -> Option<f32> {
    if col.is_null(i) {
        return None;
    }
    // The writer's types read directly; anything else through a cast.
    match col.data_type() {
        DataType::Float32 => Some(col.as_primitive::<Float32Type>().value(i)),
        _ => {
            let v = arrow::compute::cast(&col.slice(i, 1), &DataType::Float64).ok()?;
            v.is_valid(0).then(|| v.as_primitive::<Float64Type>().value(0) as f32)
        }
    }
}

fn i64_at(col: &ArrayRef, i: usize) -> Option<i64> {
    if col.is_null(i) {
        return None;
    }
    match col.data_type() {
        DataType::Int64 => Some(col.as_primitive::<Int64Type>().value(i)),
        _ => {
            let v = arrow::compute::cast(&col.slice(i, 1), &DataType::Int64).ok()?;
            v.is_valid(0).then(|| v.as_primitive::<Int64Type>().value(0))
        }
    }
}

fn edit_at(col: &ArrayRef, i: usize) -> Option<Edit> {
    let s: &StructArray = col.as_struct_opt()?;
    if s.is_null(i) {
        return None;
    }
    let field = |name: &str| s.column_by_name(name).and_then(|c| str_at(c, i)).unwrap_or_default();
    Some(Edit {
        family: field("family"),
        original: field("original"),
        replacement: field("replacement"),
        offset: s
            .column_by_name("offset")
            .and_then(|c| i64_at(c, i))
            .and_then(|o| usize::try_from(o).ok()),
        anchor: s.column_by_name("anchor").and_then(|c| str_at(c, i)),
    })
}

/// The list's value at row `i` (empty when the column is absent or the row null).
fn list_value(batch: &RecordBatch, name: &str, i: usize) -> Option<ArrayRef> {
    let col = batch.column_by_name(name)?;
    let list = col.as_list_opt::<i32>()?;
    list.is_valid(i).then(|| list.value(i))
}

/// A list column read without slicing per row: its flat values and offsets.
struct Lists<'a> {
    values: ArrayRef,
    offsets: &'a [i32],
    list: &'a arrow::array::ListArray,
}

impl<'a> Lists<'a> {
    fn of(batch: &'a RecordBatch, name: &str) -> Option<Self> {
        let list = batch.column_by_name(name)?.as_list_opt::<i32>()?;
        Some(Lists {
            values: list.values().clone(),
            offsets: list.value_offsets(),
            list,
        })
    }

    /// Flat indices of row `i`'s items (none for a null row).
    fn range(&self, i: usize) -> std::ops::Range<usize> {
        if self.list.is_null(i) {
            return 0..0;
        }
        self.offsets[i] as usize..self.offsets[i + 1] as usize
    }

    /// Item `k` of row `i`, through `get`, when the row has one.
    fn item<T>(&self, i: usize, k: usize, get: impl Fn(&ArrayRef, usize) -> Option<T>) -> Option<T> {
        let r = self.range(i);
        (k < r.len()).then(|| get(&self.values, r.start + k)).flatten()
    }
}

/// Rows of a list format (one row per line).
fn list_rows(batch: &RecordBatch, first_line: usize) -> Vec<ReadRow> {
    let col = |n: &str| batch.column_by_name(n);
    let (qid, pid, pscore) = (col("query_id"), col("positive_id"), col("positive_score"));
    let ids = Lists::of(batch, "negative_ids");
    let scores = Lists::of(batch, "negative_scores");
    let ranks = Lists::of(batch, "negative_ranks");
    let sources = Lists::of(batch, "negative_sources");
    let edits = Lists::of(batch, "negative_edits");
    (0..batch.num_rows())
        .map(|i| {
            let count = ids.as_ref().map_or(0, |l| l.range(i).len());
            let negatives = (0..count)
                .map(|j| ReadNegative {
                    id: ids.as_ref().and_then(|l| l.item(i, j, str_at)).unwrap_or_default(),
                    score: scores.as_ref().and_then(|l| l.item(i, j, f32_at)),
                    rank: ranks.as_ref().and_then(|l| l.item(i, j, i64_at)),
                    source: sources
                        .as_ref()
                        .and_then(|l| l.item(i, j, str_at))
                        .unwrap_or_else(|| "mined".into()),
                    edit: edits.as_ref().and_then(|l| l.item(i, j, edit_at)),
                })
                .collect();
            ReadRow {
                line: first_line + i,
                lines: 1,
                query_id: qid.and_then(|c| str_at(c, i)).unwrap_or_default(),
                positive_id: pid.and_then(|c| str_at(c, i)).unwrap_or_default(),
                positive_score: pscore.and_then(|c| f32_at(c, i)),
                negatives,
            }
        })
        .collect()
}

/// Lines of a per-negative format: each with its row's keys and its negative (none on a
/// `labeled-pair` positive's own line).
fn line_rows(batch: &RecordBatch, first_line: usize) -> Vec<(ReadRow, Option<ReadNegative>)> {
    let col = |n: &str| batch.column_by_name(n);
    let (qid, pid, pscore) = (col("query_id"), col("positive_id"), col("positive_score"));
    let (nid, nscore, nrank, nsource) = (
        col("negative_id"),
        col("negative_score"),
        col("negative_rank"),
        col("negative_source"),
    );
    (0..batch.num_rows())
        .map(|i| {
            let row = ReadRow {
                line: first_line + i,
                lines: 1,
                query_id: qid.and_then(|c| str_at(c, i)).unwrap_or_default(),
                positive_id: pid.and_then(|c| str_at(c, i)).unwrap_or_default(),
                positive_score: pscore.and_then(|c| f32_at(c, i)),
                negatives: Vec::new(),
            };
            let negative = nid.and_then(|c| str_at(c, i)).map(|id| ReadNegative {
                id,
                score: nscore.and_then(|c| f32_at(c, i)),
                rank: nrank.and_then(|c| i64_at(c, i)),
                source: nsource.and_then(|c| str_at(c, i)).unwrap_or_else(|| "mined".into()),
                edit: list_value(batch, "negative_edits", i)
                    .and_then(|a| (!a.is_empty()).then(|| edit_at(&a, 0)).flatten()),
            });
            (row, negative)
        })
        .collect()
}

/// The texts on one line of a training set.
#[derive(Debug, Default)]
struct LineTexts {
    query: String,
    positive: Option<String>,
    negatives: Vec<String>,
}

/// Texts of the given lines (sorted) of Parquet files, reading only those rows.
fn parquet_lines(files: &[PathBuf], lines: &[usize]) -> Result<BTreeMap<usize, LineTexts>> {
    let mut out = BTreeMap::new();
    let mut offset = 0usize;
    for path in files {
        let perr = |e: &dyn std::fmt::Display| Error::Parquet {
            path: path.clone(),
            message: e.to_string(),
        };
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| perr(&e))?;
        let rows = builder.metadata().file_metadata().num_rows() as usize;
        let local: Vec<usize> = lines
            .iter()
            .filter(|&&l| l >= offset && l < offset + rows)
            .map(|&l| l - offset)
            .collect();
        if !local.is_empty() {
            let mut selectors = Vec::new();
            let mut at = 0usize;
            for &l in &local {
                if l > at {
                    selectors.push(RowSelector::skip(l - at));
                }
                selectors.push(RowSelector::select(1));
                at = l + 1;
            }
            let reader = builder
                .with_row_selection(RowSelection::from(selectors))
                .build()
                .map_err(|e| perr(&e))?;
            let mut next = local.iter();
            for batch in reader {
                let batch = batch.map_err(|e| perr(&e))?;
                for i in 0..batch.num_rows() {
                    let l = *next.next().expect("one row per selected line");
                    out.insert(offset + l, parquet_line(&batch, i));
                }
            }
        }
        offset += rows;
    }
    Ok(out)
}

fn parquet_line(batch: &RecordBatch, i: usize) -> LineTexts {
    let text = |name: &str| batch.column_by_name(name).and_then(|c| str_at(c, i));
    let query = text("anchor").unwrap_or_default();
    if let Some(label) = batch.column_by_name("label") {
        // labeled-pair: the positive's own line (label 1) or one negative's.
        let t = text("text").unwrap_or_default();
        return if i64_at(label, i) == Some(1) {
            LineTexts {
                query,
                positive: Some(t),
                negatives: Vec::new(),
            }
        } else {
            LineTexts {
                query,
                positive: None,
                negatives: vec![t],
            }
        };
    }
    if let Some(texts) = list_value(batch, "texts", i) {
        // labeled-list: positive first.
        let all: Vec<String> = (0..texts.len()).filter_map(|j| str_at(&texts, j)).collect();
        let mut all = all.into_iter();
        return LineTexts {
            query,
            positive: all.next(),
            negatives: all.collect(),
        };
    }
    let mut negatives: Vec<String> = text("negative").into_iter().collect();
    negatives.extend(
        (1..)
            .map_while(|j| batch.column_by_name(&format!("negative_{j}")))
            .filter_map(|c| str_at(c, i)),
    );
    LineTexts {
        query,
        positive: text("positive"),
        negatives,
    }
}

/// Texts of the given lines (sorted) of a flag-embedding or tevatron JSONL file.
fn jsonl_lines(path: &Path, lines: &[usize]) -> Result<BTreeMap<usize, LineTexts>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut out = BTreeMap::new();
    let mut wanted = lines.iter().peekable();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let Some(&&next) = wanted.peek() else { break };
        let line = line.map_err(|e| Error::io(path, e))?;
        if n != next {
            continue;
        }
        wanted.next();
        let v: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| Error::record(path, n + 1, format!("not JSON: {e}")))?;
        let s = |v: &serde_json::Value| v.as_str().map(str::to_string);
        // tevatron passages are {docid, title, text}; flag-embedding's are strings.
        let passage = |v: &serde_json::Value| s(v).or_else(|| s(&v["text"]));
        let list = |key: &str| -> Vec<String> {
            v[key]
                .as_array()
                .map(|a| a.iter().filter_map(passage).collect())
                .unwrap_or_default()
        };
        let (pos, neg) = if v.get("pos").is_some() {
            (list("pos"), list("neg"))
        } else {
            (list("positive_passages"), list("negative_passages"))
        };
        out.insert(
            n,
            LineTexts {
                query: s(&v["query"]).unwrap_or_default(),
                positive: pos.into_iter().next(),
                negatives: neg,
            },
        );
    }
    Ok(out)
}
