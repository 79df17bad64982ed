//! Helpers: run the binary, read Parquet back, load the fixtures.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::Float32Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fixture path.
pub fn fixture(rel: &str) -> PathBuf {
    root().join("tests/fixtures").join(rel)
}

/// Runs `hardneg args…` from the repository root.
pub fn hardneg(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hardneg"))
        .args(args)
        .current_dir(root())
        .env("RUST_LOG", "warn")
        .output()
        .expect("hardneg runs")
}

/// Runs and asserts success, returning stdout.
pub fn ok(args: &[&str]) -> String {
    let out = hardneg(args);
    assert!(
        out.status.success(),
        "hardneg {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The BEIR arguments for the shipped sample.
pub fn sample_args() -> Vec<String> {
    ["corpus.jsonl", "queries.jsonl", "qrels.tsv"]
        .iter()
        .zip(["--corpus", "--queries", "--qrels"])
        .flat_map(|(f, flag)| [flag.to_string(), fixture(&format!("sample/{f}")).display().to_string()])
        .collect()
}

/// Mines the sample into `out` with extra flags.
pub fn mine_sample(out: &Path, extra: &[&str]) {
    let mut args: Vec<String> = vec!["mine".into(), "--no-progress".into()];
    args.extend(sample_args());
    args.extend(["--out".into(), out.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
}

/// Reads a whole Parquet file into one batch.
pub fn read_parquet(path: &Path) -> RecordBatch {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let schema = builder.schema().clone();
    let batches: Vec<RecordBatch> = builder.build().unwrap().map(Result::unwrap).collect();
    concat_batches(&schema, &batches).unwrap()
}

/// Writes one batch as a Parquet file.
pub fn write_parquet(path: &Path, batch: &RecordBatch) {
    let mut w = parquet::arrow::ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

/// A string column as Vec<Option<String>>.
pub fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let col = batch.column_by_name(name).unwrap_or_else(|| panic!("no column {name}"));
    col.as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect()
}

/// A non-null f32 column.
pub fn floats(batch: &RecordBatch, name: &str) -> Vec<f32> {
    let col = batch.column_by_name(name).unwrap_or_else(|| panic!("no column {name}"));
    col.as_primitive::<Float32Type>().values().to_vec()
}

/// A list<utf8> column.
pub fn string_lists(batch: &RecordBatch, name: &str) -> Vec<Vec<String>> {
    let col = batch.column_by_name(name).unwrap_or_else(|| panic!("no column {name}"));
    let list = col.as_list::<i32>();
    (0..list.len())
        .map(|i| {
            list.value(i)
                .as_string::<i32>()
                .iter()
                .map(|v| v.unwrap().to_string())
                .collect()
        })
        .collect()
}

/// A list<f32> column.
pub fn float_lists(batch: &RecordBatch, name: &str) -> Vec<Vec<f32>> {
    let col = batch.column_by_name(name).unwrap_or_else(|| panic!("no column {name}"));
    let list = col.as_list::<i32>();
    (0..list.len())
        .map(|i| list.value(i).as_primitive::<Float32Type>().values().to_vec())
        .collect()
}

/// A list<i64> column (nulls as None).
pub fn int_lists(batch: &RecordBatch, name: &str) -> Vec<Vec<Option<i64>>> {
    let col = batch.column_by_name(name).unwrap_or_else(|| panic!("no column {name}"));
    let list = col.as_list::<i32>();
    (0..list.len())
        .map(|i| {
            list.value(i)
                .as_primitive::<arrow::datatypes::Int64Type>()
                .iter()
                .collect()
        })
        .collect()
}

/// Reads `hardneg embed` output: id → vector.
pub fn embeddings(path: &Path) -> HashMap<String, Vec<f32>> {
    let batch = read_parquet(path);
    let ids = strings(&batch, "id");
    let vectors = batch.column_by_name("embedding").unwrap().as_fixed_size_list();
    ids.into_iter()
        .enumerate()
        .map(|(i, id)| {
            (
                id.unwrap(),
                vectors.value(i).as_primitive::<Float32Type>().values().to_vec(),
            )
        })
        .collect()
}

/// Positives of the sample qrels: query id → corpus ids.
pub fn sample_qrels() -> HashMap<String, HashSet<String>> {
    let mut out: HashMap<String, HashSet<String>> = HashMap::new();
    for line in std::fs::read_to_string(fixture("sample/qrels.tsv"))
        .unwrap()
        .lines()
        .skip(1)
    {
        let cols: Vec<&str> = line.split('\t').collect();
        out.entry(cols[0].into()).or_default().insert(cols[1].into());
    }
    out
}

/// Cosine of two vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

/// A fresh temporary folder.
pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}
