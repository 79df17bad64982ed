//! `hardneg eval`: how many mined negatives are judged relevant by fuller qrels (the
//! false-negative rate) and how hard the kept negatives are, overall and per negative source.
//! Also `--hold-out`: full qrels to one labelled positive per query (the pooling-bias simulation).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::Serialize;

use crate::error::Result;
use crate::input::{BadRecordPolicy, Qrels, read_qrels};
use crate::mine::data::cmp_ids;
use crate::output::read::{ReadNegative, ReadRow, TrainingSetFiles};

/// The figures `eval` reports (one set overall, one per source).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EvalFigures {
    /// Share of negatives judged relevant.
    pub fn_rate: f64,
    /// Share of queries with at least one negative judged relevant.
    pub queries_with_fn: f64,
    /// Mean cosine of negatives to their query.
    pub mean_score: Option<f64>,
    /// Median cosine.
    pub median_score: Option<f64>,
    /// Mean rank (null when ranks are absent).
    pub mean_rank: Option<f64>,
    /// Negatives counted.
    pub negatives: usize,
    /// Rows counted.
    pub rows: usize,
    /// Negatives judged relevant.
    pub false_negatives: usize,
    /// Queries counted.
    pub queries: usize,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// Overall figures.
    #[serde(flatten)]
    pub overall: EvalFigures,
    /// Figures per negative source.
    pub by_source: BTreeMap<String, EvalFigures>,
}

/// Reads the provenance of a training set (Parquet, a folder of parts, or a JSONL output's sidecar).
pub fn read_training_set(path: &Path) -> Result<Vec<ReadRow>> {
    let mut rows = Vec::new();
    TrainingSetFiles::locate(path)?.for_each_row(|row| {
        rows.push(row);
        Ok(())
    })?;
    Ok(rows)
}

fn figures(rows: &[&ReadRow], keep: impl Fn(&ReadNegative) -> bool, qrels: &Qrels) -> EvalFigures {
    let mut f = EvalFigures::default();
    let mut scores = Vec::new();
    let mut ranks = Vec::new();
    let mut queries = HashSet::new();
    let mut queries_fn = HashSet::new();
    for row in rows {
        let negs: Vec<&ReadNegative> = row.negatives.iter().filter(|n| keep(n)).collect();
        if negs.is_empty() {
            continue;
        }
        f.rows += 1;
        queries.insert(row.query_id.as_str());
        for n in negs {
            f.negatives += 1;
            if qrels.is_positive(&row.query_id, &n.id) {
                f.false_negatives += 1;
                queries_fn.insert(row.query_id.as_str());
            }
            scores.extend(n.score.map(f64::from));
            ranks.extend(n.rank.map(|r| r as f64));
        }
    }
    f.queries = queries.len();
    f.fn_rate = f.false_negatives as f64 / f.negatives.max(1) as f64;
    f.queries_with_fn = queries_fn.len() as f64 / f.queries.max(1) as f64;
    let stats = crate::stats::ScoreStats::of(scores);
    f.mean_score = stats.mean;
    f.median_score = stats.median;
    f.mean_rank = (!ranks.is_empty()).then(|| ranks.iter().sum::<f64>() / ranks.len() as f64);
    f
}

/// Evaluates a training set against qrels.
pub fn evaluate(rows: &[ReadRow], qrels: &Qrels) -> EvalReport {
    let all: Vec<&ReadRow> = rows.iter().collect();
    let sources: std::collections::BTreeSet<&str> = rows
        .iter()
        .flat_map(|r| r.negatives.iter().map(|n| n.source.as_str()))
        .collect();
    EvalReport {
        overall: figures(&all, |_| true, qrels),
        by_source: sources
            .into_iter()
            .map(|s| (s.to_string(), figures(&all, |n| n.source == s, qrels)))
            .collect(),
    }
}

/// Reads the training set and qrels and evaluates.
pub fn run(train: &Path, qrels: &Path) -> Result<EvalReport> {
    let rows = read_training_set(train)?;
    let qrels = read_qrels(qrels, &mut BadRecordPolicy::strict())?;
    Ok(evaluate(&rows, &qrels))
}

