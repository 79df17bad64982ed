//! Query anchors: the query terms an edit of a passage must sit next to, so the edited passage
//! stops answering *that* query (an edit of a detail the query does not ask about leaves a
//! relevant passage, a false negative).
//!
//! An anchor is a content word of the query that is neither part of how questions are asked
//! ("what problems", "methods of") nor common in the corpus (in more than a fifth of its
//! passages, as "information" is in a library-science collection). An edit is anchored when a
//! passage token with an anchor's stem lies within [`WINDOW`] words of it in the same clause, or
//! is the edited word itself (the query term's own number, comparative, negation or antonym).
//!
//! Each family also needs a query that asks what it changes: a number edit a query for a
//! quantity, a negation a yes/no question or one about effects and changes, a comparative one
//! about effects, changes, comparisons or quantities; an antonym must qualify a query term
//! itself (at most one word away). A topical request ("methods of coding in index systems") is
//! answered by a passage about the topic whatever one of its claims says, so an edit of a claim
//! leaves it relevant: such rows get no counterfactual.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::checks::Rejection;
use super::text::{self, Sentence, TokenKind};
use super::{Candidate, FamilyName};

/// Most words between an edit and its anchor.
pub const WINDOW: usize = 4;

/// A stem in more than this share of the corpus's passages anchors nothing.
const MAX_ANCHOR_SHARE: f64 = 0.2;

/// Below this many passages, document frequencies say nothing and every content word anchors.
const MIN_DOCS_FOR_RARITY: u32 = 20;

/// Words that frame a question rather than say what it is about.
#[rustfmt::skip]
const QUESTION_FRAME: &[&str] = &[
    "problem", "problems", "concern", "concerns", "method", "methods", "approach", "approaches", "way",
    "ways", "kind", "kinds", "type", "types", "role", "aspect", "aspects", "factor", "factors", "relation",
    "relationship", "discuss", "discussed", "discussion", "describe", "described", "description", "explain",
    "find", "give", "know", "known", "make", "need", "needs", "want", "wish", "interest", "interested",
    "please", "article", "articles", "paper", "papers", "document", "documents", "study", "studies",
    "research", "work", "available", "exist", "existing", "possible", "different", "various", "general",
    "related", "regard", "regarding", "concerning", "example", "examples", "use", "used", "using", "question",
    "questions", "mean", "means", "especially", "particular", "specific", "including", "include", "involve",
    "involved", "new", "current", "recent", "present", "information", "data", "result", "results", "case",
    "cases", "system", "systems", "technique", "techniques",
];

/// Words of a query that ask for a quantity (a number edit answers only such a query).
#[rustfmt::skip]
const QUANTITY_WORDS: &[&str] = &[
    "many", "much", "number", "numbers", "amount", "rate", "rates", "percent", "percentage", "proportion",
    "share", "size", "cost", "costs", "price", "frequency", "count", "level", "levels", "speed", "velocity",
    "temperature", "pressure", "weight", "mass", "length", "time", "duration", "year", "years", "when", "age",
    "value", "values", "magnitude", "ratio", "dose", "dosage", "concentration", "quantity", "quantities",
    "statistics", "distance", "height", "depth", "volume", "density", "range", "limit", "limits", "maximum",
    "minimum", "growth",
];

/// Words that make a query ask about effects, changes or comparisons (what a comparative or
/// a negation falsifies).
#[rustfmt::skip]
const DIRECTION_WORDS: &[&str] = &[
    "effect", "effects", "affect", "affects", "impact", "influence", "increase", "increases", "decrease",
    "decreases", "improve", "improves", "improvement", "better", "worse", "more", "less", "higher", "lower",
    "compare", "compared", "comparison", "versus", "advantage", "advantages", "disadvantage", "disadvantages",
    "benefit", "benefits", "change", "changes", "reduce", "reduces", "reduction", "rise", "decline", "faster",
    "slower", "efficient", "efficiency", "effective", "effectiveness", "superior", "inferior", "cause",
    "causes", "prevent", "prevents", "help", "helps", "harm", "harmful", "safe", "risk", "risks",
];

/// First words of a yes/no question.
const POLARITY_OPENERS: &[&str] = &[
    "is", "are", "was", "were", "does", "do", "did", "can", "could", "will", "would", "should", "has", "have", "had",
];

/// An antonym edit must be at most this many words from a query term (its attribute).
const ATTRIBUTE_WINDOW: usize = 1;

