//! `hardneg plan`: validates a mining job's settings into a typed, serialized plan and ingests its
//! inputs once into the run folder, so no worker re-reads or re-lists the raw inputs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{RunDir, Shard, Stage, parts};
use crate::error::{Error, Result};
use crate::input::BadRecordPolicy;
use crate::manifest::InputFile;
use crate::mine::{EmbeddingModel, check_minable, load_inputs};
use crate::settings::{MineSettings, OnBadRecord};

/// Version of the plan's layout on disk; a plan of another version is refused.
pub const PLAN_FORMAT: u32 = 1;

/// How the corpus is searched: the same choice `hardneg mine` makes for the whole job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexKind {
    /// Brute-force matrix products (deterministic).
    Exact,
    /// usearch HNSW graphs.
    Hnsw,
}

impl IndexKind {
    /// The name the manifest records (`exact` or `hnsw`).
    pub fn name(self) -> &'static str {
        match self {
            IndexKind::Exact => "exact",
            IndexKind::Hnsw => "hnsw",
        }
    }

    /// The extension of a saved partition.
    pub fn extension(self) -> &'static str {
        match self {
            IndexKind::Exact => "exact",
            IndexKind::Hnsw => "usearch",
        }
    }
}

/// A half-open range of rows (corpus rows or query positions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// First row.
    pub start: usize,
    /// One past the last row.
    pub end: usize,
}

impl Span {
    /// Rows in the span.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the span holds no row.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// As a range.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start..self.end
    }
}

/// How the job is split: which corpus rows each embed shard and index partition covers and
/// which queries each mine shard takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// Corpus rows of each embed-corpus shard; a shard covers whole embedding windows
    /// (`--sort-window` distinct passages each), so its texts are batched as `mine` batches them.
    pub corpus_shards: Vec<Span>,
    /// Corpus rows of each index partition (contiguous, near-equal).
    pub partitions: Vec<Span>,
    /// Query positions of each mine-queries shard; a shard covers whole query chunks
    /// (`--query-chunk` queries each).
    pub query_shards: Vec<Span>,
    /// Exact search or HNSW.
    pub index: IndexKind,
}

impl Layout {
    /// Splits `canonical` (each row's first row with the same text) and `queries` queries into
    /// `corpus_shards` × `partitions` × `query_shards`.
    pub fn new(
        canonical: &[u32],
        queries: usize,
        (corpus_shards, partitions, query_shards): (usize, usize, usize),
        s: &MineSettings,
    ) -> Self {
        let n = canonical.len();
        let reps: Vec<usize> = (0..n).filter(|&r| canonical[r] as usize == r).collect();
        let windows = reps.len().div_ceil(s.sort_window);
        // Row 0 always starts window 0; a shard with no window of its own is empty.
        let window_start = |i: usize| {
            let w = i * windows / corpus_shards;
            if w < windows { reps[w * s.sort_window] } else { n }
        };
        let corpus = (0..corpus_shards)
            .map(|i| Span {
                start: window_start(i),
                end: if i + 1 == corpus_shards { n } else { window_start(i + 1) },
            })
            .collect();
        let chunks = queries.div_ceil(s.query_chunk);
        let chunk_start = |j: usize| (j * chunks / query_shards * s.query_chunk).min(queries);
        let query = (0..query_shards)
            .map(|j| Span {
                start: chunk_start(j),
                end: chunk_start(j + 1),
            })
            .collect();
        let partition = (0..partitions)
            .map(|p| Span {
                start: p * n / partitions,
                end: (p + 1) * n / partitions,
            })
            .collect();
        let hnsw = !(s.exact || n < s.exact_below || queries <= s.exact_max_queries);
        Layout {
            corpus_shards: corpus,
            partitions: partition,
            query_shards: query,
            index: if hnsw { IndexKind::Hnsw } else { IndexKind::Exact },
        }
    }

    /// Shards of a stage.
    pub fn shards(&self, stage: Stage) -> usize {
        match stage {
            Stage::EmbedCorpus => self.corpus_shards.len(),
            Stage::BuildIndex => self.partitions.len(),
            Stage::MineQueries => self.query_shards.len(),
        }
    }

    /// Every shard of a stage.
    pub fn all(&self, stage: Stage) -> impl Iterator<Item = Shard> {
        let count = self.shards(stage);
        (0..count).map(move |index| Shard { index, count })
    }

    /// Corpus rows in all.
    pub fn corpus_rows(&self) -> usize {
        self.corpus_shards.last().map_or(0, |s| s.end)
    }
}

