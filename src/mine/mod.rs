//! `hardneg mine`: embed the corpus into an index, embed the queries, select negatives per query,
//! and write the training set with its manifest.

pub mod counterfactual;
pub mod data;
pub mod select;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use rayon::prelude::*;

use crate::cache::{EmbeddingCache, Key};
use crate::embed::model::ModelDir;
use crate::embed::onnx::{Device, OnnxEmbedder};
use crate::embed::tokenize::{BatchLimits, TextTokenizer};
use crate::embed::{EmbedSettings, EmbedStats, Embedder, embed_stream};
use crate::error::{Error, Result};
use crate::filter::bm25::Bm25;
use crate::index::{ExactIndex, Hit, NeighborIndex, UsearchIndex, dot};
use crate::input::{BadRecordPolicy, TextFields};
use crate::manifest::{InputFile, Manifest};
use crate::output::{Negative, TrainingRow, TrainingSetWriter, manifest_path, write_atomic};
use crate::settings::{MineSettings, OnBadRecord};
use crate::stats::ScoreStats;
use data::MiningData;
use select::{SelectParams, Selection, SkipReason};

/// The negatives chosen for one query.
#[derive(Debug, Clone)]
pub struct MinedQuery {
    /// Index into `MiningData::queries`.
    pub query: usize,
    /// Cosine of the query with each of its positives (same order as `Query::positives`).
    pub positive_scores: Vec<f32>,
    /// The selection.
    pub selection: Selection,
    /// Candidates searched in the end (the depth grows when filters leave too few).
    pub depth: usize,
}

/// What a finished run reports.
#[derive(Debug)]
pub struct MineReport {
    /// The manifest written beside the output.
    pub manifest: Manifest,
    /// Files written.
    pub outputs: Vec<PathBuf>,
    /// The summary printed at the end.
    pub summary: String,
}

/// Text fields from settings.
pub fn text_fields(s: &MineSettings) -> TextFields {
    TextFields {
        id: s.id_field.clone(),
        text: s.text_field.clone(),
        title: (!s.title_field.is_empty()).then(|| s.title_field.clone()),
    }
}

/// Reads the inputs named by the settings.
pub fn load_inputs(s: &MineSettings, policy: &mut BadRecordPolicy) -> Result<MiningData> {
    let fields = text_fields(s);
    match &s.pairs {
        Some(pairs) => data::load_pairs(
            pairs,
            s.corpus.as_deref(),
            &s.anchor_column,
            &s.positive_column,
            &fields,
            policy,
        ),
        None => data::load_beir(
            s.corpus.as_deref().expect("validated"),
            s.queries.as_deref().expect("validated"),
            s.qrels.as_deref().expect("validated"),
            &fields,
            policy,
        ),
    }
}

/// The model, tokenizers and embedder of a run.
pub struct EmbeddingModel {
    /// The resolved model folder.
    pub dir: ModelDir,
    /// Tokenizer for corpus passages.
    pub corpus_tokenizer: TextTokenizer,
    /// Tokenizer for queries.
    pub query_tokenizer: TextTokenizer,
    /// The embedder.
    pub embedder: Box<dyn Embedder>,
    /// Batching settings.
    pub batching: EmbedSettings,
}

impl EmbeddingModel {
    /// Opens the model named by the settings (or the default one).
    pub fn open(s: &MineSettings) -> Result<Self> {
        let device: Device = s.device.parse().map_err(Error::Config)?;
        let dir = ModelDir::open(&s.model.clone().unwrap_or_else(ModelDir::default_dir), s.precision)?;
        let max_length = s.max_length.unwrap_or(dir.max_length);
        let corpus_tokenizer = TextTokenizer::from_file(&dir.tokenizer, max_length)?;
        let query_tokenizer = TextTokenizer::from_file(&dir.tokenizer, s.query_max_length.unwrap_or(max_length))?;
        let mut embedder = Box::new(OnnxEmbedder::new(&dir, s.thread_count(), device)?);
        check_vocabulary(embedder.as_mut(), &corpus_tokenizer, &dir)?;
        let batching = EmbedSettings {
            limits: BatchLimits {
                max_rows: s.batch_size,
                max_tokens: s.max_batch_tokens,
            },
            window: s.sort_window,
            ..EmbedSettings::default()
        };
        Ok(EmbeddingModel {
            dir,
            corpus_tokenizer,
            query_tokenizer,
            embedder,
            batching,
        })
    }

