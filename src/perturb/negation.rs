//! Negation toggled on the auxiliaries be/can/will/has been (inserted or removed), and removed
//! with do-support (`does not rise` → `rises`). Modal may/might/could are left alone: both
//! polarities can be true. Sentences with another negation, `not only`-style phrases and
//! negative-polarity words that removal would strand (`any`, `yet`) are skipped.

use rand_chacha::ChaCha8Rng;

use super::text::{Sentence, TokenKind, is_negation, match_case};
use super::{Candidate, Family, FamilyName};

/// The negation family.
pub struct Negation;

const BE: &[&str] = &["is", "are", "was", "were"];
const PERFECT: &[&str] = &["has", "have", "had"];
/// Words after an auxiliary where `not` would not negate the claim (or reads badly).
const NOT_BEFORE: &[&str] = &[
    "not",
    "no",
    "never",
    "only",
    "also",
    "always",
    "usually",
    "often",
    "generally",
    "necessarily",
    "typically",
    "mostly",
    "all",
    "both",
    "each",
    "every",
    "sometimes",
    "because",
    "still",
    "already",
    "even",
    "just",
    "merely",
    "simply",
    "rarely",
    "seldom",
    "hardly",
    "therefore",
    "thus",
    "hence",
    "however",
    "then",
    "so",
    "either",
    "neither",
    "nor",
    "there",
    "it",
    "this",
    "that",
    "they",
    "we",
    "he",
    "she",
    "you",
    "i",
    "likely",
    "probably",
    "supposed",
    "somewhat",
    "when",
    "where",
    "while",
    "if",
    "though",
    "although",
    "whereas",
    "unless",
    "until",
];
/// Modals: `not` belongs after them (`could not have been`), never after the perfect auxiliary
/// they govern (`could have not been`).
const MODALS: &[&str] = &[
    "can", "could", "may", "might", "must", "shall", "should", "will", "would",
];
/// Subordinators: an auxiliary right after one is in a subordinate clause, not the claim.
const SUBORDINATORS: &[&str] = &[
    "before", "after", "when", "whenever", "until", "unless", "if", "where", "once", "while", "whether",
];
/// Words before an auxiliary that make it a noun (`free will`) or an ellipsis (`than is`).
const NOT_AFTER: &[&str] = &[
    "than",
    "as",
    "the",
    "a",
    "free",
    "political",
    "his",
    "her",
    "their",
    "its",
    "of",
    "what",
];
/// Negative-polarity words a removed `not` would strand.
const STRANDED: &[&str] = &[
    "any", "anything", "anyone", "anybody", "anywhere", "yet", "either", "ever", "at",
];
/// Words after `not` that make a fixed phrase.
const FIXED_AFTER_NOT: &[&str] = &[
    "only",
    "just",
    "necessarily",
    "even",
    "until",
    "merely",
    "simply",
    "always",
    "least",
    "to",
    "quite",
    "so",
];
/// Contractions and their positive forms (do-support ones are inflected separately).
const CONTRACTIONS: &[(&str, &str)] = &[
    ("isn't", "is"),
    ("aren't", "are"),
    ("wasn't", "was"),
    ("weren't", "were"),
    ("won't", "will"),
    ("can't", "can"),
    ("cannot", "can"),
    ("hasn't", "has"),
    ("haven't", "have"),
    ("hadn't", "had"),
];

impl Family for Negation {
    fn name(&self) -> FamilyName {
        FamilyName::Negation
    }

    fn candidates(&self, text: &str, s: &Sentence, _rng: &mut ChaCha8Rng, out: &mut Vec<Candidate>) {
        let negations = s.tokens.iter().filter(|t| is_negation(&t.lower)).count();
        if text[s.start..s.end].trim_end().ends_with('?') {
            return;
        }
        for i in 0..s.tokens.len() {
            if negations == 0 {
                if let Some(c) = insert(text, s, i) {
                    out.push(c);
                }
            } else if negations == 1
                && let Some(c) = remove(text, s, i)
            {
                out.push(c);
            }
        }
    }

