//! Score profiles: for a seeded sample of queries, the candidate list as selection saw it (score
//! against rank, and each candidate's fate). Mining writes them to a small sidecar,
//! `<out>.profiles.json`, so that `hardneg report` stays a function of files; its size is bounded
//! by [`STORED_QUERIES`] × [`PROFILE_DEPTH`] whatever the corpus.
//!
//! The sample is the [`STORED_QUERIES`] queries with the smallest key (a hash of the run seed and
//! the query id), so it is the same whatever the thread count, chunking or sharding. Queries
//! whose key falls under a threshold set for about four times that many are traced while mining;
//! the smallest keys among them are kept (a run that traced fewer keeps them all).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::select::{SkipReason, query_seed};
use crate::error::{Error, Result};
use crate::index::Hit;

/// Queries a sidecar holds (the report shows a seeded subset, 12 by default).
pub const STORED_QUERIES: usize = 48;

/// Candidates recorded per query, from the top of its ranking.
pub const PROFILE_DEPTH: usize = 200;

/// Mixed into the run seed so the profile sample is not the random-sampling stream.
const SAMPLE_SALT: u64 = 0x7072_6f66_696c_6573;

/// What became of one candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// Written as a negative.
    Chosen,
    /// In the sampling window, not taken (top took better ones, or random did not draw it).
    Window,
    /// A surviving candidate above the window (`--range-min`).
    RangeMin,
    /// Skipped by a filter.
    Skipped(SkipReason),
    /// Below the window: selection stopped before reaching it.
    Beyond,
}

impl Fate {
    /// A short label for legends and tables.
    pub fn label(self) -> String {
        match self {
            Fate::Chosen => "chosen".into(),
            Fate::Window => "window, not taken".into(),
            Fate::RangeMin => "above the window (range-min)".into(),
            Fate::Skipped(r) => format!("skipped: {}", r.name()),
            Fate::Beyond => "beyond the window".into(),
        }
    }
}

/// One candidate of a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileCandidate {
    /// 0-based rank in the query's ranking (positives included).
    pub rank: u32,
    /// Cosine to the query.
    pub score: f32,
    /// What selection did with it.
    pub fate: Fate,
}

/// One query's candidate list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryProfile {
    /// The sampling key (smaller keys are kept first).
    pub key: u64,
    /// Query id.
    pub query_id: String,
    /// Cosine of the query with each of its positives.
    pub positive_scores: Vec<f32>,
    /// Candidates searched in the end.
    pub depth: usize,
    /// The top [`PROFILE_DEPTH`] candidates of the ranking.
    pub candidates: Vec<ProfileCandidate>,
}

impl QueryProfile {
    /// The profile of `hits` (the final ranking) given the fates selection recorded for its
    /// first `fates.len()` candidates; deeper ones were not reached.
    pub fn new(key: u64, query_id: &str, positive_scores: &[f32], depth: usize, hits: &[Hit], fates: &[Fate]) -> Self {
        let candidates = hits
            .iter()
            .take(PROFILE_DEPTH)
            .enumerate()
            .map(|(rank, hit)| ProfileCandidate {
                rank: rank as u32,
                score: hit.score,
                fate: fates.get(rank).copied().unwrap_or(Fate::Beyond),
            })
            .collect();
        QueryProfile {
            key,
            query_id: query_id.to_string(),
            positive_scores: positive_scores.to_vec(),
            depth,
            candidates,
        }
    }

    /// Marks the window candidates whose ranks were finally written as chosen (after the
    /// reuse cap), the rest of the window as not taken.
    pub fn mark_chosen(&mut self, chosen_ranks: &[u32]) {
        for c in &mut self.candidates {
            if matches!(c.fate, Fate::Chosen | Fate::Window) {
                c.fate = if chosen_ranks.contains(&c.rank) {
                    Fate::Chosen
                } else {
                    Fate::Window
                };
            }
        }
    }
}

/// Decides which queries are traced while mining.
#[derive(Debug, Clone, Copy)]
pub struct ProfileSampler {
    seed: u64,
    threshold: u64,
}

impl ProfileSampler {
    /// A sampler over `queries` queries with the run's seed.
    pub fn new(seed: u64, queries: usize) -> Self {
        let wanted = (4 * STORED_QUERIES) as u64;
        let threshold = if queries as u64 <= wanted {
            u64::MAX
        } else {
            u64::MAX / queries as u64 * wanted
        };
        ProfileSampler {
            seed: seed ^ SAMPLE_SALT,
            threshold,
        }
    }

