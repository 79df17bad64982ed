//! The mining job's settings: one struct read from command-line flags (`hardneg mine`) or from a
//! strict TOML pipeline file (`hardneg run`), so both paths resolve to the same configuration.

use std::path::PathBuf;

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::embed::model::Precision;
use crate::index::IndexDtype;
use crate::mine::select::Sampling;
use crate::output::Format;

/// What to do with a malformed input record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnBadRecord {
    /// Stop with an error naming file, line and field.
    Fail,
    /// Count and skip, failing past `--max-bad-records`.
    Skip,
}

/// Every setting of a mining run. Defaults follow sentence-transformers' `mine_hard_negatives`
/// where it has the same knob.
#[derive(Debug, Clone, PartialEq, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MineSettings {
    /// BEIR corpus (`_id`, `title`, `text`) as JSONL(.gz) or Parquet; with --pairs, extra candidates.
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// BEIR queries (`_id`, `text`).
    #[arg(long)]
    pub queries: Option<PathBuf>,
    /// BEIR qrels TSV (`query-id`, `corpus-id`, `score`); a positive is score > 0.
    #[arg(long)]
    pub qrels: Option<PathBuf>,
    /// (anchor, positive) pairs as Parquet or JSONL; repeated anchors mean several positives.
    #[arg(long)]
    pub pairs: Option<PathBuf>,
    /// Anchor column of --pairs.
    #[arg(long, default_value = "anchor")]
    pub anchor_column: String,
    /// Positive column of --pairs.
    #[arg(long, default_value = "positive")]
    pub positive_column: String,
    /// Id field of corpus and queries.
    #[arg(long, default_value = "_id")]
    pub id_field: String,
    /// Text field of corpus and queries.
    #[arg(long, default_value = "text")]
    pub text_field: String,
    /// Title field of the corpus, prepended to the text ("" for none).
    #[arg(long, default_value = "title")]
    pub title_field: String,
    /// Output file (Parquet; JSONL for flag-embedding and tevatron).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "triplet")]
    pub format: Format,
    /// Also write an HTML report of the training set here (see `hardneg report`).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Omit provenance columns (write only what the trainer consumes).
    #[arg(long)]
    pub no_provenance: bool,
    /// Keep rows short of negatives in fixed-width formats (missing negatives are null).
    #[arg(long)]
    pub keep_short: bool,
    /// Drop rows short of negatives in list formats too.
    #[arg(long)]
    pub drop_short: bool,

    /// Model folder (model.onnx + tokenizer.json); default: the one `make setup` prepares.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Graph precision: fp32 (default), int8 (dynamic quantization), fp16 (GPU).
    #[arg(long, value_enum, default_value = "fp32")]
    pub precision: Precision,
    /// cpu, cuda, cuda:N, or several GPUs of one node (cuda:0,cuda:1: a session each).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Threads for every stage: the model's, and the pool that tokenizes, searches and selects
    /// (default: all cores).
    #[arg(long, value_parser = at_least_one)]
    pub threads: Option<std::num::NonZeroUsize>,
    /// Model sessions run side by side, each taking whole batches with --threads / N intra-op
    /// threads (default: one session per thread on CPU, one on CUDA).
    #[arg(long)]
    pub sessions: Option<usize>,
    /// Most texts per model batch (default: 32 on CPU, 256 on CUDA).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Most padded tokens per model batch (default: 512 on CPU, 32768 on CUDA).
    #[arg(long)]
    pub max_batch_tokens: Option<usize>,
    /// Texts sorted by length together before batching (larger: less padding, more memory);
    /// with --cache, each finished window is cached.
    #[arg(long, default_value_t = 4096)]
    pub sort_window: usize,
    /// Queries embedded, mined and written together (bounds the memory of query vectors and
    /// rows; with --counterfactuals, edits are balanced within each chunk).
    #[arg(long, default_value_t = 8192)]
    pub query_chunk: usize,
    /// Truncation length of corpus texts (default: the model's, 256 for all-MiniLM-L6-v2).
    #[arg(long)]
    pub max_length: Option<usize>,
    /// Truncation length of queries (default: --max-length).
    #[arg(long)]
    pub query_max_length: Option<usize>,
    /// Text prepended to every query before embedding.
    #[arg(long, default_value = "")]
    pub query_prompt: String,
    /// Text prepended to every corpus passage before embedding.
    #[arg(long, default_value = "")]
    pub corpus_prompt: String,

    /// Negatives per row.
    #[arg(long, default_value_t = 5)]
    pub num_negatives: usize,
    /// Skip this many of the best surviving candidates.
    #[arg(long, default_value_t = 0)]
    pub range_min: usize,
    /// Consider at most this many surviving candidates (default: grow until every row is full).
    #[arg(long)]
    pub range_max: Option<usize>,
    /// Skip candidates scoring above this.
    #[arg(long)]
    pub max_score: Option<f32>,
    /// Skip candidates scoring below this.
    #[arg(long)]
    pub min_score: Option<f32>,
    /// Skip candidates with score + margin > the query's lowest positive score.
    #[arg(long)]
    pub absolute_margin: Option<f32>,
    /// Skip candidates above positive − |positive| × margin (0.05 = NV-Retriever TopK-PercPos 95%).
    #[arg(long)]
    pub relative_margin: Option<f32>,
    /// top: the hardest; random: a seeded sample of the window; simans: a seeded sample favouring
    /// negatives a little below the positive (--simans-a, --simans-b).
    #[arg(long, value_enum, default_value = "top")]
    pub sampling: Sampling,
    /// SimANS sharpness on cosine scores: 1/(2σ²) of the bump around the peak (50: σ = 0.1).
    #[arg(long, default_value_t = 50.0)]
    pub simans_a: f32,
    /// SimANS peak relative to the positive's cosine (−0.1: a tenth below it).
    #[arg(long, default_value_t = -0.1, allow_hyphen_values = true)]
    pub simans_b: f32,
    /// Seed for random sampling (per query: derived from seed and query id).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// False-negative filters: auto (default), off (sentence-transformers parity), or a list of
    /// margin[=M], lexical[=A], duplicate[=T].
    #[arg(long, default_value = "auto")]
    pub fn_filter: String,
    /// Use one passage as a negative at most this many times over the whole output.
    #[arg(long)]
    pub max_negative_reuse: Option<usize>,

    /// Add up to this many counterfactual negatives per row: checked minimal edits of the
    /// positive (numbers, negation, comparatives, antonyms) that stop it answering the query.
    #[arg(long, default_value_t = 0)]
    pub counterfactuals: usize,
    /// Families of counterfactual edits: all, or a list of number, negation, comparative, antonym.
    #[arg(long, default_value = "all")]
    pub counterfactual_families: String,
    /// Counterfactuals whose embedding cosine to their positive falls below this are dropped as broken.
    #[arg(long, default_value_t = 0.7)]
    pub counterfactual_min_similarity: f32,

    /// Language of the texts: auto (detected from a sample of the corpus) or an ISO 639 code
    /// (en, zh, ja, de, …). Negation, comparative and antonym edits are English rules and run only
    /// on English; lexical terms work in every language.
    #[arg(long, default_value = "auto")]
    pub language: String,

    /// Cache corpus embeddings here (keyed by model, precision, max length, prompt and text):
    /// reruns embed only what is missing.
    #[arg(long)]
    pub cache: Option<PathBuf>,

    /// Vector storage of the index, HNSW or exact. f16 by default: half the memory of f32 (and
    /// faster HNSW adds), with the same recall and scores within about 1e-4 of f32's
    /// (BENCHMARKS.md); f32 keeps the model's vectors unrounded, i8 a quarter of f32's memory.
    #[arg(long, value_enum, default_value = "f16")]
    pub index_dtype: IndexDtype,
    /// Exact (brute-force) search whatever the corpus size: fully deterministic.
    #[arg(long)]
    pub exact: bool,
    /// Corpora smaller than this use exact search.
    #[arg(long, default_value_t = 20_000)]
    pub exact_below: usize,
    /// Jobs with at most this many queries use exact search whatever the corpus size: scoring
    /// every passage against a few thousand queries by matrix products costs less than building an
    /// HNSW graph over it (BENCHMARKS.md, "Exact search or HNSW"). 0: only --exact-below decides.
    #[arg(long, default_value_t = 10_000)]
    pub exact_max_queries: usize,

    /// Malformed records: fail (default) or skip and count.
    #[arg(long, value_enum, default_value = "fail")]
    pub on_bad_record: OnBadRecord,
    /// With --on-bad-record skip: fail once more records than this were skipped.
    #[arg(long, default_value_t = 100)]
    pub max_bad_records: usize,
    /// No progress bars.
    #[arg(long)]
    pub no_progress: bool,
}

