//! The files of a run folder other than the plan and markers: the ingested corpus and queries,
//! corpus statistics, vector parts and mined parts. Every file is written under a temporary name
//! and renamed into place, so a reader sees a whole file or none.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, Float32Array, ListArray, RecordBatch, StringArray, UInt32Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt32Type};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};

use super::RunDir;
use super::plan::{Layout, Plan};
use crate::embed::EmbedStats;
use crate::error::{Error, Result};
use crate::filter::bm25::Bm25;
use crate::mine::MinedQuery;
use crate::mine::assemble::MinedChunk;
use crate::mine::counterfactual::CounterfactualCounts;
use crate::mine::data::{Corpus, CorpusBuilder, MiningData, Pushed, Query};
use crate::mine::profile::QueryProfile;
use crate::mine::select::{Chosen, Selection, SkipReason};
use crate::output::{Edit, Negative, PendingFile};
use crate::perturb::Perturber;

/// Rows per record batch when writing parts.
const BATCH_ROWS: usize = 8192;

fn perr(path: &Path) -> impl Fn(&dyn std::fmt::Display) -> Error + '_ {
    move |e| Error::Parquet {
        path: path.into(),
        message: e.to_string(),
    }
}

/// Writes record batches of one schema to `dest` atomically.
struct PartWriter {
    writer: parquet::arrow::ArrowWriter<File>,
    pending: PendingFile,
}

impl PartWriter {
    fn create(dest: &Path, schema: SchemaRef) -> Result<Self> {
        super::create_parent(dest)?;
        let pending = PendingFile::new(dest)?;
        let writer = crate::output::parquet_writer(pending.create()?, schema, dest)?;
        Ok(PartWriter { writer, pending })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer.write(batch).map_err(|e| perr(self.pending.dest())(&e))
    }

    fn commit(self) -> Result<()> {
        self.writer.close().map_err(|e| perr(self.pending.dest())(&e))?;
        self.pending.commit()
    }
}

/// Every record batch of a Parquet part, in order.
fn read_batches(path: &Path) -> Result<impl Iterator<Item = Result<RecordBatch>> + Send + use<>> {
    let file = File::open(path).map_err(|e| Error::part(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| perr(path)(&e))?;
    let path = path.to_path_buf();
    Ok(reader.map(move |b| b.map_err(|e| perr(&path)(&e))))
}

fn column<'a>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| Error::input(path, format!("part has no column `{name}`")))
}

fn u32s<'a>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a UInt32Array> {
    column(batch, name, path)?
        .as_primitive_opt::<UInt32Type>()
        .ok_or_else(|| Error::input(path, format!("column `{name}` is not uint32")))
}

fn strings<'a>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a StringArray> {
    column(batch, name, path)?
        .as_string_opt::<i32>()
        .ok_or_else(|| Error::input(path, format!("column `{name}` is not utf8")))
}

fn corpus_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("row", DataType::UInt32, false),
        Field::new("id", DataType::Utf8, false),
        Field::new("text", DataType::Utf8, false),
        Field::new("canonical", DataType::UInt32, false),
    ]))
}

/// Writes the corpus as one Parquet part per corpus shard: row, id, text and the row's
/// duplicate group (`canonical`, the first row with the same text).
pub fn write_corpus(run: &RunDir, corpus: &Corpus, layout: &Layout) -> Result<()> {
    let schema = corpus_schema();
    let mut entries = corpus.iter();
    for (i, span) in layout.corpus_shards.iter().enumerate() {
        let dest = run.corpus_part(i);
        let mut part = PartWriter::create(&dest, schema.clone())?;
        let mut start = span.start;
        while start < span.end {
            let end = (start + BATCH_ROWS).min(span.end);
            let (mut ids, mut texts) = (Vec::with_capacity(end - start), Vec::with_capacity(end - start));
            for _ in start..end {
                let (_, id, text) = entries
                    .next()
                    .ok_or_else(|| Error::Config("the corpus store ended early".into()))??;
                ids.push(id);
                texts.push(text);
            }
            let rows: Vec<u32> = (start as u32..end as u32).collect();
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(UInt32Array::from(rows)),
                    Arc::new(StringArray::from(ids)),
                    Arc::new(StringArray::from(texts)),
                    Arc::new(UInt32Array::from(corpus.canonical[start..end].to_vec())),
                ],
            )
            .map_err(|e| perr(&dest)(&e))?;
            part.write(&batch)?;
            start = end;
        }
        part.commit()?;
    }
    Ok(())
}