    /// Embeds `texts` window by window (queries use the query tokenizer), calling `sink` with
    /// each window's vectors in input order.
    pub fn embed(
        &mut self,
        texts: &[String],
        prompt: &str,
        queries: bool,
        sink: impl FnMut(Vec<f32>) -> Result<()>,
    ) -> Result<EmbedStats> {
        let tokenizer = if queries {
            &self.query_tokenizer
        } else {
            &self.corpus_tokenizer
        };
        embed_stream(
            texts.iter().map(String::as_str),
            prompt,
            tokenizer,
            self.embedder.as_mut(),
            self.batching,
            sink,
        )
    }
}

/// Runs the tokenizer's largest token id through the model: a tokenizer from another model
/// fails here with a clear message instead of in the middle of a run.
fn check_vocabulary(embedder: &mut dyn Embedder, tokenizer: &TextTokenizer, dir: &ModelDir) -> Result<()> {
    let last = tokenizer.vocab_size().saturating_sub(1) as i64;
    let probe = crate::embed::tokenize::TokenBatch {
        input_ids: vec![last],
        attention_mask: vec![1],
        rows: 1,
        cols: 1,
        positions: vec![0],
    };
    embedder.embed(&probe).map(drop).map_err(|e| {
        Error::Model(format!(
            "{} does not match {}: token id {last} is outside the model's vocabulary ({e})",
            dir.tokenizer.display(),
            dir.onnx.display()
        ))
    })
}

/// Embeds the corpus into an index (exact below `exact_below` documents or with `--exact`).
/// Identical texts (the corpus's duplicate groups) are embedded once; with `--cache`, cached
/// texts are added first and only the rest is embedded. Returns the index, the embedding
/// statistics and the number of passages that came from the cache.
pub fn build_index(
    corpus: &data::Corpus,
    model: &mut EmbeddingModel,
    model_hash: &str,
    s: &MineSettings,
) -> Result<(Box<dyn NeighborIndex>, EmbedStats, usize)> {
    let dim = model.embedder.dim();
    let n = corpus.len();
    let mut index: Box<dyn NeighborIndex> = if s.exact || n < s.exact_below {
        Box::new(ExactIndex::new(dim, n))
    } else {
        let estimate = n * (dim * bytes_per_dim(s.index_dtype) + 160);
        tracing::info!("HNSW index for {n} passages: about {} MiB", estimate >> 20);
        Box::new(UsearchIndex::new(dim, s.index_dtype, n, s.thread_count())?)
    };
    // One representative row per distinct text; the rows that repeat it share its vector.
    let mut copies: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut todo: Vec<u32> = Vec::new();
    for (row, &canon) in corpus.canonical.iter().enumerate() {
        if canon as usize == row {
            todo.push(canon);
        } else {
            copies.entry(canon).or_default().push(row as u32);
        }
    }
    let rows_of = |rep: u32| std::iter::once(rep).chain(copies.get(&rep).into_iter().flatten().copied());
    let cache = match &s.cache {
        Some(dir) => Some(EmbeddingCache::open(
            dir,
            dim,
            model_hash,
            &format!("{:?}", s.precision),
            model.corpus_tokenizer.max_length(),
            &s.corpus_prompt,
        )?),
        None => None,
    };
    let mut cached = 0usize;
    let mut keys: Vec<Key> = Vec::new();
    if let Some(c) = &cache {
        let wanted: HashMap<Key, u32> = todo.iter().map(|&r| (c.key(&corpus.texts[r as usize]), r)).collect();
        let mut found = HashSet::new();
        for (key, vector) in c.load(&wanted) {
            let rows: Vec<u32> = rows_of(wanted[&key]).collect();
            cached += rows.len();
            index.add(&rows, &vector.repeat(rows.len()))?;
            found.insert(wanted[&key]);
        }
        todo.retain(|r| !found.contains(r));
        keys = todo.iter().map(|&r| c.key(&corpus.texts[r as usize])).collect();
        tracing::info!(
            "embedding cache: {cached} passages cached, {} texts to embed",
            todo.len()
        );
    }
    let missing: Vec<String> = todo.iter().map(|&r| corpus.texts[r as usize].clone()).collect();
    let bar = crate::progress::bar(n as u64, "embedding corpus", s.no_progress);
    bar.inc(cached as u64);
    let mut done = 0usize;
    let stats = model.embed(&missing, &s.corpus_prompt, false, |vectors| {
        let count = vectors.len() / dim;
        let mut rows = Vec::new();
        let mut expanded = Vec::new();
        for (&rep, v) in todo[done..done + count].iter().zip(vectors.chunks(dim)) {
            for row in rows_of(rep) {
                rows.push(row);
                expanded.extend_from_slice(v);
            }
        }
        index.add(&rows, &expanded)?;
        if let Some(c) = &cache {
            c.store(&keys[done..done + count], &vectors)?;
        }
        done += count;
        bar.inc(rows.len() as u64);
        crate::progress::test_hold("embed");
        Ok(())
    })?;
    bar.finish_and_clear();
    Ok((index, stats, cached))
}

