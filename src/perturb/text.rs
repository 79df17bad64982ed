//! Word tokens and sentences of a text, with byte offsets, for rule-based edits.

use unicode_segmentation::UnicodeSegmentation;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Letters (possibly with apostrophes or digits inside, e.g. `can't`, `h2o`).
    Word,
    /// Digits, possibly with `,` thousands separators and one decimal point.
    Number,
    /// Anything else that is not whitespace.
    Punct,
}

/// One token of a text: its byte range in the whole text and its lower-cased form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset past the last byte.
    pub end: usize,
    /// Lower-cased text.
    pub lower: String,
    /// Kind.
    pub kind: TokenKind,
}

/// Splits `text` into tokens (Unicode word boundaries, whitespace dropped), offsets relative to `base`.
pub fn tokens(text: &str, base: usize) -> Vec<Token> {
    text.split_word_bound_indices()
        .filter(|(_, w)| !w.trim().is_empty())
        .map(|(i, w)| Token {
            start: base + i,
            end: base + i + w.len(),
            lower: w.to_lowercase(),
            kind: kind_of(w),
        })
        .collect()
}

fn kind_of(w: &str) -> TokenKind {
    let first = w.chars().next().unwrap_or(' ');
    if first.is_ascii_digit() && w.chars().all(|c| c.is_ascii_digit() || c == ',' || c == '.') {
        TokenKind::Number
    } else if w.chars().any(char::is_alphanumeric) {
        TokenKind::Word
    } else {
        TokenKind::Punct
    }
}

/// One sentence of a text and its tokens.
#[derive(Debug, Clone)]
pub struct Sentence {
    /// Byte offset of the sentence in the text.
    pub start: usize,
    /// Byte offset past its end (trailing whitespace excluded).
    pub end: usize,
    /// Tokens, offsets into the whole text.
    pub tokens: Vec<Token>,
}

impl Sentence {
    /// The lower-cased token at `i`, or "" outside the sentence (so rules can look around freely).
    pub fn word(&self, i: isize) -> &str {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.tokens.get(i))
            .map_or("", |t| t.lower.as_str())
    }
}

/// Tokens that end a clause or a list item (`;`, `,`, brackets, `and`, `but`, `which`, …): an edit
/// is anchored to, and checked against, the words of its own clause only.
pub const CLAUSE_STOPS: &[&str] = &[
    ";", ":", ",", "(", ")", "[", "]", "and", "or", "but", "whereas", "while", "which", "although",
];

/// Abbreviations after which a full stop does not end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "al", "e.g", "i.e", "eg", "ie", "fig", "figs", "vs", "approx", "ca", "cf", "dr", "mr", "mrs", "ms", "prof", "no",
    "nos", "vol", "vols", "pp", "p", "eq", "eqs", "ref", "refs", "resp", "st", "etc", "jr", "sr", "inc", "ltd", "co",
    "u.s", "viz", "sec", "sect", "ch", "chap", "ed", "eds", "dept", "univ", "incl", "esp", "ibid", "op", "cit",
];

/// Splits a text into sentences: Unicode sentence boundaries, repaired after abbreviations and
/// initials, and also split where a full stop is followed by a lower-case word (as scanned and
/// technical abstracts often read: "… was measured. the rate …"), which Unicode's rules join.
pub fn sentences(text: &str) -> Vec<Sentence> {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for (i, s) in text.split_sentence_bound_indices() {
        let trimmed = s.trim_end();
        if trimmed.trim_start().is_empty() {
            continue;
        }
        let lead = s.len() - s.trim_start().len();
        let span = (i + lead, i + trimmed.len());
        match spans.last_mut() {
            // A Unicode split after an abbreviation or an initial is repaired.
            Some(last) if ends_with_abbreviation(&text[last.0..last.1]) => last.1 = span.1,
            _ => spans.push(span),
        }
    }
    spans
        .into_iter()
        .flat_map(|span| split_before_lower_case(text, span))
        .map(|(start, end)| Sentence {
            start,
            end,
            tokens: tokens(&text[start..end], start),
        })
        .collect()
}

