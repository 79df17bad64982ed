//! Terms of a text in any language and script: the one tokenizer of every part that compares texts
//! by their words (the lexical false-negative filter's BM25, counterfactual targeting).
//!
//! - Unicode normalization NFKC (full-width forms, ligatures and compatibility characters become
//!   their plain forms), then lower case with the full case folding of `ß` (→ `ss`) and final
//!   sigma, so `STRASSE`, `Straße` and `straße` are one term.
//! - Words by Unicode word segmentation (UAX #29): `can't`, `3.5` and `e.g` stay whole; digits
//!   next to other scripts split off (`2008年` → `2008`, `年`).
//! - Scripts written without spaces between words become overlapping character bigrams, as
//!   Lucene's CJK analyzer does: Han ideographs, hiragana and katakana (`北京首都` → `北京`,
//!   `京首`, `首都`), and Thai, Lao, Khmer and Myanmar, which UAX #29 cannot segment without a
//!   dictionary (their grapheme clusters, marks kept on their letters, are paired the same way). A
//!   lone character is a term of its own.
//! - Punctuation and symbols are not terms. No stemming here; [`crate::language`] says when the
//!   English stemmer applies.

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};
use unicode_segmentation::UnicodeSegmentation;

/// Whether `c` belongs to a script written without spaces between words.
pub fn is_unspaced_script(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF     // hiragana, katakana
        | 0x31F0..=0x31FF   // katakana phonetic extensions
        | 0x3400..=0x4DBF   // Han extension A
        | 0x4E00..=0x9FFF   // Han
        | 0xF900..=0xFAFF   // Han compatibility
        | 0x20000..=0x3FFFF // Han extensions B and later
        | 0x0E00..=0x0EFF   // Thai, Lao
        | 0x1000..=0x109F   // Myanmar
        | 0x1780..=0x17FF   // Khmer
    )
}

/// Lower case with full case folding where it differs from lower-casing in common text.
fn fold(word: &str) -> String {
    let lower = word.to_lowercase();
    if lower.contains(['ß', 'ς']) {
        lower.replace('ß', "ss").replace('ς', "σ")
    } else {
        lower
    }
}

/// Calls `each` with every term of `text`, in order. Word segmentation never joins across
/// whitespace, so the text is cut at ASCII whitespace first: pure-ASCII pieces (most of English
/// text) take [`ascii_terms`], the rest the full Unicode path; both give the same terms.
pub fn for_each_term(text: &str, mut each: impl FnMut(String)) {
    for piece in text.split_ascii_whitespace() {
        if piece.is_ascii() {
            ascii_terms(piece, &mut each);
        } else {
            unicode_terms(piece, &mut each);
        }
    }
}

/// Word segmentation (UAX #29) of ASCII text: letters, digits and `_` join; `:`, `.` and `'`
/// join two letters (`can't`, `e.g`); `,`, `;`, `.` and `'` join two digits (`3.5`, `1,000`).
fn ascii_terms(text: &str, each: &mut impl FnMut(String)) {
    let b = text.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < b.len() {
        if !word(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        loop {
            if i < b.len() && word(b[i]) {
                i += 1;
            } else if i + 1 < b.len() && word(b[i + 1]) {
                let (prev, mid, next) = (b[i - 1], b[i], b[i + 1]);
                let letters =
                    prev.is_ascii_alphabetic() && next.is_ascii_alphabetic() && matches!(mid, b':' | b'.' | b'\'');
                let digits =
                    prev.is_ascii_digit() && next.is_ascii_digit() && matches!(mid, b',' | b';' | b'.' | b'\'');
                if !(letters || digits) {
                    break;
                }
                i += 2;
            } else {
                break;
            }
        }
        let w = &b[start..i];
        if w.iter().any(u8::is_ascii_alphanumeric) {
            each(text[start..i].to_ascii_lowercase());
        }
    }
}

/// The full path: NFKC, word segmentation, bigrams of unspaced scripts, case folding.
fn unicode_terms(text: &str, each: &mut impl FnMut(String)) {
    let normalized;
    let text = if is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        text
    } else {
        normalized = text.nfkc().collect::<String>();
        &normalized
    };
    // Grapheme clusters of the current run of unspaced script, paired into bigrams when it ends.
    let mut run: Vec<&str> = Vec::new();
    let flush = |run: &mut Vec<&str>, each: &mut dyn FnMut(String)| {
        match run.len() {
            0 => {}
            1 => each(fold(run[0])),
            _ => run.windows(2).for_each(|w| each(fold(&[w[0], w[1]].concat()))),
        }
        run.clear();
    };
    for segment in text.split_word_bounds() {
        if segment.chars().all(is_unspaced_script) {
            run.extend(segment.graphemes(true));
            continue;
        }
        // Combining marks cluster with the letter before them: a Thai cluster whose base is
        // unspaced script still counts as one.
        if !run.is_empty() && segment.chars().next().is_some_and(is_unspaced_script) {
            run.extend(segment.graphemes(true));
            continue;
        }
        flush(&mut run, each);
        if segment.chars().any(char::is_alphanumeric) {
            // NFKC can leave a space before a combining mark (`ﹲ` → ` ٌ`), which segments as one.
            if segment.contains(char::is_whitespace) {
                each(fold(&segment.replace(char::is_whitespace, "")));
            } else {
                each(fold(segment));
            }
        }
    }
    flush(&mut run, each);
}