/// One ingested corpus row.
pub struct CorpusRow {
    /// Corpus row.
    pub row: u32,
    /// Passage id.
    pub id: String,
    /// Passage text.
    pub text: String,
    /// First row with the same text.
    pub canonical: u32,
}

/// Streams the rows of corpus part `i`.
pub fn corpus_rows(run: &RunDir, i: usize) -> Result<impl Iterator<Item = Result<CorpusRow>> + Send + use<>> {
    let path = run.corpus_part(i);
    let batches = read_batches(&path)?;
    Ok(batches.flat_map(move |batch| {
        let rows = batch.and_then(|b| {
            let (row, id, text, canonical) = (
                u32s(&b, "row", &path)?,
                strings(&b, "id", &path)?,
                strings(&b, "text", &path)?,
                u32s(&b, "canonical", &path)?,
            );
            Ok((0..b.num_rows())
                .map(|k| CorpusRow {
                    row: row.value(k),
                    id: id.value(k).to_string(),
                    text: text.value(k).to_string(),
                    canonical: canonical.value(k),
                })
                .collect::<Vec<_>>())
        });
        match rows {
            Ok(rows) => rows.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        }
    }))
}

/// The (row, duplicate group) pairs of corpus part `i`, reading only those two columns.
pub fn duplicate_groups(run: &RunDir, i: usize) -> Result<Vec<(u32, u32)>> {
    let path = run.corpus_part(i);
    let file = File::open(&path).map_err(|e| Error::part(&path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| perr(&path)(&e))?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), ["row", "canonical"]);
    let mut out = Vec::new();
    for batch in builder.with_projection(mask).build().map_err(|e| perr(&path)(&e))? {
        let batch = batch.map_err(|e| perr(&path)(&e))?;
        let (rows, canonical) = (u32s(&batch, "row", &path)?, u32s(&batch, "canonical", &path)?);
        out.extend(rows.values().iter().copied().zip(canonical.values().iter().copied()));
    }
    Ok(out)
}

/// The corpus of the run, rebuilt from its parts into a local text store (one sequential pass).
pub fn load_corpus(run: &RunDir, layout: &Layout) -> Result<Corpus> {
    let mut builder = CorpusBuilder::new()?;
    for i in 0..layout.corpus_shards.len() {
        for r in corpus_rows(run, i)? {
            let r = r?;
            let same = match builder.push(&r.id, &r.text)? {
                Pushed::Added(row) => row == r.row,
                Pushed::Merged(_) | Pushed::IdConflict => false,
            };
            if !same {
                return Err(Error::input(
                    run.corpus_part(i),
                    format!("row {} (`{}`) is out of place: the part is damaged", r.row, r.id),
                ));
            }
        }
    }
    builder.finish()
}

fn queries_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("text", DataType::Utf8, false),
        Field::new(
            "positives",
            DataType::List(Arc::new(Field::new("item", DataType::UInt32, false))),
            false,
        ),
        Field::new("same_text_row", DataType::UInt32, true),
    ]))
}

/// Writes the queries with their positives' rows.
pub fn write_queries(run: &RunDir, queries: &[Query]) -> Result<()> {
    let dest = run.queries();
    let schema = queries_schema();
    let mut part = PartWriter::create(&dest, schema.clone())?;
    for chunk in queries.chunks(BATCH_ROWS) {
        let positives = ListArray::from_iter_primitive::<UInt32Type, _, _>(
            chunk
                .iter()
                .map(|q| Some(q.positives.iter().map(|&p| Some(p)).collect::<Vec<_>>())),
        );
        let positives = ListArray::try_new(
            Arc::new(Field::new("item", DataType::UInt32, false)),
            positives.offsets().clone(),
            positives.values().clone(),
            None,
        )
        .map_err(|e| perr(&dest)(&e))?;
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from_iter_values(chunk.iter().map(|q| q.id.as_str()))),
                Arc::new(StringArray::from_iter_values(chunk.iter().map(|q| q.text.as_str()))),
                Arc::new(positives),
                Arc::new(UInt32Array::from_iter(chunk.iter().map(|q| q.same_text_row))),
            ],
        )
        .map_err(|e| perr(&dest)(&e))?;
        part.write(&batch)?;
    }
    part.commit()
}

