//! The report's page: the gathered figures become a template context, rendered by `minijinja`
//! with HTML auto-escaping (corpus text is always escaped; only our own SVG is marked safe).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use minijinja::{AutoEscape, Environment, Value};
use serde::Serialize;

use super::gather::{Gathered, RANK_BUCKETS, REUSE_BUCKETS, Sampled};
use super::plots::{self, Series};
use crate::commands::eval::{EvalFigures, EvalReport};
use crate::error::{Error, Result};
use crate::input::Qrels;
use crate::mine::profile::{Fate, QueryProfile};
use crate::output::read::RowTexts;

/// The template, compiled into the binary.
const TEMPLATE: &str = include_str!("report.html.j2");

/// Characters of a passage shown before it is cut.
const SHOWN_CHARS: usize = 600;
/// Characters shown each side of a counterfactual edit.
const EDIT_CONTEXT: usize = 240;

/// Everything the page is drawn from.
pub struct Inputs<'a> {
    /// The training set.
    pub path: &'a Path,
    /// Its manifest, when present.
    pub manifest: Option<&'a serde_json::Value>,
    /// What the set lacks, one sentence each.
    pub missing: &'a [String],
    /// The streaming pass's figures.
    pub gathered: &'a Gathered,
    /// The score profiles shown.
    pub profiles: &'a [&'a crate::mine::profile::QueryProfile],
    /// The first row of each profiled query (line, lines).
    pub profile_rows: &'a HashMap<String, (usize, usize)>,
    /// Texts of the sampled rows, by first line.
    pub texts: &'a BTreeMap<usize, RowTexts>,
    /// Fuller qrels, when given.
    pub qrels: Option<(&'a Path, &'a Qrels)>,
    /// `eval`'s figures against those qrels.
    pub evaluation: Option<&'a EvalReport>,
}

/// Cuts `text` to [`SHOWN_CHARS`] characters.
fn shown(text: &str) -> String {
    cut(text, SHOWN_CHARS)
}

fn cut(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// The last `chars` characters of `text`.
fn tail(text: &str, chars: usize) -> String {
    let n = text.chars().count();
    if n <= chars {
        return text.to_string();
    }
    let at = text.char_indices().nth(n - chars).map_or(0, |(i, _)| i);
    format!("…{}", &text[at..])
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / f64::from(1u32 << 30)),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1u32 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

fn percent(part: u64, whole: u64) -> String {
    format!("{:.1}%", 100.0 * part as f64 / whole.max(1) as f64)
}

/// A 95% Wilson interval for `k` successes in `n` trials, as percentages.
pub fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 0.0);
    }
    let (k, n, z) = (k as f64, n as f64, 1.959_964);
    let p = k / n;
    let denom = 1.0 + z * z / n;
    let center = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    (100.0 * (center - half).max(0.0), 100.0 * (center + half).min(1.0))
}

#[derive(Serialize)]
struct KeyValue {
    key: String,
    value: String,
}

fn kv(key: impl Into<String>, value: impl ToString) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.to_string(),
    }
}

