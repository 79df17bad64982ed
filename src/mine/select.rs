//! Positive-aware negative selection with sentence-transformers' `mine_hard_negatives` semantics:
//! drop positives (and their exact duplicates), apply margins and score limits, keep the first
//! `range_max` surviving candidates, skip the first `range_min` of them, then take the top
//! `num_negatives` or a seeded random sample (re-sorted by score).

use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::profile::Fate;
use crate::error::Result;
use crate::index::Hit;

/// How negatives are taken from the candidate window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sampling {
    /// The highest-scoring candidates, in order.
    Top,
    /// A seeded uniform sample of the window, sorted by score.
    Random,
    /// SimANS (Zhou et al. 2022): a seeded sample of the window with probability
    /// ∝ exp(−a·(s_neg − s_pos − b)²), favouring negatives a little below the positive over both
    /// the very hardest and the easy ones; sorted by score.
    Simans,
}

/// SimANS's shape on cosine scores: `a` is 1/(2σ²) of the bump (a = 50: σ = 0.1 cosine), `b`
/// where it peaks relative to the positive's score (−0.1: a tenth of cosine below it). The
/// paper's values (a = 1 on unnormalised dot products of tens) do not carry over to cosines.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SimansShape {
    /// Sharpness: 1/(2σ²) in cosine units.
    pub a: f32,
    /// Peak offset from the positive's score.
    pub b: f32,
}

impl SimansShape {
    /// The sampling weight's logarithm for a negative scoring `s` against a positive's `p`.
    pub fn log_weight(self, s: f32, p: f32) -> f64 {
        let d = f64::from(s) - f64::from(p) - f64::from(self.b);
        -f64::from(self.a) * d * d
    }
}

/// The selection settings (names follow `mine_hard_negatives`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SelectParams {
    /// Negatives wanted per row.
    pub num_negatives: usize,
    /// Surviving candidates skipped from the top.
    pub range_min: usize,
    /// Surviving candidates considered (after positives and filters are removed).
    pub range_max: usize,
    /// Candidates scoring above this are skipped.
    pub max_score: Option<f32>,
    /// Candidates scoring below this are skipped.
    pub min_score: Option<f32>,
    /// Skip candidates with `score + margin > min positive score`.
    pub absolute_margin: Option<f32>,
    /// Skip candidates with `score > p - |p| * margin`, `p` the lowest positive score.
    pub relative_margin: Option<f32>,
    /// Top, random or SimANS.
    pub sampling: Sampling,
    /// SimANS's shape (used with [`Sampling::Simans`]).
    pub simans: SimansShape,
    /// Seed of the per-query random generator.
    pub seed: u64,
}

/// Why a candidate was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum SkipReason {
    /// A labelled positive of the query.
    Positive,
    /// Same text as a positive (exact duplicate in the corpus).
    DuplicateOfPositive,
    /// Same text as the query itself.
    SameAsQuery,
    /// Same text as a negative already chosen for the query.
    DuplicateNegative,
    /// Within the absolute margin of the positive.
    AbsoluteMargin,
    /// Within the relative margin of the positive.
    RelativeMargin,
    /// Above `max_score`.
    MaxScore,
    /// Below `min_score`.
    MinScore,
    /// Lexically as close to the query as a positive (false-negative filter).
    Lexical,
    /// Nearly the same content as a positive (false-negative filter).
    NearDuplicate,
    /// Already used as a negative `--max-negative-reuse` times.
    ReuseCap,
}

impl SkipReason {
    /// Whether the reason is a filter's (margins, score limits, false-negative filters, reuse
    /// cap, duplicate negatives), not a labelled positive or the query's own text.
    pub fn is_filter(self) -> bool {
        !matches!(
            self,
            SkipReason::Positive | SkipReason::DuplicateOfPositive | SkipReason::SameAsQuery
        )
    }

