//! `hardneg perturb`: counterfactual edits of any text column (captions, queries, claims), one
//! output row per edit with its family, span, direction and embedding similarity to its source.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use clap::Args;
use parquet::arrow::ArrowWriter;

use crate::error::{Error, Result};
use crate::input::{self, BadRecordPolicy, TextFields};
use crate::mine::EmbeddingModel;
use crate::output::{PendingFile, manifest_path, write_atomic};
use crate::perturb::{BatchReport, FamilyName, Item, Perturber, perturb_all};

/// Options of `hardneg perturb`.
#[derive(Debug, Clone, Args)]
pub struct PerturbArgs {
    /// Texts: JSONL(.gz) or Parquet.
    #[arg(long)]
    pub input: PathBuf,
    /// The text column to edit.
    #[arg(long, default_value = "text")]
    pub column: String,
    /// Id column ("" for the 1-based line or row number).
    #[arg(long, default_value = "_id")]
    pub id_column: String,
    /// Output: Parquet, or JSONL when the name ends in .jsonl.
    #[arg(long)]
    pub out: PathBuf,
    /// Most edits per text.
    #[arg(long, default_value_t = 1)]
    pub counterfactuals: usize,
    /// Families to use: all, or a list of number, negation, comparative, antonym.
    #[arg(long, default_value = "all")]
    pub families: String,
    /// Extra texts (same column and id names) whose bigrams the fluency check may use.
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Edits whose embedding cosine to their source falls below this are dropped as broken.
    #[arg(long, default_value_t = 0.7)]
    pub min_similarity: f32,
    /// Seed (each text's edits depend on seed, id and family only).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Model, precision, device and threads.
    #[command(flatten)]
    pub model: super::ModelArgs,
}

/// The columns `perturb` writes.
pub fn schema() -> SchemaRef {
    let text = |name: &str| Field::new(name, DataType::Utf8, false);
    Arc::new(Schema::new(vec![
        text("id"),
        text("source_id"),
        text("source"),
        text("text"),
        text("family"),
        text("original"),
        text("replacement"),
        text("direction"),
        Field::new("similarity", DataType::Float32, false),
    ]))
}

/// One written edit.
#[derive(Debug, serde::Serialize)]
struct EditRow {
    id: String,
    source_id: String,
    source: String,
    text: String,
    family: String,
    original: String,
    replacement: String,
    direction: String,
    similarity: f32,
}

/// What `perturb` reports and writes beside its output.
#[derive(Debug, serde::Serialize)]
struct PerturbReport {
    tool: &'static str,
    version: &'static str,
    input: String,
    column: String,
    seed: u64,
    families: Vec<&'static str>,
    known_bigrams: usize,
    edits: BatchReport,
    below_min_similarity: usize,
    written: usize,
    /// Seconds spent finding, checking, balancing and choosing edits (embedding excluded).
    edit_seconds: f64,
    /// Embedding of sources and edits for the similarity floor.
    embedding: crate::embed::EmbedStats,
    seconds: f64,
}