impl Default for MineSettings {
    fn default() -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            settings: MineSettings,
        }
        // One source of truth for defaults: clap's.
        Wrapper::parse_from(["hardneg"]).settings
    }
}

impl MineSettings {
    /// Checks the combination of settings before any work starts.
    pub fn validate(&self) -> crate::Result<()> {
        use crate::error::Error::Config;
        let beir = self.corpus.is_some() && self.queries.is_some() && self.qrels.is_some();
        if self.pairs.is_none() && !beir {
            return Err(Config(
                "give --corpus, --queries and --qrels (BEIR layout), or --pairs".into(),
            ));
        }
        if self.pairs.is_some() && (self.queries.is_some() || self.qrels.is_some()) {
            return Err(Config("--pairs cannot be combined with --queries/--qrels".into()));
        }
        if self.out.is_none() {
            return Err(Config("--out is required".into()));
        }
        if self.num_negatives == 0 {
            return Err(Config("--num-negatives must be at least 1".into()));
        }
        if let Some(max) = self.range_max {
            if self.range_min >= max {
                return Err(Config(format!(
                    "--range-min {} must be smaller than --range-max {max}",
                    self.range_min
                )));
            }
            if self.num_negatives > max - self.range_min {
                return Err(Config(format!(
                    "cannot mine {} negatives: only {} candidates remain between --range-min {} and --range-max {max}",
                    self.num_negatives,
                    max - self.range_min,
                    self.range_min
                )));
            }
        }
        if !(self.simans_a.is_finite() && self.simans_a > 0.0 && self.simans_b.is_finite()) {
            return Err(Config(format!(
                "--simans-a must be a positive number and --simans-b a number (got {} and {})",
                self.simans_a, self.simans_b
            )));
        }
        if self.keep_short && self.drop_short {
            return Err(Config("--keep-short and --drop-short contradict each other".into()));
        }
        crate::filter::FnFilter::parse(&self.fn_filter)?;
        if self.max_negative_reuse == Some(0) {
            return Err(Config("--max-negative-reuse must be at least 1".into()));
        }
        crate::perturb::FamilyName::parse_list(&self.counterfactual_families)?;
        if !(0.0..=1.0).contains(&self.counterfactual_min_similarity) {
            return Err(Config("--counterfactual-min-similarity must be between 0 and 1".into()));
        }
        if self.batch_size == Some(0)
            || self.max_batch_tokens == Some(0)
            || self.sort_window == 0
            || self.query_chunk == 0
        {
            return Err(Config(
                "--batch-size, --max-batch-tokens, --sort-window and --query-chunk must be positive".into(),
            ));
        }
        Ok(())
    }

