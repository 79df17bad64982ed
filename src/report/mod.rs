//! `hardneg report`: one self-contained HTML page about a training set — the run, score
//! distributions, what the filters did, score profiles of sampled queries, reuse of passages,
//! counterfactuals and example rows (with `--qrels`, the false-negative rate). It is a function
//! of files: the training set, its manifest and its score-profile sidecar where present. Plots
//! are inline SVG and the page has no scripts or external resources, so it opens offline.

pub mod gather;
pub mod page;
pub mod plots;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::mine::profile::{ProfileSidecar, sidecar_path};
use crate::output::read::TrainingSetFiles;

/// What `report` is asked for.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// Fuller qrels: false-negative rates, and false negatives flagged in the examples.
    pub qrels: Option<PathBuf>,
    /// Queries whose score profiles are shown (from the sidecar, smallest keys first).
    pub profiles: usize,
    /// Example rows shown.
    pub examples: usize,
    /// Seed of the row samples (the run's seed when the manifest gives it).
    pub seed: Option<u64>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            qrels: None,
            profiles: 12,
            examples: 12,
            seed: None,
        }
    }
}

/// `<out>.report.html`; for a folder `DIR/`, `DIR.report.html` beside it.
pub fn default_path(training_set: &Path) -> PathBuf {
    let mut s = training_set.components().as_path().as_os_str().to_owned();
    s.push(".report.html");
    PathBuf::from(s)
}

/// Counterfactual examples shown.
const COUNTERFACTUAL_EXAMPLES: usize = 6;

/// Writes the report of the training set at `path` to `out` (atomically); returns what the page
/// says the set lacks (no manifest, no sidecar), if anything.
pub fn write(path: &Path, out: &Path, options: &ReportOptions) -> Result<Vec<String>> {
    let files = TrainingSetFiles::locate(path)?;
    let mut missing = Vec::new();
    let manifest_path = crate::output::manifest_path(path);
    let manifest: Option<serde_json::Value> = if manifest_path.is_file() {
        let bytes = std::fs::read(&manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
        Some(
            serde_json::from_slice(&bytes)
                .map_err(|e| Error::input(&manifest_path, format!("not a run manifest: {e}")))?,
        )
    } else {
        missing.push(format!(
            "No manifest beside the training set ({}): the Run and Filters sections need it; mine, run and finalize write one.",
            manifest_path.display()
        ));
        None
    };
    let profiles_path = sidecar_path(path);
    let profiles = if profiles_path.is_file() {
        Some(ProfileSidecar::read(&profiles_path)?)
    } else {
        missing.push(format!(
            "No score-profile sidecar ({}): the Score profiles section needs it; mine, run and finalize write one.",
            profiles_path.display()
        ));
        None
    };
    let seed = options
        .seed
        .or_else(|| manifest.as_ref().and_then(|m| m["config"]["seed"].as_u64()))
        .unwrap_or(42);
    let shown: Vec<_> = profiles
        .iter()
        .flat_map(|p| p.profiles.iter().take(options.profiles))
        .collect();
    let profile_queries: HashSet<&str> = shown.iter().map(|p| p.query_id.as_str()).collect();
    let mut profile_rows = std::collections::HashMap::new();
    let gathered = gather::gather(&files, seed, options.examples, COUNTERFACTUAL_EXAMPLES, |row| {
        if profile_queries.contains(row.query_id.as_str()) {
            profile_rows
                .entry(row.query_id.clone())
                .or_insert((row.line, row.lines));
        }
    })?;
    if gathered.rows == 0 {
        return Err(Error::input(path, "the training set has no rows"));
    }
    let qrels = match &options.qrels {
        Some(q) => Some((
            q.clone(),
            crate::input::read_qrels(q, &mut crate::input::BadRecordPolicy::strict())?,
        )),
        None => None,
    };
    let evaluation = match &qrels {
        Some((_, q)) => Some(crate::commands::eval::evaluate(
            &crate::commands::eval::read_training_set(path)?,
            q,
        )),
        None => None,
    };
    let mut wanted: Vec<(usize, usize)> = gathered
        .examples
        .iter()
        .chain(&gathered.counterfactual_examples)
        .map(|s| (s.row.line, s.row.lines))
        .collect();
    wanted.extend(profile_rows.values().copied());
    let texts = files.texts(&wanted)?;
    let html = page::render(&page::Inputs {
        path,
        manifest: manifest.as_ref(),
        missing: &missing,
        gathered: &gathered,
        profiles: &shown,
        profile_rows: &profile_rows,
        texts: &texts,
        qrels: qrels.as_ref().map(|(p, q)| (p.as_path(), q)),
        evaluation: evaluation.as_ref(),
    })?;
    crate::output::write_atomic(out, html.as_bytes())?;
    Ok(missing)
}
