//! `hardneg mine`: embed the corpus into an index, embed the queries, select negatives per query,
//! and write the training set with its manifest.

pub mod assemble;
pub mod counterfactual;
pub mod data;
pub mod profile;
pub mod select;

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use rayon::prelude::*;

use crate::cache::{EmbeddingCache, Key};
use crate::embed::model::ModelDir;
use crate::embed::onnx::open_sessions;
use crate::embed::tokenize::TextTokenizer;
use crate::embed::{EmbedSettings, EmbedStats, Embedder, embed_stream};
use crate::error::{Error, Result};
use crate::filter::FnFilter;
use crate::filter::bm25::Bm25;
use crate::index::{ExactIndex, Hit, NeighborIndex, UsearchIndex, dot};
use crate::input::{BadRecordPolicy, TextFields};
use crate::language::RunLanguage;
use crate::manifest::{InputFile, Manifest};
use crate::output::TrainingSetWriter;
use crate::settings::{MineSettings, OnBadRecord};
use crate::stats::ScoreStats;
use assemble::{Assembler, MinedChunk, Tally};
use counterfactual::CounterfactualCounts;
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
    /// Whether the query's nearest passage is one of its positives (or the same text): where
    /// most are, mined negatives add little training value (README, "Training value").
    pub positive_first: bool,
    /// The candidate list with each candidate's fate, for queries in the profile sample.
    pub profile: Option<profile::QueryProfile>,
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
    /// Where the manifest was written.
    pub manifest_path: PathBuf,
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
        None => match (&s.corpus, &s.queries, &s.qrels) {
            (Some(corpus), Some(queries), Some(qrels)) => data::load_beir(corpus, queries, qrels, &fields, policy),
            _ => Err(Error::Config(
                "give --corpus, --queries and --qrels (BEIR layout), or --pairs".into(),
            )),
        },
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
    /// Intra-op threads the model's sessions share.
    pub threads: usize,
    /// Model sessions run side by side.
    pub sessions: usize,
}

