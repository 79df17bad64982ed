//! Comparatives and directions swapped from a curated table of pairs with their inflections
//! (`data/comparatives.tsv`): increases/decreases, higher/lower, above/below, more/less. Fixed
//! phrases (`more or less`, `higher education`, `see below`, `gives rise to`) are left alone.

use std::collections::HashMap;

use rand_chacha::ChaCha8Rng;

use super::text::{Sentence, TokenKind, match_case};
use super::{Candidate, Family, FamilyName};

/// The curated pairs, shipped with the binary.
const TABLE: &str = include_str!("../../data/comparatives.tsv");

/// Verbs after which `above`/`below` point at the document, not at a quantity.
const REFERENCE_VERBS: &[&str] = &[
    "see",
    "shown",
    "described",
    "mentioned",
    "discussed",
    "given",
    "listed",
    "outlined",
    "noted",
    "defined",
    "presented",
    "as",
    "detailed",
    "explained",
    "stated",
    "summarized",
    "summarised",
    "illustrated",
    "cited",
    "quoted",
];

/// The comparative family.
pub struct Comparatives {
    partner: HashMap<String, String>,
}

impl Comparatives {
    /// Loads the shipped table.
    pub fn new() -> Self {
        Comparatives {
            partner: parse_pairs(TABLE),
        }
    }
}

impl Default for Comparatives {
    fn default() -> Self {
        Self::new()
    }
}

/// Both directions of every tab-separated pair (`#` lines are comments).
pub fn parse_pairs(table: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in table.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        if let Some((a, b)) = line.split_once('\t') {
            out.insert(a.trim().to_string(), b.trim().to_string());
            out.insert(b.trim().to_string(), a.trim().to_string());
        }
    }
    out
}

fn fixed_phrase(prev: &str, word: &str, next: &str) -> bool {
    matches!(
        (prev, word, next),
        (_, "more" | "less", "or" | "and")
            | ("or" | "and", "more" | "less", _)
            | ("the", "more" | "less", _)
            | (_, "higher" | "lower", "education" | "case")
            | ("at", "best" | "worst" | "least" | "most", _)
            | (_, "best", "known")
            | (_, "above" | "after", "all")
            | (_, "before", "and")
            | ("give" | "gives" | "gave" | "given" | "giving", "rise", _)
            | (
                _,
                "rise" | "rises" | "rose" | "fall" | "falls" | "fell" | "fallen",
                "into" | "within" | "under" | "short" | "apart" | "in"
            )
            | ("the", "fall", "of" | "" | "." | "," | ";" | ")")
            | ("the", "positive" | "negative", "" | "." | "," | ";" | ")")
            | ("long", "before" | "after", _)
            | ("no", "more" | "less", _)
            | (_, "fail" | "fails" | "failed", "to")
    ) && !(prev == "no" && next == "than")
}

impl Family for Comparatives {
    fn name(&self) -> FamilyName {
        FamilyName::Comparative
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
            let (prev, next) = (word(i as isize - 1), word(i as isize + 1));
            // A pair in one sentence ("success and failure") would be written twice.
            let partner_present = s.tokens.iter().any(|o| &o.lower == partner);
            let capitalised_inside = i > 0 && text[t.start..t.end].starts_with(char::is_uppercase);
            let over_and_above = t.lower == "above" && prev == "and" && word(i as isize - 2) == "over";
            // "more than one" has no reverse: "less than one person".
            let to_the_exclusion =
                matches!(t.lower.as_str(), "exclusion" | "inclusion") && prev == "the" && word(i as isize - 2) == "to";
            let than_one =
                matches!(t.lower.as_str(), "more" | "less") && next == "than" && word(i as isize + 2) == "one";
            if fixed_phrase(prev, &t.lower, next)
                || prev == "-"
                || next == "-"
                || partner_present
                || capitalised_inside
                || over_and_above
                || than_one
                || to_the_exclusion
            {
                continue;
            }
            let next_is_word = s.tokens.get(i + 1).is_some_and(|n| n.kind != TokenKind::Punct);
            if matches!(t.lower.as_str(), "above" | "below") && (!next_is_word || REFERENCE_VERBS.contains(&prev)) {
                continue;
            }
            let original = &text[t.start..t.end];
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
        let family = Comparatives::new();
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
    fn swaps_keep_case_and_inflection() {
        assert_eq!(edits("Losses increased."), ["Losses decreased."]);
        assert_eq!(edits("Higher doses help."), ["Lower doses help."]);
        assert_eq!(edits("It stays below 5 degrees."), ["It stays above 5 degrees."]);
        assert_eq!(edits("No more than 5 remain."), ["No less than 5 remain."]);
    }

    #[test]
    fn fixed_phrases_are_left_alone() {
        for text in [
            "It is more or less done.",
            "Funding for higher education.",
            "As shown above, it works.",
            "See below.",
            "This gives rise to errors.",
            "Cases fall into two groups.",
            "After all, it works.",
            "In the fall of 1968 it began.",
            "Agencies fall in the first category.",
            "Success and failure were studied.",
            "The leaves clog drains in the Fall.",
            "Over and above what is expected.",
            "Ambiguous (especially in the negative).",
            "Our great leader is no more.",
            "A seat for more than one person.",
            "To the exclusion of others.",
            "Students fail to attend.",
        ] {
            assert_eq!(edits(text), Vec::<String>::new(), "{text}");
        }
    }

    #[test]
    fn every_word_has_one_partner() {
        let mut seen = std::collections::HashSet::new();
        for line in TABLE.lines().filter(|l| !l.starts_with('#')) {
            for w in line.split('\t') {
                assert!(seen.insert(w.to_string()), "{w} is in two pairs");
            }
        }
        assert!(seen.len() > 200);
    }
}
