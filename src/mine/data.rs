//! The mining inputs resolved to rows: the corpus (ids, texts, exact-duplicate groups) and the
//! queries with their positives, from a BEIR folder or from (anchor, positive) pairs.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::input::{self, BadRecordPolicy, TextFields};
use crate::text_store::{Entries, TextStore, TextStoreWriter};

/// The corpus of a run: ids and texts in an on-disk [`TextStore`] fetched by row; memory holds,
/// per passage, its duplicate group, its offset and its id's digest, never its text.
#[derive(Debug)]
pub struct Corpus {
    store: TextStore,
    /// Row of each id, keyed by the id's digest.
    row_of: HashMap<[u8; 16], u32>,
    /// For each row, the first row whose text is identical (itself when unique).
    pub canonical: Vec<u32>,
    /// Rows whose text duplicates an earlier row's.
    pub duplicate_rows: usize,
}

/// What [`CorpusBuilder::push`] did with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// A new row.
    Added(u32),
    /// The id was seen before with the same text: merged into that row.
    Merged(u32),
    /// The id was seen before with a different text: not added.
    IdConflict,
}

/// Builds a [`Corpus`] record by record, grouping exact duplicate texts as they arrive.
pub struct CorpusBuilder {
    store: TextStoreWriter,
    row_of: HashMap<[u8; 16], u32>,
    // Keyed by a 128-bit digest, not the text, so the corpus is not held in memory.
    row_of_text: HashMap<[u8; 16], u32>,
    canonical: Vec<u32>,
    duplicate_rows: usize,
}

impl CorpusBuilder {
    /// An empty corpus whose texts go to a temporary file in `$TMPDIR`.
    pub fn new() -> Result<Self> {
        Ok(CorpusBuilder {
            store: TextStoreWriter::create(None)?,
            row_of: HashMap::new(),
            row_of_text: HashMap::new(),
            canonical: Vec::new(),
            duplicate_rows: 0,
        })
    }

    /// Adds a passage unless its id is already there.
    pub fn push(&mut self, id: &str, text: &str) -> Result<Pushed> {
        let digest = text_digest(text);
        if let Some(&row) = self.row_of.get(&text_digest(id)) {
            let same = self.row_of_text.get(&digest) == Some(&self.canonical[row as usize]);
            return Ok(if same { Pushed::Merged(row) } else { Pushed::IdConflict });
        }
        let row = self.store.push(id, text)?;
        let canon = *self.row_of_text.entry(digest).or_insert(row);
        self.duplicate_rows += usize::from(canon != row);
        self.canonical.push(canon);
        self.row_of.insert(text_digest(id), row);
        Ok(Pushed::Added(row))
    }

    /// The first row holding exactly `text`.
    pub fn row_with_text(&self, text: &str) -> Option<u32> {
        self.row_of_text.get(&text_digest(text)).copied()
    }

    /// The row of `id`.
    pub fn row(&self, id: &str) -> Option<u32> {
        self.row_of.get(&text_digest(id)).copied()
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.canonical.is_empty()
    }

    /// Streams the records of `path` into the corpus (duplicate ids with another text go to
    /// `policy`).
    pub fn read(&mut self, path: &Path, fields: &TextFields, policy: &mut BadRecordPolicy) -> Result<()> {
        input::for_each_text(path, fields, policy, |line, rec, policy| {
            match self.push(&rec.id, &rec.text)? {
                Pushed::IdConflict => policy.handle(input::duplicate_id(path, line, &rec.id), "duplicate id"),
                Pushed::Added(_) | Pushed::Merged(_) => Ok(()),
            }
        })
    }

    /// Finishes the corpus (the text-digest table is dropped here).
    pub fn finish(self) -> Result<Corpus> {
        Ok(Corpus {
            store: self.store.finish()?,
            row_of: self.row_of,
            canonical: self.canonical,
            duplicate_rows: self.duplicate_rows,
        })
    }
}

impl Corpus {
    /// Number of documents.
    pub fn len(&self) -> usize {
        self.canonical.len()
    }

    /// Whether the corpus is empty.
    pub fn is_empty(&self) -> bool {
        self.canonical.is_empty()
    }

    /// The row of `id`.
    pub fn row(&self, id: &str) -> Option<u32> {
        self.row_of.get(&text_digest(id)).copied()
    }

    /// The id of `row`.
    pub fn id(&self, row: u32) -> Result<String> {
        self.store.id(row)
    }

    /// The text of `row`.
    pub fn text(&self, row: u32) -> Result<String> {
        self.store.text(row)
    }

    /// The (id, text) of `row`.
    pub fn entry(&self, row: u32) -> Result<(String, String)> {
        self.store.entry(row)
    }