    /// Empty: the rules place `not` only where it is grammatical (after an auxiliary that is
    /// followed by a word), so boundary bigrams would only reject good edits; and a removal with
    /// do-support writes a verb next to its subject ("Aspirin increases"), a bigram no table
    /// attests.
    fn vocabulary(&self) -> Vec<String> {
        Vec::new()
    }
}

fn word(s: &Sentence, i: usize) -> &str {
    s.word(i as isize)
}

/// Direction keys. Every insertion of `not` (or `cannot`) after an auxiliary is one direction and
/// every removal of one its reverse, so the balancer evens out the cue those forms share (one
/// `not` more or less) over the whole family; keyed by surface form (`is not` against `is`), each
/// insertion could only be kept as often as that form's rare removals, and almost every negation
/// was thrown away. Removals of forms never inserted (contractions, do-support) change other
/// words too (`does not rise` → `rises`), so they keep directions of their own, which have no
/// reverse and are thinned to a trace.
const INSERT: &str = "affirmative>negated";
const REMOVE: &str = "negated>affirmative";
const REMOVE_CONTRACTION: &str = "n't>affirmative";
const REMOVE_DO_NOT: &str = "do-not>affirmative";

/// `is` → `is not`, `can` → `cannot`, `has been` → `has not been`.
fn insert(text: &str, s: &Sentence, i: usize) -> Option<Candidate> {
    let t = &s.tokens[i];
    let aux = t.lower.as_str();
    let next_at = if PERFECT.contains(&aux) { i + 1 } else { i };
    let perfect = PERFECT.contains(&aux) && word(s, i + 1) == "been";
    if !(BE.contains(&aux) || aux == "will" || aux == "can" || perfect) || i == 0 || MODALS.contains(&word(s, i - 1)) {
        return None;
    }
    let next = s.tokens.get(next_at + 1)?;
    if (i.saturating_sub(3)..i).any(|j| SUBORDINATORS.contains(&word(s, j))) {
        return None;
    }
    // `not` before a manner or time adverb ("was not dutifully recorded") has an unclear scope.
    if next.kind == TokenKind::Punct
        || NOT_BEFORE.contains(&next.lower.as_str())
        || crate::perturb::text::is_ly_adverb(&next.lower)
        || NOT_AFTER.contains(&word(s, i - 1))
    {
        return None;
    }
    let original = &text[t.start..t.end];
    let replacement = if aux == "can" {
        match_case(original, "cannot")
    } else {
        format!("{original} not")
    };
    Some(Candidate {
        start: t.start,
        end: t.end,
        replacement,
        direction: INSERT.into(),
    })
}

/// `is not` → `is`, `cannot` → `can`, `does not rise` → `rises`, `don't know` → `know`.
fn remove(text: &str, s: &Sentence, i: usize) -> Option<Candidate> {
    let t = &s.tokens[i];
    let aux = t.lower.as_str();
    let contracted = CONTRACTIONS
        .iter()
        .find(|(c, _)| *c == aux.replace('’', "'"))
        .map(|(_, p)| *p);
    let do_contracted = matches!(aux.replace('’', "'").as_str(), "doesn't" | "don't");
    // Index of the token after the negation.
    let (after, positive) = if let Some(p) = contracted {
        (i + 1, Some(p))
    } else if do_contracted {
        (i + 1, None)
    } else if word(s, i + 1) == "not"
        && (BE.contains(&aux) || PERFECT.contains(&aux) || matches!(aux, "will" | "can" | "does" | "do"))
    {
        (i + 2, if matches!(aux, "does" | "do") { None } else { Some(aux) })
    } else {
        return None;
    };
    if PERFECT.contains(&positive.unwrap_or("")) && word(s, after) != "been"
        || FIXED_AFTER_NOT.contains(&word(s, after))
    {
        return None;
    }
    // A stranded negative-polarity word, or `not X but Y`, which removal leaves without sense.
    if (after..after + 5).any(|j| STRANDED.contains(&word(s, j))) || (after..after + 8).any(|j| word(s, j) == "but") {
        return None;
    }
    let next = s.tokens.get(after)?;
    if next.kind != TokenKind::Word {
        return None;
    }
    let original = &text[t.start..t.end];
    match positive {
        Some(p) => Some(Candidate {
            start: t.start,
            end: s.tokens[after - 1].end,
            replacement: match_case(original, p),
            direction: if contracted.is_some() && aux != "cannot" {
                REMOVE_CONTRACTION
            } else {
                REMOVE
            }
            .into(),
        }),
        None => {
            // do-support: the verb takes the auxiliary's person.
            let verb = &text[next.start..next.end];
            // Only a plain lowercase word can be a verb here: `does not A1` names an id.
            if i == 0
                || !verb.chars().all(char::is_lowercase)
                || crate::perturb::text::is_stopword(&next.lower)
                || crate::perturb::text::is_ly_adverb(&next.lower)
            {
                return None;
            }
            let inflected = if aux.starts_with("does") {
                third_person(verb)
            } else {
                verb.to_string()
            };
            let inflected = match_case(original, &inflected);
            Some(Candidate {
                start: t.start,
                end: next.end,
                replacement: inflected,
                direction: REMOVE_DO_NOT.into(),
            })
        }
    }
}