/// Tokens across which an edit is not anchored (another clause or list item).
const WINDOW_STOPS: &[&str] = &[
    ";", ":", ",", "(", ")", "[", "]", "and", "or", "but", "whereas", "while", "which", "although",
];

/// Document frequencies of content stems over a corpus.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TermRarity {
    /// Passages counted.
    docs: u32,
    /// Passages containing each stem (ordered, so a stored table is the same bytes every run).
    df: BTreeMap<String, u32>,
}

impl TermRarity {
    /// Counts the content stems of one passage.
    pub fn add(&mut self, passage: &str, english: bool) {
        self.docs += 1;
        let stems: HashSet<String> = text::content_stems(&text::tokens(passage, 0), english)
            .into_iter()
            .collect();
        for s in stems {
            *self.df.entry(s).or_default() += 1;
        }
    }

    /// Adds another table's counts (a stored table read back).
    pub fn absorb(&mut self, other: TermRarity) {
        self.docs += other.docs;
        for (s, n) in other.df {
            *self.df.entry(s).or_default() += n;
        }
    }

    /// Whether a stem is too common in the corpus to anchor an edit.
    pub fn is_common(&self, stem: &str) -> bool {
        self.docs >= MIN_DOCS_FOR_RARITY
            && f64::from(self.df.get(stem).copied().unwrap_or(0)) > MAX_ANCHOR_SHARE * f64::from(self.docs)
    }
}

/// Where an edit is anchored: the query word and how many words lie between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// The query's word whose stem the passage token shares.
    pub term: String,
    /// Words between the edit and the anchor token (0: the edit touches it).
    pub distance: usize,
}

/// The anchors of one query.
#[derive(Debug, Clone)]
pub struct QueryAnchors {
    /// Stem → the query's word.
    stems: HashMap<String, String>,
    english: bool,
    /// Whether the query asks for a quantity.
    asks_quantity: bool,
    /// Whether the query asks about effects, changes or comparisons.
    asks_direction: bool,
    /// Whether the query is a yes/no question.
    asks_polarity: bool,
}

impl QueryAnchors {
    /// The anchors of `query` against a corpus's `rarity`.
    pub fn new(query: &str, english: bool, rarity: &TermRarity) -> Self {
        let tokens = text::tokens(query, 0);
        let mut stems = HashMap::new();
        for t in &tokens {
            let is_content = match t.kind {
                TokenKind::Number => true,
                TokenKind::Word => {
                    let framing = text::is_stopword(&t.lower) || QUESTION_FRAME.contains(&t.lower.as_str());
                    !(framing || english && text::is_ly_adverb(&t.lower))
                }
                TokenKind::Punct => false,
            };
            let stem = text::matching_form(t, english);
            if is_content && !rarity.is_common(&stem) {
                stems.entry(stem).or_insert_with(|| t.lower.clone());
            }
        }
        let has = |words: &[&str]| tokens.iter().any(|t| words.contains(&t.lower.as_str()));
        // Only numbers have rules beyond English, and the quantity words are English: elsewhere
        // any query may ask for a number.
        let asks_quantity = !english || has(QUANTITY_WORDS) || tokens.iter().any(|t| t.kind == TokenKind::Number);
        let opens_question = |s: &Sentence| {
            s.tokens
                .first()
                .is_some_and(|t| POLARITY_OPENERS.contains(&t.lower.as_str()))
        };
        QueryAnchors {
            stems,
            english,
            asks_quantity,
            asks_direction: has(DIRECTION_WORDS),
            asks_polarity: has(&["whether"]) || text::sentences(query).iter().any(opens_question),
        }
    }

    /// The query terms in `sentence`, token by token (each token stemmed once, however many
    /// edits of the sentence are then anchored).
    pub fn in_sentence<'a>(&'a self, sentence: &Sentence) -> SentenceAnchors<'a> {
        SentenceAnchors {
            terms: sentence
                .tokens
                .iter()
                .map(|t| {
                    self.stems
                        .get(&text::matching_form(t, self.english))
                        .map(String::as_str)
                })
                .collect(),
        }
    }

    /// Whether the query asks what `family` changes (see the module's documentation).
    pub fn asks_for(&self, family: FamilyName) -> bool {
        match family {
            FamilyName::Number => self.asks_quantity,
            FamilyName::Negation => self.asks_polarity || self.asks_direction,
            FamilyName::Comparative => self.asks_polarity || self.asks_direction || self.asks_quantity,
            FamilyName::Antonym => true,
        }
    }

    /// The anchor of a candidate edit of `sentence` by `family`, or why it has none: the query
    /// does not ask what the family changes, or no query term is within the window (for an
    /// antonym, next to the word).
    pub fn anchor_edit(
        &self,
        family: FamilyName,
        sentence: &Sentence,
        found: &SentenceAnchors<'_>,
        c: &Candidate,
    ) -> Result<Anchor, Rejection> {
        if !self.asks_for(family) {
            return Err(Rejection::NotAsked);
        }
        let window = if family == FamilyName::Antonym {
            ATTRIBUTE_WINDOW
        } else {
            WINDOW
        };
        found
            .anchor(sentence, c.start, c.end)
            .filter(|a| a.distance <= window)
            .ok_or(Rejection::OffQuery)
    }
}

