//! Readers for the inputs: BEIR `corpus.jsonl`/`queries.jsonl`, `qrels.tsv`, and (anchor, positive)
//! pairs, from JSONL (optionally gzipped) or Parquet. Errors name the file, line and field.

mod jsonl;
mod parquet_text;
mod qrels;

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};

pub use qrels::{Qrels, read_qrels};

/// One text with its id, as read from an input file.
#[derive(Debug, Clone, PartialEq)]
pub struct TextRecord {
    /// The record's id (BEIR `_id`, or the configured id column).
    pub id: String,
    /// The text; `title + " " + text` when the record has a non-empty title.
    pub text: String,
}

/// Which fields hold the id, the text and (optionally) a title.
#[derive(Debug, Clone)]
pub struct TextFields {
    /// Id field name (`_id` in BEIR); empty: the 1-based line or row number is the id.
    pub id: String,
    /// Text field name.
    pub text: String,
    /// Optional title field, prepended to the text as BEIR and sentence-transformers do.
    pub title: Option<String>,
}

impl Default for TextFields {
    fn default() -> Self {
        TextFields {
            id: "_id".into(),
            text: "text".into(),
            title: Some("title".into()),
        }
    }
}

/// What to do with a malformed record: fail (default) or count and skip up to a limit.
#[derive(Debug, Clone, Default)]
pub struct BadRecordPolicy {
    /// Skip record-level problems instead of failing.
    pub skip: bool,
    /// Fail once more than this many records were skipped.
    pub max_skips: usize,
    /// Skips so far, by reason.
    pub skipped: BTreeMap<String, usize>,
}

impl BadRecordPolicy {
    /// A policy that fails on the first bad record.
    pub fn strict() -> Self {
        Self::default()
    }

    /// Skips up to `max_skips` bad records, counting them by reason.
    pub fn skipping(max_skips: usize) -> Self {
        BadRecordPolicy {
            skip: true,
            max_skips,
            skipped: BTreeMap::new(),
        }
    }

    /// Total records skipped.
    pub fn total_skipped(&self) -> usize {
        self.skipped.values().sum()
    }

    /// Either returns `err` or, when skipping is on and `err` is record-level, counts it.
    pub fn handle(&mut self, err: Error, reason: &str) -> Result<()> {
        if !self.skip || !err.is_record_level() {
            return Err(err);
        }
        let count = self.skipped.entry(reason.to_string()).or_insert(0);
        *count += 1;
        if *count == 1 {
            tracing::warn!("skipping bad record ({reason}): {err}");
        }
        if self.total_skipped() > self.max_skips {
            return Err(Error::Config(format!(
                "more than --max-bad-records {} bad records; the last one: {err}",
                self.max_skips
            )));
        }
        Ok(())
    }
}

/// The kind of file, decided by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// JSON Lines, plain or `.gz`.
    Jsonl,
    /// Apache Parquet.
    Parquet,
}

/// Decides the file kind from the extension (`.jsonl`, `.json`, `.jsonl.gz`, `.parquet`).
pub fn file_kind(path: &Path) -> Result<FileKind> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    if name.ends_with(".parquet") || name.ends_with(".pq") {
        Ok(FileKind::Parquet)
    } else if name.ends_with(".jsonl") || name.ends_with(".json") || name.ends_with(".ndjson") {
        Ok(FileKind::Jsonl)
    } else {
        Err(Error::input(
            path,
            "unknown file type: expected .jsonl, .jsonl.gz or .parquet",
        ))
    }
}

/// Streams the well-formed (id, text) records of a JSONL or Parquet file with their 1-based line
/// (or row) number; malformed records go to `policy`. Nothing but the current record (or Parquet
/// record batch) is held.
pub fn for_each_text(
    path: &Path,
    fields: &TextFields,
    policy: &mut BadRecordPolicy,
    mut record: impl FnMut(usize, TextRecord, &mut BadRecordPolicy) -> Result<()>,
) -> Result<()> {
    let mut take = |line: usize, rec: Result<Option<TextRecord>>, policy: &mut BadRecordPolicy| -> Result<()> {
        match rec {
            Ok(Some(r)) => record(line, r, policy),
            Ok(None) => Ok(()),
            Err(e) => policy.handle(e, "malformed record"),
        }
    };
    match file_kind(path)? {
        FileKind::Jsonl => jsonl::for_each_object(path, policy, |line, obj, policy| {
            take(line, jsonl::text_record(path, line, &obj, fields), policy)
        }),
        FileKind::Parquet => {
            let by_row = fields.id.is_empty();
            let id_column = if by_row { &fields.text } else { &fields.id };
            parquet_text::for_each_string_row(
                path,
                &[id_column, &fields.text],
                fields.title.as_deref(),
                |row, [id, text, title]| {
                    // No id column configured: the 1-based row number is the id.
                    let id = if by_row {
                        Some((row + 1).to_string())
                    } else {
                        id.map(str::to_string)
                    };
                    let rec = match (id, text) {
                        (Some(id), Some(text)) => Ok(Some(TextRecord {
                            text: join_title(title, text),
                            id,
                        })),
                        (None, _) => Err(Error::record(path, row + 1, format!("field `{}` is null", fields.id))),
                        (_, None) => Err(Error::record(path, row + 1, format!("field `{}` is null", fields.text))),
                    };
                    take(row + 1, rec, policy)
                },
            )
        }
    }
}