    /// The query's key when it is traced.
    pub fn key(&self, query_id: &str) -> Option<u64> {
        let key = query_seed(self.seed, query_id);
        (key <= self.threshold).then_some(key)
    }
}

/// The profiles kept so far: the [`STORED_QUERIES`] smallest keys.
#[derive(Debug, Default)]
pub struct ProfileSet {
    kept: BTreeMap<(u64, String), QueryProfile>,
}

impl ProfileSet {
    /// Offers a profile; the largest key goes when there are too many.
    pub fn offer(&mut self, profile: QueryProfile) {
        self.kept.insert((profile.key, profile.query_id.clone()), profile);
        if self.kept.len() > STORED_QUERIES {
            self.kept.pop_last();
        }
    }

    /// The sidecar's content.
    pub fn into_sidecar(self, queries: usize) -> ProfileSidecar {
        ProfileSidecar {
            queries,
            depth: PROFILE_DEPTH,
            profiles: self.kept.into_values().collect(),
        }
    }
}

/// The sidecar `<out>.profiles.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileSidecar {
    /// Queries the run mined.
    pub queries: usize,
    /// Candidates recorded per query at most.
    pub depth: usize,
    /// The profiles, smallest key first.
    pub profiles: Vec<QueryProfile>,
}

impl ProfileSidecar {
    /// Writes the sidecar beside the training set `out` (atomically).
    pub fn write(&self, out: &Path) -> Result<()> {
        let json =
            serde_json::to_vec(self).map_err(|e| Error::Config(format!("the score profiles do not serialize: {e}")))?;
        crate::output::write_atomic(&sidecar_path(out), &json)
    }

    /// Reads the sidecar at `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::input(path, format!("not a score profile sidecar: {e}")))
    }
}

/// `<out>.profiles.json`; for a folder `DIR/`, `DIR.profiles.json` beside it.
pub fn sidecar_path(out: &Path) -> PathBuf {
    let mut s = out.components().as_path().as_os_str().to_owned();
    s.push(".profiles.json");
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(key: u64, id: &str) -> QueryProfile {
        QueryProfile::new(key, id, &[0.9], 3, &[], &[])
    }

    #[test]
    fn keeps_the_smallest_keys_whatever_the_order() {
        let mut a = ProfileSet::default();
        let mut b = ProfileSet::default();
        let keys: Vec<u64> = (0..200u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect();
        keys.iter().for_each(|&k| a.offer(profile(k, &k.to_string())));
        keys.iter().rev().for_each(|&k| b.offer(profile(k, &k.to_string())));
        let (a, b) = (a.into_sidecar(200), b.into_sidecar(200));
        assert_eq!(a, b);
        assert_eq!(a.profiles.len(), STORED_QUERIES);
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(a.profiles.last().unwrap().key, sorted[STORED_QUERIES - 1]);
    }

    #[test]
    fn sampler_traces_every_query_of_a_small_run_and_about_four_times_the_kept_share_of_a_large_one() {
        let small = ProfileSampler::new(1, 50);
        assert!((0..50).all(|i| small.key(&i.to_string()).is_some()));
        let n = 100_000;
        let large = ProfileSampler::new(1, n);
        let traced = (0..n).filter(|i| large.key(&i.to_string()).is_some()).count();
        assert!((120..=270).contains(&traced), "traced {traced}");
    }

    #[test]
    fn fates_past_the_recorded_ones_are_beyond_and_chosen_follows_the_final_ranks() {
        let hits: Vec<Hit> = (0..4)
            .map(|i| Hit {
                row: i,
                score: 1.0 - i as f32 / 10.0,
            })
            .collect();
        let fates = [Fate::Skipped(SkipReason::Positive), Fate::Window, Fate::Window];
        let mut p = QueryProfile::new(7, "q", &[1.0], 4, &hits, &fates);
        p.mark_chosen(&[2]);
        let got: Vec<Fate> = p.candidates.iter().map(|c| c.fate).collect();
        assert_eq!(
            got,
            [
                Fate::Skipped(SkipReason::Positive),
                Fate::Window,
                Fate::Chosen,
                Fate::Beyond
            ]
        );
    }
}
