//! Coherence of an edit with the words around it: a replacement must not contradict its own
//! clause ("heated" → "cooled to high temperatures"). The groups of words that clash are curated
//! in `data/clashes.tsv`.

use std::sync::LazyLock;

use super::text::{CLAUSE_STOPS, Token, TokenKind};

/// The shipped clash groups.
const TABLE: &str = include_str!("../../data/clashes.tsv");

/// Most words between a replacement and a clashing word.
const CLASH_WINDOW: usize = 6;

/// One group: words and phrases (as word lists) of two sides that contradict each other.
struct ClashGroup {
    sides: [Vec<Vec<String>>; 2],
}

static GROUPS: LazyLock<Vec<ClashGroup>> = LazyLock::new(|| parse(TABLE));

fn parse(table: &str) -> Vec<ClashGroup> {
    let side = |list: &str| -> Vec<Vec<String>> {
        list.split(',')
            .map(|p| p.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .filter(|p| !p.is_empty())
            .collect()
    };
    table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once('\t'))
        .map(|(a, b)| ClashGroup {
            sides: [side(a), side(b)],
        })
        .collect()
}

/// Whether the phrase `words` starts at token `i`.
fn phrase_at(tokens: &[Token], i: usize, words: &[String]) -> bool {
    words
        .iter()
        .enumerate()
        .all(|(k, w)| tokens.get(i + k).is_some_and(|t| t.lower == *w))
}

/// Which side of `group` a phrase at token `i` belongs to, and its length in tokens.
fn side_at(group: &ClashGroup, tokens: &[Token], i: usize) -> Option<(usize, usize)> {
    group
        .sides
        .iter()
        .enumerate()
        .find_map(|(s, phrases)| phrases.iter().find(|p| phrase_at(tokens, i, p)).map(|p| (s, p.len())))
}

/// Whether the tokens `first..=last` of an edited sentence (the replacement) clash with a word
/// of the other side of a group within [`CLASH_WINDOW`] words in the same clause.
pub fn clashes(tokens: &[Token], first: usize, last: usize) -> bool {
    let clause_start = (0..first)
        .rev()
        .find(|&i| CLAUSE_STOPS.contains(&tokens[i].lower.as_str()))
        .map_or(0, |i| i + 1)
        .max(first.saturating_sub(CLASH_WINDOW));
    let clause_end = (last + 1..tokens.len())
        .find(|&i| CLAUSE_STOPS.contains(&tokens[i].lower.as_str()))
        .unwrap_or(tokens.len())
        .min(last + 1 + CLASH_WINDOW);
    GROUPS.iter().any(|group| {
        let written: Vec<usize> = (first..=last)
            .filter_map(|i| side_at(group, tokens, i).map(|(s, _)| s))
            .collect();
        written.iter().any(|&side| {
            (clause_start..clause_end)
                .filter(|&i| (i < first || i > last) && tokens[i].kind != TokenKind::Punct)
                .any(|i| side_at(group, tokens, i).is_some_and(|(s, len)| s != side && i + len <= clause_end))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perturb::text::tokens;

    /// Whether replacing word `at` of `sentence` clashes with its clause.
    fn clash(sentence: &str, at: &str) -> bool {
        let t = tokens(sentence, 0);
        let i = t.iter().position(|t| t.lower == at).unwrap();
        clashes(&t, i, i)
    }

    #[test]
    fn a_replacement_that_contradicts_its_clause_clashes() {
        assert!(clash(
            "The sample was cooled to high temperatures before testing.",
            "cooled"
        ));
        assert!(clash("Gases heated at low temperature expand.", "heated"));
        assert!(clash("The error increased to zero.", "increased"));
    }

    #[test]
    fn another_clause_or_a_distant_word_does_not_clash() {
        assert!(!clash(
            "The sample was cooled, and later melted at high temperatures.",
            "cooled"
        ));
        assert!(!clash("The sample was cooled slowly.", "cooled"));
        assert!(!clash("The sample was cooled by heat transfer.", "cooled"));
        assert!(!clash(
            "Cooled samples were kept in the dark room of the old building at high temperatures.",
            "cooled"
        ));
    }

    #[test]
    fn the_shipped_table_parses() {
        assert!(GROUPS.len() >= 3 && GROUPS.iter().all(|g| g.sides.iter().all(|s| !s.is_empty())));
    }
}