    /// Name used in the manifest and summary.
    pub fn name(self) -> &'static str {
        match self {
            SkipReason::Positive => "positive",
            SkipReason::DuplicateOfPositive => "duplicate_of_positive",
            SkipReason::SameAsQuery => "same_as_query",
            SkipReason::DuplicateNegative => "duplicate_negative",
            SkipReason::AbsoluteMargin => "absolute_margin",
            SkipReason::RelativeMargin => "relative_margin",
            SkipReason::MaxScore => "max_score",
            SkipReason::MinScore => "min_score",
            SkipReason::Lexical => "fn_lexical",
            SkipReason::NearDuplicate => "fn_near_duplicate",
            SkipReason::ReuseCap => "reuse_cap",
        }
    }
}

/// A chosen negative.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chosen {
    /// Corpus row.
    pub row: u32,
    /// Cosine similarity to the query.
    pub score: f32,
    /// 0-based position in the query's ranking of the corpus, positives included.
    pub rank: u32,
}

/// Outcome for one query.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// The negatives, best first.
    pub negatives: Vec<Chosen>,
    /// Skipped candidates by reason.
    pub skipped: Vec<(SkipReason, usize)>,
    /// The window after filters and range, in the order sampling prefers it (best first for
    /// top; a seeded permutation for random): `negatives` is its first `num_negatives`.
    pub preference: Vec<Chosen>,
}

impl Selection {
    /// Re-picks the negatives from the preference order, skipping rows `capped` rejects
    /// (the reuse cap); the result is sorted by score.
    pub fn repick(&mut self, n: usize, mut capped: impl FnMut(u32) -> bool) {
        let mut skipped = 0;
        let mut picked = Vec::with_capacity(n);
        for c in &self.preference {
            if picked.len() == n {
                break;
            }
            if capped(c.row) {
                skipped += 1;
            } else {
                picked.push(*c);
            }
        }
        picked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.rank.cmp(&b.rank)));
        self.negatives = picked;
        if skipped > 0 {
            self.skipped.push((SkipReason::ReuseCap, skipped));
        }
    }
}