    /// Threads to use: `--threads`, else every core.
    pub fn thread_count(&self) -> usize {
        self.threads
            .or_else(|| std::thread::available_parallelism().ok())
            .map_or(1, std::num::NonZeroUsize::get)
    }

    /// Model sessions to run: `--sessions` (between 1 and the thread count), else one per thread
    /// on CPU and one on a GPU.
    pub fn session_count(&self) -> crate::Result<usize> {
        let threads = self.thread_count();
        match self.sessions {
            Some(n) if n == 0 || n > threads => Err(crate::error::Error::Config(format!(
                "--sessions {n} must be between 1 and the thread count ({threads}): each session needs a thread of its own"
            ))),
            Some(n) => Ok(n),
            None if self.device == "cpu" => Ok(threads),
            // One per GPU listed.
            None => Ok(self.device.split(',').count()),
        }
    }

    /// The devices of `--device`.
    pub fn devices(&self) -> crate::Result<Vec<crate::embed::onnx::Device>> {
        crate::embed::onnx::parse_devices(&self.device).map_err(crate::error::Error::Config)
    }

    /// Texts and padded tokens per model batch: the flags, else the device's defaults.
    pub fn batch_limits(&self) -> crate::Result<crate::embed::tokenize::BatchLimits> {
        let (rows, tokens) = crate::embed::onnx::default_batch_limits(&self.devices()?);
        Ok(crate::embed::tokenize::BatchLimits {
            max_rows: self.batch_size.unwrap_or(rows),
            max_tokens: self.max_batch_tokens.unwrap_or(tokens),
        })
    }

    /// Whether any filter that removes candidates near the positive is on (sentence-transformers
    /// then derives a 10× deeper default range).
    pub fn has_score_filters(&self) -> crate::Result<bool> {
        Ok(self.absolute_margin.is_some()
            || self.relative_margin.is_some()
            || self.max_score.is_some()
            || self.fn_filter()?.is_on())
    }

    /// The parsed `--fn-filter`; a bad value is an error, never a silent fallback.
    pub fn fn_filter(&self) -> crate::Result<crate::filter::FnFilter> {
        crate::filter::FnFilter::parse(&self.fn_filter)
    }
}

/// Parses a count that must be at least 1 (`--threads`), with a message that says so.
pub fn at_least_one(value: &str) -> Result<std::num::NonZeroUsize, String> {
    value
        .parse::<usize>()
        .ok()
        .and_then(std::num::NonZeroUsize::new)
        .ok_or_else(|| "expected a whole number of at least 1".to_string())
}