/// The Run section, from the manifest.
fn run_section(m: &serde_json::Value) -> Value {
    let inputs: Vec<Value> = m["inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            minijinja::context! {
                path => i["path"].as_str().unwrap_or_default(),
                size => bytes(i["bytes"].as_u64().unwrap_or_default()),
                sha256 => i["sha256"].as_str().unwrap_or_default().chars().take(16).collect::<String>(),
            }
        })
        .collect();
    let defaults = serde_json::to_value(crate::settings::MineSettings::default()).unwrap_or_default();
    let mut settings = Vec::new();
    if let Some(config) = m["config"].as_object() {
        for (key, value) in config {
            let default = &defaults[key];
            if value != default && !value.is_null() && key != "run" {
                settings.push(minijinja::context! {
                    key => key,
                    value => value.to_string(),
                    default => if default.is_null() { "unset".to_string() } else { default.to_string() },
                });
            }
        }
    }
    let c = &m["counts"];
    let n = |k: &str| c[k].as_u64().unwrap_or_default();
    let counts = vec![
        kv("corpus passages", n("corpus")),
        kv("exact duplicate passages", n("corpus_duplicates")),
        kv("queries with a positive", n("queries")),
        kv("queries without a positive (no row)", n("queries_without_positive")),
        kv("rows written", n("rows")),
        kv("negatives written", n("negatives")),
        kv(
            "short rows",
            format!(
                "{}{}",
                n("short_rows"),
                if n("short_rows_dropped") > 0 {
                    format!(" ({} dropped)", n("short_rows_dropped"))
                } else {
                    String::new()
                }
            ),
        ),
        kv("deepest search", n("max_search_depth")),
        kv("rows whose positive is the nearest passage", n("rows_positive_first")),
        kv("negatives that are some query's positive", n("cross_row_collisions")),
    ];
    let timings: Vec<KeyValue> = m["timings"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| kv(k.replace('_', " "), format!("{:.2} s", v.as_f64().unwrap_or_default())))
        .collect();
    let throughput: Vec<KeyValue> = m["embedding"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(phase, e)| {
            let texts = e["texts"].as_u64()?;
            let wall = e["wall_seconds"].as_f64().filter(|w| *w > 0.0)?;
            Some(kv(
                phase.clone(),
                format!("{texts} texts, {:.0} per second", texts as f64 / wall),
            ))
        })
        .collect();
    let model = &m["model"];
    minijinja::context! {
        inputs => inputs,
        model => format!(
            "{} ({}, dim {}, sha256 {})",
            model["path"].as_str().unwrap_or_default(),
            model["precision"].as_str().unwrap_or_default(),
            model["dim"],
            model["sha256"].as_str().unwrap_or_default().chars().take(16).collect::<String>()
        ),
        index => format!("{} ({})", m["index"]["kind"].as_str().unwrap_or_default(), bytes(m["index"]["bytes"].as_u64().unwrap_or_default())),
        language => m["language"]["code"].as_str().unwrap_or("-"),
        version => m["version"].as_str().unwrap_or_default(),
        settings => settings,
        counts => counts,
        timings => timings,
        throughput => throughput,
    }
}

/// The Filters section, from the manifest's counts.
fn filters_section(m: &serde_json::Value) -> Result<Value> {
    let c = &m["counts"];
    let skipped: Vec<(String, u64)> = c["skipped_candidates"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or_default()))
        .collect();
    let total: u64 = skipped.iter().map(|s| s.1).sum();
    let short = &c["short_rows_by_filter"];
    let rows = c["rows"].as_u64().unwrap_or_default() + c["short_rows_dropped"].as_u64().unwrap_or_default();
    let table: Vec<Value> = skipped
        .iter()
        .map(|(reason, n)| {
            minijinja::context! {
                reason => reason,
                skipped => n,
                share => percent(*n, total),
                short_rows => short[reason].as_u64(),
                filter => !matches!(reason.as_str(), "positive" | "duplicate_of_positive" | "same_as_query"),
            }
        })
        .collect();
    let svg = if skipped.is_empty() {
        String::new()
    } else {
        plots::bars(
            &skipped.iter().map(|s| s.0.clone()).collect::<Vec<_>>(),
            &skipped.iter().map(|s| s.1).collect::<Vec<_>>(),
            "skip reason",
            "candidates skipped",
        )?
    };
    Ok(minijinja::context! {
        table => table,
        svg => Value::from_safe_string(svg),
        short_rows => c["short_rows"].as_u64().unwrap_or_default(),
        rows => rows,
        has_short_by_filter => short.is_object(),
    })
}

