//! The mining inputs resolved to rows: the corpus (ids, texts, exact-duplicate groups) and the
//! queries with their positives, from a BEIR folder or from (anchor, positive) pairs.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::input::{self, BadRecordPolicy, TextFields, TextRecord};

/// The corpus held for a run: texts by row, and for each row the first row with the same text.
#[derive(Debug, Default)]
pub struct Corpus {
    /// Document ids by row.
    pub ids: Vec<String>,
    /// Document texts by row.
    pub texts: Vec<String>,
    /// Row of each id.
    pub row_of: HashMap<String, u32>,
    /// For each row, the first row whose text is identical (itself when unique).
    pub canonical: Vec<u32>,
    /// Rows whose text duplicates an earlier row's.
    pub duplicate_rows: usize,
}

impl Corpus {
    /// Builds the corpus from records, grouping exact duplicate texts.
    pub fn from_records(records: Vec<TextRecord>) -> Self {
        let mut corpus = Corpus::default();
        // Keyed by a 128-bit digest, not the text, so the corpus is not held twice.
        let mut first_with_text: HashMap<[u8; 16], u32> = HashMap::with_capacity(records.len());
        for (row, rec) in records.into_iter().enumerate() {
            let row = row as u32;
            let canon = *first_with_text.entry(text_digest(&rec.text)).or_insert(row);
            corpus.duplicate_rows += usize::from(canon != row);
            corpus.canonical.push(canon);
            corpus.row_of.insert(rec.id.clone(), row);
            corpus.ids.push(rec.id);
            corpus.texts.push(rec.text);
        }
        corpus
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the corpus is empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// A 128-bit digest of a text (SHA-256, truncated): identity of texts without keeping them.
pub fn text_digest(text: &str) -> [u8; 16] {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())[..16].try_into().expect("16 bytes")
}

/// A query with the corpus rows of its positives (highest grade first, then by id).
#[derive(Debug, Clone)]
pub struct Query {
    /// Query id.
    pub id: String,
    /// Query text.
    pub text: String,
    /// Corpus rows of the positives.
    pub positives: Vec<u32>,
}

/// Everything a mining run reads.
#[derive(Debug, Default)]
pub struct MiningData {
    /// The corpus.
    pub corpus: Corpus,
    /// Queries with at least one positive, in input order.
    pub queries: Vec<Query>,
    /// Queries read that have no positive (they yield no row).
    pub queries_without_positive: usize,
    /// Input files, for the manifest.
    pub inputs: Vec<PathBuf>,
}

/// Orders ids numerically when both are numbers, else as strings.
pub fn cmp_ids(a: &str, b: &str) -> Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// Reads a BEIR layout: corpus, queries and qrels (a positive is a grade above zero).
pub fn load_beir(
    corpus: &Path,
    queries: &Path,
    qrels: &Path,
    fields: &TextFields,
    policy: &mut BadRecordPolicy,
) -> Result<MiningData> {
    let corpus_records = input::read_texts(corpus, fields, policy)?;
    let query_fields = TextFields {
        id: fields.id.clone(),
        text: fields.text.clone(),
        title: None,
    };
    let query_records = input::read_texts(queries, &query_fields, policy)?;
    let judgements = input::read_qrels(qrels, policy)?;
    let corpus_path = corpus;
    let corpus = Corpus::from_records(corpus_records);
    let query_ids: HashMap<&str, usize> = query_records
        .iter()
        .enumerate()
        .map(|(i, q)| (q.id.as_str(), i))
        .collect();
    for (qid, docs) in &judgements.positives {
        if !query_ids.contains_key(qid.as_str()) {
            let line = docs.keys().map(|d| judgements.line(qid, d)).min().unwrap_or(0);
            let e = Error::record(qrels, line, format!("query-id `{qid}` is not in {}", queries.display()));
            policy.handle(e, "unknown query id")?;
        }
    }
    let mut data = MiningData {
        inputs: vec![corpus_path.to_path_buf(), queries.to_path_buf(), qrels.to_path_buf()],
        ..Default::default()
    };
    for q in query_records {
        let Some(judged) = judgements.positives.get(&q.id) else {
            data.queries_without_positive += 1;
            continue;
        };
        let mut graded: Vec<(&String, f64)> = judged.iter().map(|(d, g)| (d, *g)).collect();
        graded.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| cmp_ids(a.0, b.0)));
        let mut positives = Vec::new();
        for (doc, _) in graded {
            match corpus.row_of.get(doc) {
                Some(&row) => positives.push(row),
                None => {
                    let line = judgements.line(&q.id, doc);
                    let e = Error::record(
                        qrels,
                        line,
                        format!(
                            "corpus-id `{doc}` (query `{}`) is not in {}",
                            q.id,
                            corpus_path.display()
                        ),
                    );
                    policy.handle(e, "unknown corpus id")?;
                }
            }
        }
        if positives.is_empty() {
            data.queries_without_positive += 1;
        } else {
            data.queries.push(Query {
                id: q.id,
                text: q.text,
                positives,
            });
        }
    }
    data.corpus = corpus;
    Ok(data)
}

