//! `hardneg perturb`: counterfactual edits of any text column (captions, queries, claims), one
//! output row per edit with its family, span, direction and embedding similarity to its source.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use clap::Args;
use parquet::arrow::ArrowWriter;

use crate::error::{Error, Result};
use crate::input::{self, BadRecordPolicy, TextFields, TextRecord};
use crate::mine::EmbeddingModel;
use crate::mine::data::text_digest;
use crate::output::{PendingFile, manifest_path, parquet_writer, write_atomic};
use crate::perturb::{
    Balancer, BatchReport, Chosen, DirectionSites, FamilyName, Item, Perturber, Thinning, choose, propose_all,
};

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
    /// Language of the texts: auto (detected from the input) or an ISO 639 code; negation,
    /// comparative and antonym edits run only on English.
    #[arg(long, default_value = "auto")]
    pub language: String,
    /// Extra texts (same column and id names) whose bigrams the fluency check may use.
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Edits whose embedding cosine to their source falls below this are dropped as broken.
    #[arg(long, default_value_t = 0.7)]
    pub min_similarity: f32,
    /// Seed (each text's edits depend on seed, id and family only).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Texts edited, embedded and written together: memory is bounded by the chunk, not the
    /// input (the output does not depend on it).
    #[arg(long, default_value_t = 8192)]
    pub chunk: usize,
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
    /// Families `all` left out: English rules, and the input is not English.
    families_left_out: Vec<&'static str>,
    language: crate::language::RunLanguage,
    known_bigrams: usize,
    edits: BatchReport,
    below_min_similarity: usize,
    written: usize,
    /// Seconds spent finding, checking, balancing and choosing edits (embedding excluded; the
    /// balancing passes' reading included).
    edit_seconds: f64,
    /// Embedding of sources and edits for the similarity floor.
    embedding: crate::embed::EmbedStats,
    seconds: f64,
}

/// Runs the command; returns a one-line report.
pub fn run(a: &PerturbArgs) -> Result<String> {
    let started = std::time::Instant::now();
    crate::output::check_writable(&a.out)?;
    if !(0.0..=1.0).contains(&a.min_similarity) {
        return Err(Error::Config("--min-similarity must be between 0 and 1".into()));
    }
    if a.chunk == 0 {
        return Err(Error::Config("--chunk must be at least 1".into()));
    }
    let fields = TextFields {
        id: a.id_column.clone(),
        text: a.column.clone(),
        title: None,
    };
    let mut sample = Vec::new();
    input::for_each_text(&a.input, &fields, &mut BadRecordPolicy::strict(), |_, r, _| {
        if sample.len() < 200 {
            sample.push(r.text);
        }
        Ok(())
    })?;
    let language = crate::language::resolve(&a.language, sample.into_iter().map(Ok))?;
    let (families, left_out) = FamilyName::for_language(&a.families, &language)?;
    let mut perturber = Perturber::new(&families, a.seed).for_language(&language);
    let input = Input::scan(&a.input, &fields, a.chunk, &mut perturber)?;
    if let Some(corpus) = &a.corpus {
        let mut texts = 0;
        input::for_each_text(corpus, &fields, &mut BadRecordPolicy::strict(), |_, r, _| {
            perturber.learn(&r.text);
            texts += 1;
            Ok(())
        })?;
        if texts == 0 {
            return Err(input::empty_file(corpus));
        }
    }

    // Directions are balanced over the whole input, as if it were one batch: one pass counts what
    // each direction is offered, a second what each text chooses; proposals are recomputed each
    // time (about 1% of the run) rather than held.
    let edit_started = std::time::Instant::now();
    let mut balancer = Balancer::default();
    input.chunks(|_, records| {
        for p in propose_all(&perturber, &items(records)) {
            balancer.add(&p.proposals);
        }
        Ok(())
    })?;
    let mut sites = DirectionSites::default();
    input.chunks(|first, records| {
        for (k, (p, r)) in propose_all(&perturber, &items(records)).iter().zip(records).enumerate() {
            sites.record(first + k, &choose(p, &balancer, a.counterfactuals, a.seed, &r.id));
        }
        Ok(())
    })?;

    let balancing_seconds = edit_started.elapsed().as_secs_f64();
    let mut editor = ChunkEditor {
        perturber: &perturber,
        balancer: &balancer,
        thinning: sites.thinning(),
        model: EmbeddingModel::open(&a.model.settings())?,
        sink: EditSink::create(&a.out)?,
        args: a,
        edits: BatchReport::default(),
        below: 0,
        written: 0,
        edit_seconds: balancing_seconds,
        embedding: crate::embed::EmbedStats::default(),
    };
    input.chunks(|first, records| editor.edit_chunk(first, records))?;
    let ChunkEditor {
        sink,
        edits,
        below,
        written,
        edit_seconds,
        embedding,
        ..
    } = editor;
    sink.finish()?;
    let summary = PerturbReport {
        tool: "hardneg",
        version: env!("CARGO_PKG_VERSION"),
        input: a.input.display().to_string(),
        column: a.column.clone(),
        seed: a.seed,
        families: families.iter().map(|f| f.name()).collect(),
        families_left_out: left_out.iter().map(|f| f.name()).collect(),
        language,
        known_bigrams: perturber.known_bigrams(),
        edits,
        below_min_similarity: below,
        written,
        edit_seconds,
        embedding,
        seconds: started.elapsed().as_secs_f64(),
    };
    let json = serde_json::to_vec_pretty(&summary).expect("report serializes");
    write_atomic(&manifest_path(&a.out), &json)?;
    let by_family: Vec<String> = summary.edits.chosen.iter().map(|(f, n)| format!("{f} {n}")).collect();
    Ok(format!(
        "wrote {} edits of {} texts ({} texts edited; {}; {} below --min-similarity) -> {}",
        written,
        input.texts,
        summary.edits.texts_edited,
        by_family.join(", "),
        below,
        a.out.display()
    ))
}

