//! Curated adjective antonyms (`data/antonyms.tsv`, derived once from WordNet 3.0 by
//! `scripts/derive_antonyms.py`), used only where the word is an adjective: after a copula (`is
//! stable`, `is very stable`) or before a noun-like word (`stable flow`). Capitalised words inside
//! a sentence (names), hyphenated compounds and `not`/`non` before the word are left alone.

use std::collections::HashMap;

use rand_chacha::ChaCha8Rng;

use super::comparative::parse_pairs;
use super::text::{Sentence, TokenKind, is_ly_adverb, is_negation, is_stopword, match_case};
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
    partner: HashMap<String, String>,
}

impl Antonyms {
    /// Loads the shipped table.
    pub fn new() -> Self {
        Antonyms {
            partner: parse_pairs(TABLE),
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
        let word = |i: isize| -> &str {
            if i < 0 {
                return "";
            }
            s.tokens.get(i as usize).map_or("", |t| t.lower.as_str())
        };
        for (i, t) in s.tokens.iter().enumerate() {
            let Some(partner) = self.partner.get(&t.lower) else {
                continue;
            };
            let original = &text[t.start..t.end];
            let (prev, next) = (word(i as isize - 1), word(i as isize + 1));
            let capitalised_inside = i > 0 && original.starts_with(char::is_uppercase);
            let partner_present = s.tokens.iter().any(|o| &o.lower == partner);
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
                    && !self.partner.contains_key(&n.lower)
                    && !COPULAS.contains(&n.lower.as_str())
            });
            if !(predicative || attributive) {
                continue;
            }
            out.push(Candidate {
                start: t.start,
                end: t.end,
                replacement: match_case(original, partner),
                direction: format!("{}>{}", t.lower, partner),
            });
        }
    }

    fn vocabulary(&self) -> Vec<String> {
        self.partner.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perturb::text::sentences;
    use rand::SeedableRng;

    fn edits(text: &str) -> Vec<String> {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let family = Antonyms::new();
        let mut out = Vec::new();
        for s in sentences(text) {
            let mut c = Vec::new();
            family.candidates(text, &s, &mut rng, &mut c);
            out.extend(
                c.into_iter()
                    .map(|c| format!("{}{}{}", &text[..c.start], c.replacement, &text[c.end..])),
            );
        }
        out
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
        assert!(family.partner.len() >= 2 * 300);
        for noise in ["on", "off", "found", "lost", "leading", "following", "made", "out"] {
            assert!(!family.partner.contains_key(noise), "{noise}");
        }
    }
}