fn bytes_per_dim(d: crate::index::IndexDtype) -> usize {
    match d {
        crate::index::IndexDtype::F32 => 4,
        crate::index::IndexDtype::F16 => 2,
        crate::index::IndexDtype::I8 => 1,
    }
}

/// Selection parameters from settings, with `range_max` resolved as sentence-transformers does
/// when unset (`range_min + num_negatives × (10 if a score filter is on else 1) + max_positives`).
pub fn select_params(s: &MineSettings, max_positives: usize) -> SelectParams {
    let factor = if s.has_score_filters() { 10 } else { 1 };
    let fn_filter = s.fn_filter();
    SelectParams {
        num_negatives: s.num_negatives,
        range_min: s.range_min,
        range_max: s
            .range_max
            .unwrap_or(s.range_min + s.num_negatives * factor + max_positives),
        max_score: s.max_score,
        min_score: s.min_score,
        absolute_margin: s.absolute_margin,
        relative_margin: s.relative_margin.or(fn_filter.margin),
        sampling: s.sampling,
        seed: s.seed,
    }
}

/// Mines every query. The search depth starts at `range_max + max_positives` (as
/// sentence-transformers retrieves); when `--range-max` was not given and a query is left short,
/// depth and range double until it is full or the corpus is exhausted.
pub fn mine_queries(
    data: &MiningData,
    index: &dyn NeighborIndex,
    query_vectors: &[f32],
    s: &MineSettings,
) -> Result<Vec<MinedQuery>> {
    let dim = query_vectors.len() / data.queries.len().max(1);
    let max_positives = data.queries.iter().map(|q| q.positives.len()).max().unwrap_or(0);
    let base = select_params(s, max_positives);
    let corpus = &data.corpus;
    let fn_filter = s.fn_filter();
    let bm25 = fn_filter
        .lexical
        .map(|_| Bm25::new(corpus.texts.iter().map(String::as_str)));
    let mut mined: Vec<MinedQuery> = data
        .queries
        .par_iter()
        .enumerate()
        .map(|(qi, q)| {
            let qv = &query_vectors[qi * dim..(qi + 1) * dim];
            let positive_scores: Vec<f32> = q
                .positives
                .iter()
                .map(|&p| index.vector(p).map(|v| dot(qv, &v)))
                .collect::<Result<_>>()?;
            let min_positive = positive_scores.iter().copied().reduce(f32::min);
            let positive_texts: HashSet<u32> = q.positives.iter().map(|&p| corpus.canonical[p as usize]).collect();
            let exclude = |row: u32| {
                if q.positives.contains(&row) {
                    Some(SkipReason::Positive)
                } else if positive_texts.contains(&corpus.canonical[row as usize]) {
                    Some(SkipReason::DuplicateOfPositive)
                } else if corpus.texts[row as usize] == q.text {
                    Some(SkipReason::SameAsQuery)
                } else {
                    None
                }
            };
            let positive_vectors: Vec<Vec<f32>> = if fn_filter.duplicate.is_some() {
                q.positives.iter().map(|&p| index.vector(p)).collect::<Result<_>>()?
            } else {
                Vec::new()
            };
            let lexical = bm25.as_ref().zip(fn_filter.lexical).map(|(bm, ratio)| {
                let query = bm.query(&q.text);
                let weakest = q
                    .positives
                    .iter()
                    .map(|&p| bm.score(&query, &corpus.texts[p as usize]))
                    .fold(f64::INFINITY, f64::min);
                (bm, query, ratio * weakest)
            });
            let suspect = |hit: &Hit| -> Option<SkipReason> {
                if let Some(threshold) = fn_filter.duplicate {
                    let v = index.vector(hit.row).ok()?;
                    if positive_vectors.iter().any(|p| dot(p, &v) >= threshold) {
                        return Some(SkipReason::NearDuplicate);
                    }
                }
                if let Some((bm, query, limit)) = &lexical
                    && *limit > 0.0
                    && bm.score(query, &corpus.texts[hit.row as usize]) >= *limit
                {
                    return Some(SkipReason::Lexical);
                }
                None
            };
            let mut params = base.clone();
            let mut depth = (params.range_max + max_positives).min(corpus.len());
            loop {
                let hits: Vec<Hit> = index.search(qv, depth)?;
                let selection = select::select(
                    &hits,
                    exclude,
                    suspect,
                    |r| corpus.canonical[r as usize],
                    min_positive,
                    &params,
                    &q.id,
                );
                let full = selection.negatives.len() >= params.num_negatives;
                if full || s.range_max.is_some() || depth >= corpus.len() {
                    return Ok(MinedQuery {
                        query: qi,
                        positive_scores,
                        selection,
                        depth,
                    });
                }
                depth = (depth * 2).min(corpus.len());
                params.range_max = params.range_max.saturating_mul(2);
            }
        })
        .collect::<Result<_>>()?;
    if let Some(cap) = s.max_negative_reuse {
        // In query order, so the cap's outcome does not depend on thread scheduling.
        let mut uses: HashMap<u32, usize> = HashMap::new();
        for m in &mut mined {
            let rows_of_query = data.queries[m.query].positives.len();
            m.selection.repick(s.num_negatives, |row| {
                uses.get(&corpus.canonical[row as usize])
                    .is_some_and(|&n| n + rows_of_query > cap)
            });
            for c in &m.selection.negatives {
                *uses.entry(corpus.canonical[c.row as usize]).or_default() += rows_of_query;
            }
        }
    }
    Ok(mined)
}

