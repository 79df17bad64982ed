//! Counterfactual negatives for mining rows: checked edits of each row's positive (in the
//! sentences that answer the query), embedded and scored against the query, added after the
//! mined negatives.

use std::collections::HashMap;

use serde::Serialize;

use super::EmbeddingModel;
use super::data::{Corpus, Query};
use crate::error::{Error, Result};
use crate::index::{NeighborIndex, dot};
use crate::language::RunLanguage;
use crate::output::{Negative, TrainingRow};
use crate::perturb::{BatchReport, FamilyName, Item, Perturber, perturb_all};
use crate::settings::MineSettings;

/// What the counterfactual stage did, for the manifest.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct CounterfactualCounts {
    /// Edits proposed, rejected and chosen (see [`BatchReport`]).
    pub edits: BatchReport,
    /// Chosen edits dropped because their cosine to the positive fell below the floor.
    pub below_min_similarity: usize,
    /// Counterfactual negatives written into rows.
    pub added: usize,
    /// Rows that got at least one.
    pub rows_with_counterfactuals: usize,
    /// Distinct bigrams the fluency check knew.
    pub known_bigrams: usize,
}

impl CounterfactualCounts {
    /// Adds `counts` to `total`, which starts empty.
    pub fn merge(total: &mut Option<CounterfactualCounts>, counts: CounterfactualCounts) {
        match total {
            Some(t) => t.absorb(counts),
            None => *total = Some(counts),
        }
    }

    /// Adds another chunk's counts.
    pub fn absorb(&mut self, other: CounterfactualCounts) {
        self.edits.absorb(other.edits);
        self.below_min_similarity += other.below_min_similarity;
        self.added += other.added;
        self.rows_with_counterfactuals += other.rows_with_counterfactuals;
        self.known_bigrams = self.known_bigrams.max(other.known_bigrams);
    }
}

/// A perturber of the chosen families that has learned no corpus yet (its fluency table holds
/// the shipped background bigrams).
/// Families the language has no rules for (left out of `all`) are returned beside it.
pub fn families_perturber(s: &MineSettings, language: &RunLanguage) -> Result<(Perturber, Vec<FamilyName>)> {
    let (families, left_out) = FamilyName::for_language(&s.counterfactual_families, language)?;
    Ok((Perturber::new(&families, s.seed).for_language(language), left_out))
}

/// The perturber of a run: the chosen families, with the corpus's bigrams learned in one pass over
/// the corpus store (the fluency check).
pub fn perturber(corpus: &Corpus, s: &MineSettings, language: &RunLanguage) -> Result<(Perturber, Vec<FamilyName>)> {
    let (mut perturber, left_out) = families_perturber(s, language)?;
    for entry in corpus.iter() {
        perturber.learn(&entry?.2);
    }
    Ok((perturber, left_out))
}

/// Up to `--counterfactuals` edits of the positive for every row of one chunk of queries
/// (`queries` with their vectors, row-major), as negatives in row order. Edits are balanced
/// within the chunk.
pub fn propose(
    rows: &[TrainingRow],
    perturber: &Perturber,
    (queries, query_vectors): (&[Query], &[f32]),
    corpus: &Corpus,
    index: &dyn NeighborIndex,
    model: &mut EmbeddingModel,
    s: &MineSettings,
) -> Result<(Vec<Vec<Negative>>, CounterfactualCounts)> {
    let keys: Vec<String> = rows
        .iter()
        .map(|r| format!("{}\u{1f}{}", r.query_id, r.positive_id))
        .collect();
    let items: Vec<Item> = rows
        .iter()
        .zip(&keys)
        .map(|(r, key)| Item {
            key,
            text: &r.positive,
            query: Some(&r.query),
        })
        .collect();
    let (chosen, report) = perturb_all(perturber, &items, s.counterfactuals, s.seed);

    // Embed each distinct edited text once.
    let mut slot: HashMap<&str, usize> = HashMap::new();
    let mut texts: Vec<String> = Vec::new();
    for c in chosen.iter().flatten() {
        slot.entry(c.proposal.text.as_str()).or_insert_with(|| {
            texts.push(c.proposal.text.clone());
            texts.len() - 1
        });
    }
    let dim = model.embedder.dim();
    let mut vectors = Vec::with_capacity(texts.len() * dim);
    if !texts.is_empty() {
        model.embed(&texts, &s.corpus_prompt, false, |v| {
            vectors.extend_from_slice(&v);
            Ok(())
        })?;
    }
    let query_slot: HashMap<&str, usize> = queries.iter().enumerate().map(|(i, q)| (q.id.as_str(), i)).collect();
    let mut additions: Vec<Vec<Negative>> = Vec::with_capacity(rows.len());
    let mut below = 0;
    for (row, list) in rows.iter().zip(&chosen) {
        let mut added = Vec::new();
        if !list.is_empty() {
            let q = query_slot[row.query_id.as_str()];
            let query = &query_vectors[q * dim..(q + 1) * dim];
            let positive_row = corpus
                .row(&row.positive_id)
                .ok_or_else(|| Error::Index(format!("positive `{}` is not in the corpus", row.positive_id)))?;
            let positive = index.vector(corpus.canonical[positive_row as usize])?;
            for c in list {
                let k = slot[c.proposal.text.as_str()];
                let edited = &vectors[k * dim..(k + 1) * dim];
                if dot(&positive, edited) < s.counterfactual_min_similarity {
                    below += 1;
                    continue;
                }
                added.push(Negative {
                    id: c.id(&row.positive_id),
                    text: c.proposal.text.clone(),
                    score: dot(query, edited),
                    rank: None,
                    source: format!("counterfactual:{}", c.proposal.family.name()),
                    edit: Some(c.proposal.edit.clone()),
                });
            }
        }
        additions.push(added);
    }
    let counts = CounterfactualCounts {
        edits: report,
        below_min_similarity: below,
        added: additions.iter().map(Vec::len).sum(),
        rows_with_counterfactuals: additions.iter().filter(|a| !a.is_empty()).count(),
        known_bigrams: perturber.known_bigrams(),
    };
    Ok((additions, counts))
}
