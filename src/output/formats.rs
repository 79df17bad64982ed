//! The output formats trainers read, as Arrow schemas and record batches. Each Parquet format
//! carries provenance columns unless `--no-provenance`; `schemas/` holds the golden schemas.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float32Array, Float32Builder, Int64Array, Int64Builder, ListBuilder, RecordBatch, StringArray,
    StringBuilder, StructBuilder,
};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};

use super::rows::TrainingRow;

/// Output formats (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// (anchor, positive, negative): one row per negative.
    Triplet,
    /// (anchor, positive, negative_1..negative_N).
    NTuple,
    /// n-tuple plus `scores`: query–positive then query–negative similarities.
    NTupleScores,
    /// (anchor, text, label): the positive with label 1, then each negative with label 0.
    LabeledPair,
    /// (anchor, texts, labels): positive first, then negatives.
    LabeledList,
    /// FlagEmbedding JSONL (query, pos, neg, pos_scores, neg_scores) + provenance sidecar.
    FlagEmbedding,
    /// Tevatron JSONL (query_id, query, positive_passages, negative_passages) + provenance sidecar.
    Tevatron,
}

impl Format {
    /// Every format, in documentation order.
    pub const ALL: [Format; 7] = [
        Format::Triplet,
        Format::NTuple,
        Format::NTupleScores,
        Format::LabeledPair,
        Format::LabeledList,
        Format::FlagEmbedding,
        Format::Tevatron,
    ];

    /// The name used on the command line and in `schemas/`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Triplet => "triplet",
            Format::NTuple => "n-tuple",
            Format::NTupleScores => "n-tuple-scores",
            Format::LabeledPair => "labeled-pair",
            Format::LabeledList => "labeled-list",
            Format::FlagEmbedding => "flag-embedding",
            Format::Tevatron => "tevatron",
        }
    }

    /// JSONL formats write their provenance to a Parquet sidecar.
    pub fn is_jsonl(self) -> bool {
        matches!(self, Format::FlagEmbedding | Format::Tevatron)
    }

    /// Fixed-width formats drop short rows unless `--keep-short` (nulls break trainers).
    pub fn is_fixed_width(self) -> bool {
        matches!(self, Format::NTuple | Format::NTupleScores)
    }

    /// Whether a row carries several negatives (list provenance columns) or one.
    fn per_negative_rows(self) -> bool {
        matches!(self, Format::Triplet | Format::LabeledPair)
    }
}

fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

fn list(name: &str, item: DataType) -> Field {
    Field::new(name, DataType::List(Arc::new(Field::new("item", item, true))), true)
}

fn edit_struct() -> DataType {
    DataType::Struct(Fields::from(vec![
        utf8("family", true),
        utf8("original", true),
        utf8("replacement", true),
        Field::new("offset", DataType::Int64, true),
        utf8("anchor", true),
    ]))
}

/// Provenance columns of a format (the sidecar schema for JSONL formats).
fn provenance_fields(format: Format) -> Vec<Field> {
    let mut f = vec![
        utf8("query_id", false),
        utf8("positive_id", false),
        Field::new("positive_score", DataType::Float32, false),
    ];
    if format.per_negative_rows() {
        f.extend([
            utf8("negative_id", true),
            Field::new("negative_score", DataType::Float32, true),
            Field::new("negative_rank", DataType::Int64, true),
            utf8("negative_source", true),
            list("negative_edits", edit_struct()),
        ]);
    } else {
        f.extend([
            list("negative_ids", DataType::Utf8),
            list("negative_scores", DataType::Float32),
            list("negative_ranks", DataType::Int64),
            list("negative_sources", DataType::Utf8),
            list("negative_edits", edit_struct()),
            Field::new("num_negatives", DataType::Int64, false),
        ]);
    }
    f
}

/// The Arrow schema of a Parquet format with `n` negatives per row (for JSONL formats: the
/// provenance sidecar's schema).
pub fn schema(format: Format, n: usize, provenance: bool) -> SchemaRef {
    let mut fields = match format {
        Format::Triplet => vec![utf8("anchor", false), utf8("positive", false), utf8("negative", false)],
        Format::NTuple | Format::NTupleScores => {
            let mut f = vec![utf8("anchor", false), utf8("positive", false)];
            f.extend((1..=n).map(|i| utf8(&format!("negative_{i}"), true)));
            if format == Format::NTupleScores {
                f.push(list("scores", DataType::Float32));
            }
            f
        }
        Format::LabeledPair => vec![
            utf8("anchor", false),
            utf8("text", false),
            Field::new("label", DataType::Int64, false),
        ],
        Format::LabeledList => vec![
            utf8("anchor", false),
            list("texts", DataType::Utf8),
            list("labels", DataType::Int64),
        ],
        Format::FlagEmbedding | Format::Tevatron => Vec::new(),
    };
    if provenance || format.is_jsonl() {
        fields.extend(provenance_fields(format));
    }
    Arc::new(Schema::new(fields))
}

