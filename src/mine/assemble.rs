//! The tail of a mining run, shared by `hardneg mine` and `hardneg finalize`: mined queries become
//! training rows chunk by chunk, in query order. Here the whole-run rules apply: the reuse cap
//! (`--max-negative-reuse`, counted over every earlier chunk), counterfactual negatives appended
//! after the mined ones, and short rows (dropped or kept and counted); the tally of what was
//! written feeds the manifest.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::MinedQuery;
use super::data::MiningData;
use super::profile::ProfileSet;
use crate::error::Result;
use crate::output::{Negative, TrainingRow};
use crate::settings::MineSettings;

/// One chunk of queries mined (`--query-chunk` queries, in order), before rows are assembled.
#[derive(Debug, Clone)]
pub struct MinedChunk {
    /// The queries' selections, in query order.
    pub mined: Vec<MinedQuery>,
    /// Counterfactual negatives of each training row of the chunk (rows in the order
    /// [`bare_rows`] gives them); empty lists without `--counterfactuals`.
    pub counterfactuals: Vec<Vec<Negative>>,
}

/// The training rows of `mined` without negatives: one per (query, positive), ids and texts read
/// from the corpus store.
pub fn bare_rows(data: &MiningData, mined: &[MinedQuery], wanted: usize) -> Result<Vec<TrainingRow>> {
    let mut rows = Vec::new();
    for m in mined {
        let q = &data.queries[m.query];
        for (&p, &score) in q.positives.iter().zip(&m.positive_scores) {
            let (positive_id, positive) = data.corpus.entry(p)?;
            rows.push(TrainingRow {
                query_id: q.id.clone(),
                query: q.text.clone(),
                positive_id,
                positive,
                positive_score: score,
                negatives: Vec::new(),
                wanted,
            });
        }
    }
    Ok(rows)
}

/// Turns mined queries into training rows, one per (query, positive); passage ids and texts are
/// read from the corpus store.
pub fn training_rows(data: &MiningData, mined: &[MinedQuery], wanted: usize) -> Result<Vec<TrainingRow>> {
    let mut rows = bare_rows(data, mined, wanted)?;
    let mut next = 0;
    for m in mined {
        let negatives: Vec<Negative> = m
            .selection
            .negatives
            .iter()
            .map(|c| {
                let (id, text) = data.corpus.entry(c.row)?;
                Ok(Negative {
                    id,
                    text,
                    score: c.score,
                    rank: Some(c.rank),
                    source: "mined".into(),
                    edit: None,
                })
            })
            .collect::<Result<_>>()?;
        let count = data.queries[m.query].positives.len();
        for row in &mut rows[next..next + count] {
            row.negatives.clone_from(&negatives);
        }
        next += count;
    }
    Ok(rows)
}

/// What the written rows add up to, gathered chunk by chunk for the manifest.
#[derive(Debug, Default)]
pub struct Tally {
    /// Rows written.
    pub rows: usize,
    /// Negatives written.
    pub negatives: usize,
    /// Rows short of negatives (written or not).
    pub short_rows: usize,
    /// Candidates skipped, by reason.
    pub skipped: BTreeMap<String, usize>,
    /// Short rows per filter that skipped candidates of their query (a row counts under every
    /// filter that skipped one of its candidates).
    pub short_by_filter: BTreeMap<String, usize>,
    /// Deepest search of any query.
    pub max_depth: usize,
    /// Rows whose query has a positive as its nearest passage (written or not).
    pub positive_first_rows: usize,
    /// Negatives that are some query's positive.
    pub collisions: usize,
    /// Query–positive scores of the written rows.
    pub positive_scores: Vec<f64>,
    /// Query–negative scores of the written negatives.
    pub negative_scores: Vec<f64>,
    /// Positive minus negative, per written negative.
    pub differences: Vec<f64>,
}

