//! The lexical false-negative filter's cost per 1,000 candidates: BM25 of each candidate for a
//! query, over the shared terms tokenizer (`hardneg::terms`, now) and over the tokenizer it
//! replaced (lower-cased runs of alphanumerics, kept here as the reference). Both score the same
//! query–candidate pairs in turns, so the ratio holds on a busy machine.
//!
//! `cargo bench --bench lexical -- CORPUS.jsonl [ROUNDS]` (default: the shipped sample, 5 rounds)

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use hardneg::filter::bm25::Bm25;

/// The tokenizer before `hardneg::terms`: lower-cased runs of alphanumerics.
fn old_tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
}

/// BM25 (k1 0.9, b 0.4) over the old tokenizer, as `Bm25::query` + `Bm25::score` computed it.
struct OldBm25 {
    df: HashMap<String, u32>,
    docs: f64,
    avg_len: f64,
}

impl OldBm25 {
    fn new(texts: &[String]) -> Self {
        let (mut df, mut total) = (HashMap::new(), 0.0);
        for t in texts {
            let mut seen = HashSet::new();
            for w in old_tokens(t) {
                total += 1.0;
                if seen.insert(w.clone()) {
                    *df.entry(w).or_insert(0u32) += 1;
                }
            }
        }
        OldBm25 {
            df,
            docs: texts.len() as f64,
            avg_len: total / texts.len().max(1) as f64,
        }
    }

    fn query(&self, text: &str) -> Vec<(String, f64)> {
        let mut seen = HashSet::new();
        old_tokens(text)
            .filter(|t| seen.insert(t.clone()))
            .map(|t| {
                let n = f64::from(self.df.get(&t).copied().unwrap_or(0));
                let idf = (1.0 + (self.docs - n + 0.5) / (n + 0.5)).ln();
                (t, idf)
            })
            .collect()
    }

    fn score(&self, query: &[(String, f64)], doc: &str) -> f64 {
        let mut tf: HashMap<String, u32> = HashMap::new();
        let mut len = 0usize;
        for t in old_tokens(doc) {
            len += 1;
            *tf.entry(t).or_default() += 1;
        }
        let norm = 0.9 * (1.0 - 0.4 + 0.4 * len as f64 / self.avg_len.max(1e-9));
        query
            .iter()
            .filter_map(|(t, idf)| tf.get(t).map(|&f| idf * f64::from(f) * 1.9 / (f64::from(f) + norm)))
            .sum()
    }
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let path = args
        .next()
        .unwrap_or_else(|| "tests/fixtures/sample/corpus.jsonl".into());
    let rounds: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(5);
    let texts: Vec<String> = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            let (title, text) = (v["title"].as_str().unwrap_or(""), v["text"].as_str().unwrap_or(""));
            if title.is_empty() {
                text.to_string()
            } else {
                format!("{title} {text}")
            }
        })
        .collect();
    // Queries: the first sentence of every 10th passage; candidates: every passage.
    let queries: Vec<&str> = texts
        .iter()
        .step_by(10)
        .map(|t| t.split(". ").next().unwrap_or(t))
        .collect();
    let (new, old) = (Bm25::new(texts.iter().map(String::as_str)), OldBm25::new(&texts));
    let pairs = queries.len() * texts.len();
    let (mut best_new, mut best_old, mut checksum) = (f64::INFINITY, f64::INFINITY, 0.0);
    for _ in 0..rounds {
        let t = Instant::now();
        for q in &queries {
            let prepared = old.query(q);
            checksum += texts.iter().map(|d| old.score(&prepared, d)).sum::<f64>();
        }
        best_old = best_old.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        for q in &queries {
            let prepared = new.query(q);
            checksum += texts.iter().map(|d| new.score(&prepared, d)).sum::<f64>();
        }
        best_new = best_new.min(t.elapsed().as_secs_f64());
    }
    let per_k = |s: f64| s / pairs as f64 * 1000.0 * 1000.0;
    println!(
        "{path}: {} passages, {} queries, {pairs} candidates a round, best of {rounds} (checksum {checksum:.0})",
        texts.len(),
        queries.len()
    );
    println!(
        "before (alphanumeric runs): {:.2} ms per 1k candidates",
        per_k(best_old)
    );
    println!(
        "after (hardneg::terms):     {:.2} ms per 1k candidates",
        per_k(best_new)
    );
    println!("after / before: {:.3}", best_new / best_old);
}
