//! A run folder: one mining job split into stages and shards that any number of workers run,
//! in any order within a stage and at the same time, on a local or shared filesystem.
//!
//! ```text
//! plan ─► embed-corpus i/N ─► build-index p/P ─► mine-queries j/M ─► finalize
//! ```
//!
//! `plan` validates the settings and ingests the inputs once ([`plan`]); each stage shard reads
//! only the run folder, writes its part under a temporary name, renames it, and writes its marker
//! last ([`marker`]); a shard whose marker exists is skipped; `finalize` checks every marker and
//! part and writes the training set ([`finalize`]). Shard boundaries follow the units
//! `hardneg mine` works in (embedding windows of `--sort-window` distinct passages, query chunks
//! of `--query-chunk`), so every text is embedded in the same batches and, with exact search,
//! the training set is byte for byte the one `hardneg mine` writes.
//!
//! Folder layout:
//! ```text
//! plan.json                      the plan (written last by `plan`)
//! corpus/part-<i>.parquet        rows of corpus shard i: row, id, text, canonical
//! queries.parquet                queries with their positives' rows
//! bm25.json.gz, bigrams.bin      corpus statistics (lexical filter, counterfactual fluency,
//! term-df.json.gz                 and which query terms anchor counterfactuals)
//! vectors/part-<i>.parquet       embed-corpus i: row, embedding
//! index/p-<p>.{exact,usearch}    build-index p
//! mined/part-<j>.jsonl.gz        mine-queries j: per query, its selection and counterfactuals
//! done/<stage>/<i>-of-<n>.json   markers (done/finalize.json last of all); failed/… a shard's last failure
//! logs/<stage>/<i>-of-<n>.log    each shard's log, kept by the launchers
//! ```

pub mod finalize;
pub mod marker;
pub mod parts;
pub mod plan;
pub mod stages;
pub mod status;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Error, Result};

/// The stages workers run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Embeds a contiguous range of distinct corpus passages into a vector part.
    EmbedCorpus,
    /// Builds one index partition from the vector parts.
    BuildIndex,
    /// Embeds a shard of queries, searches every partition, selects and edits.
    MineQueries,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 3] = [Stage::EmbedCorpus, Stage::BuildIndex, Stage::MineQueries];

    /// The name on the command line and in the folder.
    pub fn name(self) -> &'static str {
        match self {
            Stage::EmbedCorpus => "embed-corpus",
            Stage::BuildIndex => "build-index",
            Stage::MineQueries => "mine-queries",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One shard of a stage: `index` of `count` (written `i/N`, 0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based shard number.
    pub index: usize,
    /// Shards of the stage.
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("`{s}` is not a shard: expected i/N with 0 <= i < N (e.g. 0/4)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The paths of a run folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run folder at `root` (not checked).
    pub fn new(root: &Path) -> Self {
        RunDir {
            root: root.to_path_buf(),
        }
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `plan.json`.
    pub fn plan(&self) -> PathBuf {
        self.root.join("plan.json")
    }

    /// The corpus rows of corpus shard `i`.
    pub fn corpus_part(&self, i: usize) -> PathBuf {
        self.root.join(format!("corpus/part-{i:05}.parquet"))
    }

    /// The queries and their positives.
    pub fn queries(&self) -> PathBuf {
        self.root.join("queries.parquet")
    }

    /// BM25 statistics of the corpus.
    pub fn bm25(&self) -> PathBuf {
        self.root.join("bm25.json.gz")
    }

    /// The counterfactual fluency table.
    pub fn bigrams(&self) -> PathBuf {
        self.root.join("bigrams.bin")
    }

    /// The corpus's document frequencies that decide which query terms anchor counterfactuals.
    pub fn term_rarity(&self) -> PathBuf {
        self.root.join("term-df.json.gz")
    }

    /// The vectors of corpus shard `i`.
    pub fn vector_part(&self, i: usize) -> PathBuf {
        self.root.join(format!("vectors/part-{i:05}.parquet"))
    }

    /// Index partition `p` (`ext`: `exact` or `usearch`).
    pub fn partition(&self, p: usize, ext: &str) -> PathBuf {
        self.root.join(format!("index/p-{p:05}.{ext}"))
    }

    /// The mined queries of query shard `j`.
    pub fn mined_part(&self, j: usize) -> PathBuf {
        self.root.join(format!("mined/part-{j:05}.jsonl.gz"))
    }

    /// The part a stage shard writes (a partition's extension comes from the plan).
    pub fn part(&self, stage: Stage, shard: Shard, index_ext: &str) -> PathBuf {
        match stage {
            Stage::EmbedCorpus => self.vector_part(shard.index),
            Stage::BuildIndex => self.partition(shard.index, index_ext),
            Stage::MineQueries => self.mined_part(shard.index),
        }
    }

    /// The marker a finished shard writes last.
    pub fn done(&self, stage: Stage, shard: Shard) -> PathBuf {
        self.root
            .join(format!("done/{stage}/{:05}-of-{:05}.json", shard.index, shard.count))
    }

    /// The record of a shard's last failure.
    pub fn failed(&self, stage: Stage, shard: Shard) -> PathBuf {
        self.root
            .join(format!("failed/{stage}/{:05}-of-{:05}.json", shard.index, shard.count))
    }

    /// The record of a shard that started (with its process and host).
    pub fn started(&self, stage: Stage, shard: Shard) -> PathBuf {
        self.root
            .join(format!("started/{stage}/{:05}-of-{:05}.json", shard.index, shard.count))
    }

    /// The marker `finalize` writes last.
    pub fn finalized(&self) -> PathBuf {
        self.root.join("done/finalize.json")
    }
}

/// Creates the folder holding `path`.
pub(crate) fn create_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(dir) => std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_reject_out_of_range() {
        assert_eq!("2/4".parse::<Shard>().unwrap(), Shard { index: 2, count: 4 });
        assert_eq!(" 0 / 1 ".parse::<Shard>().unwrap(), Shard { index: 0, count: 1 });
        for bad in ["4/4", "0/0", "1", "a/2", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!(Shard { index: 1, count: 3 }.to_string(), "1/3");
    }
}