/// The model of the run, fixed at plan time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedModel {
    /// The model folder (absolute).
    pub dir: PathBuf,
    /// The ONNX graph run.
    pub onnx: PathBuf,
    /// SHA-256 of the graph and its external data; stages refuse a model that differs.
    pub sha256: String,
    /// Embedding dimension.
    pub dim: usize,
}

/// What ingesting the inputs found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ingested {
    /// Corpus passages.
    pub corpus: usize,
    /// Passages whose text repeats an earlier one (embedded once).
    pub corpus_duplicates: usize,
    /// Queries with at least one positive.
    pub queries: usize,
    /// Queries without a positive (no row).
    pub queries_without_positive: usize,
    /// Bad records skipped (`--on-bad-record skip`), by reason.
    pub bad_records_skipped: BTreeMap<String, usize>,
}

/// The settings that decide the output: everything but the worker's own resources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    /// The mining settings, with paths made absolute and worker resources cleared.
    pub settings: MineSettings,
    /// The inputs, with sizes and SHA-256.
    pub inputs: Vec<InputFile>,
    /// Corpus shards, index partitions and query shards asked for.
    pub shards: (usize, usize, usize),
    /// SHA-256 of the model.
    pub model_sha256: String,
}

/// A validated, serialized job: `plan.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// [`PLAN_FORMAT`].
    pub format: u32,
    /// The hardneg version that planned it.
    pub tool_version: String,
    /// What decides the output.
    pub intent: Intent,
    /// The model.
    pub model: PlannedModel,
    /// The split.
    pub layout: Layout,
    /// What ingesting found.
    pub ingested: Ingested,
    /// The language of the texts (given or detected at plan time).
    pub language: crate::language::RunLanguage,
    /// Counterfactual families left out for that language.
    pub families_left_out: Vec<String>,
    /// SHA-256 of everything above, carried by every marker.
    pub hash: String,
}

/// Worker resources: they change how fast a shard runs, not what it writes.
#[derive(Debug, Clone, Default)]
pub struct Worker {
    /// `--threads`.
    pub threads: Option<std::num::NonZeroUsize>,
    /// `--sessions`.
    pub sessions: Option<usize>,
    /// `--device`.
    pub device: Option<String>,
    /// `--cache` (embed-corpus).
    pub cache: Option<PathBuf>,
    /// `--no-progress`.
    pub no_progress: bool,
}

impl Plan {
    /// Reads `plan.json` of `run`.
    pub fn load(run: &RunDir) -> Result<Plan> {
        let path = run.plan();
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::Config(format!(
                    "{} has no plan.json: run `hardneg plan --run {}` first",
                    run.root().display(),
                    run.root().display()
                ))
            } else {
                Error::io(&path, e)
            }
        })?;
        let plan: Plan = serde_json::from_str(&text).map_err(|e| Error::input(&path, format!("not a plan: {e}")))?;
        if plan.format != PLAN_FORMAT {
            return Err(Error::input(
                &path,
                format!(
                    "plan format {} (this hardneg reads {PLAN_FORMAT}): plan the run again",
                    plan.format
                ),
            ));
        }
        if plan.hash != plan.compute_hash() {
            return Err(Error::input(
                &path,
                "the plan was edited by hand (its hash does not match)",
            ));
        }
        Ok(plan)
    }

    fn compute_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let body = serde_json::json!({
            "format": self.format,
            "tool_version": self.tool_version,
            "intent": self.intent,
            "model": self.model,
            "layout": self.layout,
            "ingested": self.ingested,
            "language": self.language,
            "families_left_out": self.families_left_out,
        });
        format!("{:x}", Sha256::digest(body.to_string().as_bytes()))
    }

    /// The settings a worker runs with: the plan's, with its own resources.
    pub fn settings_for(&self, worker: &Worker) -> MineSettings {
        let mut s = self.intent.settings.clone();
        s.threads = worker.threads;
        s.sessions = worker.sessions;
        s.device = worker.device.clone().unwrap_or_else(|| "cpu".into());
        s.cache = worker.cache.clone();
        s.no_progress = worker.no_progress;
        s.model = Some(self.model.dir.clone());
        s
    }

    /// The extension of this run's index partitions.
    pub fn index_extension(&self) -> &'static str {
        self.layout.index.extension()
    }
}

/// Makes `path` absolute against the current folder (workers may start elsewhere).
fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|e| Error::io(path, e))
}