/// Runs the command; returns a one-line report.
pub fn run(a: &PerturbArgs) -> Result<String> {
    let started = std::time::Instant::now();
    crate::output::check_writable(&a.out)?;
    let families = FamilyName::parse_list(&a.families)?;
    if !(0.0..=1.0).contains(&a.min_similarity) {
        return Err(Error::Config("--min-similarity must be between 0 and 1".into()));
    }
    let fields = TextFields {
        id: a.id_column.clone(),
        text: a.column.clone(),
        title: None,
    };
    let records = input::read_texts(&a.input, &fields, &mut BadRecordPolicy::strict())?;
    let mut perturber = Perturber::new(&families, a.seed);
    for r in &records {
        perturber.learn(&r.text);
    }
    if let Some(corpus) = &a.corpus {
        for r in input::read_texts(corpus, &fields, &mut BadRecordPolicy::strict())? {
            perturber.learn(&r.text);
        }
    }
    let items: Vec<Item> = records
        .iter()
        .map(|r| Item {
            key: &r.id,
            text: &r.text,
            query: None,
        })
        .collect();
    let edit_started = std::time::Instant::now();
    let (chosen, report) = perturb_all(&perturber, &items, a.counterfactuals, a.seed);
    let edit_seconds = edit_started.elapsed().as_secs_f64();

    // Embed sources and edits; drop edits below the similarity floor.
    let mut model = EmbeddingModel::open(&a.model.settings())?;
    let dim = model.embedder.dim();
    let edited: Vec<usize> = (0..records.len()).filter(|&i| !chosen[i].is_empty()).collect();
    let mut texts: Vec<String> = edited.iter().map(|&i| records[i].text.clone()).collect();
    texts.extend(
        edited
            .iter()
            .flat_map(|&i| chosen[i].iter().map(|c| c.proposal.text.clone())),
    );
    let mut vectors = Vec::with_capacity(texts.len() * dim);
    let embed_stats = model.embed(&texts, "", false, |v| {
        vectors.extend_from_slice(&v);
        Ok(())
    })?;
    let vector = |k: usize| &vectors[k * dim..(k + 1) * dim];
    let mut rows = Vec::new();
    let mut below = 0;
    let mut k = edited.len();
    for (e, &i) in edited.iter().enumerate() {
        for c in &chosen[i] {
            let similarity = crate::index::dot(vector(e), vector(k));
            k += 1;
            if similarity < a.min_similarity {
                below += 1;
                continue;
            }
            let p = &c.proposal;
            rows.push(EditRow {
                id: c.id(&records[i].id),
                source_id: records[i].id.clone(),
                source: records[i].text.clone(),
                text: p.text.clone(),
                family: p.family.name().to_string(),
                original: p.edit.original.clone(),
                replacement: p.edit.replacement.clone(),
                direction: p.direction.clone(),
                similarity,
            });
        }
    }
    write_rows(&a.out, &rows)?;
    let summary = PerturbReport {
        tool: "hardneg",
        version: env!("CARGO_PKG_VERSION"),
        input: a.input.display().to_string(),
        column: a.column.clone(),
        seed: a.seed,
        families: families.iter().map(|f| f.name()).collect(),
        known_bigrams: perturber.known_bigrams(),
        edits: report,
        below_min_similarity: below,
        written: rows.len(),
        edit_seconds,
        embedding: embed_stats,
        seconds: started.elapsed().as_secs_f64(),
    };
    let json = serde_json::to_vec_pretty(&summary).expect("report serializes");
    write_atomic(&manifest_path(&a.out), &json)?;
    let by_family: Vec<String> = summary.edits.chosen.iter().map(|(f, n)| format!("{f} {n}")).collect();
    Ok(format!(
        "wrote {} edits of {} texts ({} texts edited; {}; {} below --min-similarity) -> {}",
        rows.len(),
        records.len(),
        summary.edits.texts_edited,
        by_family.join(", "),
        below,
        a.out.display()
    ))
}

fn write_rows(out: &std::path::Path, rows: &[EditRow]) -> Result<()> {
    let pending = PendingFile::new(out)?;
    let file = pending.create()?;
    if out.extension().is_some_and(|e| e == "jsonl") {
        let mut w = std::io::BufWriter::new(file);
        for row in rows {
            serde_json::to_writer(&mut w, row).map_err(|e| Error::io(out, e.into()))?;
            w.write_all(b"\n").map_err(|e| Error::io(out, e))?;
        }
        w.flush().map_err(|e| Error::io(out, e))?;
    } else {
        let perr = |e: &dyn std::fmt::Display| Error::Parquet {
            path: out.to_path_buf(),
            message: e.to_string(),
        };
        let strings =
            |f: fn(&EditRow) -> &str| -> ArrayRef { Arc::new(StringArray::from_iter_values(rows.iter().map(f))) };
        let columns: Vec<ArrayRef> = vec![
            strings(|r| &r.id),
            strings(|r| &r.source_id),
            strings(|r| &r.source),
            strings(|r| &r.text),
            strings(|r| &r.family),
            strings(|r| &r.original),
            strings(|r| &r.replacement),
            strings(|r| &r.direction),
            Arc::new(Float32Array::from_iter_values(rows.iter().map(|r| r.similarity))),
        ];
        let batch = RecordBatch::try_new(schema(), columns).map_err(|e| perr(&e))?;
        let mut writer = ArrowWriter::try_new(file, schema(), None).map_err(|e| perr(&e))?;
        writer.write(&batch).map_err(|e| perr(&e))?;
        writer.close().map_err(|e| perr(&e))?;
    }
    pending.commit()
}