/// Whether a piece ending in `prev` ends with an abbreviation or an initial ("et al.", "Fig.",
/// "J."), so its full stop does not end a sentence.
fn ends_with_abbreviation(prev: &str) -> bool {
    let Some(body) = prev.strip_suffix('.') else {
        return false;
    };
    let last = body
        .rsplit(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    let lower = last.to_lowercase();
    ABBREVIATIONS.contains(&lower.as_str()) || (last.chars().count() == 1 && last.chars().all(char::is_uppercase))
}

/// `span` split after every full stop that is followed by white space and a lower-case word,
/// unless the stop ends an abbreviation or an initial.
fn split_before_lower_case(text: &str, (start, end): (usize, usize)) -> Vec<(usize, usize)> {
    let piece = &text[start..end];
    let mut out = Vec::new();
    let mut from = 0;
    for (i, _) in piece.match_indices(". ") {
        let rest = piece[i + 1..].trim_start();
        let opens_lower = rest.chars().next().is_some_and(char::is_lowercase);
        if opens_lower && !ends_with_abbreviation(&piece[from..=i]) {
            out.push((start + from, start + i + 1));
            from = piece.len() - rest.len();
        }
    }
    out.push((start + from, end));
    out
}

/// Function words: not content for the edit-size check or for query overlap.
const STOPWORDS: &[&str] = &[
    "a", "an", "the", "and", "or", "but", "if", "then", "so", "of", "in", "on", "at", "to", "for", "from", "by",
    "with", "as", "into", "onto", "about", "over", "under", "between", "through", "during", "within", "without", "per",
    "via", "is", "are", "was", "were", "be", "been", "being", "am", "do", "does", "did", "has", "have", "had",
    "having", "can", "could", "may", "might", "must", "shall", "should", "will", "would", "this", "that", "these",
    "those", "it", "its", "they", "them", "their", "we", "our", "us", "you", "your", "he", "she", "his", "her", "him",
    "i", "me", "my", "which", "who", "whom", "whose", "what", "when", "where", "why", "how", "there", "here", "also",
    "such", "than", "some", "any", "each", "other", "both", "all", "most", "much", "many", "very", "only", "own",
    "same", "too", "just", "one", "upon", "while", "because", "since", "until", "after", "before", "again", "further",
    "once",
];

/// Words that carry polarity: always content, whatever the stopword list says.
pub const NEGATIONS: &[&str] = &[
    "not", "no", "never", "cannot", "none", "nor", "neither", "nothing", "nobody", "nowhere", "n't",
];

/// Whether a lower-cased token is a negation word (including contractions like `isn't`).
pub fn is_negation(lower: &str) -> bool {
    NEGATIONS.contains(&lower) || lower.ends_with("n't") || lower.ends_with("n’t")
}

/// Whether a lower-cased word is a function word.
pub fn is_stopword(lower: &str) -> bool {
    STOPWORDS.contains(&lower)
}

/// Whether a lower-cased word looks like an `-ly` adverb (`rapidly`, not `fly`, `rely` or `supply`).
pub fn is_ly_adverb(lower: &str) -> bool {
    lower.len() >= 5 && lower.ends_with("ly") && !lower.ends_with("ply")
}

/// English Snowball stemmer, shared.
pub fn stem(lower: &str) -> String {
    use std::sync::OnceLock;
    static STEMMER: OnceLock<rust_stemmers::Stemmer> = OnceLock::new();
    STEMMER
        .get_or_init(|| rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English))
        .stem(lower)
        .into_owned()
}

/// Content tokens of a text (numbers included, function words out, negations in), stemmed with
/// the English stemmer when `english`, else as they are (lower case).
pub fn content_stems(tokens: &[Token], english: bool) -> Vec<String> {
    tokens
        .iter()
        .filter(|t| match t.kind {
            TokenKind::Number => true,
            TokenKind::Word => is_negation(&t.lower) || !is_stopword(&t.lower),
            TokenKind::Punct => false,
        })
        .map(|t| matching_form(t, english))
        .collect()
}

/// A token's form for matching: its English stem when `english` and a word, else its lower case.
pub fn matching_form(t: &Token, english: bool) -> String {
    if english && t.kind == TokenKind::Word {
        stem(&t.lower)
    } else {
        t.lower.clone()
    }
}

