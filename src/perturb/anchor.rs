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
//! about effects, changes, comparisons or quantities (not a plain yes/no question: a degree does
//! not flip its answer), read from the query's questions (see
//! [`Asks`]); an antonym must replace a query word itself (flip a property the query names), and
//! a long statement used as a query (no question, more than a short phrase) gets no edit. A
//! topical request ("methods of coding in index systems") is answered by a passage about the
//! topic whatever one of its claims says, so an edit of a claim leaves it relevant: such rows get
//! no counterfactual.

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
    "cases", "system", "systems", "technique", "techniques", "made", "provide", "provides", "provided", "appear",
    "appears", "appeared", "note", "noted", "includes", "shown", "show", "shows", "given", "terms", "done", "based",
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

/// First words of a question that asks for something other than yes or no.
const WH_OPENERS: &[&str] = &["what", "which", "who", "whom", "whose", "when", "where", "why", "how"];

/// Words after `how` that ask for a quantity (`how many`, `how often`).
const HOW_QUANTITY: &[&str] = &[
    "many",
    "much",
    "often",
    "long",
    "large",
    "big",
    "fast",
    "far",
    "old",
    "high",
    "low",
    "frequently",
    "expensive",
    "costly",
    "quickly",
    "soon",
];

/// A query without a question is read whole (as a keyword query) up to this many words; longer
/// statements (an abstract used as a query) ask for nothing an edit could falsify.
const KEYWORD_QUERY_WORDS: usize = 12;