/// The settings as the plan keeps them: output and model paths absolute, worker resources
/// cleared, and the inputs (read at plan time only) as given.
fn intent_settings(s: &MineSettings) -> Result<MineSettings> {
    let mut kept = s.clone();
    kept.out = s.out.as_deref().map(absolute).transpose()?;
    kept.report = s.report.as_deref().map(absolute).transpose()?;
    kept.model = Some(absolute(
        &s.model
            .clone()
            .unwrap_or_else(crate::embed::model::ModelDir::default_dir),
    )?);
    kept.threads = None;
    kept.sessions = None;
    kept.device = "cpu".into();
    kept.cache = None;
    kept.no_progress = false;
    Ok(kept)
}

/// The inputs named by the settings, fingerprinted.
fn fingerprint_inputs(s: &MineSettings) -> Result<Vec<InputFile>> {
    [&s.corpus, &s.queries, &s.qrels, &s.pairs]
        .into_iter()
        .flatten()
        .map(|p| InputFile::of(p))
        .collect()
}

/// The keys (dotted) where two JSON values differ, with both values.
fn differences(prefix: &str, old: &serde_json::Value, new: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let (x, y) = (a.get(k).unwrap_or(&Value::Null), b.get(k).unwrap_or(&Value::Null));
                differences(
                    &format!("{prefix}{}{k}", if prefix.is_empty() { "" } else { "." }),
                    x,
                    y,
                    out,
                );
            }
        }
        _ if old != new => out.push(format!("{prefix}: {old} in the plan, {new} now")),
        _ => {}
    }
}

/// What `hardneg plan` did.
#[derive(Debug)]
pub enum Planned {
    /// A new plan was written.
    Written(Box<Plan>),
    /// The folder already held this plan: nothing was done.
    Unchanged(Box<Plan>),
}