/// One negative as an example shows it.
fn example(s: &Sampled, texts: Option<&RowTexts>, qrels: Option<&Qrels>) -> Value {
    let r = &s.row;
    let negatives: Vec<Value> = r
        .negatives
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let text = texts
                .and_then(|t| t.negatives.get(i))
                .map(|t| shown(t))
                .unwrap_or_default();
            minijinja::context! {
                id => n.id,
                text => text,
                score => n.score.map(|s| format!("{s:.3}")),
                rank => n.rank,
                source => n.source,
                false_negative => qrels.is_some_and(|q| q.is_positive(&r.query_id, &n.id)),
            }
        })
        .collect();
    minijinja::context! {
        query_id => r.query_id,
        query => texts.map(|t| shown(&t.query)).unwrap_or_default(),
        positive_id => r.positive_id,
        positive => texts.map(|t| shown(&t.positive)).unwrap_or_default(),
        positive_score => r.positive_score.map(|s| format!("{s:.3}")),
        negatives => negatives,
    }
}

/// A counterfactual example: the positive around the edit, the edit highlighted.
fn counterfactual_example(s: &Sampled, texts: Option<&RowTexts>) -> Vec<Value> {
    let positive = texts.map(|t| t.positive.as_str()).unwrap_or_default();
    s.row
        .negatives
        .iter()
        .filter_map(|n| n.edit.as_ref().map(|e| (n, e)))
        .map(|(n, e)| {
            let (before, after, found) = match positive.find(&e.original).filter(|_| !e.original.is_empty()) {
                Some(at) => (
                    tail(&positive[..at], EDIT_CONTEXT),
                    cut(&positive[at + e.original.len()..], EDIT_CONTEXT),
                    true,
                ),
                None => (shown(positive), String::new(), false),
            };
            minijinja::context! {
                query => texts.map(|t| shown(&t.query)).unwrap_or_default(),
                positive_id => s.row.positive_id,
                family => e.family,
                original => e.original,
                replacement => e.replacement,
                before => before,
                after => after,
                found => found,
                score => n.score.map(|s| format!("{s:.3}")),
            }
        })
        .collect()
}

/// `eval`'s figures for one source, with the interval.
fn figures_row(source: &str, f: &EvalFigures) -> Value {
    let (lo, hi) = wilson(f.false_negatives, f.negatives);
    minijinja::context! {
        source => source,
        negatives => f.negatives,
        false_negatives => f.false_negatives,
        fn_rate => format!("{:.2}%", 100.0 * f.fn_rate),
        interval => format!("{lo:.2}–{hi:.2}%"),
        queries_with_fn => format!("{:.1}%", 100.0 * f.queries_with_fn),
        mean_score => f.mean_score.map(|v| format!("{v:.3}")),
        mean_rank => f.mean_rank.map(|v| format!("{v:.1}")),
    }
}

/// The score profile of one query for the page.
fn profile_item(p: &QueryProfile, query: Option<&str>) -> Result<Value> {
    let count = |keep: fn(Fate) -> bool| p.candidates.iter().filter(|c| keep(c.fate)).count();
    Ok(minijinja::context! {
        query_id => p.query_id,
        query => query.map(|q| cut(q, 160)),
        positive_scores => p.positive_scores.iter().map(|s| format!("{s:.3}")).collect::<Vec<_>>().join(", "),
        depth => p.depth,
        shown => p.candidates.len(),
        chosen => count(|f| f == Fate::Chosen),
        filtered => count(|f| matches!(f, Fate::Skipped(r) if r.is_filter())),
        svg => Value::from_safe_string(plots::profile(p)?),
    })
}

