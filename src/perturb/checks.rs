//! The checks every edit passes before it is offered: a real but small content change, length
//! kept, not a duplicate, and fluent where it was cut (the boundary bigrams occur in the corpus).

use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use super::text::{self, Token, TokenKind};

/// Why an edit was rejected (counted in reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rejection {
    /// No content token changed after stemming.
    NoContentChange,
    /// More content tokens changed than the budget allows.
    TooManyChanges,
    /// Length outside ±20% (or ±3 tokens).
    Length,
    /// Same as the source after normalisation.
    Duplicate,
    /// A bigram at the edit boundary never occurs in the corpus.
    Disfluent,
    /// No query term within a few words of the edit: it changes a detail the query does not
    /// ask about, so the passage would still answer it.
    OffQuery,
    /// The query does not ask what the edit's family changes (a number for a query that asks
    /// for no quantity, a negation for a topical request).
    NotAsked,
    /// The edited phrase still stands unedited elsewhere in the passage (a repeated title or
    /// result in another wording), so the passage still says the original.
    CopyRemains,
    /// The replacement contradicts a word of its own clause ("cooled to high temperatures").
    Incoherent,
}

impl Rejection {
    /// Name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Rejection::NoContentChange => "no_content_change",
            Rejection::TooManyChanges => "too_many_changes",
            Rejection::Length => "length",
            Rejection::Duplicate => "duplicate",
            Rejection::Disfluent => "disfluent",
            Rejection::OffQuery => "off_query",
            Rejection::NotAsked => "not_asked",
            Rejection::CopyRemains => "copy_remains",
            Rejection::Incoherent => "incoherent",
        }
    }
}

/// Most tokens an edit may change or add: 3 or 20% of the source, whichever is larger.
pub fn budget(source_tokens: usize) -> usize {
    3.max(source_tokens / 5)
}

/// Checks an edited sentence against its source sentence (both as tokens).
pub fn check_edit(
    source: &[Token],
    edited: &[Token],
    source_text: &str,
    edited_text: &str,
    english: bool,
) -> Result<(), Rejection> {
    let before = text::content_stems(source, english);
    let after = text::content_stems(edited, english);
    let changed = multiset_difference(&before, &after);
    if changed == 0 {
        return Err(Rejection::NoContentChange);
    }
    let words = |t: &[Token]| t.iter().filter(|t| t.kind != TokenKind::Punct).count();
    let (n_source, n_edited) = (words(source), words(edited));
    if changed > 2 * budget(n_source) {
        return Err(Rejection::TooManyChanges);
    }
    if n_source.abs_diff(n_edited) > budget(n_source) {
        return Err(Rejection::Length);
    }
    if text::normalized(source_text) == text::normalized(edited_text) {
        return Err(Rejection::Duplicate);
    }
    Ok(())
}

/// Tokens in one multiset but not the other, both ways.
fn multiset_difference(a: &[String], b: &[String]) -> usize {
    let mut a: Vec<&String> = a.iter().collect();
    let mut b: Vec<&String> = b.iter().collect();
    a.sort();
    b.sort();
    let (mut i, mut j, mut diff) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(b[j]) {
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => {
                diff += 1;
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                diff += 1;
                j += 1;
            }
        }
    }
    diff + (a.len() - i) + (b.len() - j)
}

/// The bigrams of a corpus that involve a word some edit may write (the watched vocabulary):
/// the fluency proxy checks the bigrams at an edit's boundary against it. Numbers are one
/// symbol, so a number edit is fluent wherever the number was.
#[derive(Debug, Default)]
pub struct BigramTable {
    watched: HashSet<String>,
    seen: HashSet<u64>,
}

/// Sentence start and end markers in bigrams.
const START: &str = "<s>";
const END: &str = "</s>";
const NUMBER: &str = "<num>";

impl BigramTable {
    /// An empty table watching these lower-cased words.
    pub fn new(watched: impl IntoIterator<Item = String>) -> Self {
        BigramTable {
            watched: watched.into_iter().collect(),
            seen: HashSet::new(),
        }
    }

