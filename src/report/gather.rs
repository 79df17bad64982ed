//! One streaming pass over a training set's provenance: binned score distributions per negative
//! source, margins, ranks, reuse of passages as negatives, counterfactual families, and seeded
//! samples of rows (their texts are read afterwards, for those rows only). Memory is bounded by
//! the bins, the distinct negative and positive ids, and the samples, whatever the row count.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::error::Result;
use crate::mine::data::cmp_ids;
use crate::mine::select::query_seed;
use crate::output::read::{ReadRow, TrainingSetFiles};

/// A histogram over fixed bins of width `width` starting at `start`.
#[derive(Debug, Clone, PartialEq)]
pub struct Bins {
    /// Left edge of the first bin.
    pub start: f64,
    /// Bin width.
    pub width: f64,
    /// Counts per bin.
    pub counts: Vec<u64>,
}

impl Bins {
    /// `n` bins of `width` from `start`; values outside land in the first or last bin.
    pub fn new(start: f64, width: f64, n: usize) -> Self {
        Bins {
            start,
            width,
            counts: vec![0; n],
        }
    }

    /// Counts `v`.
    pub fn add(&mut self, v: f64) {
        let i = ((v - self.start) / self.width).floor();
        let i = if i.is_nan() {
            0
        } else {
            (i.max(0.0) as usize).min(self.counts.len() - 1)
        };
        self.counts[i] += 1;
    }

    /// The same counts in bins `factor` times as wide.
    pub fn coarsen(&self, factor: usize) -> Bins {
        let factor = factor.max(1);
        Bins {
            start: self.start,
            width: self.width * factor as f64,
            counts: self.counts.chunks(factor).map(|c| c.iter().sum()).collect(),
        }
    }

    /// Values counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The range of bins holding values, as (low edge, high edge), if any.
    pub fn occupied(&self) -> Option<(f64, f64)> {
        let first = self.counts.iter().position(|&c| c > 0)?;
        let last = self.counts.iter().rposition(|&c| c > 0)?;
        Some((
            self.start + first as f64 * self.width,
            self.start + (last + 1) as f64 * self.width,
        ))
    }
}

/// Cosine bins: 0.01 wide over [-1, 1].
fn score_bins() -> Bins {
    Bins::new(-1.0, 0.01, 200)
}

/// Rank buckets: (label, first rank, last rank), 0-based ranks.
pub const RANK_BUCKETS: [(&str, i64, i64); 10] = [
    ("0-4", 0, 4),
    ("5-9", 5, 9),
    ("10-19", 10, 19),
    ("20-49", 20, 49),
    ("50-99", 50, 99),
    ("100-199", 100, 199),
    ("200-499", 200, 499),
    ("500-999", 500, 999),
    ("1k-10k", 1000, 9999),
    ("10k+", 10_000, i64::MAX),
];

/// Reuse buckets: (label, fewest uses, most uses).
pub const REUSE_BUCKETS: [(&str, u64, u64); 8] = [
    ("1", 1, 1),
    ("2", 2, 2),
    ("3-5", 3, 5),
    ("6-10", 6, 10),
    ("11-20", 11, 20),
    ("21-50", 21, 50),
    ("51-100", 51, 100),
    ("100+", 101, u64::MAX),
];

/// A sampled row, kept with its sampling key.
#[derive(Debug, Clone)]
pub struct Sampled {
    /// The sampling key (smallest kept).
    pub key: u64,
    /// The row's provenance.
    pub row: ReadRow,
}

/// Keeps the `k` rows with the smallest keys.
#[derive(Debug)]
struct BottomK {
    k: usize,
    kept: BTreeMap<u64, ReadRow>,
}

impl BottomK {
    fn new(k: usize) -> Self {
        BottomK {
            k,
            kept: BTreeMap::new(),
        }
    }

    fn offer(&mut self, key: u64, row: &ReadRow) {
        if self.kept.len() < self.k || self.kept.last_key_value().is_some_and(|(&last, _)| key < last) {
            self.kept.insert(key, row.clone());
            if self.kept.len() > self.k {
                self.kept.pop_last();
            }
        }
    }

    fn into_vec(self) -> Vec<Sampled> {
        self.kept.into_iter().map(|(key, row)| Sampled { key, row }).collect()
    }
}

/// What the pass gathered.
#[derive(Debug)]
pub struct Gathered {
    /// Rows read.
    pub rows: u64,
    /// Negatives read.
    pub negatives: u64,
    /// Rows with fewer negatives than the fullest row.
    pub rows_below_widest: u64,
    /// Negatives in the fullest row.
    pub widest: usize,
    /// Query–positive cosines.
    pub positive: Bins,
    /// Query–negative cosines per kind of source (`mined`, `counterfactual`).
    pub negative: BTreeMap<String, Bins>,
    /// Positive minus negative per negative, bins of 0.01 over [-2, 2].
    pub margin: Bins,
    /// Negatives scoring above their row's positive.
    pub above_positive: u64,
    /// Negatives with a score and a positive score.
    pub with_margin: u64,
    /// Mined negatives per rank bucket ([`RANK_BUCKETS`]).
    pub ranks: Vec<u64>,
    /// Passages per reuse bucket ([`REUSE_BUCKETS`]).
    pub reuse: Vec<u64>,
    /// The passages used most often as negatives, with counts.
    pub hubs: Vec<(String, u64)>,
    /// Distinct passages used as negatives.
    pub distinct_negatives: u64,
    /// Negatives that are the positive of another row in the set.
    pub collisions: u64,
    /// Counterfactual negatives per family.
    pub families: BTreeMap<String, u64>,
    /// Seeded sample of rows.
    pub examples: Vec<Sampled>,
    /// Seeded sample of rows with a counterfactual negative.
    pub counterfactual_examples: Vec<Sampled>,
}