/// Reads (anchor, positive) pairs; the corpus is the unique positives plus `extra_corpus`.
/// Repeated anchors mean several positives. Ids: corpus ids where the text is in `extra_corpus`,
/// else `p<n>` for positives and `q<n>` for anchors, numbered by first appearance.
pub fn load_pairs(
    pairs: &Path,
    extra_corpus: Option<&Path>,
    anchor: &str,
    positive: &str,
    fields: &TextFields,
    policy: &mut BadRecordPolicy,
) -> Result<MiningData> {
    let pair_rows = input::read_pairs(pairs, anchor, positive, policy)?;
    let mut records = match extra_corpus {
        Some(c) => input::read_texts(c, fields, policy)?,
        None => Vec::new(),
    };
    let mut row_of_text: HashMap<[u8; 16], u32> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        row_of_text.entry(text_digest(&r.text)).or_insert(i as u32);
    }
    let mut queries: Vec<Query> = Vec::new();
    let mut query_of_text: HashMap<[u8; 16], usize> = HashMap::new();
    let mut next_positive = 0usize;
    for (a, p) in pair_rows {
        let row = *row_of_text.entry(text_digest(&p)).or_insert_with(|| {
            next_positive += 1;
            records.push(TextRecord {
                id: format!("p{}", next_positive - 1),
                text: p,
            });
            (records.len() - 1) as u32
        });
        let qi = *query_of_text.entry(text_digest(&a)).or_insert_with(|| {
            queries.push(Query {
                id: format!("q{}", queries.len()),
                text: a,
                positives: Vec::new(),
            });
            queries.len() - 1
        });
        if !queries[qi].positives.contains(&row) {
            queries[qi].positives.push(row);
        }
    }
    let mut inputs = vec![pairs.to_path_buf()];
    inputs.extend(extra_corpus.map(Path::to_path_buf));
    Ok(MiningData {
        corpus: Corpus::from_records(records),
        queries,
        queries_without_positive: 0,
        inputs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_point_to_their_first_row() {
        let recs = ["a", "b", "a", "c", "b"]
            .iter()
            .enumerate()
            .map(|(i, t)| TextRecord {
                id: i.to_string(),
                text: t.to_string(),
            })
            .collect();
        let c = Corpus::from_records(recs);
        assert_eq!(c.canonical, vec![0, 1, 0, 3, 1]);
        assert_eq!(c.duplicate_rows, 2);
    }

    #[test]
    fn ids_compare_numerically_when_numbers() {
        assert_eq!(cmp_ids("9", "10"), Ordering::Less);
        assert_eq!(cmp_ids("a9", "a10"), Ordering::Greater);
    }
}