    /// Adds the shipped background bigrams (general English from WordNet's glosses and
    /// examples; see `scripts/derive_bigrams.py`), so a small corpus does not starve the check.
    pub fn add_background(&mut self) {
        use std::io::Read;
        static TABLE: &[u8] = include_bytes!("../../data/background-bigrams.txt.gz");
        let mut text = String::new();
        flate2::read::GzDecoder::new(TABLE)
            .read_to_string(&mut text)
            .expect("the shipped bigram table is valid gzip");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            if let Some((a, b)) = line.split_once('\t')
                && (self.watched.contains(a) || self.watched.contains(b))
            {
                self.seen.insert(key(a, b));
            }
        }
    }

    /// Adds the bigrams of one text.
    pub fn add_text(&mut self, text: &str) {
        for sentence in text::sentences(text) {
            let symbols = symbols(&sentence.tokens);
            for pair in symbols.windows(2) {
                if self.watched.contains(pair[0]) || self.watched.contains(pair[1]) {
                    self.seen.insert(key(pair[0], pair[1]));
                }
            }
        }
    }

    /// The attested bigrams as hashes, sorted (what a run folder stores).
    pub fn hashes(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.seen.iter().copied().collect();
        v.sort_unstable();
        v
    }

    /// Adds bigrams stored by [`BigramTable::hashes`].
    pub fn extend_hashes(&mut self, hashes: impl IntoIterator<Item = u64>) {
        self.seen.extend(hashes);
    }

    /// Distinct bigrams held.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no bigram is held.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Whether the replacement (tokens `first..=last` of `tokens`, an edited sentence) is attested
    /// in context: of the bigrams touching it where its side is one of `words` (the vocabulary of
    /// the family that made the edit: an edit is judged on the words its own rules write), at
    /// least one occurs in the corpus or the background table (requiring all of them rejects most
    /// edits of a small corpus; requiring none lets idioms through: "stand or rise").
    pub fn fluent(&self, tokens: &[Token], first: usize, last: usize, words: &HashSet<String>) -> bool {
        let symbols = symbols(tokens);
        // symbols has the start marker at 0, so token i is symbol i + 1.
        let inside = |symbol: usize| symbol > first && symbol <= last + 1;
        let mut checked = 0;
        let mut attested = 0;
        for a in first..=last + 1 {
            let b = a + 1;
            if (inside(a) && words.contains(symbols[a])) || (inside(b) && words.contains(symbols[b])) {
                checked += 1;
                attested += usize::from(self.seen.contains(&key(symbols[a], symbols[b])));
            }
        }
        checked == 0 || attested > 0
    }
}

fn symbols(tokens: &[Token]) -> Vec<&str> {
    let mut out = Vec::with_capacity(tokens.len() + 2);
    out.push(START);
    out.extend(tokens.iter().map(|t| {
        if t.kind == TokenKind::Number {
            NUMBER
        } else {
            t.lower.as_str()
        }
    }));
    out.push(END);
    out
}

fn key(a: &str, b: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (a, b).hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perturb::text::tokens;

    fn check(a: &str, b: &str) -> Result<(), Rejection> {
        check_edit(&tokens(a, 0), &tokens(b, 0), a, b, true)
    }

    #[test]
    fn edits_must_change_content_within_budget() {
        assert_eq!(check("the rate increased", "the rate decreased"), Ok(()));
        assert_eq!(check("the rate is high", "the rate is not high"), Ok(()));
        assert_eq!(
            check("the rate increased", "a rate increased"),
            Err(Rejection::NoContentChange)
        );
        assert_eq!(
            check("the rate increased", "The rate increased!"),
            Err(Rejection::NoContentChange)
        );
        assert_eq!(
            check(
                "the rate increased",
                "the rate increased sharply in every single sampled region"
            ),
            Err(Rejection::Length)
        );
        assert_eq!(
            check("cats chase mice near barns", "dogs bite birds beside trees"),
            Err(Rejection::TooManyChanges)
        );
    }

    #[test]
    fn fluency_checks_only_watched_bigrams() {
        let mut table = BigramTable::new(["decrease".to_string()]);
        table.add_text("A decrease in cost was seen. Costs rose by 5 percent.");
        let ok = tokens("a decrease in speed", 0);
        assert!(table.fluent(&ok, 1, 1, &table.watched));
        let one_side = tokens("a decrease of speed", 0);
        assert!(
            table.fluent(&one_side, 1, 1, &table.watched),
            "(a, decrease) is attested"
        );
        let bad = tokens("the decrease of speed", 0);
        assert!(!table.fluent(&bad, 1, 1, &table.watched));
        let unwatched = tokens("by 7 percent", 0);
        let mut background = BigramTable::new(["decrease".to_string()]);
        background.add_background();
        assert!(background.fluent(&tokens("a decrease in speed", 0), 1, 1, &background.watched));
        assert!(table.fluent(&unwatched, 1, 1, &table.watched));
        // Only the replacement's side counts: a watched neighbour outside it is not checked.
        let mut table = BigramTable::new(["decrease".to_string(), "is".to_string()]);
        table.add_text("it is a decrease");
        assert!(table.fluent(&tokens("it is an decrease", 0), 2, 2, &table.watched));
        assert!(!table.fluent(&tokens("it is an decrease now", 0), 3, 3, &table.watched));
    }
}
