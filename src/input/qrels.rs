//! BEIR `qrels.tsv` (`query-id corpus-id score`, header optional) and TREC qrels
//! (`query-id 0 corpus-id score`). A positive is a score above zero.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use super::{BadRecordPolicy, jsonl};
use crate::error::{Error, Result};

/// Relevance judgements: query id → (corpus id → grade), positive grades only.
#[derive(Debug, Clone, Default)]
pub struct Qrels {
    /// Positive judgements per query, in id order.
    pub positives: BTreeMap<String, BTreeMap<String, f64>>,
    /// Lines whose grade was zero or negative (judged non-relevant).
    pub non_positive: usize,
    /// 1-based line of each positive (query id, corpus id), for error messages.
    pub lines: std::collections::HashMap<(String, String), usize>,
}

impl Qrels {
    /// Whether `doc` is a judged positive of `query`.
    pub fn is_positive(&self, query: &str, doc: &str) -> bool {
        self.positives.get(query).is_some_and(|p| p.contains_key(doc))
    }

    /// The line of a judgement (0 if unknown).
    pub fn line(&self, query: &str, doc: &str) -> usize {
        self.lines
            .get(&(query.to_string(), doc.to_string()))
            .copied()
            .unwrap_or(0)
    }
}

/// Reads a qrels file; every error names the line and column.
pub fn read_qrels(path: &Path, policy: &mut BadRecordPolicy) -> Result<Qrels> {
    let reader = jsonl::open(path)?;
    let mut qrels = Qrels::default();
    let mut lines = 0usize;
    for (i, line) in reader.split(b'\n').enumerate() {
        let n = i + 1;
        let bytes = line.map_err(|e| Error::io(path, e))?;
        let Ok(line) = std::str::from_utf8(&bytes) else {
            policy.handle(Error::record(path, n, "invalid UTF-8"), "invalid UTF-8")?;
            continue;
        };
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        lines += 1;
        let cols: Vec<&str> = if line.contains('\t') {
            line.split('\t').collect()
        } else {
            line.split_whitespace().collect()
        };
        let (q, d, s) = match cols.len() {
            3 => (cols[0], cols[1], cols[2]),
            4 => (cols[0], cols[2], cols[3]),
            k => {
                policy.handle(
                    Error::record(
                        path,
                        n,
                        format!("expected 3 tab-separated columns (query-id, corpus-id, score), found {k}"),
                    ),
                    "qrels columns",
                )?;
                continue;
            }
        };
        let score: f64 = match s.trim().parse() {
            Ok(v) => v,
            Err(_) if n == 1 => continue, // header line
            Err(_) => {
                policy.handle(
                    Error::record(path, n, format!("column `score` is not a number: `{s}`")),
                    "qrels score",
                )?;
                continue;
            }
        };
        if score > 0.0 {
            let (q, d) = (q.trim().to_string(), d.trim().to_string());
            qrels.lines.entry((q.clone(), d.clone())).or_insert(n);
            qrels.positives.entry(q).or_default().insert(d, score);
        } else {
            qrels.non_positive += 1;
        }
    }
    if lines == 0 {
        return Err(Error::input(path, "no judgements: the file is empty"));
    }
    Ok(qrels)
}