/// The texts to edit: a file read again for each pass, a chunk at a time.
struct Input<'a> {
    path: &'a Path,
    fields: &'a TextFields,
    /// Texts handed over together.
    chunk: usize,
    /// Distinct texts (records less repeats).
    texts: usize,
    /// Lines (or rows) that repeat an earlier record's id and text: skipped.
    repeats: HashSet<usize>,
}

impl<'a> Input<'a> {
    /// The first pass: feeds every text's bigrams to the fluency check and finds repeated ids
    /// (the same text again is skipped; another text is an error naming the line). Memory: two
    /// digests a record, dropped at the end of the pass.
    fn scan(path: &'a Path, fields: &'a TextFields, chunk: usize, perturber: &mut Perturber) -> Result<Self> {
        let mut text_of_id: HashMap<[u8; 16], [u8; 16]> = HashMap::new();
        let mut repeats = HashSet::new();
        input::for_each_text(path, fields, &mut BadRecordPolicy::strict(), |line, rec, policy| {
            let text = text_digest(&rec.text);
            match text_of_id.entry(text_digest(&rec.id)) {
                Entry::Vacant(slot) => {
                    slot.insert(text);
                    perturber.learn(&rec.text);
                }
                Entry::Occupied(seen) if *seen.get() == text => {
                    repeats.insert(line);
                }
                Entry::Occupied(_) => policy.handle(input::duplicate_id(path, line, &rec.id), "duplicate id")?,
            }
            Ok(())
        })?;
        if text_of_id.is_empty() {
            return Err(input::empty_file(path));
        }
        Ok(Input {
            path,
            fields,
            chunk,
            texts: text_of_id.len(),
            repeats,
        })
    }

    /// Reads the texts again, calling `f` with each chunk and the position of its first text.
    fn chunks(&self, mut f: impl FnMut(usize, &[TextRecord]) -> Result<()>) -> Result<()> {
        let mut chunk = Vec::with_capacity(self.chunk.min(self.texts));
        let mut first = 0;
        input::for_each_text(
            self.path,
            self.fields,
            &mut BadRecordPolicy::strict(),
            |line, rec, _| {
                if self.repeats.contains(&line) {
                    return Ok(());
                }
                chunk.push(rec);
                if chunk.len() == self.chunk {
                    f(first, &chunk)?;
                    first += chunk.len();
                    chunk.clear();
                }
                Ok(())
            },
        )?;
        if chunk.is_empty() { Ok(()) } else { f(first, &chunk) }
    }
}

/// Texts as perturbation items (keyed by id, no query).
fn items(records: &[TextRecord]) -> Vec<Item<'_>> {
    records
        .iter()
        .map(|r| Item {
            key: &r.id,
            text: &r.text,
            query: None,
        })
        .collect()
}

/// The last pass: edits, embeds and writes the input a chunk at a time, so memory is bounded by
/// `--chunk` whatever the input's size.
struct ChunkEditor<'a> {
    perturber: &'a Perturber,
    balancer: &'a Balancer,
    thinning: Thinning,
    model: EmbeddingModel,
    sink: EditSink,
    args: &'a PerturbArgs,
    edits: BatchReport,
    below: usize,
    written: usize,
    edit_seconds: f64,
    embedding: crate::embed::EmbedStats,
}