/// Human-readable report.
pub fn render(r: &EvalReport) -> String {
    let line = |name: &str, f: &EvalFigures| {
        let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
        format!(
            "{name:<28} {:>6} {:>9} {:>7} {:>9.2}% {:>9.2}% {:>10} {:>10} {:>9}",
            f.rows,
            f.negatives,
            f.false_negatives,
            100.0 * f.fn_rate,
            100.0 * f.queries_with_fn,
            opt(f.mean_score),
            opt(f.median_score),
            f.mean_rank.map_or("-".to_string(), |v| format!("{v:.1}"))
        )
    };
    let mut out = format!(
        "{:<28} {:>6} {:>9} {:>7} {:>10} {:>10} {:>10} {:>10} {:>9}\n",
        "source", "rows", "negatives", "FN", "FN rate", "queries", "mean", "median", "rank"
    );
    out.push_str(&line("all", &r.overall));
    for (s, f) in &r.by_source {
        out.push('\n');
        out.push_str(&line(s, f));
    }
    out
}

/// Full qrels to one positive per query: the highest grade, ties by id (numerically when ids are
/// numbers). Returns TSV with a BEIR header.
pub fn hold_out(qrels: &Qrels) -> String {
    let mut out = String::from("query-id\tcorpus-id\tscore\n");
    let mut queries: Vec<&String> = qrels.positives.keys().collect();
    queries.sort_by(|a, b| cmp_ids(a, b));
    for q in queries {
        let best = qrels.positives[q]
            .iter()
            .min_by(|a, b| b.1.total_cmp(a.1).then_with(|| cmp_ids(a.0, b.0)))
            .expect("queries in qrels have a positive");
        out.push_str(&format!("{q}\t{}\t{}\n", best.0, best.1));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qrels(pairs: &[(&str, &str, f64)]) -> Qrels {
        let mut q = Qrels::default();
        for (a, b, s) in pairs {
            q.positives.entry(a.to_string()).or_default().insert(b.to_string(), *s);
        }
        q
    }

    fn neg(id: &str, score: f32, source: &str) -> ReadNegative {
        ReadNegative {
            id: id.into(),
            score: Some(score),
            rank: None,
            source: source.into(),
            edit: None,
        }
    }

    fn row(query_id: &str, positive_id: &str, negatives: Vec<ReadNegative>) -> ReadRow {
        ReadRow {
            line: 0,
            lines: 1,
            query_id: query_id.into(),
            positive_id: positive_id.into(),
            positive_score: None,
            negatives,
        }
    }

    #[test]
    fn counts_false_negatives_per_source_and_query() {
        let q = qrels(&[("1", "a", 1.0), ("1", "b", 1.0), ("2", "c", 1.0)]);
        let rows = vec![
            row("1", "a", vec![neg("b", 0.8, "mined"), neg("x", 0.6, "mined")]),
            row(
                "2",
                "c",
                vec![
                    neg("y", 0.5, "mined"),
                    neg("c#cf:number:0", 0.9, "counterfactual:number"),
                ],
            ),
        ];
        let r = evaluate(&rows, &q);
        assert_eq!(
            (r.overall.negatives, r.overall.false_negatives, r.overall.rows),
            (4, 1, 2)
        );
        assert_eq!(r.overall.fn_rate, 0.25);
        assert_eq!(r.overall.queries_with_fn, 0.5);
        assert_eq!(r.overall.mean_rank, None);
        assert!((r.overall.mean_score.unwrap() - 0.7).abs() < 1e-6);
        let mined = &r.by_source["mined"];
        assert_eq!((mined.negatives, mined.false_negatives), (3, 1));
        assert_eq!(r.by_source["counterfactual:number"].fn_rate, 0.0);
    }

    #[test]
    fn hold_out_keeps_the_best_grade_then_lowest_id_numerically() {
        let q = qrels(&[
            ("1", "10", 1.0),
            ("1", "9", 1.0),
            ("2", "5", 1.0),
            ("2", "7", 2.0),
            ("10", "3", 1.0),
        ]);
        assert_eq!(hold_out(&q), "query-id\tcorpus-id\tscore\n1\t9\t1\n2\t7\t2\n10\t3\t1\n");
    }
}
