//! Curated adjective antonyms (`data/antonyms.tsv`, derived once from WordNet 3.0 by
//! `scripts/derive_antonyms.py`), used only where the word is an adjective: after a copula (`is
//! stable`, `is very stable`) or before a noun-like word (`stable flow`). Capitalised words inside
//! a sentence (names), hyphenated compounds and `not`/`non` before the word are left alone.

use rand_chacha::ChaCha8Rng;

use super::comparative::PairTable;
use super::text::{Sentence, TokenKind, is_ly_adverb, is_negation, is_stopword};
use super::{Candidate, Family, FamilyName};

/// The curated pairs, shipped with the binary (WordNet 3.0 licence in data/WORDNET-LICENSE).
const TABLE: &str = include_str!("../../data/antonyms.tsv");

const COPULAS: &[&str] = &[
    "is", "are", "was", "were", "be", "been", "being", "become", "becomes", "became", "remain", "remains", "remained",
    "seem", "seems", "seemed", "appear", "appears", "appeared", "proved", "proves",
];
const INTENSIFIERS: &[&str] = &[
    "very",
    "quite",
    "rather",
    "too",
    "so",
    "highly",
    "extremely",
    "relatively",
    "fairly",
    "more",
    "most",
    "less",
    "least",
    "equally",
    "particularly",
    "sufficiently",
    "generally",
    "largely",
];

/// The antonym family.
pub struct Antonyms {
    pairs: PairTable,
}

impl Antonyms {
    /// Loads the shipped table.
    pub fn new() -> Self {
        Antonyms {
            pairs: PairTable::parse(TABLE),
        }
    }
}

impl Default for Antonyms {
    fn default() -> Self {
        Self::new()
    }
}

impl Family for Antonyms {
    fn name(&self) -> FamilyName {
        FamilyName::Antonym
    }

    fn candidates(&self, text: &str, s: &Sentence, _rng: &mut ChaCha8Rng, out: &mut Vec<Candidate>) {
        let word = |i: isize| s.word(i);
        for (i, t) in s.tokens.iter().enumerate() {
            let Some(partner) = self.pairs.partner(&t.lower) else {
                continue;
            };
            let original = &text[t.start..t.end];
            let (prev, next) = (word(i as isize - 1), word(i as isize + 1));
            let capitalised_inside = i > 0 && original.starts_with(char::is_uppercase);
            let partner_present = s.tokens.iter().any(|o| o.lower == partner);
            if capitalised_inside || partner_present || prev == "-" || next == "-" || is_negation(prev) || prev == "non"
            {
                continue;
            }
            let predicative =
                COPULAS.contains(&prev) || (INTENSIFIERS.contains(&prev) && COPULAS.contains(&word(i as isize - 2)));
            let attributive = s.tokens.get(i + 1).is_some_and(|n| {
                n.kind == TokenKind::Word
                    && !is_stopword(&n.lower)
                    && !is_negation(&n.lower)
                    && !is_ly_adverb(&n.lower)
                    && self.pairs.partner(&n.lower).is_none()
                    && !COPULAS.contains(&n.lower.as_str())
            });
            if !(predicative || attributive) {
                continue;
            }
            out.push(PairTable::swap(text, t, partner));
        }
    }

    fn vocabulary(&self) -> Vec<String> {
        self.pairs.words()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edits(text: &str) -> Vec<String> {
        crate::perturb::candidate_texts(&Antonyms::new(), text)
    }

    #[test]
    fn adjectives_after_copulas_and_before_nouns() {
        assert_eq!(edits("The flow is very stable."), ["The flow is very unstable."]);
        assert_eq!(edits("A large colony survives."), ["A small colony survives."]);
    }

    #[test]
    fn names_compounds_and_negated_words_are_left_alone() {
        for text in [
            "The Public Library opened.",
            "A large-scale study.",
            "It is not stable.",
            "Small, they said.",
            "Both primary and secondary sources.",
        ] {
            assert_eq!(edits(text), Vec::<String>::new(), "{text}");
        }
    }

    #[test]
    fn the_table_has_curated_pairs_and_no_raw_noise() {
        let family = Antonyms::new();
        assert!(family.pairs.len() >= 2 * 300);
        for noise in ["on", "off", "found", "lost", "leading", "following", "made", "out"] {
            assert!(family.pairs.partner(noise).is_none(), "{noise}");
        }
    }
}
