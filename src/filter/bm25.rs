//! A small BM25 scorer, the lexical second opinion of the false-negative filter: independent of
//! the dense model, so a candidate both models rank near the positive is likely an unlabelled
//! positive. Document frequencies come from one pass over the corpus; candidates are tokenized
//! when scored, so no per-document index is held.

use std::collections::{HashMap, HashSet};

/// BM25 with Anserini's defaults (k1 = 0.9, b = 0.4). Serializes to its statistics, so a run
/// folder computes them once for every worker.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Bm25 {
    df: HashMap<String, u32>,
    docs: f64,
    total_len: f64,
}

const K1: f64 = 0.9;
const B: f64 = 0.4;

impl Bm25 {
    /// Counts document frequencies over `texts`.
    pub fn new<'a>(texts: impl Iterator<Item = &'a str>) -> Self {
        let mut bm = Bm25::default();
        texts.for_each(|t| bm.add(t));
        bm
    }

    /// Counts one more document.
    pub fn add(&mut self, text: &str) {
        let mut seen = HashSet::new();
        crate::terms::for_each_term(text, |t| {
            self.total_len += 1.0;
            if seen.insert(t.clone()) {
                *self.df.entry(t).or_default() += 1;
            }
        });
        self.docs += 1.0;
    }

    fn avg_len(&self) -> f64 {
        self.total_len / self.docs.max(1.0)
    }

    fn idf(&self, term: &str) -> f64 {
        let n = f64::from(self.df.get(term).copied().unwrap_or(0));
        (1.0 + (self.docs - n + 0.5) / (n + 0.5)).ln()
    }

    /// Distinct query terms with their idf, computed once per query.
    pub fn query(&self, text: &str) -> Vec<(String, f64)> {
        let mut seen = HashSet::new();
        crate::terms::terms(text)
            .into_iter()
            .filter(|t| seen.insert(t.clone()))
            .map(|t| {
                let idf = self.idf(&t);
                (t, idf)
            })
            .collect()
    }

    /// BM25 of `doc` for a prepared query.
    pub fn score(&self, query: &[(String, f64)], doc: &str) -> f64 {
        let mut tf: HashMap<String, u32> = HashMap::new();
        let mut len = 0usize;
        crate::terms::for_each_term(doc, |t| {
            len += 1;
            *tf.entry(t).or_default() += 1;
        });
        let norm = K1 * (1.0 - B + B * len as f64 / self.avg_len().max(1e-9));
        query
            .iter()
            .filter_map(|(t, idf)| {
                tf.get(t)
                    .map(|&f| idf * f64::from(f) * (K1 + 1.0) / (f64::from(f) + norm))
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_terms_score_higher_and_rare_terms_weigh_more() {
        let corpus = ["the cat sat", "the dog ran", "the bird flew", "a cat and a dog"];
        let bm = Bm25::new(corpus.iter().copied());
        let q = bm.query("cat");
        assert!(bm.score(&q, "the cat sat") > 0.0);
        assert_eq!(bm.score(&q, "the dog ran"), 0.0);
        let common = bm.query("the");
        assert!(bm.score(&q, "the cat sat") > bm.score(&common, "the cat sat"));
    }

    #[test]
    fn a_chinese_paraphrase_shares_terms_with_the_query() {
        let corpus = [
            "北京是中国的首都。",
            "中国的首都是北京。",
            "上海是中国最大的城市。",
            "东京是日本的首都。",
        ];
        let bm = Bm25::new(corpus.iter().copied());
        let q = bm.query("中国的首都是哪里？");
        let (positive, paraphrase, other) = (
            bm.score(&q, corpus[0]),
            bm.score(&q, corpus[1]),
            bm.score(&q, corpus[2]),
        );
        assert!(
            positive > 0.0 && paraphrase >= 0.5 * positive,
            "{positive} {paraphrase}"
        );
        assert!(other < paraphrase);
    }
}