/// Reads all (id, text) records of a file into memory (the queries).
/// Duplicate ids with the same text are merged; duplicate ids with different texts are an error
/// (or a counted skip).
pub fn read_texts(path: &Path, fields: &TextFields, policy: &mut BadRecordPolicy) -> Result<Vec<TextRecord>> {
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut out: Vec<TextRecord> = Vec::new();
    for_each_text(path, fields, policy, |line, rec, policy| {
        match seen.get(&rec.id) {
            None => {
                seen.insert(rec.id.clone(), out.len());
                out.push(rec);
            }
            Some(&i) if out[i].text == rec.text => {}
            Some(_) => policy.handle(duplicate_id(path, line, &rec.id), "duplicate id")?,
        }
        Ok(())
    })?;
    if out.is_empty() {
        return Err(empty_file(path));
    }
    Ok(out)
}

/// The error for an id seen before with a different text.
pub fn duplicate_id(path: &Path, line: usize, id: &str) -> Error {
    Error::record(path, line, format!("duplicate id `{id}` with a different text"))
}

/// The error for a file without records.
pub fn empty_file(path: &Path) -> Error {
    Error::input(path, "no records: the file is empty")
}

fn join_title(title: Option<&str>, text: &str) -> String {
    match title.map(str::trim) {
        Some(t) if !t.is_empty() => format!("{t} {text}"),
        _ => text.to_string(),
    }
}

/// Reads (anchor, positive) pairs from JSONL or Parquet with the given column names.
pub fn read_pairs(
    path: &Path,
    anchor: &str,
    positive: &str,
    policy: &mut BadRecordPolicy,
) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    match file_kind(path)? {
        FileKind::Jsonl => jsonl::for_each_object(path, policy, |line, obj, policy| {
            let get = |f: &str| jsonl::string_field(path, line, &obj, f, false).map(Option::unwrap_or_default);
            match get(anchor).and_then(|a| Ok((a, get(positive)?))) {
                Ok(p) => pairs.push(p),
                Err(e) => policy.handle(e, "malformed pair")?,
            }
            Ok(())
        })?,
        FileKind::Parquet => {
            parquet_text::for_each_string_row(path, &[anchor, positive], None, |row, [a, p, _]| match (a, p) {
                (Some(a), Some(p)) => {
                    pairs.push((a.to_string(), p.to_string()));
                    Ok(())
                }
                _ => policy.handle(
                    Error::record(path, row + 1, format!("`{anchor}` or `{positive}` is null")),
                    "malformed pair",
                ),
            })?;
        }
    }
    if pairs.is_empty() {
        return Err(Error::input(path, "no pairs: the file is empty"));
    }
    Ok(pairs)
}

/// Size in bytes and SHA-256 of a file, for the manifest.
pub fn file_fingerprint(path: &Path) -> Result<(u64, String)> {
    files_fingerprint(&[path])
}

/// Total size and SHA-256 of `paths`' contents one after another.
pub fn files_fingerprint(paths: &[impl AsRef<Path>]) -> Result<(u64, String)> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    for path in paths {
        let path = path.as_ref();
        let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        loop {
            let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
            if n == 0 {
                break;
            }
            size += n as u64;
            hasher.update(&buf[..n]);
        }
    }
    Ok((size, format!("{:x}", hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn write(bytes: &[u8], name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Arbitrary bytes never panic the readers: they give records or a located error.
        #[test]
        fn readers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let (_d, corpus) = write(&bytes, "corpus.jsonl");
            let _ = read_texts(&corpus, &TextFields::default(), &mut BadRecordPolicy::strict());
            let _ = read_texts(&corpus, &TextFields::default(), &mut BadRecordPolicy::skipping(usize::MAX));
            let _ = read_pairs(&corpus, "anchor", "positive", &mut BadRecordPolicy::strict());
            let (_d2, qrels) = write(&bytes, "qrels.tsv");
            let _ = read_qrels(&qrels, &mut BadRecordPolicy::strict());
            let (_d3, pq) = write(&bytes, "x.parquet");
            let _ = read_texts(&pq, &TextFields::default(), &mut BadRecordPolicy::strict());
        }

        /// JSON-shaped lines with random field types: every error names the file and a line.
        #[test]
        fn json_lines_with_random_fields_fail_with_a_location(
            id in prop_oneof![Just("\"a\"".to_string()), Just("1".to_string()), Just("null".to_string()), Just("[1]".to_string()), Just("{}".to_string())],
            text in prop_oneof![Just("\"t\"".to_string()), Just("2.5".to_string()), Just("null".to_string()), Just("true".to_string())],
        ) {
            let line = format!("{{\"_id\": {id}, \"text\": {text}}}\n");
            let (_d, path) = write(line.as_bytes(), "c.jsonl");
            if let Err(e) = read_texts(&path, &TextFields::default(), &mut BadRecordPolicy::strict()) {
                let msg = e.to_string();
                prop_assert!(msg.contains("c.jsonl"), "{}", msg);
            }
        }
    }

    #[test]
    fn gzipped_jsonl_reads_like_plain() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"{\"_id\": \"1\", \"title\": \"T\", \"text\": \"body\"}\n")
            .unwrap();
        let (_d, path) = write(&gz.finish().unwrap(), "corpus.jsonl.gz");
        let recs = read_texts(&path, &TextFields::default(), &mut BadRecordPolicy::strict()).unwrap();
        assert_eq!(
            recs,
            vec![TextRecord {
                id: "1".into(),
                text: "T body".into()
            }]
        );
    }
}