/// The query terms found in one sentence: for each of its tokens, the query word whose stem it
/// shares ([`QueryAnchors::in_sentence`]).
#[derive(Debug, Clone)]
pub struct SentenceAnchors<'a> {
    terms: Vec<Option<&'a str>>,
}

impl SentenceAnchors<'_> {
    /// Distinct query terms in the sentence.
    pub fn overlap(&self) -> usize {
        self.terms.iter().flatten().collect::<HashSet<_>>().len()
    }

    /// The closest anchor of an edit of bytes `start..end` in `sentence` (the sentence these
    /// terms were found in), if one lies within [`WINDOW`] words in the same clause.
    pub fn anchor(&self, sentence: &Sentence, start: usize, end: usize) -> Option<Anchor> {
        let tokens = &sentence.tokens;
        let edited: Vec<usize> = (0..tokens.len())
            .filter(|&i| tokens[i].start < end.max(start + 1) && tokens[i].end > start)
            .collect();
        let (&first, &last) = (edited.first()?, edited.last()?);
        let mut best: Option<Anchor> = None;
        for (i, term) in self.terms.iter().enumerate() {
            let Some(term) = term else {
                continue;
            };
            let between = if i < first {
                i + 1..first
            } else if i > last {
                last + 1..i
            } else {
                first..first
            };
            if tokens[between.clone()]
                .iter()
                .any(|t| WINDOW_STOPS.contains(&t.lower.as_str()))
            {
                continue;
            }
            let distance = tokens[between].iter().filter(|t| t.kind != TokenKind::Punct).count();
            if distance <= WINDOW && best.as_ref().is_none_or(|b| distance < b.distance) {
                best = Some(Anchor {
                    term: term.to_string(),
                    distance,
                });
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentence(s: &str) -> Sentence {
        text::sentences(s).remove(0)
    }

    #[test]
    fn question_frame_and_common_words_anchor_nothing() {
        let mut rarity = TermRarity::default();
        for i in 0..40 {
            rarity.add(&format!("library catalogue number {i}"), true);
        }
        let a = QueryAnchors::new("What problems are there with library titles?", true, &rarity);
        assert_eq!(a.stems.values().collect::<Vec<_>>(), ["titles"]);
        assert!(!a.asks_for(FamilyName::Number) && !a.asks_for(FamilyName::Negation));
        assert!(a.asks_for(FamilyName::Antonym));
        let how_many = QueryAnchors::new("How many titles are indexed?", true, &rarity);
        assert!(how_many.asks_for(FamilyName::Number) && how_many.asks_for(FamilyName::Comparative));
        let yes_no = QueryAnchors::new("Titles matter. Are subject headings still used?", true, &rarity);
        assert!(yes_no.asks_for(FamilyName::Negation) && !yes_no.asks_for(FamilyName::Number));
        assert!(QueryAnchors::new("the effect of automation on staff", true, &rarity).asks_for(FamilyName::Negation));
    }

    #[test]
    fn an_edit_is_anchored_within_the_window_of_its_clause_only() {
        let a = QueryAnchors::new("ablation rates of heat shields", true, &TermRarity::default());
        let s = sentence("The ablation rate increased sharply, and the vehicle weighs 8640 kg.");
        let found = a.in_sentence(&s);
        let at = |w: &str| {
            let start = s.tokens.iter().find(|t| t.lower == w).unwrap().start;
            found.anchor(&s, start, start + w.len())
        };
        assert_eq!(
            at("increased"),
            Some(Anchor {
                term: "rates".into(),
                distance: 0
            })
        );
        // The weight is another clause's detail: not what the query asks about.
        assert_eq!(at("8640"), None);
        // The query's own word edited is distance 0 to itself.
        assert_eq!(at("ablation").map(|a| a.distance), Some(0));
    }
}