/// A passage id's hash for the collision check (collisions are counted, not listed).
fn id_hash(id: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(id)
}

/// Hubs listed.
const HUBS: usize = 15;

/// Reads the set's provenance once; samples `examples` rows and `counterfactuals` rows with a
/// counterfactual, by a key derived from `seed` and the row's ids; `visit` sees every row too.
pub fn gather(
    files: &TrainingSetFiles,
    seed: u64,
    examples: usize,
    counterfactuals: usize,
    mut visit: impl FnMut(&ReadRow),
) -> Result<Gathered> {
    let mut g = Gathered {
        rows: 0,
        negatives: 0,
        rows_below_widest: 0,
        widest: 0,
        positive: score_bins(),
        negative: BTreeMap::new(),
        margin: Bins::new(-2.0, 0.01, 400),
        above_positive: 0,
        with_margin: 0,
        ranks: vec![0; RANK_BUCKETS.len()],
        reuse: vec![0; REUSE_BUCKETS.len()],
        hubs: Vec::new(),
        distinct_negatives: 0,
        collisions: 0,
        families: BTreeMap::new(),
        examples: Vec::new(),
        counterfactual_examples: Vec::new(),
    };
    let mut uses: HashMap<String, u64> = HashMap::new();
    // Positive ids as 64-bit hashes: a set of a million strings would dominate the pass.
    let mut positives: HashSet<u64> = HashSet::new();
    let mut widths: BTreeMap<usize, u64> = BTreeMap::new();
    let mut sample = BottomK::new(examples);
    let mut cf_sample = BottomK::new(counterfactuals);
    files.for_each_row(|row| {
        visit(&row);
        g.rows += 1;
        g.negatives += row.negatives.len() as u64;
        *widths.entry(row.negatives.len()).or_default() += 1;
        if let Some(p) = row.positive_score {
            g.positive.add(f64::from(p));
        }
        let mut has_counterfactual = false;
        for n in &row.negatives {
            if let Some(s) = n.score {
                // Families are told apart in the Counterfactuals section; here the kind is enough.
                let kind = n.source.split(':').next().unwrap_or_default();
                g.negative
                    .entry(kind.to_string())
                    .or_insert_with(score_bins)
                    .add(f64::from(s));
                if let Some(p) = row.positive_score {
                    let m = f64::from(p) - f64::from(s);
                    g.margin.add(m);
                    g.with_margin += 1;
                    g.above_positive += u64::from(m < 0.0);
                }
            }
            if let Some(r) = n.rank {
                let b = RANK_BUCKETS.iter().position(|&(_, lo, hi)| (lo..=hi).contains(&r));
                g.ranks[b.unwrap_or(0)] += 1;
            }
            if let Some(family) = n.source.strip_prefix("counterfactual:") {
                *g.families.entry(family.to_string()).or_default() += 1;
                has_counterfactual = true;
            } else if let Some(count) = uses.get_mut(&n.id) {
                *count += 1;
            } else {
                uses.insert(n.id.clone(), 1);
            }
        }
        positives.insert(id_hash(&row.positive_id));
        let key = query_seed(seed, &format!("{}\u{1f}{}", row.query_id, row.positive_id));
        sample.offer(key, &row);
        if has_counterfactual {
            cf_sample.offer(key, &row);
        }
        Ok(())
    })?;
    g.widest = widths.keys().next_back().copied().unwrap_or(0);
    g.rows_below_widest = widths.range(..g.widest).map(|(_, n)| n).sum();
    g.distinct_negatives = uses.len() as u64;
    for (id, &n) in &uses {
        let b = REUSE_BUCKETS.iter().position(|&(_, lo, hi)| (lo..=hi).contains(&n));
        g.reuse[b.unwrap_or(0)] += 1;
        if positives.contains(&id_hash(id)) {
            g.collisions += n;
        }
    }
    let mut hubs: Vec<(String, u64)> = uses.into_iter().filter(|&(_, n)| n > 1).collect();
    hubs.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| cmp_ids(&a.0, &b.0)));
    hubs.truncate(HUBS);
    g.hubs = hubs;
    g.examples = sample.into_vec();
    g.counterfactual_examples = cf_sample.into_vec();
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_clamp_and_report_their_occupied_range() {
        let mut b = Bins::new(-1.0, 0.5, 4);
        for v in [-3.0, -0.2, 0.3, 0.4, 9.0] {
            b.add(v);
        }
        assert_eq!(b.counts, vec![1, 1, 2, 1]);
        assert_eq!(b.occupied(), Some((-1.0, 1.0)));
        assert_eq!(Bins::new(0.0, 1.0, 3).occupied(), None);
        let wide = b.coarsen(3);
        assert_eq!((wide.counts, wide.width), (vec![4, 1], 1.5));
    }

    #[test]
    fn bottom_k_keeps_the_smallest_keys() {
        let row = ReadRow {
            line: 0,
            lines: 1,
            query_id: "q".into(),
            positive_id: "p".into(),
            positive_score: None,
            negatives: Vec::new(),
        };
        let mut k = BottomK::new(2);
        for key in [5, 3, 9, 1, 4] {
            k.offer(key, &row);
        }
        assert_eq!(k.into_vec().iter().map(|s| s.key).collect::<Vec<_>>(), vec![1, 3]);
    }
}
