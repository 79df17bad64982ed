//! The run manifest `<out>.manifest.json`: inputs with sizes and hashes, model hash, resolved
//! configuration, counts, score statistics and stage timings.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::embed::EmbedStats;
use crate::embed::model::Precision;
use crate::error::Result;
use crate::stats::{ScoreStats, table};

/// An input file as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct InputFile {
    /// Path as given.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the content.
    pub sha256: String,
}

impl InputFile {
    /// Fingerprints `path`.
    pub fn of(path: &Path) -> Result<Self> {
        let (bytes, sha256) = crate::input::file_fingerprint(path)?;
        Ok(InputFile {
            path: path.display().to_string(),
            bytes,
            sha256,
        })
    }
}

/// The model that produced the scores.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    /// The ONNX graph.
    pub path: String,
    /// SHA-256 of the graph.
    pub sha256: String,
    /// Precision run.
    pub precision: Precision,
    /// Embedding dimension.
    pub dim: usize,
}

/// The index the queries were searched in.
#[derive(Debug, Clone, Serialize)]
pub struct IndexInfo {
    /// `exact` (matrix products over f32 vectors) or `hnsw` (usearch).
    pub kind: String,
    /// Bytes the index held.
    pub bytes: usize,
}

/// Counts of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Counts {
    /// Corpus passages.
    pub corpus: usize,
    /// Passages whose text duplicates an earlier one.
    pub corpus_duplicates: usize,
    /// Queries with at least one positive.
    pub queries: usize,
    /// Queries read without a positive (no row).
    pub queries_without_positive: usize,
    /// Rows written.
    pub rows: usize,
    /// Negatives written.
    pub negatives: usize,
    /// Rows with fewer mined negatives than asked.
    pub short_rows: usize,
    /// Short rows left out of the output.
    pub short_rows_dropped: usize,
    /// Short rows per filter that skipped candidates of their query.
    pub short_rows_by_filter: BTreeMap<String, usize>,
    /// Candidates skipped, by reason.
    pub skipped_candidates: BTreeMap<String, usize>,
    /// Bad input records skipped (`--on-bad-record skip`), by reason.
    pub bad_records_skipped: BTreeMap<String, usize>,
    /// Deepest search any query needed.
    pub max_search_depth: usize,
    /// Rows whose query has a labelled positive as its nearest passage. Where most do (the
    /// positive is the clear top hit, as with title→abstract pairs), mined negatives add little
    /// over in-batch ones and the hardest make a fine-tuned model worse.
    pub rows_positive_first: usize,
    /// Negatives that are another row's positive.
    pub cross_row_collisions: usize,
    /// Corpus passages whose embeddings came from `--cache`.
    pub cached_passages: usize,
}

/// Score statistics of the written rows.
#[derive(Debug, Clone, Serialize)]
pub struct Scores {
    /// Query–positive cosine.
    pub positive: ScoreStats,
    /// Query–negative cosine.
    pub negative: ScoreStats,
    /// Positive minus negative, per negative.
    pub difference: ScoreStats,
}

/// The language of the run and what it turned off.
#[derive(Debug, Clone, Serialize)]
pub struct LanguageInfo {
    /// The language, given or detected.
    #[serde(flatten)]
    pub language: crate::language::RunLanguage,
    /// Counterfactual families `all` left out: their rules are English and the run is not.
    pub counterfactual_families_left_out: Vec<String>,
}

/// The manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// Always `hardneg`.
    pub tool: String,
    /// Tool version.
    pub version: String,
    /// Inputs read.
    pub inputs: Vec<InputFile>,
    /// Model used.
    pub model: ModelInfo,
    /// Index searched.
    pub index: IndexInfo,
    /// Resolved configuration.
    pub config: serde_json::Value,
    /// The language of the texts.
    pub language: LanguageInfo,
    /// Counts.
    pub counts: Counts,
    /// Score statistics.
    pub scores: Scores,
    /// Embedding throughput per phase.
    pub embedding: BTreeMap<String, EmbedStats>,
    /// The counterfactual stage, when `--counterfactuals` asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterfactuals: Option<crate::mine::counterfactual::CounterfactualCounts>,
    /// Seconds per stage.
    pub timings: BTreeMap<String, f64>,
    /// Files written.
    pub outputs: Vec<String>,
}

impl Manifest {
    /// Writes the manifest beside the training set `out` (atomically).
    pub fn write(&self, out: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| crate::error::Error::Config(format!("the manifest does not serialize: {e}")))?;
        crate::output::write_atomic(&crate::output::manifest_path(out), &json)
    }

    /// The end-of-run summary: score table, skips, short rows, timings.
    pub fn summary(&self) -> String {
        let s = &self.scores;
        let mut out = table(&[
            ("Positive", &s.positive),
            ("Negative", &s.negative),
            ("Difference", &s.difference),
        ]);
        let c = &self.counts;
        // Rows with a positive, written or dropped as short.
        let rows = c.rows + c.short_rows_dropped;
        let candidates: usize = c.skipped_candidates.values().sum();
        for (reason, n) in &c.skipped_candidates {
            out.push_str(&format!(
                "\nSkipped {n} candidates ({:.2}%) as {reason}",
                100.0 * *n as f64 / candidates.max(1) as f64
            ));
        }
        for (reason, n) in &c.bad_records_skipped {
            out.push_str(&format!("\nSkipped {n} bad input records ({reason})"));
        }
        if c.short_rows > 0 {
            out.push_str(&format!(
                "\n{} of {} rows have fewer negatives than asked{}",
                c.short_rows,
                rows,
                if c.short_rows_dropped > 0 {
                    " (dropped; --keep-short keeps them)"
                } else {
                    " (kept, flagged by num_negatives)"
                }
            ));
        }
        if rows > 0 && c.rows_positive_first * 2 >= rows {
            out.push_str(&format!(
                "\nThe positive is its query's nearest passage in {:.0}% of rows: here hard negatives add little \
                 over in-batch ones and the hardest make a fine-tuned model worse (README, \"Training value\"; \
                 measure with `make bench-train COLLECTION=…`)",
                100.0 * c.rows_positive_first as f64 / rows as f64
            ));
        }
        if c.cross_row_collisions > 0 {
            out.push_str(&format!(
                "\n{} negatives are another row's positive (in-batch collisions; --max-negative-reuse and ids in the output help)",
                c.cross_row_collisions
            ));
        }
        if let Some(cf) = &self.counterfactuals {
            let families: Vec<String> = cf.edits.chosen.iter().map(|(f, n)| format!("{f} {n}")).collect();
            out.push_str(&format!(
                "\nAdded {} counterfactual negatives to {} of {} rows ({}; {} below the similarity floor)",
                cf.added,
                cf.rows_with_counterfactuals,
                rows,
                families.join(", "),
                cf.below_min_similarity
            ));
        }
        out.push_str(&format!(
            "\n{} rows, {} negatives from {} queries over {} passages in {:.1}s",
            c.rows,
            c.negatives,
            c.queries,
            c.corpus,
            self.timings.get("total").copied().unwrap_or_default()
        ));
        out
    }
}