    /// Every (row, id, text) in row order: one sequential pass over the store.
    pub fn iter(&self) -> Entries<'_> {
        self.store.iter()
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
    /// The first corpus row whose text is exactly the query's, if any (never a negative).
    pub same_text_row: Option<u32>,
}

/// Everything a mining run reads.
#[derive(Debug)]
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
    let mut builder = CorpusBuilder::new()?;
    builder.read(corpus, fields, policy)?;
    if builder.is_empty() {
        return Err(input::empty_file(corpus));
    }
    let query_fields = TextFields {
        id: fields.id.clone(),
        text: fields.text.clone(),
        title: None,
    };
    let query_records = input::read_texts(queries, &query_fields, policy)?;
    let judgements = input::read_qrels(qrels, policy)?;
    let corpus_path = corpus;
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
    let (mut kept, mut queries_without_positive) = (Vec::new(), 0);
    for q in query_records {
        let Some(judged) = judgements.positives.get(&q.id) else {
            queries_without_positive += 1;
            continue;
        };
        let mut graded: Vec<(&String, f64)> = judged.iter().map(|(d, g)| (d, *g)).collect();
        graded.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| cmp_ids(a.0, b.0)));
        let mut positives = Vec::new();
        for (doc, _) in graded {
            match builder.row(doc) {
                Some(row) => positives.push(row),
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
            queries_without_positive += 1;
        } else {
            kept.push(Query {
                same_text_row: builder.row_with_text(&q.text),
                id: q.id,
                text: q.text,
                positives,
            });
        }
    }
    Ok(MiningData {
        corpus: builder.finish()?,
        queries: kept,
        queries_without_positive,
        inputs: vec![corpus_path.to_path_buf(), queries.to_path_buf(), qrels.to_path_buf()],
    })
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
    let mut builder = CorpusBuilder::new()?;
    if let Some(c) = extra_corpus {
        builder.read(c, fields, policy)?;
        if builder.is_empty() {
            return Err(input::empty_file(c));
        }
    }
    let mut queries: Vec<Query> = Vec::new();
    let mut query_of_text: HashMap<[u8; 16], usize> = HashMap::new();
    let mut next_positive = 0usize;
    for (a, p) in pair_rows {
        let row = match builder.row_with_text(&p) {
            Some(row) => row,
            None => {
                next_positive += 1;
                match builder.push(&format!("p{}", next_positive - 1), &p)? {
                    Pushed::Added(row) | Pushed::Merged(row) => row,
                    Pushed::IdConflict => {
                        return Err(Error::Config(format!(
                            "the corpus has an id `p{}` of its own; generated positive ids would clash",
                            next_positive - 1
                        )));
                    }
                }
            }
        };
        let qi = *query_of_text.entry(text_digest(&a)).or_insert_with(|| {
            queries.push(Query {
                id: format!("q{}", queries.len()),
                text: a,
                positives: Vec::new(),
                same_text_row: None,
            });
            queries.len() - 1
        });
        if !queries[qi].positives.contains(&row) {
            queries[qi].positives.push(row);
        }
    }
    for q in &mut queries {
        q.same_text_row = builder.row_with_text(&q.text);
    }
    let mut inputs = vec![pairs.to_path_buf()];
    inputs.extend(extra_corpus.map(Path::to_path_buf));
    Ok(MiningData {
        corpus: builder.finish()?,
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
        let mut b = CorpusBuilder::new().unwrap();
        for (i, t) in ["a", "b", "a", "c", "b"].iter().enumerate() {
            assert_eq!(b.push(&i.to_string(), t).unwrap(), Pushed::Added(i as u32));
        }
        let c = b.finish().unwrap();
        assert_eq!(c.canonical, vec![0, 1, 0, 3, 1]);
        assert_eq!(c.duplicate_rows, 2);
        assert_eq!(c.entry(3).unwrap(), ("3".to_string(), "c".to_string()));
        assert_eq!(c.row("4"), Some(4));
    }

    #[test]
    fn a_repeated_id_merges_with_the_same_text_and_conflicts_with_another() {
        let mut b = CorpusBuilder::new().unwrap();
        b.push("x", "one").unwrap();
        b.push("y", "two").unwrap();
        assert_eq!(b.push("x", "one").unwrap(), Pushed::Merged(0));
        assert_eq!(b.push("x", "two").unwrap(), Pushed::IdConflict);
        assert_eq!(b.row_with_text("two"), Some(1));
        assert_eq!(b.finish().unwrap().len(), 2);
    }

    #[test]
    fn ids_compare_numerically_when_numbers() {
        assert_eq!(cmp_ids("9", "10"), Ordering::Less);
        assert_eq!(cmp_ids("a9", "a10"), Ordering::Greater);
    }
}