/// Reads the queries back.
pub fn read_queries(run: &RunDir) -> Result<Vec<Query>> {
    let path = run.queries();
    let mut out = Vec::new();
    for batch in read_batches(&path)? {
        let batch = batch?;
        let (id, text) = (strings(&batch, "id", &path)?, strings(&batch, "text", &path)?);
        let positives = column(&batch, "positives", &path)?
            .as_list_opt::<i32>()
            .ok_or_else(|| Error::input(&path, "column `positives` is not a list"))?;
        let same = u32s(&batch, "same_text_row", &path)?;
        for k in 0..batch.num_rows() {
            let list = positives.value(k);
            let rows = list
                .as_primitive_opt::<UInt32Type>()
                .ok_or_else(|| Error::input(&path, "positives are not uint32"))?;
            out.push(Query {
                id: id.value(k).to_string(),
                text: text.value(k).to_string(),
                positives: rows.values().to_vec(),
                same_text_row: (!same.is_null(k)).then(|| same.value(k)),
            });
        }
    }
    Ok(out)
}

/// Everything a worker mines from: the corpus (rebuilt from its parts) and the queries.
pub fn load_mining_data(run: &RunDir, plan: &Plan) -> Result<MiningData> {
    Ok(MiningData {
        corpus: load_corpus(run, &plan.layout)?,
        queries: read_queries(run)?,
        queries_without_positive: plan.ingested.queries_without_positive,
        inputs: plan.intent.inputs.iter().map(|i| PathBuf::from(&i.path)).collect(),
    })
}

fn write_gz_json<T: Serialize>(dest: &Path, value: &T) -> Result<()> {
    super::create_parent(dest)?;
    let pending = PendingFile::new(dest)?;
    let mut gz = flate2::write::GzEncoder::new(BufWriter::new(pending.create()?), flate2::Compression::fast());
    serde_json::to_writer(&mut gz, value).map_err(|e| Error::io(dest, e.into()))?;
    gz.finish()
        .and_then(|mut w| w.flush())
        .map_err(|e| Error::io(dest, e))?;
    pending.commit()
}

/// Stores the corpus's BM25 statistics.
pub fn write_bm25(run: &RunDir, bm25: &Bm25) -> Result<()> {
    write_gz_json(&run.bm25(), bm25)
}

/// Reads what [`write_gz_json`] stored; `what` names it in the error.
fn read_gz_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    let file = File::open(path).map_err(|e| Error::part(path, e))?;
    serde_json::from_reader(BufReader::new(flate2::read::GzDecoder::new(file)))
        .map_err(|e| Error::input(path, format!("not {what}: {e}")))
}

/// Reads the corpus's BM25 statistics.
pub fn read_bm25(run: &RunDir) -> Result<Bm25> {
    read_gz_json(&run.bm25(), "BM25 statistics")
}

/// Stores what a perturber learned from the corpus: the fluency table (bigram hashes,
/// little-endian u64) and the document frequencies of its stems.
pub fn write_perturber_tables(run: &RunDir, perturber: &Perturber) -> Result<()> {
    let bytes: Vec<u8> = perturber.bigram_hashes().iter().flat_map(|h| h.to_le_bytes()).collect();
    crate::output::write_atomic(&run.bigrams(), &bytes)?;
    write_gz_json(&run.term_rarity(), perturber.term_rarity())
}

/// Reads the tables of [`write_perturber_tables`] into `perturber`.
pub fn read_perturber_tables(run: &RunDir, perturber: &mut Perturber) -> Result<()> {
    perturber.extend_term_rarity(read_gz_json(&run.term_rarity(), "document frequencies")?);
    let path = run.bigrams();
    let mut bytes = Vec::new();
    File::open(&path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| Error::part(&path, e))?;
    if bytes.len() % 8 != 0 {
        return Err(Error::input(&path, "truncated bigram table"));
    }
    perturber.extend_bigrams(
        bytes
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))),
    );
    Ok(())
}

fn vector_schema(dim: usize) -> SchemaRef {
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    Arc::new(Schema::new(vec![
        Field::new("row", DataType::UInt32, false),
        Field::new("embedding", DataType::FixedSizeList(item, dim as i32), false),
    ]))
}