/// Plans `s` into `run` with `shards` = (corpus shards, index partitions, query shards). A folder
/// that already holds a plan with the same intent is left as it is; one with another intent is
/// refused, naming what differs.
pub fn plan(run: &RunDir, s: &MineSettings, shards: (usize, usize, usize)) -> Result<Planned> {
    s.validate()?;
    if shards.0 == 0 || shards.1 == 0 || shards.2 == 0 {
        return Err(Error::Config(
            "--corpus-shards, --index-partitions and --query-shards must be at least 1".into(),
        ));
    }
    let out = s
        .out
        .as_deref()
        .ok_or_else(|| Error::Config("--out is required".into()))?;
    crate::output::check_writable(out)?;
    let model_dir = crate::embed::model::ModelDir::open(
        &s.model
            .clone()
            .unwrap_or_else(crate::embed::model::ModelDir::default_dir),
        s.precision,
    )?;
    let intent = Intent {
        settings: intent_settings(s)?,
        inputs: fingerprint_inputs(s)?,
        shards,
        model_sha256: model_dir.hash()?,
    };
    if run.plan().exists() {
        let existing = Plan::load(run)?;
        if existing.intent == intent {
            return Ok(Planned::Unchanged(Box::new(existing)));
        }
        let mut diff = Vec::new();
        let as_json = |i: &Intent| serde_json::to_value(i).unwrap_or_default();
        differences("", &as_json(&existing.intent), &as_json(&intent), &mut diff);
        return Err(Error::Config(format!(
            "{} was planned with other settings; plan a new folder or remove this one. What differs:\n  {}",
            run.root().display(),
            diff.join("\n  ")
        )));
    }

    let mut policy = match s.on_bad_record {
        OnBadRecord::Fail => BadRecordPolicy::strict(),
        OnBadRecord::Skip => BadRecordPolicy::skipping(s.max_bad_records),
    };
    let data = load_inputs(s, &mut policy)?;
    check_minable(&data, s)?;
    if shards.1 > data.corpus.len() {
        return Err(Error::Config(format!(
            "--index-partitions {} is more than the corpus's {} passages",
            shards.1,
            data.corpus.len()
        )));
    }
    let model = EmbeddingModel::open(s)?;
    let layout = Layout::new(&data.corpus.canonical, data.queries.len(), shards, s);
    tracing::info!(
        "planned {} passages ({} exact duplicates) and {} queries: {} corpus shards, {} {} index partitions, {} query shards",
        data.corpus.len(),
        data.corpus.duplicate_rows,
        data.queries.len(),
        shards.0,
        shards.1,
        layout.index.extension(),
        shards.2
    );
    for (stage, spans, unit) in [
        ("embed-corpus", &layout.corpus_shards, "--sort-window"),
        ("mine-queries", &layout.query_shards, "--query-chunk"),
    ] {
        let empty = spans.iter().filter(|s| s.is_empty()).count();
        if empty > 0 {
            tracing::warn!(
                "{empty} of {} {stage} shards are empty: a shard covers whole units of {unit}; lower {unit} to spread the work (mine with the same value writes the same output)",
                spans.len()
            );
        }
    }
    let language = crate::mine::corpus_language(&data.corpus, s)?;
    parts::write_corpus(run, &data.corpus, &layout)?;
    parts::write_queries(run, &data.queries)?;
    if s.fn_filter()?.lexical.is_some() {
        parts::write_bm25(run, &crate::mine::corpus_bm25(&data.corpus)?)?;
    }
    let mut families_left_out = Vec::new();
    if s.counterfactuals > 0 {
        let (perturber, left_out) = crate::mine::counterfactual::perturber(&data.corpus, s, &language)?;
        parts::write_perturber_tables(run, &perturber)?;
        families_left_out = left_out.iter().map(|f| f.name().to_string()).collect();
    }
    let mut plan = Plan {
        format: PLAN_FORMAT,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        model: PlannedModel {
            dir: intent.settings.model.clone().unwrap_or_default(),
            onnx: absolute(&model.dir.onnx)?,
            sha256: intent.model_sha256.clone(),
            dim: model.embedder.dim(),
        },
        intent,
        layout,
        ingested: Ingested {
            corpus: data.corpus.len(),
            corpus_duplicates: data.corpus.duplicate_rows,
            queries: data.queries.len(),
            queries_without_positive: data.queries_without_positive,
            bad_records_skipped: policy.skipped.clone(),
        },
        language,
        families_left_out,
        hash: String::new(),
    };
    plan.hash = plan.compute_hash();
    let json = serde_json::to_vec_pretty(&plan).map_err(|e| Error::Config(format!("plan does not serialize: {e}")))?;
    crate::output::write_atomic(&run.plan(), &json)?;
    Ok(Planned::Written(Box::new(plan)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(window: usize, chunk: usize) -> MineSettings {
        MineSettings {
            sort_window: window,
            query_chunk: chunk,
            ..MineSettings::default()
        }
    }

    #[test]
    fn corpus_shards_cover_whole_windows_of_distinct_passages() {
        // Rows 2 and 5 repeat earlier texts: 8 distinct passages, windows of 3 → 3 windows.
        let canonical = [0, 1, 0, 3, 4, 1, 6, 7, 8, 9];
        let layout = Layout::new(&canonical, 10, (2, 3, 2), &settings(3, 4));
        let spans: Vec<(usize, usize)> = layout.corpus_shards.iter().map(|s| (s.start, s.end)).collect();
        // Windows start at distinct passages 0, 3, 6 = rows 0, 4, 8; shard 1 starts at window 1.
        assert_eq!(spans, [(0, 4), (4, 10)]);
        assert_eq!(layout.partitions.iter().map(Span::len).sum::<usize>(), 10);
        // Queries in chunks of 4: 3 chunks over 2 shards.
        let q: Vec<(usize, usize)> = layout.query_shards.iter().map(|s| (s.start, s.end)).collect();
        assert_eq!(q, [(0, 4), (4, 10)]);
        assert_eq!(layout.index, IndexKind::Exact);
    }

    #[test]
    fn more_shards_than_windows_leave_some_empty_and_lose_no_row() {
        let canonical: Vec<u32> = (0..5).collect();
        let layout = Layout::new(&canonical, 3, (4, 2, 5), &settings(4096, 8192));
        assert_eq!(
            layout.corpus_shards.iter().map(Span::len).collect::<Vec<_>>(),
            [0, 0, 0, 5]
        );
        assert_eq!(layout.query_shards.iter().map(Span::len).sum::<usize>(), 3);
        assert_eq!(layout.corpus_rows(), 5);
    }

    #[test]
    fn differences_name_the_changed_keys() {
        let a = serde_json::json!({"settings": {"num_negatives": 5, "seed": 1}, "shards": [1, 1, 1]});
        let b = serde_json::json!({"settings": {"num_negatives": 7, "seed": 1}, "shards": [1, 1, 1]});
        let mut out = Vec::new();
        differences("", &a, &b, &mut out);
        assert_eq!(out, ["settings.num_negatives: 5 in the plan, 7 now"]);
    }
}