/// Units and measure words after a number: what follows them (`milligrams of caffeine`) is what
/// the number measures.
#[rustfmt::skip]
const MEASURE_WORDS: &[&str] = &[
    "%", "percent", "per", "cent", "percentage", "times", "fold", "thousand", "thousands", "million", "millions",
    "billion", "billions", "hundred", "hundreds", "dozen", "mg", "milligrams", "milligram", "g", "grams", "gram",
    "kg", "kilograms", "kilogram", "tonnes", "tons", "tonne", "ton", "lb", "pounds", "ounces", "oz", "ml",
    "millilitres", "milliliters", "litres", "liters", "l", "mm", "millimetres", "millimeters", "cm", "centimetres",
    "centimeters", "m", "metres", "meters", "km", "kilometres", "kilometers", "miles", "feet", "ft", "inches",
    "seconds", "s", "minutes", "min", "hours", "h", "hr", "days", "weeks", "months", "years", "decades",
    "centuries", "degrees", "°", "°c", "°f", "k", "kelvin", "w", "watts", "kw", "kilowatts", "mw", "megawatts",
    "gw", "gigawatts", "kwh", "mwh", "volts", "v", "amps", "hz", "khz", "mhz", "ghz", "db", "decibels", "calories",
    "kcal", "joules", "j", "dollars", "cents", "euros", "yen", "usd", "eur", "bytes", "kb", "mb", "gb",
    "tb", "bits", "pixels", "words", "characters", "pages",
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

/// What a query asks, read from its questions: the sentences that end in `?` or open with a
/// question word. A query without a question is read whole when it is a short phrase (a keyword
/// query such as "cost of catalog cards"); a longer statement (an abstract used as a query) asks
/// for nothing an edit could falsify, so its rows get no edit (outside English, where only
/// numbers have rules, any query may ask for a number).
#[derive(Debug, Default, Clone, Copy)]
struct Asks {
    /// A quantity: `how many`, `what rate`, `when`, or a keyword query naming one.
    quantity: bool,
    /// Effects, changes or comparisons.
    direction: bool,
    /// Yes or no.
    polarity: bool,
    /// Whether the query asks anything at all (it has a question or is a keyword query): a long
    /// statement names many things, and flipping one of them leaves the passage on its topic.
    anything: bool,
}

impl Asks {
    /// What `query` (split into `sentences`) asks.
    fn of(query: &str, sentences: &[Sentence], english: bool) -> Self {
        let is_question = |s: &&Sentence| {
            query[s.start..s.end].trim_end().ends_with('?')
                || s.tokens.first().is_some_and(|t| {
                    POLARITY_OPENERS.contains(&t.lower.as_str()) || WH_OPENERS.contains(&t.lower.as_str())
                })
        };
        let questions: Vec<&Sentence> = sentences.iter().filter(is_question).collect();
        let words = |s: &Sentence| s.tokens.iter().filter(|t| t.kind != TokenKind::Punct).count();
        let mut asks = Asks::default();
        if questions.is_empty() {
            // Only numbers have rules beyond English, and the quantity words are English:
            // elsewhere any query may ask for a number.
            asks.quantity = !english;
            if let [only] = sentences
                && words(only) <= KEYWORD_QUERY_WORDS
            {
                asks.anything = true;
                let has = |list: &[&str]| only.tokens.iter().any(|t| list.contains(&t.lower.as_str()));
                asks.quantity |= has(QUANTITY_WORDS) || only.tokens.iter().any(|t| t.kind == TokenKind::Number);
                asks.direction = has(DIRECTION_WORDS);
                asks.polarity = has(&["whether"]);
            }
            return asks;
        }
        asks.anything = true;
        for q in questions {
            let word = |i: usize| q.word(i as isize);
            let has = |list: &[&str]| q.tokens.iter().any(|t| list.contains(&t.lower.as_str()));
            let quantity_after_wh = (0..q.tokens.len()).any(|i| {
                (word(i) == "how" && HOW_QUANTITY.contains(&word(i + 1)))
                    || (matches!(word(i), "what" | "which")
                        && (i + 1..=i + 3).any(|j| QUANTITY_WORDS.contains(&word(j))))
            });
            asks.quantity |= !english || quantity_after_wh || word(0) == "when";
            asks.direction |= has(DIRECTION_WORDS);
            asks.polarity |= POLARITY_OPENERS.contains(&word(0)) || has(&["whether"]);
        }
        asks
    }
}

/// The anchors of one query.
#[derive(Debug, Clone)]
pub struct QueryAnchors {
    /// Stem → the query's word.
    stems: HashMap<String, String>,
    english: bool,
    /// What the query asks.
    asks: Asks,
}

impl QueryAnchors {
    /// The anchors of `query` against a corpus's `rarity`.
    pub fn new(query: &str, english: bool, rarity: &TermRarity) -> Self {
        let sentences = text::sentences(query);
        let mut stems = HashMap::new();
        for t in sentences.iter().flat_map(|s| &s.tokens) {
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
        QueryAnchors {
            stems,
            english,
            asks: Asks::of(query, &sentences, english),
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
            FamilyName::Number => self.asks.quantity,
            FamilyName::Negation => self.asks.polarity || self.asks.direction,
            // A comparative changes a degree, which does not flip a yes or no ("fell by less than
            // 40 percent" still says the price fell).
            FamilyName::Comparative => self.asks.direction || self.asks.quantity,
            FamilyName::Antonym => self.asks.anything,
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
        if family == FamilyName::Number && counts_something_else(sentence, found, c) {
            return Err(Rejection::OffQuery);
        }
        let anchor = if family == FamilyName::Antonym {
            found.edited_term(sentence, c.start, c.end)
        } else {
            found.anchor(sentence, c.start, c.end)
        };
        anchor.ok_or(Rejection::OffQuery)
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

    /// The query term an edit of bytes `start..end` replaces, if it replaces one: an antonym
    /// must flip a property the query itself names ("objective evaluation" → "a subjective
    /// measure"), not qualify a word next to a query term.
    pub fn edited_term(&self, sentence: &Sentence, start: usize, end: usize) -> Option<Anchor> {
        // The same word, not one sharing its stem ("subjective" is not "subject").
        edited_tokens(sentence, start, end)
            .find_map(|i| self.terms[i].filter(|term| *term == sentence.tokens[i].lower))
            .map(|term| Anchor {
                term: term.to_string(),
                distance: 0,
            })
    }

    /// The closest anchor of an edit of bytes `start..end` in `sentence` (the sentence these
    /// terms were found in), if one lies within [`WINDOW`] words in the same clause.
    pub fn anchor(&self, sentence: &Sentence, start: usize, end: usize) -> Option<Anchor> {
        let tokens = &sentence.tokens;
        let edited: Vec<usize> = edited_tokens(sentence, start, end).collect();
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
                .any(|t| text::CLAUSE_STOPS.contains(&t.lower.as_str()))
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

/// Whether a number edit changes the count or measure of something the query does not name:
/// the words it counts (`79,831 cards`, `two catalog studies`) or measures (`95 percent of the
/// energy`), read after its units, hold no query term. A bare number (`from 8.8 to 9.8 cents`,
/// `between 40 and 81`) or one of a query term (`81 thousand worker bees`, `40 milligrams of
/// caffeine`) passes.
fn counts_something_else(sentence: &Sentence, found: &SentenceAnchors<'_>, c: &Candidate) -> bool {
    let Some(last) = edited_tokens(sentence, c.start, c.end).last() else {
        return false;
    };
    let word = |i: usize| sentence.word(i as isize);
    let mut i = last + 1;
    while MEASURE_WORDS.contains(&word(i)) {
        i += 1;
    }
    if word(i) == "of" {
        i += 1;
        while matches!(word(i), "the" | "a" | "an" | "all" | "its" | "their") {
            i += 1;
        }
    }
    // The counted noun phrase: up to two content words (`worker bees`, `catalog cards`).
    let phrase: Vec<usize> = (i..i + 2)
        .take_while(|&j| {
            sentence
                .tokens
                .get(j)
                .is_some_and(|t| t.kind == TokenKind::Word && !text::is_stopword(&t.lower))
        })
        .collect();
    !phrase.is_empty() && phrase.iter().all(|&j| found.terms[j].is_none())
}

/// The tokens of `sentence` that an edit of bytes `start..end` touches (an insertion touches
/// the token at `start`).
fn edited_tokens(sentence: &Sentence, start: usize, end: usize) -> impl Iterator<Item = usize> + '_ {
    let tokens = &sentence.tokens;
    (0..tokens.len()).filter(move |&i| tokens[i].start < end.max(start + 1) && tokens[i].end > start)
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
        assert!(
            !yes_no.asks_for(FamilyName::Comparative),
            "a degree does not flip a yes or no"
        );
        assert!(QueryAnchors::new("the effect of automation on staff", true, &rarity).asks_for(FamilyName::Negation));
    }

    #[test]
    fn what_a_query_asks_is_read_from_its_questions() {
        let none = TermRarity::default();
        let asks = |q: &str, f: FamilyName| QueryAnchors::new(q, true, &none).asks_for(f);
        // Numbers and quantity words in a statement ask for nothing; the question asks for attempts.
        let statement_then_question = "Fifty journals appear every year, one million articles. \
                                       What attempts have been made to cope with this amount of publication?";
        assert!(!asks(statement_then_question, FamilyName::Number));
        assert!(asks("What is the growth rate of journals?", FamilyName::Number));
        assert!(asks("When did catalogues go online?", FamilyName::Number));
        // A keyword query is read whole; a long statement (an abstract used as a query) asks nothing.
        assert!(asks("cost of library catalog cards", FamilyName::Number));
        let abstract_query = "The frequency characteristics of terms in the documents of a collection have \
                              been used as indicators of term importance for content analysis and indexing.";
        for family in FamilyName::ALL {
            assert!(!asks(abstract_query, family), "{family:?}");
        }
    }

    /// The anchor of a candidate that replaces `word` of `sentence` by `family`, for `query`.
    fn anchor_of(query: &str, sentence_text: &str, word: &str, family: FamilyName) -> Result<Anchor, Rejection> {
        let a = QueryAnchors::new(query, true, &TermRarity::default());
        let s = sentence(sentence_text);
        let t = s.tokens.iter().find(|t| t.lower == word).unwrap();
        let c = Candidate {
            start: t.start,
            end: t.end,
            replacement: "x".into(),
            direction: String::new(),
        };
        a.anchor_edit(family, &s, &a.in_sentence(&s), &c)
    }

    #[test]
    fn a_number_must_count_what_the_query_asks_about() {
        let query = "How much do catalog systems cost?";
        let number = FamilyName::Number;
        assert_eq!(
            anchor_of(
                query,
                "Production costs of 79,831 cards are analyzed.",
                "79,831",
                number
            ),
            Err(Rejection::OffQuery)
        );
        assert!(anchor_of(query, "Costs per card ranged from 8.8 to 9.8 cents.", "8.8", number).is_ok());
        assert!(
            anchor_of(
                query,
                "The total cost was 40 percent of the catalog budget.",
                "40",
                number
            )
            .is_ok()
        );
        assert_eq!(
            anchor_of(
                query,
                "Catalog costs fell by 95 percent of the energy bill.",
                "95",
                number
            ),
            Err(Rejection::OffQuery)
        );
    }

    #[test]
    fn an_antonym_must_replace_the_query_s_own_word() {
        let antonym = FamilyName::Antonym;
        let query = "Is subject indexing objective?";
        assert!(
            anchor_of(
                query,
                "It gives an objective measure of indexing.",
                "objective",
                antonym
            )
            .is_ok()
        );
        // "subjective" shares a stem with "subject" but is not the word the query asks about.
        assert_eq!(
            anchor_of(query, "A subjective evaluation of indexing.", "subjective", antonym),
            Err(Rejection::OffQuery)
        );
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