/// Writes a vector part: corpus rows and their embeddings, batch by batch.
pub struct VectorPartWriter {
    part: PartWriter,
    schema: SchemaRef,
    dim: usize,
}

impl VectorPartWriter {
    /// Opens `dest` for vectors of `dim` dimensions.
    pub fn create(dest: &Path, dim: usize) -> Result<Self> {
        let schema = vector_schema(dim);
        Ok(VectorPartWriter {
            part: PartWriter::create(dest, schema.clone())?,
            schema,
            dim,
        })
    }

    /// Appends `rows` with their vectors (row-major).
    pub fn write(&mut self, rows: &[u32], vectors: &[f32]) -> Result<()> {
        let dest = self.part.pending.dest().to_path_buf();
        let item = Arc::new(Field::new("item", DataType::Float32, false));
        let values = FixedSizeListArray::try_new(
            item,
            self.dim as i32,
            Arc::new(Float32Array::from(vectors.to_vec())),
            None,
        )
        .map_err(|e| perr(&dest)(&e))?;
        let batch = RecordBatch::try_new(
            self.schema.clone(),
            vec![Arc::new(UInt32Array::from(rows.to_vec())), Arc::new(values)],
        )
        .map_err(|e| perr(&dest)(&e))?;
        self.part.write(&batch)
    }

    /// Closes and renames the part into place.
    pub fn commit(self) -> Result<()> {
        self.part.commit()
    }
}

/// Calls `each` with every (row, vector) of a vector part, in order.
pub fn for_each_vector(path: &Path, dim: usize, mut each: impl FnMut(u32, &[f32]) -> Result<()>) -> Result<()> {
    for batch in read_batches(path)? {
        let batch = batch?;
        let rows = u32s(&batch, "row", path)?;
        let vectors = column(&batch, "embedding", path)?
            .as_fixed_size_list_opt()
            .filter(|l| l.value_length() as usize == dim)
            .ok_or_else(|| Error::input(path, format!("column `embedding` is not a list of {dim} floats")))?;
        let values = vectors
            .values()
            .as_primitive_opt::<arrow::datatypes::Float32Type>()
            .ok_or_else(|| Error::input(path, "embeddings are not float32"))?
            .values();
        for (k, &row) in rows.values().iter().enumerate() {
            each(row, &values[k * dim..(k + 1) * dim])?;
        }
    }
    Ok(())
}

/// A chosen or preferred candidate as a part stores it (the score's exact bits).
#[derive(Debug, Serialize, Deserialize)]
struct StoredChosen(u32, u32, u32);

impl From<&Chosen> for StoredChosen {
    fn from(c: &Chosen) -> Self {
        StoredChosen(c.row, c.score.to_bits(), c.rank)
    }
}

impl From<&StoredChosen> for Chosen {
    fn from(c: &StoredChosen) -> Self {
        Chosen {
            row: c.0,
            score: f32::from_bits(c.1),
            rank: c.2,
        }
    }
}

/// One mined query as a part stores it.
#[derive(Debug, Serialize, Deserialize)]
struct StoredQuery {
    query: usize,
    positive_scores: Vec<u32>,
    depth: usize,
    #[serde(default)]
    positive_first: bool,
    negatives: Vec<StoredChosen>,
    /// Kept only where the reuse cap may re-pick from it.
    preference: Vec<StoredChosen>,
    skipped: Vec<(SkipReason, usize)>,
    /// The score profile, for a query in the profile sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    profile: Option<QueryProfile>,
}

/// A counterfactual negative as a part stores it.
#[derive(Debug, Serialize, Deserialize)]
struct StoredNegative {
    id: String,
    text: String,
    score: u32,
    source: String,
    edit: Option<Edit>,
}

/// One chunk of a mined part: a line of `mined/part-<j>.jsonl.gz`.
#[derive(Debug, Serialize, Deserialize)]
struct StoredChunk {
    queries: Vec<StoredQuery>,
    counterfactuals: Vec<Vec<StoredNegative>>,
    counterfactual_counts: Option<CounterfactualCounts>,
    query_embedding: EmbedStats,
}

/// A chunk read back from a mined part.
pub struct ReadChunk {
    /// The chunk.
    pub chunk: MinedChunk,
    /// What its counterfactual stage did.
    pub counterfactual_counts: Option<CounterfactualCounts>,
    /// Its query embedding statistics.
    pub query_embedding: EmbedStats,
}

