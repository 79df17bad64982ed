//! Every copy of an edited statement changes, or the edit is dropped: passages often repeat
//! their title at the start of the text, or restate a result, and an edit of one copy leaves the
//! passage still saying the original in the other.

use std::collections::HashSet;

use super::Candidate;
use super::checks::Rejection;
use super::text::{self, Sentence};

/// Where the tokens of a text start and end: a copy is replaced only between token boundaries.
/// Found once per text, however many of its edits are applied.
#[derive(Debug)]
pub struct TokenBounds {
    starts: HashSet<usize>,
    ends: HashSet<usize>,
}

impl TokenBounds {
    /// The boundaries of `text`'s tokens.
    pub fn of(text: &str) -> Self {
        let tokens = text::tokens(text, 0);
        TokenBounds {
            starts: tokens.iter().map(|t| t.start).collect(),
            ends: tokens.iter().map(|t| t.end).collect(),
        }
    }
}

/// `text` with candidate `c` (an edit of `sentence`) applied to every exact copy of its phrase in
/// the same context (the words on either side of it), or [`Rejection::CopyRemains`] when a copy
/// in another spelling (case, punctuation, spacing) would still stand. `bounds` are `text`'s.
pub fn apply(text: &str, bounds: &TokenBounds, sentence: &Sentence, c: &Candidate) -> Result<String, Rejection> {
    let tokens = &sentence.tokens;
    let before = tokens.iter().rev().find(|t| t.end <= c.start);
    let after = tokens.iter().find(|t| t.start >= c.end.max(c.start + 1));
    let from = before.map_or(c.start, |t| t.start);
    let to = after.map_or(c.end, |t| t.end);
    let context = &text[from..to];
    let replaced = format!("{}{}{}", &text[from..c.start], c.replacement, &text[c.end..to]);
    let edited = replace_whole_words(text, bounds, context, &replaced);
    let words = |s: &str| format!(" {} ", text::normalized(s));
    let (context_words, replaced_words) = (words(context), words(&replaced));
    // A copy in another spelling still stands, unless the edit itself contains the context (an
    // insertion such as "is" → "is not" keeps its own words).
    if !replaced_words.contains(context_words.as_str()) && words(&edited).contains(context_words.as_str()) {
        return Err(Rejection::CopyRemains);
    }
    Ok(edited)
}

/// `text` with every occurrence of `from` that starts and ends at a token boundary replaced.
fn replace_whole_words(text: &str, bounds: &TokenBounds, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut done = 0;
    for (i, _) in text.match_indices(from) {
        let end = i + from.len();
        if i >= done && bounds.starts.contains(&i) && bounds.ends.contains(&end) {
            out.push_str(&text[done..i]);
            out.push_str(to);
            done = end;
        }
    }
    out.push_str(&text[done..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(text: &str, original: &str, replacement: &str, nth: usize) -> Result<String, Rejection> {
        let start = text.match_indices(original).nth(nth).unwrap().0;
        let sentence = text::sentences(text)
            .into_iter()
            .find(|s| s.start <= start && start < s.end)
            .unwrap();
        let c = Candidate {
            start,
            end: start + original.len(),
            replacement: replacement.into(),
            direction: String::new(),
        };
        apply(text, &TokenBounds::of(text), &sentence, &c)
    }

    #[test]
    fn a_repeated_title_is_edited_in_both_places() {
        let text = "Heat transfer increases with speed. Heat transfer increases with speed, as measured in tunnels.";
        assert_eq!(
            edit(text, "increases", "decreases", 1).unwrap(),
            "Heat transfer decreases with speed. Heat transfer decreases with speed, as measured in tunnels."
        );
    }

    #[test]
    fn a_copy_in_another_spelling_drops_the_edit_and_other_contexts_stay() {
        let text = "HEAT TRANSFER INCREASES WITH SPEED. Heat transfer increases with speed in tunnels.";
        assert_eq!(edit(text, "increases", "decreases", 0), Err(Rejection::CopyRemains));
        // The same word in another context is another statement: left alone.
        let text = "Drag increases with speed. Heat transfer increases with altitude.";
        assert_eq!(
            edit(text, "increases", "decreases", 1).unwrap(),
            "Drag increases with speed. Heat transfer decreases with altitude."
        );
    }

    #[test]
    fn copies_are_whole_words_only() {
        let text = "the number of successes with a probability of success";
        assert_eq!(
            edit(text, "success", "failure", 1).unwrap(),
            "the number of successes with a probability of failure"
        );
    }

    #[test]
    fn scripts_without_spaces_are_edited_too() {
        let text = "北京有2154万常住人口，地铁总里程超过700公里。";
        assert_eq!(
            edit(text, "2154", "3000", 0).unwrap(),
            "北京有3000万常住人口，地铁总里程超过700公里。"
        );
    }

    #[test]
    fn an_insertion_that_keeps_its_own_words_is_not_a_remaining_copy() {
        let text = "The flow is stable at low speed.";
        assert_eq!(
            edit(text, "is", "is not", 0).unwrap(),
            "The flow is not stable at low speed."
        );
        // At the end of a sentence the context is the edit's own first words.
        assert_eq!(edit("The flow is.", "is", "is not", 0).unwrap(), "The flow is not.");
    }
}
