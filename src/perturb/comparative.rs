//! Comparatives and directions swapped from a curated table of pairs with their inflections
//! (`data/comparatives.tsv`): increases/decreases, higher/lower, above/below, more/less. Fixed
//! phrases (`more or less`, `higher education`, `see below`, `gives rise to`) are left alone.

use std::collections::HashMap;

use rand_chacha::ChaCha8Rng;

use super::text::{Sentence, Token, TokenKind, match_case};
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
    pairs: PairTable,
}

impl Comparatives {
    /// Loads the shipped table.
    pub fn new() -> Self {
        Comparatives {
            pairs: PairTable::parse(TABLE),
        }
    }
}

impl Default for Comparatives {
    fn default() -> Self {
        Self::new()
    }
}

/// Word pairs that swap both ways (tab-separated lines, `#` comments), shared by the comparative
/// and antonym families.
pub struct PairTable {
    partner: HashMap<String, String>,
}

impl PairTable {
    /// Parses a table.
    pub fn parse(table: &str) -> Self {
        let mut partner = HashMap::new();
        for line in table.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
            if let Some((a, b)) = line.split_once('\t') {
                partner.insert(a.trim().to_string(), b.trim().to_string());
                partner.insert(b.trim().to_string(), a.trim().to_string());
            }
        }
        PairTable { partner }
    }

    /// The other word of `word`'s pair.
    pub fn partner(&self, word: &str) -> Option<&str> {
        self.partner.get(word).map(String::as_str)
    }

    /// Number of words (twice the pairs).
    pub fn len(&self) -> usize {
        self.partner.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.partner.is_empty()
    }

    /// Every word of the table.
    pub fn words(&self) -> Vec<String> {
        self.partner.keys().cloned().collect()
    }

    /// The edit that swaps token `t` of `text` for `partner`, case kept, keyed `word>partner`.
    pub fn swap(text: &str, t: &Token, partner: &str) -> Candidate {
        Candidate {
            start: t.start,
            end: t.end,
            replacement: match_case(&text[t.start..t.end], partner),
            direction: format!("{}>{}", t.lower, partner),
        }
    }
}

fn fixed_phrase(prev: &str, word: &str, next: &str) -> bool {
    matches!(
        (prev, word, next),
        (_, "more" | "less", "or" | "and")
            | ("or" | "and", "more" | "less", _)
            | ("the", "more" | "less", _)
            | (_, "higher" | "lower", "education" | "case" | "bound" | "bounds")
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

/// Words that set two clauses against each other.
const CONTRASTS: &[&str] = &["but", "whereas", "while", "although", "though"];

impl Comparatives {
    /// Whether token `i` sits on one side of a contrast whose other side holds a word of the
    /// table too ("often used in X, but applied less frequently in Y"): flipping one side makes
    /// both say the same, which the contrast then contradicts.
    fn one_side_of_a_contrast(&self, s: &Sentence, i: usize) -> bool {
        s.tokens.iter().enumerate().any(|(c, t)| {
            CONTRASTS.contains(&t.lower.as_str()) && {
                let other_side = if c > i { c + 1..s.tokens.len() } else { 0..c };
                s.tokens[other_side]
                    .iter()
                    .any(|o| self.pairs.partner(&o.lower).is_some())
            }
        })
    }
}

impl Family for Comparatives {
    fn name(&self) -> FamilyName {
        FamilyName::Comparative
    }

    fn candidates(&self, text: &str, s: &Sentence, _rng: &mut ChaCha8Rng, out: &mut Vec<Candidate>) {
        let word = |i: isize| s.word(i);
        for (i, t) in s.tokens.iter().enumerate() {
            let Some(partner) = self.pairs.partner(&t.lower) else {
                continue;
            };
            let (prev, next) = (word(i as isize - 1), word(i as isize + 1));
            // A pair in one sentence ("success and failure") would be written twice.
            let partner_present = s.tokens.iter().any(|o| o.lower == partner);
            let capitalised_inside = i > 0 && text[t.start..t.end].starts_with(char::is_uppercase);
            let over_and_above = t.lower == "above" && prev == "and" && word(i as isize - 2) == "over";
            // "more than one" has no reverse: "less than one person".
            let to_the_exclusion =
                matches!(t.lower.as_str(), "exclusion" | "inclusion") && prev == "the" && word(i as isize - 2) == "to";
            let than_one =
                matches!(t.lower.as_str(), "more" | "less") && next == "than" && word(i as isize + 2) == "one";
            // "cannot be recycled more than twice": a negated bound has no sensible reverse
            // ("no more than" is a bound of its own and swaps to "no less than").
            let negated_bound = matches!(t.lower.as_str(), "more" | "less" | "fewer")
                && next == "than"
                && prev != "no"
                && (i.saturating_sub(4)..i).any(|j| crate::perturb::text::is_negation(word(j as isize)));
            if fixed_phrase(prev, &t.lower, next)
                || negated_bound
                || self.one_side_of_a_contrast(s, i)
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
        crate::perturb::candidate_texts(&Comparatives::new(), text)
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
            "Plastics cannot be recycled more than twice.",
            "The lower bound holds.",
            "It is often used in physics, but applied less frequently in history.",
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