impl EmbeddingModel {
    /// Opens the model named by the settings (or the default one).
    pub fn open(s: &MineSettings) -> Result<Self> {
        let devices = s.devices()?;
        let sessions = s.session_count()?;
        let dir = ModelDir::open(&s.model.clone().unwrap_or_else(ModelDir::default_dir), s.precision)?;
        let max_length = s.max_length.unwrap_or(dir.max_length);
        let corpus_tokenizer = TextTokenizer::from_file(&dir.tokenizer, max_length)?;
        let query_tokenizer = TextTokenizer::from_file(&dir.tokenizer, s.query_max_length.unwrap_or(max_length))?;
        let threads = s.thread_count();
        let mut embedder = open_sessions(&dir, threads, sessions, &devices)?;
        check_vocabulary(embedder.as_mut(), &corpus_tokenizer, &dir)?;
        let batching = EmbedSettings {
            limits: s.batch_limits()?,
            window: s.sort_window,
            ..EmbedSettings::default()
        };
        Ok(EmbeddingModel {
            dir,
            corpus_tokenizer,
            query_tokenizer,
            embedder,
            batching,
            threads,
            sessions,
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
        self.embed_iter(texts.iter().map(|t| Ok(t.as_str())), prompt, queries, sink)
    }

    /// [`EmbeddingModel::embed`] for texts pulled from an iterator (a read error ends the pass).
    pub fn embed_iter<I, T>(
        &mut self,
        texts: I,
        prompt: &str,
        queries: bool,
        sink: impl FnMut(Vec<f32>) -> Result<()>,
    ) -> Result<EmbedStats>
    where
        I: Iterator<Item = Result<T>> + Send,
        T: AsRef<str> + Send,
    {
        let tokenizer = if queries {
            &self.query_tokenizer
        } else {
            &self.corpus_tokenizer
        };
        embed_stream(texts, prompt, tokenizer, self.embedder.as_mut(), self.batching, sink)
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

/// Embeds the corpus into an index: exact with `--exact`, below `--exact-below` passages or for
/// at most `--exact-max-queries` queries (`queries`), HNSW otherwise.
/// Texts stream from the corpus store; identical texts (the corpus's duplicate groups) are
/// embedded once. With `--cache`, an HNSW index saved by an earlier run over the same corpus and
/// model is memory-mapped instead of rebuilt; otherwise cached texts are added first, only the
/// rest is embedded, and the finished HNSW index is saved for the next run. Returns the index, the embedding
/// statistics and the number of passages that came from the cache.
pub fn build_index(
    corpus: &data::Corpus,
    model: &mut EmbeddingModel,
    model_hash: &str,
    s: &MineSettings,
    queries: usize,
) -> Result<(Box<dyn NeighborIndex>, EmbedStats, usize)> {
    let dim = model.embedder.dim();
    let n = corpus.len();
    let hnsw = !(s.exact || n < s.exact_below || queries <= s.exact_max_queries);
    let mut index: Box<dyn NeighborIndex> = if hnsw {
        let estimate = n * (dim * s.index_dtype.bytes() + 160);
        tracing::info!("HNSW index for {n} passages: about {} MiB", estimate >> 20);
        Box::new(UsearchIndex::new(dim, s.index_dtype, n)?)
    } else {
        tracing::info!(
            "exact search over {n} passages for {queries} queries: about {} MiB of {} vectors",
            (n * dim * s.index_dtype.bytes()) >> 20,
            format!("{:?}", s.index_dtype).to_lowercase()
        );
        Box::new(ExactIndex::new(dim, n, s.index_dtype))
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
    let mut save_to = None;
    if let Some(c) = &cache {
        // One pass over the stored texts for the keys of the rows to embed.
        let mut keyed: Vec<(u32, Key)> = Vec::with_capacity(todo.len());
        for (&row, text) in todo.iter().zip(texts_of_rows(corpus, &todo)) {
            keyed.push((row, c.key(&text?)));
        }
        if hnsw {
            let layout = format!("usearch cos {:?} M16 ef128", s.index_dtype);
            let path = c.index_path(&layout, &corpus.canonical, keyed.iter().map(|(_, k)| k));
            if path.exists() {
                match UsearchIndex::view(&path) {
                    Ok(saved) if saved.len() == n => {
                        tracing::info!("index memory-mapped from {}: nothing to embed", path.display());
                        return Ok((Box::new(saved), EmbedStats::default(), n));
                    }
                    Ok(_) | Err(_) => {
                        tracing::warn!("saved index {} is unusable; rebuilding it", path.display());
                        let _ = std::fs::remove_file(&path);
                    }
                }
            }
            save_to = Some(path);
        }
        let wanted: HashMap<Key, u32> = keyed.iter().map(|&(row, key)| (key, row)).collect();
        // Cached vectors go to the index as they are read, never all held at once.
        let found = c.load(&wanted, |rep, vector| {
            for row in rows_of(rep) {
                index.add(&[row], vector)?;
                cached += 1;
            }
            Ok(())
        })?;
        keyed.retain(|(row, _)| !found.contains(row));
        todo = keyed.iter().map(|&(row, _)| row).collect();
        keys = keyed.into_iter().map(|(_, key)| key).collect();
        tracing::info!(
            "embedding cache: {cached} passages cached, {} texts to embed",
            todo.len()
        );
    }
    let bar = crate::progress::bar(n as u64, "embedding corpus", s.no_progress);
    bar.inc(cached as u64);
    // Each window's vectors go to the index (and the cache) on their own thread, beside the model.
    // HNSW adds run one at a time (see `UsearchIndex`'s `add`), so they take one core: on 2 cores
    // beside two model sessions that cost nothing measurable, where making the model wait for
    // them cost 2-3% (BENCHMARKS.md, "HNSW adds one at a time").
    let texts = texts_of_rows(corpus, &todo);
    let (index_ref, todo, keys, cache, bar, rows_of) = (&mut index, &todo, &keys, &cache, &bar, &rows_of);
    let stats = std::thread::scope(|scope| -> Result<EmbedStats> {
        let (tx, rx) = crossbeam_channel::bounded::<(usize, Vec<f32>)>(2);
        let adder = scope.spawn(move || -> Result<()> {
            for (done, vectors) in rx {
                let count = vectors.len() / dim;
                let mut rows = Vec::new();
                let mut expanded = Vec::new();
                for (&rep, v) in todo[done..done + count].iter().zip(vectors.chunks(dim)) {
                    for row in rows_of(rep) {
                        rows.push(row);
                        expanded.extend_from_slice(v);
                    }
                }
                index_ref.add(&rows, &expanded)?;
                if let Some(c) = &cache {
                    c.store(&keys[done..done + count], &vectors)?;
                }
                bar.inc(rows.len() as u64);
            }
            Ok(())
        });
        let mut done = 0usize;
        let embedded = model.embed_iter(texts, &s.corpus_prompt, false, |vectors| {
            let count = vectors.len() / dim;
            tx.send((done, vectors))
                .map_err(|_| Error::Index("the index stage stopped".into()))?;
            done += count;
            crate::progress::test_hold("embed");
            Ok(())
        });
        drop(tx);
        // The index stage's own error explains a failed send, so it comes first.
        adder.join().expect("index thread panicked")?;
        embedded
    })?;
    bar.finish_and_clear();
    if let Some(path) = save_to {
        index.save(&path)?;
        tracing::info!("index saved to {} for reruns", path.display());
    }
    Ok((index, stats, cached))
}

/// The texts of `rows` (ascending) from one sequential pass over the corpus store.
fn texts_of_rows<'a>(corpus: &'a data::Corpus, rows: &'a [u32]) -> impl Iterator<Item = Result<String>> + Send + 'a {
    let mut entries = corpus.iter();
    let mut next = 0usize;
    std::iter::from_fn(move || {
        while next < rows.len() {
            match entries.next()? {
                Err(e) => return Some(Err(e)),
                Ok((row, _, text)) if row == rows[next] => {
                    next += 1;
                    return Some(Ok(text));
                }
                Ok(_) => {}
            }
        }
        None
    })
}

/// Selection parameters from settings, with `range_max` resolved as sentence-transformers does
/// when unset (`range_min + num_negatives × (10 if a score filter is on else 1) + max_positives`).
pub fn select_params(s: &MineSettings, max_positives: usize) -> Result<SelectParams> {
    let factor = if s.has_score_filters()? { 10 } else { 1 };
    let fn_filter = s.fn_filter()?;
    Ok(SelectParams {
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
        simans: select::SimansShape {
            a: s.simans_a,
            b: s.simans_b,
        },
        seed: s.seed,
    })
}

/// The BM25 statistics of the lexical false-negative filter: one pass over the corpus store.
pub fn corpus_bm25(corpus: &data::Corpus) -> Result<Bm25> {
    let mut bm = Bm25::default();
    for entry in corpus.iter() {
        bm.add(&entry?.2);
    }
    Ok(bm)
}

/// Mines queries chunk by chunk over the index, the corpus store and (with the lexical filter)
/// the corpus's BM25 statistics. Whole-run rules (the reuse cap) apply later, in
/// [`assemble::Assembler`].
pub struct Miner<'a> {
    data: &'a MiningData,
    index: &'a dyn NeighborIndex,
    s: &'a MineSettings,
    fn_filter: FnFilter,
    base: SelectParams,
    max_positives: usize,
    bm25: Option<Bm25>,
    profiles: profile::ProfileSampler,
}

impl<'a> Miner<'a> {
    /// Prepares mining over `data` with `index`; `bm25` is the corpus's statistics when the
    /// lexical filter is on (ignored otherwise).
    pub fn new(
        data: &'a MiningData,
        index: &'a dyn NeighborIndex,
        s: &'a MineSettings,
        bm25: Option<Bm25>,
    ) -> Result<Self> {
        let fn_filter = s.fn_filter()?;
        let max_positives = data.queries.iter().map(|q| q.positives.len()).max().unwrap_or(0);
        Ok(Miner {
            data,
            index,
            s,
            fn_filter,
            base: select_params(s, max_positives)?,
            max_positives,
            bm25: bm25.filter(|_| fn_filter.lexical.is_some()),
            profiles: profile::ProfileSampler::new(s.seed, data.queries.len()),
        })
    }

    /// Mines the queries in `range` (their vectors row-major in `query_vectors`), in order. The
    /// search depth starts at `range_max + max_positives` (as sentence-transformers retrieves);
    /// when `--range-max` was not given and a query is left short, depth and range double until
    /// it is full or the corpus is exhausted.
    pub fn mine(&self, range: std::ops::Range<usize>, query_vectors: &[f32]) -> Result<Vec<MinedQuery>> {
        let dim = self.index.dim();
        let start = range.start;
        // The first search of every query in one batch (exact search is then one matrix product).
        let depth = (self.base.range_max + self.max_positives).min(self.data.corpus.len());
        let first = self.index.search_batch(query_vectors, depth)?;
        range
            .into_par_iter()
            .zip(first)
            .map(|(qi, hits)| {
                let qv = &query_vectors[(qi - start) * dim..(qi - start + 1) * dim];
                self.mine_one(qi, qv, depth, hits)
            })
            .collect()
    }

    /// Mines query `qi` (vector `qv`) from `hits`, its `depth` nearest rows.
    fn mine_one(&self, qi: usize, qv: &[f32], mut depth: usize, mut hits: Vec<Hit>) -> Result<MinedQuery> {
        let (q, corpus, index, s) = (&self.data.queries[qi], &self.data.corpus, self.index, self.s);
        let fn_filter = self.fn_filter;
        let positive_scores: Vec<f32> = q
            .positives
            .iter()
            .map(|&p| index.vector(p).map(|v| dot(qv, &v)))
            .collect::<Result<_>>()?;
        let min_positive = positive_scores.iter().copied().reduce(f32::min);
        let positive_texts: HashSet<u32> = q.positives.iter().map(|&p| corpus.canonical[p as usize]).collect();
        let exclude = |row: u32| {
            let canonical = corpus.canonical[row as usize];
            if q.positives.contains(&row) {
                Some(SkipReason::Positive)
            } else if positive_texts.contains(&canonical) {
                Some(SkipReason::DuplicateOfPositive)
            } else if q.same_text_row == Some(canonical) {
                Some(SkipReason::SameAsQuery)
            } else {
                None
            }
        };
        let positive_first = hits.first().is_some_and(|h| {
            matches!(
                exclude(h.row),
                Some(SkipReason::Positive | SkipReason::DuplicateOfPositive)
            )
        });
        let positive_vectors: Vec<Vec<f32>> = if fn_filter.duplicate.is_some() {
            q.positives.iter().map(|&p| index.vector(p)).collect::<Result<_>>()?
        } else {
            Vec::new()
        };
        let lexical = match (&self.bm25, fn_filter.lexical) {
            (Some(bm), Some(ratio)) => {
                let query = bm.query(&q.text);
                let mut weakest = f64::INFINITY;
                for &p in &q.positives {
                    weakest = weakest.min(bm.score(&query, &corpus.text(p)?));
                }
                Some((bm, query, ratio * weakest)).filter(|l| l.2 > 0.0)
            }
            _ => None,
        };
        // A candidate's false-negative verdict: its text is read from the store and scored only
        // when selection reaches it.
        let judge = |row: u32| -> Result<Option<SkipReason>> {
            if let Some(threshold) = fn_filter.duplicate {
                let Ok(v) = index.vector(row) else { return Ok(None) };
                if positive_vectors.iter().any(|p| dot(p, &v) >= threshold) {
                    return Ok(Some(SkipReason::NearDuplicate));
                }
            }
            if let Some((bm, query, limit)) = &lexical
                && bm.score(query, &corpus.text(row)?) >= *limit
            {
                return Ok(Some(SkipReason::Lexical));
            }
            Ok(None)
        };
        // Verdicts are kept across the deepening rounds, which select from the same ranking again.
        let mut verdicts: HashMap<u32, Option<SkipReason>> = HashMap::new();
        let mut params = self.base.clone();
        loop {
            let suspect = |hit: &Hit| match verdicts.entry(hit.row) {
                Entry::Occupied(e) => Ok(*e.get()),
                Entry::Vacant(e) => Ok(*e.insert(judge(hit.row)?)),
            };
            let (selection, fates) = select::select_traced(
                &hits,
                exclude,
                suspect,
                |r| corpus.canonical[r as usize],
                min_positive,
                &params,
                &q.id,
            )?;
            let full = selection.negatives.len() >= params.num_negatives;
            if full || s.range_max.is_some() || depth >= corpus.len() {
                let profile = self
                    .profiles
                    .key(&q.id)
                    .map(|key| profile::QueryProfile::new(key, &q.id, &positive_scores, depth, &hits, &fates));
                return Ok(MinedQuery {
                    query: qi,
                    positive_scores,
                    selection,
                    depth,
                    positive_first,
                    profile,
                });
            }
            depth = (depth * 2).min(corpus.len());
            params.range_max = params.range_max.saturating_mul(2);
            hits = index.search(qv, depth)?;
        }
    }
}

/// Embeds, mines and (with `--counterfactuals`) edits one chunk of queries: the unit both
/// `hardneg mine` and a `mine-queries` shard work in, so a query is embedded in the same batch
/// and its counterfactual directions are balanced against the same neighbours either way.
/// Returns the chunk and the query embedding statistics.
pub fn mine_chunk(
    range: std::ops::Range<usize>,
    data: &MiningData,
    miner: &Miner<'_>,
    model: &mut EmbeddingModel,
    perturber: Option<&crate::perturb::Perturber>,
    timings: &mut BTreeMap<String, f64>,
) -> Result<(MinedChunk, Option<CounterfactualCounts>, EmbedStats)> {
    let s = miner.s;
    let t = Instant::now();
    let mut query_vectors = Vec::with_capacity(range.len() * model.embedder.dim());
    let texts = data.queries[range.clone()].iter().map(|q| Ok(q.text.as_str()));
    let stats = model.embed_iter(texts, &s.query_prompt, true, |v| {
        query_vectors.extend_from_slice(&v);
        Ok(())
    })?;
    add_time(timings, "embed_queries", t);

    let t = Instant::now();
    let mined = miner.mine(range.clone(), &query_vectors)?;
    add_time(timings, "search_select", t);
    let (counterfactuals, counts) = match perturber {
        Some(perturber) => {
            let t = Instant::now();
            let rows = assemble::bare_rows(data, &mined, s.num_negatives)?;
            let chunk = (&data.queries[range], query_vectors.as_slice());
            let (added, counts) =
                counterfactual::propose(&rows, perturber, chunk, &data.corpus, miner.index, model, s)?;
            add_time(timings, "counterfactuals", t);
            (added, Some(counts))
        }
        None => (Vec::new(), None),
    };
    Ok((MinedChunk { mined, counterfactuals }, counts, stats))
}

/// Adds the seconds since `t` to the timing `name`.
pub fn add_time(timings: &mut BTreeMap<String, f64>, name: &str, t: Instant) {
    *timings.entry(name.to_string()).or_default() += t.elapsed().as_secs_f64();
}

/// Checks that the inputs leave something to mine.
pub fn check_minable(data: &MiningData, s: &MineSettings) -> Result<()> {
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
    Ok(())
}

/// The counts of a finished run, from its data and what the assembler wrote.
pub fn run_counts(
    data: &MiningData,
    tally: &Tally,
    drop_short: bool,
    bad_records_skipped: BTreeMap<String, usize>,
    cached_passages: usize,
) -> crate::manifest::Counts {
    crate::manifest::Counts {
        corpus: data.corpus.len(),
        corpus_duplicates: data.corpus.duplicate_rows,
        queries: data.queries.len(),
        queries_without_positive: data.queries_without_positive,
        rows: tally.rows,
        negatives: tally.negatives,
        short_rows: tally.short_rows,
        short_rows_dropped: if drop_short { tally.short_rows } else { 0 },
        short_rows_by_filter: tally.short_by_filter.clone(),
        skipped_candidates: tally.skipped.clone(),
        bad_records_skipped,
        max_search_depth: tally.max_depth,
        rows_positive_first: tally.positive_first_rows,
        cross_row_collisions: tally.collisions,
        cached_passages,
    }
}

/// Score statistics of what the assembler wrote.
pub fn run_scores(tally: Tally) -> crate::manifest::Scores {
    crate::manifest::Scores {
        positive: ScoreStats::of(tally.positive_scores),
        negative: ScoreStats::of(tally.negative_scores),
        difference: ScoreStats::of(tally.differences),
    }
}

/// Opens the corpus-side pieces a chunk needs besides the index: the BM25 statistics (with the
/// lexical filter) and the perturber (with `--counterfactuals`), each from one corpus pass.
fn corpus_statistics(
    corpus: &data::Corpus,
    s: &MineSettings,
    language: &RunLanguage,
) -> Result<(Option<Bm25>, Option<crate::perturb::Perturber>, Vec<String>)> {
    let bm25 = match s.fn_filter()?.lexical {
        Some(_) => Some(corpus_bm25(corpus)?),
        None => None,
    };
    let (perturber, left_out) = match s.counterfactuals {
        0 => (None, Vec::new()),
        _ => {
            let (p, left_out) = counterfactual::perturber(corpus, s, language)?;
            (Some(p), left_out.iter().map(|f| f.name().to_string()).collect())
        }
    };
    Ok((bm25, perturber, left_out))
}

/// The run's language: `--language`, or detected from the corpus's first passages.
pub fn corpus_language(corpus: &data::Corpus, s: &MineSettings) -> Result<RunLanguage> {
    let language = crate::language::resolve(&s.language, corpus.iter().map(|e| e.map(|(_, _, text)| text)))?;
    tracing::info!(
        "language: {} ({}{})",
        language.code,
        language.source,
        language
            .confidence
            .map(|c| format!(", confidence {c}"))
            .unwrap_or_default()
    );
    Ok(language)
}

/// Runs the whole job in one process and writes the output and manifest.
pub fn run(s: &MineSettings) -> Result<MineReport> {
    s.validate()?;
    let started = Instant::now();
    let out = s.out.clone().ok_or_else(|| Error::Config("--out is required".into()))?;
    crate::output::check_writable(&out)?;
    let mut timings = BTreeMap::new();
    let mut policy = match s.on_bad_record {
        OnBadRecord::Fail => BadRecordPolicy::strict(),
        OnBadRecord::Skip => BadRecordPolicy::skipping(s.max_bad_records),
    };

    let t = Instant::now();
    let data = load_inputs(s, &mut policy)?;
    check_minable(&data, s)?;
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
    let (index, corpus_stats, cached_passages) =
        build_index(&data.corpus, &mut model, &model_hash, s, data.queries.len())?;
    timings.insert("embed_corpus".to_string(), t.elapsed().as_secs_f64());

    let t = Instant::now();
    let language = corpus_language(&data.corpus, s)?;
    let (bm25, perturber, left_out) = corpus_statistics(&data.corpus, s, &language)?;
    add_time(&mut timings, "corpus_statistics", t);
    let miner = Miner::new(&data, index.as_ref(), s, bm25)?;
    let mut assembler = Assembler::new(&data, s)?;
    let width = s.num_negatives + s.counterfactuals;
    let mut writer = TrainingSetWriter::create(&out, s.format, width, !s.no_provenance)?;
    let mut query_stats = EmbedStats::default();
    let mut counterfactuals: Option<CounterfactualCounts> = None;
    let bar = crate::progress::bar(data.queries.len() as u64, "mining queries", s.no_progress);
    // Queries go chunk by chunk (`--query-chunk`): memory for their vectors and rows is bounded
    // by the chunk, whatever the number of queries, and rows are written as each chunk completes.
    for start in (0..data.queries.len()).step_by(s.query_chunk) {
        let range = start..(start + s.query_chunk).min(data.queries.len());
        let (chunk, counts, stats) = mine_chunk(
            range.clone(),
            &data,
            &miner,
            &mut model,
            perturber.as_ref(),
            &mut timings,
        )?;
        query_stats.absorb(&stats);
        if let Some(counts) = counts {
            CounterfactualCounts::merge(&mut counterfactuals, counts);
        }
        let t = Instant::now();
        let rows = assembler.rows(chunk)?;
        add_time(&mut timings, "search_select", t);
        let t = Instant::now();
        writer.write(&rows)?;
        add_time(&mut timings, "write", t);
        bar.inc(range.len() as u64);
    }
    bar.finish_and_clear();
    let t = Instant::now();
    crate::progress::test_hold("write");
    let outputs = writer.finish()?;
    add_time(&mut timings, "write", t);
    std::mem::take(&mut assembler.profiles)
        .into_sidecar(data.queries.len())
        .write(&out)?;
    timings.insert("total".to_string(), started.elapsed().as_secs_f64());

    let inputs = data
        .inputs
        .iter()
        .map(|p| InputFile::of(p))
        .collect::<Result<Vec<_>>>()?;
    let drop_short = assembler.drop_short;
    let counts = run_counts(
        &data,
        &assembler.tally,
        drop_short,
        policy.skipped.clone(),
        cached_passages,
    );
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
        index: crate::manifest::IndexInfo {
            kind: index.kind().into(),
            bytes: index.memory_bytes(),
        },
        // The threads and sessions that ran, where the settings left them to the machine.
        config: serde_json::to_value(MineSettings {
            threads: std::num::NonZeroUsize::new(model.threads),
            sessions: Some(model.sessions),
            batch_size: Some(model.batching.limits.max_rows),
            max_batch_tokens: Some(model.batching.limits.max_tokens),
            ..s.clone()
        })
        .map_err(|e| Error::Config(format!("settings do not serialize: {e}")))?,
        language: crate::manifest::LanguageInfo {
            language,
            counterfactual_families_left_out: left_out,
        },
        counts,
        scores: run_scores(assembler.tally),
        embedding: BTreeMap::from([
            ("corpus".to_string(), corpus_stats),
            ("queries".to_string(), query_stats),
        ]),
        counterfactuals,
        timings,
        outputs: outputs.iter().map(|p| p.display().to_string()).collect(),
    };
    manifest.write(&out)?;
    let summary = manifest.summary();
    Ok(MineReport {
        manifest,
        outputs,
        summary,
        manifest_path: crate::output::manifest_path(&out),
    })
}