/// Writes a mined part, one JSON line per chunk (gzip).
pub struct MinedPartWriter {
    out: flate2::write::GzEncoder<BufWriter<File>>,
    pending: PendingFile,
    keep_preference: bool,
}

impl MinedPartWriter {
    /// Opens `dest`; `keep_preference` keeps each query's window for the reuse cap.
    pub fn create(dest: &Path, keep_preference: bool) -> Result<Self> {
        super::create_parent(dest)?;
        let pending = PendingFile::new(dest)?;
        let out = flate2::write::GzEncoder::new(BufWriter::new(pending.create()?), flate2::Compression::fast());
        Ok(MinedPartWriter {
            out,
            pending,
            keep_preference,
        })
    }

    /// Appends one chunk.
    pub fn write(&mut self, chunk: &MinedChunk, counts: Option<CounterfactualCounts>, stats: EmbedStats) -> Result<()> {
        let stored = StoredChunk {
            queries: chunk
                .mined
                .iter()
                .map(|m| StoredQuery {
                    query: m.query,
                    positive_scores: m.positive_scores.iter().map(|s| s.to_bits()).collect(),
                    depth: m.depth,
                    positive_first: m.positive_first,
                    negatives: m.selection.negatives.iter().map(StoredChosen::from).collect(),
                    preference: if self.keep_preference {
                        m.selection.preference.iter().map(StoredChosen::from).collect()
                    } else {
                        Vec::new()
                    },
                    skipped: m.selection.skipped.clone(),
                    profile: m.profile.clone(),
                })
                .collect(),
            counterfactuals: chunk
                .counterfactuals
                .iter()
                .map(|list| {
                    list.iter()
                        .map(|n| StoredNegative {
                            id: n.id.clone(),
                            text: n.text.clone(),
                            score: n.score.to_bits(),
                            source: n.source.clone(),
                            edit: n.edit.clone(),
                        })
                        .collect()
                })
                .collect(),
            counterfactual_counts: counts,
            query_embedding: stats,
        };
        let dest = self.pending.dest().to_path_buf();
        serde_json::to_writer(&mut self.out, &stored)
            .map_err(std::io::Error::from)
            .and_then(|_| self.out.write_all(b"\n"))
            .map_err(|e| Error::io(dest, e))
    }

    /// Closes and renames the part into place.
    pub fn commit(self) -> Result<()> {
        let dest = self.pending.dest().to_path_buf();
        self.out
            .finish()
            .and_then(|mut w| w.flush())
            .map_err(|e| Error::io(&dest, e))?;
        self.pending.commit()
    }
}

/// Streams the chunks of a mined part, in order.
pub fn read_mined(path: &Path) -> Result<impl Iterator<Item = Result<ReadChunk>> + use<>> {
    let file = File::open(path).map_err(|e| Error::part(path, e))?;
    let lines = BufReader::new(flate2::read::GzDecoder::new(file)).lines();
    let path = path.to_path_buf();
    Ok(lines.enumerate().map(move |(n, line)| {
        let line = line.map_err(|e| Error::io(&path, e))?;
        let stored: StoredChunk =
            serde_json::from_str(&line).map_err(|e| Error::record(&path, n + 1, format!("not a mined chunk: {e}")))?;
        Ok(ReadChunk {
            chunk: MinedChunk {
                mined: stored
                    .queries
                    .into_iter()
                    .map(|q| MinedQuery {
                        query: q.query,
                        positive_scores: q.positive_scores.into_iter().map(f32::from_bits).collect(),
                        selection: Selection {
                            negatives: q.negatives.iter().map(Chosen::from).collect(),
                            skipped: q.skipped,
                            preference: q.preference.iter().map(Chosen::from).collect(),
                        },
                        depth: q.depth,
                        positive_first: q.positive_first,
                        profile: q.profile,
                    })
                    .collect(),
                counterfactuals: stored
                    .counterfactuals
                    .into_iter()
                    .map(|list| {
                        list.into_iter()
                            .map(|n| Negative {
                                id: n.id,
                                text: n.text,
                                score: f32::from_bits(n.score),
                                rank: None,
                                source: n.source,
                                edit: n.edit,
                            })
                            .collect()
                    })
                    .collect(),
            },
            counterfactual_counts: stored.counterfactual_counts,
            query_embedding: stored.query_embedding,
        })
    }))
}