/// Derives a per-query seed from the run seed and the query id (FNV-1a then a SplitMix64 finaliser),
/// so the sample does not depend on thread scheduling or query order.
pub fn query_seed(seed: u64, query_id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in query_id.as_bytes() {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = h ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Selects negatives from `hits` (the query's ranking, best first). `exclude` names candidates
/// that may never be negatives (positives, their duplicates, the query's own text); `suspect`
/// runs the false-negative filters after the score limits, only on the candidates selection
/// reaches (its error ends the selection); `canonical` maps a row to the first row with the same
/// text, so duplicate texts are used once.
pub fn select(
    hits: &[Hit],
    exclude: impl Fn(u32) -> Option<SkipReason>,
    suspect: impl FnMut(&Hit) -> Result<Option<SkipReason>>,
    canonical: impl Fn(u32) -> u32,
    min_positive_score: Option<f32>,
    params: &SelectParams,
    query_id: &str,
) -> Result<Selection> {
    select_traced(hits, exclude, suspect, canonical, min_positive_score, params, query_id).map(|(s, _)| s)
}

/// [`select`], also returning the fate of each candidate it examined (index = rank; the
/// candidates past the last one examined were not reached). The chosen ones are marked
/// [`Fate::Chosen`], the rest of the window [`Fate::Window`].
pub fn select_traced(
    hits: &[Hit],
    exclude: impl Fn(u32) -> Option<SkipReason>,
    mut suspect: impl FnMut(&Hit) -> Result<Option<SkipReason>>,
    canonical: impl Fn(u32) -> u32,
    min_positive_score: Option<f32>,
    params: &SelectParams,
    query_id: &str,
) -> Result<(Selection, Vec<Fate>)> {
    let mut counts = std::collections::BTreeMap::<SkipReason, usize>::new();
    let mut fates: Vec<Fate> = Vec::new();
    let mut skip = |r: SkipReason, fates: &mut Vec<Fate>| {
        *counts.entry(r).or_default() += 1;
        fates.push(Fate::Skipped(r));
    };
    let mut used = std::collections::HashSet::new();
    let mut valid: Vec<Chosen> = Vec::new();
    for (rank, hit) in hits.iter().enumerate() {
        if let Some(reason) = exclude(hit.row) {
            skip(reason, &mut fates);
            continue;
        }
        let s = hit.score;
        if let (Some(m), Some(p)) = (params.absolute_margin, min_positive_score)
            && s + m > p
        {
            skip(SkipReason::AbsoluteMargin, &mut fates);
            continue;
        }
        if let (Some(m), Some(p)) = (params.relative_margin, min_positive_score)
            && s > p - p.abs() * m
        {
            skip(SkipReason::RelativeMargin, &mut fates);
            continue;
        }
        if params.max_score.is_some_and(|m| s > m) {
            skip(SkipReason::MaxScore, &mut fates);
            continue;
        }
        if params.min_score.is_some_and(|m| s < m) {
            skip(SkipReason::MinScore, &mut fates);
            continue;
        }
        if let Some(reason) = suspect(hit)? {
            skip(reason, &mut fates);
            continue;
        }
        if !used.insert(canonical(hit.row)) {
            skip(SkipReason::DuplicateNegative, &mut fates);
            continue;
        }
        valid.push(Chosen {
            row: hit.row,
            score: s,
            rank: rank as u32,
        });
        fates.push(if valid.len() > params.range_min {
            Fate::Window
        } else {
            Fate::RangeMin
        });
        if valid.len() >= params.range_max {
            break;
        }
    }
    let window: Vec<Chosen> = valid.into_iter().skip(params.range_min).collect();
    let preference = match (params.sampling, min_positive_score) {
        (Sampling::Top, _) => window,
        (Sampling::Simans, Some(p)) => {
            // Weighted sampling without replacement as Gumbel-top-k: sorting by
            // log w + Gumbel noise draws the window in SimANS's order.
            let mut rng = ChaCha8Rng::seed_from_u64(query_seed(params.seed, query_id));
            let mut keyed: Vec<(f64, Chosen)> = window
                .into_iter()
                .map(|c| {
                    let u: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
                    (params.simans.log_weight(c.score, p) - (-u.ln()).ln(), c)
                })
                .collect();
            keyed.sort_by(|a, b| b.0.total_cmp(&a.0));
            keyed.into_iter().map(|(_, c)| c).collect()
        }
        // Without a positive's score (none given) SimANS has no centre: uniform, as random.
        (Sampling::Random | Sampling::Simans, _) => {
            let mut rng = ChaCha8Rng::seed_from_u64(query_seed(params.seed, query_id));
            sample(&mut rng, window.len(), window.len())
                .into_iter()
                .map(|i| window[i])
                .collect()
        }
    };
    let mut selection = Selection {
        negatives: Vec::new(),
        skipped: counts.into_iter().collect(),
        preference,
    };
    selection.repick(params.num_negatives, |_| false);
    for c in &selection.negatives {
        fates[c.rank as usize] = Fate::Chosen;
    }
    Ok((selection, fates))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(scores: &[f32]) -> Vec<Hit> {
        scores
            .iter()
            .enumerate()
            .map(|(i, &s)| Hit {
                row: i as u32,
                score: s,
            })
            .collect()
    }

    fn params(n: usize) -> SelectParams {
        SelectParams {
            num_negatives: n,
            range_min: 0,
            range_max: usize::MAX,
            max_score: None,
            min_score: None,
            absolute_margin: None,
            relative_margin: None,
            sampling: Sampling::Top,
            simans: SimansShape { a: 50.0, b: -0.1 },
            seed: 0,
        }
    }

    fn rows(sel: &Selection) -> Vec<u32> {
        sel.negatives.iter().map(|c| c.row).collect()
    }

    #[test]
    fn top_skips_positives_and_keeps_ranks_including_them() {
        let h = hits(&[0.9, 0.8, 0.7, 0.6, 0.5]);
        let sel = select(
            &h,
            |r| (r == 1).then_some(SkipReason::Positive),
            |_| Ok(None),
            |r| r,
            Some(0.8),
            &params(2),
            "q",
        )
        .unwrap();
        assert_eq!(rows(&sel), vec![0, 2]);
        assert_eq!(sel.negatives[1].rank, 2);
        assert_eq!(sel.skipped, vec![(SkipReason::Positive, 1)]);
    }

    #[test]
    fn relative_margin_is_correct_for_negative_positive_scores() {
        // p = -0.2: threshold is -0.2 - 0.2*0.5 = -0.3, not -0.1 as p*(1-m) would give.
        let h = hits(&[-0.15, -0.25, -0.35, -0.45]);
        let mut p = params(2);
        p.relative_margin = Some(0.5);
        let sel = select(&h, |_| None, |_| Ok(None), |r| r, Some(-0.2), &p, "q").unwrap();
        assert_eq!(rows(&sel), vec![2, 3]);
        assert_eq!(sel.skipped, vec![(SkipReason::RelativeMargin, 2)]);
    }

    #[test]
    fn absolute_margin_max_and_min_score() {
        let h = hits(&[0.95, 0.85, 0.75, 0.65, 0.2]);
        let mut p = params(5);
        p.absolute_margin = Some(0.1); // positive 0.9: skip score > 0.8
        p.min_score = Some(0.3);
        let sel = select(&h, |_| None, |_| Ok(None), |r| r, Some(0.9), &p, "q").unwrap();
        assert_eq!(rows(&sel), vec![2, 3]);
        let mut p = params(5);
        p.max_score = Some(0.8);
        assert_eq!(
            rows(&select(&h, |_| None, |_| Ok(None), |r| r, Some(0.9), &p, "q").unwrap()),
            vec![2, 3, 4]
        );
    }

    #[test]
    fn range_min_and_max_count_surviving_candidates() {
        let h = hits(&[0.9, 0.8, 0.7, 0.6, 0.5, 0.4]);
        let mut p = params(10);
        p.range_min = 1;
        p.range_max = 4;
        let sel = select(
            &h,
            |r| (r == 0).then_some(SkipReason::Positive),
            |_| Ok(None),
            |r| r,
            None,
            &p,
            "q",
        )
        .unwrap();
        // Survivors 1,2,3,4,5 -> first 4 = 1..=4 -> skip 1 -> 2,3,4
        assert_eq!(rows(&sel), vec![2, 3, 4]);
        assert_eq!(sel.preference.len(), 3);
    }

    #[test]
    fn duplicate_texts_are_used_once() {
        let h = hits(&[0.9, 0.8, 0.7]);
        let sel = select(
            &h,
            |_| None,
            |_| Ok(None),
            |r| if r == 1 { 0 } else { r },
            None,
            &params(3),
            "q",
        )
        .unwrap();
        assert_eq!(rows(&sel), vec![0, 2]);
        assert_eq!(sel.skipped, vec![(SkipReason::DuplicateNegative, 1)]);
    }

    #[test]
    fn random_sampling_is_seeded_sorted_and_varies_with_seed() {
        let h = hits(&(0..50).map(|i| 1.0 - i as f32 / 100.0).collect::<Vec<_>>());
        let mut p = params(5);
        p.sampling = Sampling::Random;
        p.seed = 7;
        let a = select(&h, |_| None, |_| Ok(None), |r| r, None, &p, "q1").unwrap();
        let b = select(&h, |_| None, |_| Ok(None), |r| r, None, &p, "q1").unwrap();
        assert_eq!(rows(&a), rows(&b));
        assert!(a.negatives.windows(2).all(|w| w[0].score >= w[1].score));
        p.seed = 8;
        let c = select(&h, |_| None, |_| Ok(None), |r| r, None, &p, "q1").unwrap();
        assert_ne!(rows(&a), rows(&c));
        p.seed = 7;
        assert_ne!(
            rows(&a),
            rows(&select(&h, |_| None, |_| Ok(None), |r| r, None, &p, "q2").unwrap())
        );
    }

    #[test]
    fn simans_is_seeded_never_picks_a_skipped_candidate_and_follows_its_distribution() {
        // Scores 0.90 … 0.11 below a positive at 0.9; rows 0 and 1 are positive or filtered.
        let h = hits(&(0..80).map(|i| 0.9 - i as f32 / 100.0).collect::<Vec<_>>());
        let mut p = params(1);
        p.sampling = Sampling::Simans;
        let exclude = |r: u32| (r == 0).then_some(SkipReason::Positive);
        let suspect = |h: &Hit| Ok((h.row == 1).then_some(SkipReason::Lexical));
        let pick = |p: &SelectParams, q: &str| select(&h, exclude, suspect, |r| r, Some(0.9), p, q).unwrap();
        assert_eq!(rows(&pick(&p, "q7")), rows(&pick(&p, "q7")), "same seed, same pick");
        // Where each query's single pick lands, over 20,000 seeded queries.
        let mut counts = vec![0usize; h.len()];
        for q in 0..20_000 {
            let sel = pick(&p, &format!("q{q}"));
            counts[sel.negatives[0].row as usize] += 1;
        }
        assert_eq!(counts[0] + counts[1], 0, "never a positive or a filtered candidate");
        // Expected shares: weights over the window (rows 2..80).
        let weights: Vec<f64> = (2..80).map(|r| p.simans.log_weight(h[r].score, 0.9).exp()).collect();
        let total: f64 = weights.iter().sum();
        let mut chi2 = 0.0;
        for (r, w) in (2..80).zip(&weights) {
            let expected = 20_000.0 * w / total;
            if expected >= 5.0 {
                chi2 += (counts[r] as f64 - expected).powi(2) / expected;
            }
        }
        // About 40 cells with expected counts of 5 or more: chi² well under 80 unless the shape is off.
        assert!(chi2 < 80.0, "chi2 {chi2}");
        // The mode sits near s_pos + b = 0.8 (row 10), not at the hardest candidate.
        let mode = (0..h.len()).max_by_key(|&r| counts[r]).unwrap();
        assert!((8..=12).contains(&mode), "mode at row {mode}");
        // Weights: hardest (0.88) e^-0.32, peak 1, an easy one (0.50) e^-4.5.
        assert!(counts[2] < counts[10], "the hardest is drawn less than the peak");
        assert!(counts[40] * 20 < counts[10], "easy candidates are rare");
    }

    #[test]
    fn suspects_are_skipped_and_repick_honours_a_cap() {
        let h = hits(&[0.9, 0.8, 0.7, 0.6]);
        let mut sel = select(
            &h,
            |_| None,
            |h| Ok((h.row == 0).then_some(SkipReason::Lexical)),
            |r| r,
            None,
            &params(2),
            "q",
        )
        .unwrap();
        assert_eq!(rows(&sel), vec![1, 2]);
        assert_eq!(sel.skipped, vec![(SkipReason::Lexical, 1)]);
        sel.repick(2, |r| r == 1);
        assert_eq!(rows(&sel), vec![2, 3]);
        assert!(sel.skipped.contains(&(SkipReason::ReuseCap, 1)));
    }

    #[test]
    fn traced_fates_name_every_examined_candidate() {
        let h = hits(&[0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4]);
        let mut p = params(1);
        p.range_min = 1;
        p.range_max = 3;
        p.max_score = Some(0.92);
        let (sel, fates) = select_traced(
            &h,
            |r| (r == 1).then_some(SkipReason::Positive),
            |h| Ok((h.row == 3).then_some(SkipReason::Lexical)),
            |r| r,
            None,
            &p,
            "q",
        )
        .unwrap();
        assert_eq!(rows(&sel), vec![4]);
        assert_eq!(
            fates,
            [
                Fate::Skipped(SkipReason::MaxScore),
                Fate::Skipped(SkipReason::Positive),
                Fate::RangeMin,
                Fate::Skipped(SkipReason::Lexical),
                Fate::Chosen,
                Fate::Window,
            ]
        );
    }

    #[test]
    fn short_window_gives_fewer_negatives_never_padding() {
        let h = hits(&[0.9, 0.8]);
        let sel = select(
            &h,
            |r| (r == 0).then_some(SkipReason::Positive),
            |_| Ok(None),
            |r| r,
            None,
            &params(5),
            "q",
        )
        .unwrap();
        assert_eq!(rows(&sel), vec![1]);
    }
}