/// One output line of a per-negative format: the row and which negative (`None`: the positive's
/// own line in `labeled-pair`).
struct Line<'a> {
    row: &'a TrainingRow,
    negative: Option<usize>,
}

fn lines(format: Format, rows: &[TrainingRow]) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    for row in rows {
        if format == Format::LabeledPair {
            out.push(Line { row, negative: None });
        }
        out.extend((0..row.negatives.len()).map(|i| Line { row, negative: Some(i) }));
    }
    out
}

fn str_col<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

fn list_col<T, B>(
    rows: &[TrainingRow],
    mut builder: ListBuilder<B>,
    items: impl Fn(&TrainingRow) -> Vec<T>,
    push: impl Fn(&mut B, T),
) -> ArrayRef
where
    B: arrow::array::ArrayBuilder,
{
    for row in rows {
        for item in items(row) {
            push(builder.values(), item);
        }
        builder.append(true);
    }
    Arc::new(builder.finish())
}

fn edits_col<'a>(groups: impl Iterator<Item = Vec<Option<&'a super::rows::Edit>>>, per_negative: bool) -> ArrayRef {
    let fields = match edit_struct() {
        DataType::Struct(f) => f,
        _ => unreachable!(),
    };
    let mut builder = ListBuilder::new(StructBuilder::from_fields(fields, 0));
    for group in groups {
        let any = group.iter().any(Option::is_some);
        if per_negative && !any {
            builder.append(false); // a mined negative: null
            continue;
        }
        for edit in group.iter().filter(|e| !per_negative || e.is_some()) {
            let s = builder.values();
            for (i, v) in [
                edit.map(|e| &e.family),
                edit.map(|e| &e.original),
                edit.map(|e| &e.replacement),
            ]
            .iter()
            .enumerate()
            {
                s.field_builder::<StringBuilder>(i)
                    .expect("string field")
                    .append_option(v.map(String::as_str));
            }
            s.field_builder::<Int64Builder>(3)
                .expect("offset field")
                .append_option(edit.and_then(|e| e.offset).map(|o| o as i64));
            s.field_builder::<StringBuilder>(4)
                .expect("anchor field")
                .append_option(edit.and_then(|e| e.anchor.as_deref()));
            s.append(edit.is_some());
        }
        builder.append(true);
    }
    Arc::new(builder.finish())
}