/// Negatives that are another row's positive (they hurt in-batch losses, llm2vec#178).
pub fn cross_row_collisions(rows: &[TrainingRow]) -> usize {
    let positives: HashSet<&str> = rows.iter().map(|r| r.positive_id.as_str()).collect();
    rows.iter()
        .flat_map(|r| r.negatives.iter())
        .filter(|n| positives.contains(n.id.as_str()))
        .count()
}

/// Turns mined queries into training rows, one per (query, positive).
pub fn training_rows(data: &MiningData, mined: &[MinedQuery], wanted: usize) -> Vec<TrainingRow> {
    let corpus = &data.corpus;
    let mut rows = Vec::new();
    for m in mined {
        let q = &data.queries[m.query];
        let negatives: Vec<Negative> = m
            .selection
            .negatives
            .iter()
            .map(|c| Negative {
                id: corpus.ids[c.row as usize].clone(),
                text: corpus.texts[c.row as usize].clone(),
                score: c.score,
                rank: Some(c.rank),
                source: "mined".into(),
                edit: None,
            })
            .collect();
        for (&p, &score) in q.positives.iter().zip(&m.positive_scores) {
            rows.push(TrainingRow {
                query_id: q.id.clone(),
                query: q.text.clone(),
                positive_id: corpus.ids[p as usize].clone(),
                positive: corpus.texts[p as usize].clone(),
                positive_score: score,
                negatives: negatives.clone(),
                wanted,
            });
        }
    }
    rows
}