/// Lower case, punctuation dropped, whitespace collapsed: two texts equal under this are duplicates.
pub fn normalized(text: &str) -> String {
    tokens(text, 0)
        .into_iter()
        .filter(|t| t.kind != TokenKind::Punct)
        .map(|t| t.lower)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The indefinite article that goes before `word` ("a" or "an"), by its spelling.
pub fn article_for(word: &str) -> &'static str {
    let lower = word.to_lowercase();
    if lower.starts_with(|c: char| c.is_ascii_digit()) {
        let eleven = (lower.starts_with("11") || lower.starts_with("18")) && matches!(lower.len(), 2 | 5);
        return if lower.starts_with('8') || eleven { "an" } else { "a" };
    }
    let consonant_sound = ["uni", "use", "usu", "uti", "ure", "eu", "one", "once"];
    let vowel_sound = ["hour", "honest", "honour", "honor", "heir"];
    if vowel_sound.iter().any(|p| lower.starts_with(p)) {
        return "an";
    }
    if consonant_sound.iter().any(|p| lower.starts_with(p)) {
        return "a";
    }
    if lower.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// `replacement` with the capitalisation of `original` (first letter upper case, or all upper case).
pub fn match_case(original: &str, replacement: &str) -> String {
    let mut chars = original.chars();
    let first_upper = chars.next().is_some_and(char::is_uppercase);
    if first_upper && original.chars().count() > 1 && original.chars().all(|c| !c.is_lowercase()) {
        return replacement.to_uppercase();
    }
    if first_upper {
        let mut out = String::with_capacity(replacement.len());
        let mut rest = replacement.chars();
        if let Some(c) = rest.next() {
            out.extend(c.to_uppercase());
        }
        out.extend(rest);
        return out;
    }
    replacement.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_keep_numbers_and_contractions_whole() {
        let t = tokens("It isn't 1,200.5 m (30%).", 0);
        let words: Vec<&str> = t.iter().map(|t| t.lower.as_str()).collect();
        assert_eq!(words, ["it", "isn't", "1,200.5", "m", "(", "30", "%", ")", "."]);
        assert_eq!(t[2].kind, TokenKind::Number);
        assert_eq!(t[4].kind, TokenKind::Punct);
    }

    #[test]
    fn sentences_survive_abbreviations_and_initials() {
        let text = "Smith et al. found two effects, e.g. heat. J. Doe disagreed. The rest is noise.";
        let s: Vec<&str> = sentences(text).iter().map(|s| &text[s.start..s.end]).collect();
        assert_eq!(
            s,
            [
                "Smith et al. found two effects, e.g. heat.",
                "J. Doe disagreed.",
                "The rest is noise."
            ]
        );
    }

    #[test]
    fn a_full_stop_before_a_lower_case_word_ends_a_sentence_unless_it_ends_an_abbreviation() {
        let text = "The vehicle was heated to 3000 k. the ablation rate was measured, e.g. by weight. \
                    results of Smith et al. agree (cf. fig. 2). the mass is 5.5 x 10 kg.";
        let s: Vec<&str> = sentences(text).iter().map(|s| &text[s.start..s.end]).collect();
        assert_eq!(
            s,
            [
                "The vehicle was heated to 3000 k.",
                "the ablation rate was measured, e.g. by weight.",
                "results of Smith et al. agree (cf. fig. 2).",
                "the mass is 5.5 x 10 kg."
            ]
        );
    }

    #[test]
    fn articles_follow_sound() {
        assert_eq!(article_for("unstable"), "an");
        assert_eq!(article_for("useful"), "a");
        assert_eq!(article_for("decrease"), "a");
        assert_eq!(article_for("80"), "an");
        assert_eq!(article_for("hour"), "an");
    }

    #[test]
    fn case_is_carried_over() {
        assert_eq!(match_case("Increase", "decrease"), "Decrease");
        assert_eq!(match_case("two", "five"), "five");
        assert_eq!(match_case("NOT", "not"), "NOT");
    }

    #[test]
    fn content_stems_keep_negation_and_numbers() {
        let stems = content_stems(&tokens("The rates are not increasing by 5", 0), true);
        assert_eq!(stems, ["rate", "not", "increas", "5"]);
    }
}
