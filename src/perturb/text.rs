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

/// Abbreviations after which a full stop does not end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "al", "e.g", "i.e", "eg", "ie", "fig", "figs", "vs", "approx", "ca", "cf", "dr", "mr", "mrs", "ms", "prof", "no",
    "nos", "vol", "pp", "eq", "eqs", "ref", "refs", "resp", "st", "etc", "jr", "sr", "inc", "ltd", "co", "u.s",
];

/// Splits a text into sentences (Unicode sentence boundaries, repaired after abbreviations and
/// initials, and where the next piece starts in lower case).
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
            Some(last) if continues(&text[last.0..last.1], &text[span.0..span.1]) => last.1 = span.1,
            _ => spans.push(span),
        }
    }
    spans
        .into_iter()
        .map(|(start, end)| Sentence {
            start,
            end,
            tokens: tokens(&text[start..end], start),
        })
        .collect()
}

/// Whether `next` continues the sentence `prev` (a split after an abbreviation or an initial).
fn continues(prev: &str, next: &str) -> bool {
    if next
        .chars()
        .next()
        .is_some_and(|c| c.is_lowercase() || c.is_ascii_digit())
    {
        return true;
    }
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

/// Content terms of a text for matching it against a query. English: stems of its content words
/// (numbers in, function words out, negations in). Other languages: the shared lexical terms
/// ([`crate::terms`]: CJK as character bigrams, no stemming).
pub fn content_terms(text: &str, english: bool) -> Vec<String> {
    if english {
        content_stems(&tokens(text, 0), true)
    } else {
        crate::terms::terms(text)
    }
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
        .map(|t| {
            if english && t.kind == TokenKind::Word {
                stem(&t.lower)
            } else {
                t.lower.clone()
            }
        })
        .collect()
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