/// The terms of `text`, in order.
pub fn terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_term(text, |t| out.push(t));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn english_words_stay_whole_and_lower_case() {
        assert_eq!(
            terms("Can't stop: 3.5 kg, e.g. ROCKETS!"),
            ["can't", "stop", "3.5", "kg", "e.g", "rockets"]
        );
        assert_eq!(terms("Café, NAÏVE-test 42"), ["café", "naïve", "test", "42"]);
    }

    #[test]
    fn han_and_kana_become_overlapping_bigrams() {
        assert_eq!(
            terms("北京是中国的首都"),
            ["北京", "京是", "是中", "中国", "国的", "的首", "首都"]
        );
        assert_eq!(terms("東京タワー"), ["東京", "京タ", "タワ", "ワー"]);
        // A lone ideograph between punctuation is a term of its own.
        assert_eq!(terms("（水）"), ["水"]);
    }

    #[test]
    fn mixed_script_keeps_latin_words_and_digits_apart_from_han_bigrams() {
        assert_eq!(
            terms("北京有2154万人口，GDP增长了5%。"),
            ["北京", "京有", "2154", "万人", "人口", "gdp", "增长", "长了", "5"]
        );
    }

    #[test]
    fn nfkc_and_case_folding_join_variant_spellings() {
        // Full-width Latin letters and digits, a ligature, sharp s.
        assert_eq!(terms("ＧＤＰ ２０２０"), ["gdp", "2020"]);
        assert_eq!(terms("ﬁnal"), ["final"]);
        assert_eq!(terms("STRASSE Straße"), ["strasse", "strasse"]);
    }

    #[test]
    fn thai_clusters_pair_with_their_marks() {
        let t = terms("กรุงเทพ");
        assert!(t.len() >= 2, "{t:?}");
        assert!(t.iter().all(|b| b.chars().all(is_unspaced_script)), "{t:?}");
        assert_eq!(t.concat().chars().filter(|c| *c == 'ก').count(), 1);
    }

    #[test]
    fn a_compatibility_form_that_normalizes_to_space_and_mark_is_one_term_without_the_space() {
        assert_eq!(terms("ﹲ"), ["\u{64c}"]);
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"))),
            ..ProptestConfig::default()
        })]

        #[test]
        fn terms_never_panic_and_are_never_empty(text in "\\PC{0,64}") {
            for term in terms(&text) {
                prop_assert!(!term.is_empty());
                prop_assert!(!term.chars().any(char::is_whitespace));
            }
        }

        #[test]
        fn the_ascii_path_segments_as_the_unicode_path_does(text in "[a-zA-Z0-9_.,;:'\"()!?/ -]{0,40}") {
            let (mut fast, mut full) = (Vec::new(), Vec::new());
            for piece in text.split_ascii_whitespace() {
                ascii_terms(piece, &mut |t| fast.push(t));
                unicode_terms(piece, &mut |t| full.push(t));
            }
            prop_assert_eq!(fast, full);
        }

        #[test]
        fn terms_of_arbitrary_scripts_are_deterministic(text in "[\\p{Han}\\p{Hiragana}\\p{Thai}a-zA-Z0-9 ，。]{0,40}") {
            prop_assert_eq!(terms(&text), terms(&text));
        }
    }
}