impl ChunkEditor<'_> {
    /// Chooses the edits of one chunk (texts `first..` of the input), drops edits below the
    /// similarity floor and writes the rest in input order.
    fn edit_chunk(&mut self, first: usize, records: &[TextRecord]) -> Result<()> {
        let edit_started = std::time::Instant::now();
        let proposals = propose_all(self.perturber, &items(records));
        let mut chosen: Vec<Vec<Chosen>> = Vec::with_capacity(records.len());
        for (k, (p, r)) in proposals.iter().zip(records).enumerate() {
            let mut list = choose(p, self.balancer, self.args.counterfactuals, self.args.seed, &r.id);
            self.thinning.apply(first + k, &mut list);
            self.edits.count(p, &list);
            chosen.push(list);
        }
        self.edit_seconds += edit_started.elapsed().as_secs_f64();

        // Embed sources and edits; drop edits below the similarity floor.
        let dim = self.model.embedder.dim();
        let edited: Vec<usize> = (0..records.len()).filter(|&i| !chosen[i].is_empty()).collect();
        let mut texts: Vec<String> = edited.iter().map(|&i| records[i].text.clone()).collect();
        texts.extend(
            edited
                .iter()
                .flat_map(|&i| chosen[i].iter().map(|c| c.proposal.text.clone())),
        );
        let mut vectors = Vec::with_capacity(texts.len() * dim);
        if !texts.is_empty() {
            let stats = self.model.embed(&texts, "", false, |v| {
                vectors.extend_from_slice(&v);
                Ok(())
            })?;
            self.embedding.absorb(&stats);
        }
        let vector = |k: usize| &vectors[k * dim..(k + 1) * dim];
        let mut rows = Vec::new();
        let mut k = edited.len();
        for (e, &i) in edited.iter().enumerate() {
            for c in &chosen[i] {
                let similarity = crate::index::dot(vector(e), vector(k));
                k += 1;
                if similarity < self.args.min_similarity {
                    self.below += 1;
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
        self.written += rows.len();
        self.sink.write(&rows)
    }
}

/// The output file, written chunk by chunk under a temporary name and renamed when complete.
enum EditSink {
    /// One JSON object a line.
    Jsonl(BufWriter<File>, PendingFile),
    /// Parquet row groups (boxed: the writer is large).
    Parquet(Box<ArrowWriter<File>>, PendingFile),
}

impl EditSink {
    /// Opens the temporary file for `out` (JSONL for a `.jsonl` name, else Parquet).
    fn create(out: &Path) -> Result<Self> {
        let pending = PendingFile::new(out)?;
        let file = pending.create()?;
        Ok(if out.extension().is_some_and(|e| e == "jsonl") {
            EditSink::Jsonl(BufWriter::new(file), pending)
        } else {
            EditSink::Parquet(Box::new(parquet_writer(file, schema(), out)?), pending)
        })
    }

    /// Appends rows.
    fn write(&mut self, rows: &[EditRow]) -> Result<()> {
        match self {
            EditSink::Jsonl(w, pending) => {
                for row in rows {
                    serde_json::to_writer(&mut *w, row)
                        .map_err(std::io::Error::from)
                        .and_then(|_| w.write_all(b"\n"))
                        .map_err(|e| Error::io(pending.dest(), e))?;
                }
                Ok(())
            }
            EditSink::Parquet(w, pending) => {
                let strings = |f: fn(&EditRow) -> &str| -> ArrayRef {
                    Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
                };
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
                let parquet_error = |e: &dyn std::fmt::Display| Error::Parquet {
                    path: pending.dest().into(),
                    message: e.to_string(),
                };
                let batch = RecordBatch::try_new(schema(), columns).map_err(|e| parquet_error(&e))?;
                w.write(&batch).map_err(|e| parquet_error(&e))
            }
        }
    }

    /// Closes the file and renames it into place.
    fn finish(self) -> Result<()> {
        match self {
            EditSink::Jsonl(mut w, pending) => {
                w.flush().map_err(|e| Error::io(pending.dest(), e))?;
                pending.commit()
            }
            EditSink::Parquet(w, pending) => {
                w.close().map_err(|e| Error::Parquet {
                    path: pending.dest().into(),
                    message: e.to_string(),
                })?;
                pending.commit()
            }
        }
    }
}