impl Tally {
    fn mined(&mut self, mined: &[MinedQuery], data: &MiningData, wanted: usize) {
        for m in mined {
            let short = m.selection.negatives.len() < wanted;
            for (reason, n) in &m.selection.skipped {
                *self.skipped.entry(reason.name().to_string()).or_default() += n;
                if short && reason.is_filter() {
                    *self.short_by_filter.entry(reason.name().to_string()).or_default() +=
                        data.queries[m.query].positives.len();
                }
            }
            self.max_depth = self.max_depth.max(m.depth);
            if m.positive_first {
                self.positive_first_rows += data.queries[m.query].positives.len();
            }
        }
    }

    /// Counts written rows; a negative that is some query's positive is a cross-row collision
    /// (they hurt in-batch losses, llm2vec#178).
    fn written(&mut self, rows: &[TrainingRow], positive_ids: &HashSet<String>) {
        for r in rows {
            self.rows += 1;
            self.negatives += r.negatives.len();
            self.positive_scores.push(f64::from(r.positive_score));
            for n in &r.negatives {
                self.negative_scores.push(f64::from(n.score));
                self.differences.push(f64::from(r.positive_score - n.score));
                self.collisions += usize::from(positive_ids.contains(&n.id));
            }
        }
    }
}

/// Assembles rows chunk by chunk; chunks must come in query order.
pub struct Assembler<'a> {
    data: &'a MiningData,
    s: &'a MineSettings,
    positive_ids: HashSet<String>,
    uses: HashMap<u32, usize>,
    /// Whether short rows are left out of the output.
    pub drop_short: bool,
    /// What was written so far.
    pub tally: Tally,
    /// The score profiles of the sampled queries.
    pub profiles: ProfileSet,
}

impl<'a> Assembler<'a> {
    /// An assembler over `data` (every query's positive ids are read once, for collisions).
    pub fn new(data: &'a MiningData, s: &'a MineSettings) -> Result<Self> {
        let positive_ids: HashSet<String> = data
            .queries
            .iter()
            .flat_map(|q| q.positives.iter())
            .map(|&p| data.corpus.id(p))
            .collect::<Result<_>>()?;
        Ok(Assembler {
            data,
            s,
            positive_ids,
            uses: HashMap::new(),
            drop_short: s.drop_short || (s.format.is_fixed_width() && !s.keep_short),
            tally: Tally::default(),
            profiles: ProfileSet::default(),
        })
    }

    /// The rows of one chunk, ready to write: reuse cap, texts, counterfactuals, short rows.
    pub fn rows(&mut self, chunk: MinedChunk) -> Result<Vec<TrainingRow>> {
        let MinedChunk {
            mut mined,
            counterfactuals,
        } = chunk;
        if let Some(cap) = self.s.max_negative_reuse {
            // In query order over the whole run, so the outcome depends neither on thread
            // scheduling nor on how queries were split into chunks or shards.
            let canonical = &self.data.corpus.canonical;
            for m in &mut mined {
                let rows_of_query = self.data.queries[m.query].positives.len();
                let uses = &mut self.uses;
                m.selection.repick(self.s.num_negatives, |row| {
                    uses.get(&canonical[row as usize])
                        .is_some_and(|&n| n + rows_of_query > cap)
                });
                for c in &m.selection.negatives {
                    *uses.entry(canonical[c.row as usize]).or_default() += rows_of_query;
                }
            }
        }
        self.tally.mined(&mined, self.data, self.s.num_negatives);
        for m in &mut mined {
            if let Some(mut profile) = m.profile.take() {
                let ranks: Vec<u32> = m.selection.negatives.iter().map(|c| c.rank).collect();
                profile.mark_chosen(&ranks);
                self.profiles.offer(profile);
            }
        }
        let mut rows = training_rows(self.data, &mined, self.s.num_negatives)?;
        for (row, added) in rows.iter_mut().zip(counterfactuals) {
            row.negatives.extend(added);
        }
        // Fixed-width formats have a column per negative, counterfactual slots included.
        let width = self.s.num_negatives + self.s.counterfactuals;
        let fixed = self.s.format.is_fixed_width();
        let is_short = |r: &TrainingRow| r.is_short() || (fixed && r.negatives.len() < width);
        self.tally.short_rows += rows.iter().filter(|r| is_short(r)).count();
        rows.retain(|r| !(self.drop_short && is_short(r)));
        self.tally.written(&rows, &self.positive_ids);
        Ok(rows)
    }
}