/// Renders the page.
pub fn render(inputs: &Inputs<'_>) -> Result<String> {
    let g = inputs.gathered;
    let mut series = vec![Series {
        label: "positives".into(),
        bins: &g.positive,
    }];
    series.extend(g.negative.iter().map(|(source, bins)| Series {
        label: format!("negatives: {source}"),
        bins,
    }));
    let scores_svg = plots::overlaid_histograms(&series, "cosine to the query", None)?;
    let margin_svg = plots::overlaid_histograms(
        &[Series {
            label: "positive − negative".into(),
            bins: &g.margin,
        }],
        "positive score − negative score",
        Some((
            0.0,
            format!(
                "negative above its positive: {}",
                percent(g.above_positive, g.with_margin)
            ),
        )),
    )?;
    let has_ranks = g.ranks.iter().any(|&n| n > 0);
    let ranks_svg = if has_ranks {
        plots::bars(
            &RANK_BUCKETS.iter().map(|b| b.0.to_string()).collect::<Vec<_>>(),
            &g.ranks,
            "rank the mined negative came from (0-based, positives included)",
            "negatives",
        )?
    } else {
        String::new()
    };
    let reuse_svg = plots::bars(
        &REUSE_BUCKETS.iter().map(|b| b.0.to_string()).collect::<Vec<_>>(),
        &g.reuse,
        "times a passage is used as a negative",
        "passages",
    )?;
    let qrels = inputs.qrels.map(|(_, q)| q);
    let examples: Vec<Value> = g
        .examples
        .iter()
        .map(|s| example(s, inputs.texts.get(&s.row.line), qrels))
        .collect();
    let counterfactuals: Vec<Value> = g
        .counterfactual_examples
        .iter()
        .flat_map(|s| counterfactual_example(s, inputs.texts.get(&s.row.line)))
        .collect();
    let profiles: Vec<Value> = inputs
        .profiles
        .iter()
        .map(|p| {
            let query = inputs
                .profile_rows
                .get(&p.query_id)
                .and_then(|(line, _)| inputs.texts.get(line))
                .map(|t| t.query.as_str());
            profile_item(p, query)
        })
        .collect::<Result<_>>()?;
    let evaluation = inputs.evaluation.map(|e| {
        let mut rows = vec![figures_row("all", &e.overall)];
        rows.extend(e.by_source.iter().map(|(s, f)| figures_row(s, f)));
        minijinja::context! {
            path => inputs.qrels.map(|(p, _)| p.display().to_string()),
            rows => rows,
        }
    });
    let hubs: Vec<Value> = g
        .hubs
        .iter()
        .map(|(id, n)| minijinja::context! { id => id, count => n, share => percent(*n, g.rows) })
        .collect();
    let ctx = minijinja::context! {
        path => inputs.path.display().to_string(),
        version => env!("CARGO_PKG_VERSION"),
        missing => inputs.missing,
        run => inputs.manifest.map(run_section),
        filters => inputs.manifest.map(filters_section).transpose()?,
        rows => g.rows,
        negatives => g.negatives,
        widest => g.widest,
        rows_below_widest => g.rows_below_widest,
        scores_svg => Value::from_safe_string(scores_svg),
        margin_svg => Value::from_safe_string(margin_svg),
        above_positive => percent(g.above_positive, g.with_margin),
        ranks_svg => Value::from_safe_string(ranks_svg),
        has_ranks => has_ranks,
        profiles => profiles,
        legend => plots::fate_legend(),
        has_profile_sidecar => !inputs.missing.iter().any(|m| m.contains("score-profile")),
        reuse_svg => Value::from_safe_string(reuse_svg),
        hubs => hubs,
        distinct_negatives => g.distinct_negatives,
        collisions => g.collisions,
        families => g.families.iter().map(|(f, n)| kv(f.clone(), n)).collect::<Vec<_>>(),
        counterfactuals => counterfactuals,
        examples => examples,
        evaluation => evaluation,
    };
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.add_template("report.html", TEMPLATE)
        .map_err(|e| Error::Report(format!("the page template is broken: {e}")))?;
    env.get_template("report.html")
        .and_then(|t| t.render(ctx))
        .map_err(|e| Error::Report(format!("rendering the page failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_interval_matches_the_textbook_values() {
        let (lo, hi) = wilson(10, 100);
        assert!((lo - 5.52).abs() < 0.01 && (hi - 17.44).abs() < 0.01, "{lo} {hi}");
        assert_eq!(wilson(0, 0), (0.0, 0.0));
        let (lo, _) = wilson(0, 50);
        assert_eq!(lo, 0.0);
    }

    #[test]
    fn cuts_on_character_boundaries() {
        assert_eq!(cut("héllo", 2), "hé…");
        assert_eq!(tail("héllo", 3), "…llo");
        assert_eq!(cut("ab", 5), "ab");
    }
}