/// `rise` → `rises`, `reach` → `reaches`, `vary` → `varies`, `have` → `has`.
fn third_person(verb: &str) -> String {
    match verb {
        "have" => return "has".into(),
        "be" => return "is".into(),
        _ => {}
    }
    let consonant_y =
        verb.len() > 1 && verb.ends_with('y') && !verb[..verb.len() - 1].ends_with(['a', 'e', 'i', 'o', 'u']);
    if consonant_y {
        format!("{}ies", &verb[..verb.len() - 1])
    } else if verb.ends_with(['s', 'x', 'z', 'o']) || verb.ends_with("sh") || verb.ends_with("ch") {
        format!("{verb}es")
    } else {
        format!("{verb}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edits(text: &str) -> Vec<String> {
        crate::perturb::candidate_texts(&Negation, text)
    }

    #[test]
    fn inserts_after_be_can_will_and_has_been() {
        assert_eq!(edits("Pesticides are harmful."), ["Pesticides are not harmful."]);
        assert_eq!(edits("Bees can fly."), ["Bees cannot fly."]);
        assert_eq!(edits("It has been shown."), ["It has not been shown."]);
        assert_eq!(edits("Prices will rise."), ["Prices will not rise."]);
    }

    #[test]
    fn ellipsis_after_than_is_left_alone() {
        assert_eq!(edits("It is more than is needed."), ["It is not more than is needed."]);
    }

    #[test]
    fn removes_with_the_right_form() {
        assert_eq!(edits("Pesticides are not harmless."), ["Pesticides are harmless."]);
        assert_eq!(edits("Bees cannot see red."), ["Bees can see red."]);
        assert_eq!(edits("The rate does not vary."), ["The rate varies."]);
        assert!(edits("The rate does not A1 here.").is_empty(), "an id is not a verb");
        assert_eq!(edits("Plants don't grow."), ["Plants grow."]);
        assert_eq!(edits("`Don't talk to me,' she said."), ["`Talk to me,' she said."]);
        assert_eq!(edits("It has not been shown."), ["It has been shown."]);
    }

    #[test]
    fn fixed_phrases_modals_and_double_negatives_are_skipped() {
        for text in [
            "It is not only fast but cheap.",
            "Whether or not it works is unclear.",
            "Results may vary.",
            "It is not clear that no effect exists.",
            "It is not known yet.",
            "Knowledge is not held by words but by meanings.",
            "This is always true.",
            "It was dutifully recorded.",
            "Anesthetic given before he is treated.",
            "Is it true?",
            "It could have been avoided.",
            "The loss would have been larger.",
        ] {
            assert_eq!(edits(text), Vec::<String>::new(), "{text}");
        }
    }
}