/// Builds one record batch of `format` from `rows`. Short rows must already be dropped or kept
/// as the caller decided; fixed-width formats fill missing negatives with nulls.
pub fn record_batch(format: Format, rows: &[TrainingRow], n: usize, provenance: bool) -> RecordBatch {
    let schema = schema(format, n, provenance);
    let mut cols: Vec<ArrayRef> = Vec::new();
    if format.per_negative_rows() {
        let lines = lines(format, rows);
        fn neg<'a>(l: &Line<'a>) -> Option<&'a super::rows::Negative> {
            l.negative.map(|i| &l.row.negatives[i])
        }
        cols.push(str_col(lines.iter().map(|l| Some(l.row.query.as_str()))));
        if format == Format::Triplet {
            cols.push(str_col(lines.iter().map(|l| Some(l.row.positive.as_str()))));
            cols.push(str_col(lines.iter().map(|l| neg(l).map(|n| n.text.as_str()))));
        } else {
            cols.push(str_col(
                lines
                    .iter()
                    .map(|l| Some(neg(l).map_or(l.row.positive.as_str(), |n| n.text.as_str()))),
            ));
            cols.push(Arc::new(
                lines
                    .iter()
                    .map(|l| Some(i64::from(l.negative.is_none())))
                    .collect::<Int64Array>(),
            ));
        }
        if provenance {
            cols.push(str_col(lines.iter().map(|l| Some(l.row.query_id.as_str()))));
            cols.push(str_col(lines.iter().map(|l| Some(l.row.positive_id.as_str()))));
            cols.push(Arc::new(
                lines
                    .iter()
                    .map(|l| Some(l.row.positive_score))
                    .collect::<Float32Array>(),
            ));
            cols.push(str_col(lines.iter().map(|l| neg(l).map(|n| n.id.as_str()))));
            cols.push(Arc::new(
                lines.iter().map(|l| neg(l).map(|n| n.score)).collect::<Float32Array>(),
            ));
            cols.push(Arc::new(
                lines
                    .iter()
                    .map(|l| neg(l).and_then(|n| n.rank.map(i64::from)))
                    .collect::<Int64Array>(),
            ));
            cols.push(str_col(lines.iter().map(|l| neg(l).map(|n| n.source.as_str()))));
            cols.push(edits_col(
                lines.iter().map(|l| vec![neg(l).and_then(|n| n.edit.as_ref())]),
                true,
            ));
        }
    } else {
        match format {
            Format::NTuple | Format::NTupleScores => {
                cols.push(str_col(rows.iter().map(|r| Some(r.query.as_str()))));
                cols.push(str_col(rows.iter().map(|r| Some(r.positive.as_str()))));
                for i in 0..n {
                    cols.push(str_col(
                        rows.iter().map(|r| r.negatives.get(i).map(|x| x.text.as_str())),
                    ));
                }
                if format == Format::NTupleScores {
                    cols.push(list_col(
                        rows,
                        ListBuilder::new(Float32Builder::new()),
                        |r| {
                            std::iter::once(r.positive_score)
                                .chain(r.negatives.iter().take(n).map(|x| x.score))
                                .collect()
                        },
                        |b, v| b.append_value(v),
                    ));
                }
            }
            Format::LabeledList => {
                cols.push(str_col(rows.iter().map(|r| Some(r.query.as_str()))));
                cols.push(list_col(
                    rows,
                    ListBuilder::new(StringBuilder::new()),
                    |r| {
                        std::iter::once(r.positive.clone())
                            .chain(r.negatives.iter().map(|x| x.text.clone()))
                            .collect()
                    },
                    |b, v| b.append_value(v),
                ));
                cols.push(list_col(
                    rows,
                    ListBuilder::new(Int64Builder::new()),
                    |r| std::iter::once(1).chain(r.negatives.iter().map(|_| 0)).collect(),
                    |b, v| b.append_value(v),
                ));
            }
            _ => {}
        }
        if provenance || format.is_jsonl() {
            cols.push(str_col(rows.iter().map(|r| Some(r.query_id.as_str()))));
            cols.push(str_col(rows.iter().map(|r| Some(r.positive_id.as_str()))));
            cols.push(Arc::new(
                rows.iter().map(|r| Some(r.positive_score)).collect::<Float32Array>(),
            ));
            cols.push(list_col(
                rows,
                ListBuilder::new(StringBuilder::new()),
                |r| r.negatives.iter().map(|x| x.id.clone()).collect(),
                |b, v| b.append_value(v),
            ));
            cols.push(list_col(
                rows,
                ListBuilder::new(Float32Builder::new()),
                |r| r.negatives.iter().map(|x| x.score).collect(),
                |b, v| b.append_value(v),
            ));
            cols.push(list_col(
                rows,
                ListBuilder::new(Int64Builder::new()),
                |r| r.negatives.iter().map(|x| x.rank.map(i64::from)).collect(),
                |b, v| b.append_option(v),
            ));
            cols.push(list_col(
                rows,
                ListBuilder::new(StringBuilder::new()),
                |r| r.negatives.iter().map(|x| x.source.clone()).collect(),
                |b, v| b.append_value(v),
            ));
            cols.push(edits_col(
                rows.iter()
                    .map(|r| r.negatives.iter().map(|x| x.edit.as_ref()).collect()),
                false,
            ));
            cols.push(Arc::new(
                rows.iter()
                    .map(|r| Some(r.negatives.len() as i64))
                    .collect::<Int64Array>(),
            ));
        }
    }
    RecordBatch::try_new(schema, cols).expect("columns are built to match the schema")
}

/// A JSON line of a JSONL format.
pub fn json_line(format: Format, row: &TrainingRow) -> serde_json::Value {
    match format {
        Format::FlagEmbedding => serde_json::json!({
            "query": row.query,
            "pos": [row.positive],
            "neg": row.negatives.iter().map(|n| &n.text).collect::<Vec<_>>(),
            "pos_scores": [row.positive_score],
            "neg_scores": row.negatives.iter().map(|n| n.score).collect::<Vec<_>>(),
        }),
        _ => serde_json::json!({
            "query_id": row.query_id,
            "query": row.query,
            "positive_passages": [{"docid": row.positive_id, "title": "", "text": row.positive}],
            "negative_passages": row.negatives.iter().map(|n| serde_json::json!({"docid": n.id, "title": "", "text": n.text})).collect::<Vec<_>>(),
        }),
    }
}

/// A schema as a small JSON document (name, type, nullable per field), the form kept in `schemas/`.
pub fn schema_json(schema: &Schema) -> serde_json::Value {
    serde_json::Value::Array(
        schema
            .fields()
            .iter()
            .map(|f| serde_json::json!({"name": f.name(), "type": f.data_type().to_string(), "nullable": f.is_nullable()}))
            .collect(),
    )
}