/// Runs the whole job and writes the output and manifest.
pub fn run(s: &MineSettings) -> Result<MineReport> {
    s.validate()?;
    let started = Instant::now();
    let out = s.out.clone().expect("validated");
    crate::output::check_writable(&out)?;
    let mut timings = BTreeMap::new();
    let mut policy = match s.on_bad_record {
        OnBadRecord::Fail => BadRecordPolicy::strict(),
        OnBadRecord::Skip => BadRecordPolicy::skipping(s.max_bad_records),
    };

    let t = Instant::now();
    let data = load_inputs(s, &mut policy)?;
    if data.queries.is_empty() {
        return Err(Error::Config("no query has a positive: nothing to mine".into()));
    }
    if data.corpus.len() <= s.num_negatives {
        return Err(Error::Config(format!(
            "the corpus has {} documents, too few for --num-negatives {} plus a positive",
            data.corpus.len(),
            s.num_negatives
        )));
    }
    timings.insert("read".to_string(), t.elapsed().as_secs_f64());
    tracing::info!(
        "read {} passages ({} exact duplicates) and {} queries with positives",
        data.corpus.len(),
        data.corpus.duplicate_rows,
        data.queries.len()
    );

    let t = Instant::now();
    let mut model = EmbeddingModel::open(s)?;
    let model_hash = model.dir.hash()?;
    timings.insert("load_model".to_string(), t.elapsed().as_secs_f64());

    let t = Instant::now();
    let (index, corpus_stats, cached_passages) = build_index(&data.corpus, &mut model, &model_hash, s)?;
    timings.insert("embed_corpus".to_string(), t.elapsed().as_secs_f64());

    let t = Instant::now();
    let query_texts: Vec<String> = data.queries.iter().map(|q| q.text.clone()).collect();
    let mut query_vectors = Vec::with_capacity(query_texts.len() * model.embedder.dim());
    let query_stats = model.embed(&query_texts, &s.query_prompt, true, |v| {
        query_vectors.extend_from_slice(&v);
        Ok(())
    })?;
    timings.insert("embed_queries".to_string(), t.elapsed().as_secs_f64());

    let t = Instant::now();
    let mined = mine_queries(&data, index.as_ref(), &query_vectors, s)?;
    timings.insert("search_select".to_string(), t.elapsed().as_secs_f64());

    let mut all_rows = training_rows(&data, &mined, s.num_negatives);
    let counterfactuals = if s.counterfactuals > 0 {
        let t = Instant::now();
        let counts = counterfactual::add(&mut all_rows, &data, index.as_ref(), &query_vectors, &mut model, s)?;
        timings.insert("counterfactuals".to_string(), t.elapsed().as_secs_f64());
        Some(counts)
    } else {
        None
    };

    let t = Instant::now();
    // Fixed-width formats have a column per negative, counterfactual slots included.
    let width = s.num_negatives + s.counterfactuals;
    let fixed = s.format.is_fixed_width();
    let is_short = |r: &TrainingRow| r.is_short() || (fixed && r.negatives.len() < width);
    let drop_short = s.drop_short || (fixed && !s.keep_short);
    let short_rows = all_rows.iter().filter(|r| is_short(r)).count();
    let rows: Vec<TrainingRow> = all_rows.into_iter().filter(|r| !(drop_short && is_short(r))).collect();
    let mut writer = TrainingSetWriter::create(&out, s.format, width, !s.no_provenance)?;
    for chunk in rows.chunks(4096) {
        writer.write(chunk)?;
    }
    crate::progress::test_hold("write");
    let outputs = writer.finish()?;
    timings.insert("write".to_string(), t.elapsed().as_secs_f64());
    timings.insert("total".to_string(), started.elapsed().as_secs_f64());

    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    for m in &mined {
        for (reason, n) in &m.selection.skipped {
            *skipped.entry(reason.name().to_string()).or_default() += n;
        }
    }
    let positive_stats = ScoreStats::of(rows.iter().map(|r| f64::from(r.positive_score)));
    let negative_stats = ScoreStats::of(rows.iter().flat_map(|r| r.negatives.iter().map(|n| f64::from(n.score))));
    let difference_stats = ScoreStats::of(
        rows.iter()
            .flat_map(|r| r.negatives.iter().map(|n| f64::from(r.positive_score - n.score))),
    );
    let inputs = data
        .inputs
        .iter()
        .map(|p| InputFile::of(p))
        .collect::<Result<Vec<_>>>()?;
    let manifest = Manifest {
        tool: "hardneg".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        inputs,
        model: crate::manifest::ModelInfo {
            path: model.dir.onnx.display().to_string(),
            sha256: model_hash,
            precision: s.precision,
            dim: model.embedder.dim(),
        },
        config: serde_json::to_value(s).expect("settings serialize"),
        counts: crate::manifest::Counts {
            corpus: data.corpus.len(),
            corpus_duplicates: data.corpus.duplicate_rows,
            queries: data.queries.len(),
            queries_without_positive: data.queries_without_positive,
            rows: rows.len(),
            negatives: rows.iter().map(|r| r.negatives.len()).sum(),
            short_rows,
            short_rows_dropped: if drop_short { short_rows } else { 0 },
            skipped_candidates: skipped,
            bad_records_skipped: policy.skipped.clone(),
            max_search_depth: mined.iter().map(|m| m.depth).max().unwrap_or(0),
            cross_row_collisions: cross_row_collisions(&rows),
            cached_passages,
        },
        scores: crate::manifest::Scores {
            positive: positive_stats,
            negative: negative_stats,
            difference: difference_stats,
        },
        embedding: BTreeMap::from([
            ("corpus".to_string(), corpus_stats),
            ("queries".to_string(), query_stats),
        ]),
        counterfactuals,
        timings,
        outputs: outputs.iter().map(|p| p.display().to_string()).collect(),
    };
    let json = serde_json::to_vec_pretty(&manifest).expect("manifest serializes");
    write_atomic(&manifest_path(&out), &json)?;
    let summary = manifest.summary();
    Ok(MineReport {
        manifest,
        outputs,
        summary,
    })
}
