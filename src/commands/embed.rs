//! `hardneg embed`: texts in, `id` + `embedding` (FixedSizeList<Float32, dim>) Parquet out.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{FixedSizeListArray, Float32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use clap::Args;
use parquet::arrow::ArrowWriter;

use crate::error::{Error, Result};
use crate::input::{self, BadRecordPolicy, TextFields};
use crate::mine::EmbeddingModel;
use crate::mine::data::CorpusBuilder;
use crate::output::PendingFile;
use crate::settings::MineSettings;

/// Options of `hardneg embed`.
#[derive(Debug, Clone, Args)]
pub struct EmbedArgs {
    /// Texts: BEIR corpus/queries JSONL(.gz) or Parquet.
    #[arg(long)]
    pub input: PathBuf,
    /// Output Parquet file.
    #[arg(long)]
    pub out: PathBuf,
    /// Id field.
    #[arg(long, default_value = "_id")]
    pub id_field: String,
    /// Text field.
    #[arg(long, default_value = "text")]
    pub text_field: String,
    /// Title field prepended to the text ("" for none).
    #[arg(long, default_value = "title")]
    pub title_field: String,
    /// Text prepended to every input (e.g. "query: ").
    #[arg(long, default_value = "")]
    pub prompt: String,
    /// Model, precision, device and threads.
    #[command(flatten)]
    pub model: super::ModelArgs,
    /// Most texts per batch (default: 32 on CPU, 256 on CUDA).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Most padded tokens per batch (default: 512 on CPU, 32768 on CUDA).
    #[arg(long)]
    pub max_batch_tokens: Option<usize>,
    /// Truncation length (default: the model's).
    #[arg(long)]
    pub max_length: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// Runs the command; returns a one-line report.
pub fn run(a: &EmbedArgs) -> Result<String> {
    crate::output::check_writable(&a.out)?;
    let fields = TextFields {
        id: a.id_field.clone(),
        text: a.text_field.clone(),
        title: (!a.title_field.is_empty()).then(|| a.title_field.clone()),
    };
    // Texts stream through the on-disk store; memory holds offsets and id digests, not texts.
    let mut builder = CorpusBuilder::new()?;
    builder.read(&a.input, &fields, &mut BadRecordPolicy::strict())?;
    if builder.is_empty() {
        return Err(input::empty_file(&a.input));
    }
    let corpus = builder.finish()?;
    let settings = MineSettings {
        batch_size: a.batch_size,
        max_batch_tokens: a.max_batch_tokens,
        max_length: a.max_length,
        ..a.model.settings()
    };
    let mut model = EmbeddingModel::open(&settings)?;
    let dim = model.embedder.dim();
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("embedding", DataType::FixedSizeList(item.clone(), dim as i32), false),
    ]));
    let pending = PendingFile::new(&a.out)?;
    let perr = |e: &dyn std::fmt::Display| Error::Parquet {
        path: a.out.clone(),
        message: e.to_string(),
    };
    let mut writer = ArrowWriter::try_new(pending.create()?, schema.clone(), None).map_err(|e| perr(&e))?;
    let bar = crate::progress::bar(corpus.len() as u64, "embedding", a.no_progress);
    // One pass over the store: each text's id waits here until its vector comes back (vectors
    // return in input order, only after their texts were read, so the ids are always there).
    let (id_tx, id_rx) = crossbeam_channel::unbounded::<String>();
    let texts = corpus.iter().map(move |entry| {
        entry.map(|(_, id, text)| {
            let _ = id_tx.send(id);
            text
        })
    });
    let stats = model.embed_iter(texts, &a.prompt, false, |vectors| {
        let n = vectors.len() / dim;
        let ids: StringArray = id_rx.try_iter().take(n).map(Some).collect();
        let values = FixedSizeListArray::try_new(item.clone(), dim as i32, Arc::new(Float32Array::from(vectors)), None)
            .map_err(|e| perr(&e))?;
        let batch =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(ids), Arc::new(values)]).map_err(|e| perr(&e))?;
        writer.write(&batch).map_err(|e| perr(&e))?;
        bar.inc(n as u64);
        Ok(())
    })?;
    bar.finish_and_clear();
    writer.close().map_err(|e| perr(&e))?;
    pending.commit()?;
    Ok(format!(
        "embedded {} texts ({} tokens, {} truncated) in {:.1}s: {:.1} texts/s, {:.0} tokens/s -> {}",
        stats.texts,
        stats.tokens,
        stats.truncated,
        stats.wall_seconds,
        stats.texts as f64 / stats.wall_seconds,
        stats.tokens as f64 / stats.wall_seconds,
        a.out.display()
    ))
}
