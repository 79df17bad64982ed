//! Numbers and quantities: a count, measure, percentage or year changed to a plausible different
//! value. Enumerators, citation markers, labels (`Table 3`, `type 2`), ids, the pronoun `one` and
//! numbers glued to letters are left alone; percentages stay at or under 100; a bound of a range
//! stays on its side of the other bound. The base and exponent of scientific notation (`5.5 x
//! 10^-5`) and numbers that name a kind rather than a count (`two-dimensional`, `two-tailed`) are
//! not quantities and are left alone too.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::text::{Sentence, Token, TokenKind, match_case};
use super::{Candidate, Family, FamilyName};

/// The number family.
pub struct Numbers;

/// Words before a number that make it a label or an id, not a quantity.
const LABELS: &[&str] = &[
    "chapter",
    "chapters",
    "section",
    "sections",
    "figure",
    "figures",
    "fig",
    "figs",
    "table",
    "tables",
    "equation",
    "equations",
    "eq",
    "eqs",
    "page",
    "pages",
    "pp",
    "p",
    "vol",
    "volume",
    "volumes",
    "no",
    "nos",
    "number",
    "item",
    "items",
    "step",
    "steps",
    "phase",
    "version",
    "v",
    "type",
    "types",
    "class",
    "grade",
    "level",
    "part",
    "parts",
    "appendix",
    "ref",
    "refs",
    "reference",
    "references",
    "model",
    "series",
    "room",
    "route",
    "form",
    "article",
    "rule",
    "issue",
    "id",
    "code",
    "experiment",
    "study",
    "group",
    "case",
    "example",
    "question",
    "exercise",
    "stage",
    "session",
    "trial",
    "week",
    "day",
    "lot",
    "unit",
    "grant",
    "patent",
    "iso",
    "ieee",
    "rfc",
    "b",
    "c",
    "#",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
];

/// Words before a four-digit number that make it a year we may move.
const YEAR_CONTEXT: &[&str] = &[
    "in", "since", "until", "till", "by", "from", "during", "after", "before", "the", "early", "late", "mid",
    "between", "and", "to", "of",
];

const SMALL: &[&str] = &[
    "",
    "",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
];
const TENS: &[&str] = &[
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];
const MULTIPLIERS: &[&str] = &[
    "hundred",
    "hundreds",
    "thousand",
    "thousands",
    "million",
    "millions",
    "billion",
];
const RANGE_LINKS: &[&str] = &["-", "–", "to", "or"];
/// Multiplication signs of scientific notation (`5.5 x 10`).
const TIMES: &[&str] = &["x", "×", "*", "·"];
/// Signs between a base and its exponent (`10^-5`, `10**3`, `10 -5` in scanned text).
const EXPONENT_SIGNS: &[&str] = &["^", "**", "-", "−", "+"];
/// Words after a number (with or without a hyphen) that make it the name of a kind, not a count:
/// `two-dimensional bodies` are not `four-dimensional` by a change of quantity.
const KIND_WORDS: &[&str] = &[
    "dimensional",
    "dimension",
    "dimensions",
    "sided",
    "tailed",
    "way",
    "body",
    "valued",
    "phase",
    "stroke",
];

impl Family for Numbers {
    fn name(&self) -> FamilyName {
        FamilyName::Number
    }

    fn candidates(&self, text: &str, s: &Sentence, rng: &mut ChaCha8Rng, out: &mut Vec<Candidate>) {
        for i in 0..s.tokens.len() {
            let t = &s.tokens[i];
            if in_scientific_notation(s, i) || names_a_kind(s, i) {
                continue;
            }
            let found = match t.kind {
                TokenKind::Number => digits(text, s, i, rng),
                TokenKind::Word => word(s, i, rng),
                TokenKind::Punct => None,
            };
            if let Some((replacement, direction)) = found {
                out.push(Candidate {
                    start: t.start,
                    end: t.end,
                    replacement: match_case(&text[t.start..t.end], &replacement),
                    direction,
                });
            }
        }
    }

    fn vocabulary(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Whether token `i` is the base or the exponent of scientific notation: `10` after a
/// multiplication sign or before `^`/`**`, or a number after such a base (`5.5 x 10^-5`,
/// `5.5 x 10 -5`, `10^3`). The mantissa (`5.5`) is a quantity and stays editable.
fn in_scientific_notation(s: &Sentence, i: usize) -> bool {
    let i = i as isize;
    let times = |j: isize| TIMES.contains(&s.word(j));
    let is_base = |j: isize| s.word(j) == "10" && (times(j - 1) || matches!(s.word(j + 1), "^" | "**"));
    if is_base(i) {
        return true;
    }
    // The exponent: right after the base, or after a sign that follows it.
    is_base(i - 1) || (EXPONENT_SIGNS.contains(&s.word(i - 1)) && (is_base(i - 2) || s.word(i - 2) == "^"))
}

/// Whether token `i` names a kind (`two-dimensional`, `3-D`, `two-tailed test`) rather than
/// counting something.
fn names_a_kind(s: &Sentence, i: usize) -> bool {
    let i = i as isize;
    if s.word(i + 1) == "-" {
        // `3-D` but not `3 d` (days).
        KIND_WORDS.contains(&s.word(i + 2)) || s.word(i + 2) == "d"
    } else {
        KIND_WORDS.contains(&s.word(i + 1))
    }
}

/// The word before token `i`, skipping one full stop (`Fig. 3`).
fn word_before(s: &Sentence, i: usize) -> &str {
    let i = i as isize;
    if s.word(i - 1) == "." {
        s.word(i - 2)
    } else {
        s.word(i - 1)
    }
}

/// A label or an id, by the word before it.
fn is_label(s: &Sentence, i: usize) -> bool {
    LABELS.contains(&word_before(s, i))
}

/// A member of a comma-separated list of numbers ("3, 1, 1, 1" keys, coordinates).
fn in_number_list(s: &Sentence, i: usize) -> bool {
    let number_at = |j: isize| j >= 0 && s.tokens.get(j as usize).is_some_and(|t| t.kind == TokenKind::Number);
    let i = i as isize;
    (s.word(i + 1) == "," && number_at(i + 2)) || (s.word(i - 1) == "," && number_at(i - 2))
}

/// The other bound when token `i` is one end of a range (`40-81`, `from 2 to 5`, `between 4 and 9`):
/// `(other value, i is the lower bound)`.
fn range_partner(s: &Sentence, i: usize, value: impl Fn(&Token) -> Option<f64>) -> Option<(f64, bool)> {
    let link = |j: usize| {
        let l = s.word(j as isize);
        RANGE_LINKS.contains(&l) || (l == "and" && s.word(j as isize - 2) == "between")
    };
    let after = link(i + 1).then(|| s.tokens.get(i + 2).and_then(&value)).flatten();
    if let Some(v) = after {
        return Some((v, true));
    }
    if i >= 2
        && (RANGE_LINKS.contains(&s.word(i as isize - 1))
            || (s.word(i as isize - 1) == "and" && s.word(i as isize - 3) == "between"))
    {
        return value(&s.tokens[i - 2]).map(|v| (v, false));
    }
    None
}

fn parse_digits(raw: &str) -> Option<f64> {
    let groups: Vec<&str> = raw.split('.').collect();
    if groups.len() > 2 {
        return None;
    }
    let whole = groups[0];
    if whole.contains(',') {
        let parts: Vec<&str> = whole.split(',').collect();
        if parts[0].is_empty() || parts[0].len() > 3 || parts[1..].iter().any(|p| p.len() != 3) {
            return None;
        }
    }
    raw.replace(',', "").parse().ok()
}

fn number_value(t: &Token) -> Option<f64> {
    match t.kind {
        TokenKind::Number => parse_digits(&t.lower),
        TokenKind::Word => word_value(&t.lower).map(f64::from),
        TokenKind::Punct => None,
    }
}

fn word_value(w: &str) -> Option<u32> {
    if let Some(i) = SMALL.iter().position(|x| !x.is_empty() && *x == w) {
        return Some(i as u32);
    }
    TENS.iter().position(|x| *x == w).map(|i| 20 + 10 * i as u32)
}

/// A digit number's new text and direction key: the value pair (`100>200`), so a value that
/// always maps to the same one (round numbers) is balanced against its reverse, or `None` where it must not be edited.
fn digits(text: &str, s: &Sentence, i: usize, rng: &mut ChaCha8Rng) -> Option<(String, String)> {
    let t = &s.tokens[i];
    let raw = &text[t.start..t.end];
    let value = parse_digits(raw)?;
    let before = text[..t.start].chars().next_back();
    let after = text[t.end..].chars().next();
    let next = s.word(i as isize + 1);
    let percent = next == "%" || next == "percent" || (next == "per" && s.word(i as isize + 2) == "cent");
    // Scripts written without spaces put numbers right against their words (`有2154万人`), and
    // have punctuation of their own: both are boundaries there.
    let boundary = |c: char| c.is_whitespace() || crate::terms::is_unspaced_script(c);
    // Glued to letters, slashes or brackets: an id, a citation marker or an enumerator.
    if before.is_some_and(|c| !(boundary(c) || "(~$£€≈（，、：".contains(c)))
        || before == Some('(') && !percent
        || after.is_some_and(|c| !(boundary(c) || ",;:%.-–)，。、；：）％".contains(c)))
        // "1)" and "(1)" are enumerators; "(n = 30)" is a quantity.
        || after == Some(')') && (before == Some('(') || i == 0 || s.tokens[i - 1].kind == TokenKind::Punct && s.word(i as isize - 1) != "=")
        || (i == 0 && matches!(next, "." | ")" | ":"))
        || next == ":"
        || is_label(s, i)
        || in_number_list(s, i)
        || (matches!(s.word(i as isize - 1), "<" | ">" | "=" | "≤" | "≥") && s.word(i as isize - 2) == "p")
    {
        return None;
    }
    let decimals = raw.split_once('.').map_or(0, |(_, d)| d.len());
    let is_year = decimals == 0 && !raw.contains(',') && raw.len() == 4 && (1000.0..=2100.0).contains(&value);
    if is_year {
        let open = text[s.start..t.start].matches('(').count();
        let close = text[s.start..t.start].matches(')').count();
        if open > close || !YEAR_CONTEXT.contains(&word_before(s, i)) {
            return None;
        }
        let up = rng.random_bool(0.5);
        let delta = f64::from(rng.random_range(2..=10u32));
        let range = range_partner(s, i, number_value);
        return [up, !up].into_iter().find_map(|up| {
            let new = if up { value + delta } else { value - delta };
            let ordered = range.is_none_or(|(other, lower_bound)| if lower_bound { new < other } else { new > other });
            ((1000.0..=2100.0).contains(&new) && ordered).then(|| (format!("{new:.0}"), format!("{raw}>{new:.0}")))
        });
    }
    if decimals == 0 && value < 2.0 || value == 0.0 {
        return None;
    }
    let range = range_partner(s, i, number_value);
    let up = rng.random_bool(0.5);
    let factors = (rng.random_range(1.5..2.5), rng.random_range(0.4..0.67));
    [up, !up].into_iter().find_map(|up| {
        let new = scaled(raw, value, decimals, if up { factors.0 } else { factors.1 }, up)?;
        let ordered = range.is_none_or(|(other, lower_bound)| if lower_bound { new.1 < other } else { new.1 > other });
        let bounded = !percent || value > 100.0 || new.1 <= 100.0;
        (ordered && bounded).then(|| (new.0.clone(), format!("{raw}>{}", new.0)))
    })
}

/// `value × factor` written like `raw` (same decimals, same trailing zeros, separators kept).
fn scaled(raw: &str, value: f64, decimals: usize, factor: f64, up: bool) -> Option<(String, f64)> {
    if decimals > 0 {
        let mut new = format!("{:.*}", decimals, value * factor);
        if new == raw.replace(',', "") {
            let step = 10f64.powi(-(decimals as i32));
            new = format!("{:.*}", decimals, if up { value + step } else { value - step });
        }
        let v: f64 = new.parse().ok()?;
        return (v > 0.0).then_some((new, v));
    }
    let whole = value as u64;
    let zeros = raw
        .replace(',', "")
        .chars()
        .rev()
        .take_while(|&c| c == '0')
        .count()
        .min(raw.len() - 1) as u32;
    let step = 10u64.pow(zeros);
    let mut new = ((value * factor / step as f64).round() as u64) * step;
    if new == whole {
        new = if up { whole + step } else { whole.saturating_sub(step) };
    }
    if new < 2 {
        return None;
    }
    let text = if raw.contains(',') {
        with_separators(new)
    } else {
        new.to_string()
    };
    Some((text, new as f64))
}

fn with_separators(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A number word's new word and direction key (`two>four`), or `None` where it must not be edited.
fn word(s: &Sentence, i: usize, rng: &mut ChaCha8Rng) -> Option<(String, String)> {
    let w = s.tokens[i].lower.as_str();
    let value = word_value(w)?;
    let (prev, next) = (s.word(i as isize - 1), s.word(i as isize + 1));
    let compound = |j: isize| s.word(j) == "-" && word_value(s.word(j + if j > i as isize { 1 } else { -1 })).is_some();
    // Fractions: "four-fifths", "two-thirds".
    let fraction = next == "-" && {
        let after = s.word(i as isize + 2);
        after.ends_with("th")
            || after.ends_with("ths")
            || after.starts_with("third")
            || after.starts_with("half")
            || after.starts_with("halves")
            || after.starts_with("quarter")
    };
    if is_label(s, i)
        || compound(i as isize - 1)
        || compound(i as isize + 1)
        || fraction
        || prev == "the" && next == "of"
    {
        return None;
    }
    if value > 9 && MULTIPLIERS.contains(&next) {
        return None;
    }
    let choices: Vec<u32> = if TENS.contains(&w) {
        (2..=9).map(|k| k * 10).collect()
    } else if value <= 9 {
        (2..=9).collect()
    } else {
        (10..=20).collect()
    };
    let range = range_partner(s, i, number_value);
    let options: Vec<u32> = choices
        .iter()
        .copied()
        .filter(|&c| c != value)
        .filter(|&c| {
            range.is_none_or(|(other, lower_bound)| {
                if lower_bound {
                    f64::from(c) < other
                } else {
                    f64::from(c) > other
                }
            })
        })
        .collect();
    // Small counts are far more common in text than large ones; drawing the new value with
    // weight 1/n² keeps the edited texts' number words distributed like the sources' (drawing
    // uniformly makes "seven" and "nine" a cue that a text was edited).
    let weights: Vec<f64> = options.iter().map(|&c| 1.0 / f64::from(c * c)).collect();
    let total: f64 = weights.iter().sum();
    if options.is_empty() {
        return None;
    }
    let mut draw = rng.random_range(0.0..total);
    let mut new = options[options.len() - 1];
    for (&c, &wgt) in options.iter().zip(&weights) {
        if draw < wgt {
            new = c;
            break;
        }
        draw -= wgt;
    }
    let name = if TENS.contains(&w) {
        TENS[(new / 10 - 2) as usize]
    } else {
        SMALL[new as usize]
    };
    Some((name.to_string(), format!("{w}>{name}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perturb::text::sentences;
    use rand::SeedableRng;

    fn edits(text: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for seed in 0..20 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            for s in sentences(text) {
                let mut c = Vec::new();
                Numbers.candidates(text, &s, &mut rng, &mut c);
                out.extend(c.into_iter().map(|c| (text[c.start..c.end].to_string(), c.replacement)));
            }
        }
        out
    }

    #[test]
    fn quantities_change_and_keep_their_form() {
        for (orig, new) in edits("About 1,200 people and 30 percent of 3.5 tonnes.") {
            assert_ne!(orig, new);
            match orig.as_str() {
                "1,200" => {
                    let v: u32 = new.replace(',', "").parse().unwrap();
                    assert!(new.ends_with("00") && new.contains(',') == (v >= 1000), "{new}");
                }
                "30" => assert!(new.parse::<u32>().unwrap() <= 100),
                "3.5" => assert!(new.contains('.') && new.len() == 3, "{new}"),
                other => panic!("edited {other}"),
            }
        }
    }

    #[test]
    fn labels_citations_enumerators_and_ids_are_left_alone() {
        let text = "See Table 3 and Fig. 2 in /9/ [12] (1) covid-19 A1 one 1. Type 2 diabetes rose (Smith, 1980). \
                    Keys 3, 1, 1, 1 and four-fifths of p < 0.05; 2) next.";
        assert_eq!(edits(text), Vec::<(String, String)>::new());
    }

    #[test]
    fn scientific_notation_keeps_its_base_and_exponent() {
        let e = edits("The flux was 5.5 x 10 -5 and the rate 3 × 10^8 or 10^4 in total.");
        let edited: std::collections::BTreeSet<&str> = e.iter().map(|(o, _)| o.as_str()).collect();
        assert_eq!(edited.into_iter().collect::<Vec<_>>(), ["3", "5.5"]);
    }

    #[test]
    fn numbers_that_name_a_kind_are_left_alone() {
        let e = edits("Two-dimensional bodies, a 3-D model, a two tailed test and two samples.");
        assert!(!e.is_empty() && e.iter().all(|(o, _)| o == "two"), "{e:?}");
    }

    #[test]
    fn counts_in_parentheses_are_quantities() {
        let e = edits("We asked users (n = 30).");
        assert!(!e.is_empty() && e.iter().all(|(o, _)| o == "30"));
    }

    #[test]
    fn ranges_stay_ordered() {
        for (orig, new) in edits("Colonies hold between 40 and 81 thousand bees, from two to four queens.") {
            let n: f64 = number_value(&crate::perturb::text::tokens(&new, 0)[0]).unwrap();
            match orig.as_str() {
                "40" => assert!(n < 81.0),
                "81" => assert!(n > 40.0),
                "two" => assert!(n < 4.0),
                "four" => assert!(n > 2.0),
                other => panic!("edited {other}"),
            }
        }
    }

    #[test]
    fn years_move_only_in_context() {
        let e = edits("The 1980 eruption was studied in 1985.");
        assert!(e.iter().all(|(o, n)| {
            let d = (o.parse::<i32>().unwrap() - n.parse::<i32>().unwrap()).abs();
            (2..=10).contains(&d)
        }));
        assert!(!e.is_empty());
    }

    #[test]
    fn number_words_stay_in_their_class() {
        for (orig, new) in edits("Two methods and twenty samples.") {
            let v = word_value(&new.to_lowercase()).unwrap();
            match orig.as_str() {
                "Two" => assert!((3..=9).contains(&v) && new.starts_with(char::is_uppercase)),
                "twenty" => assert!(v.is_multiple_of(10) && v >= 30 || (10..20).contains(&v)),
                other => panic!("edited {other}"),
            }
        }
    }

    #[test]
    fn numbers_against_chinese_and_japanese_words_are_quantities() {
        let zh = edits("北京有2154万常住人口，地铁总里程超过700公里。");
        let edited: std::collections::BTreeSet<&str> = zh.iter().map(|(o, _)| o.as_str()).collect();
        assert_eq!(edited.into_iter().collect::<Vec<_>>(), ["2154", "700"]);
        assert!(zh.iter().all(|(o, n)| o != n && n.chars().all(|c| c.is_ascii_digit())));
        assert!(
            edits("東京スカイツリーの高さは634メートルである。")
                .iter()
                .all(|(o, _)| o == "634")
        );
        assert!(!edits("東京スカイツリーの高さは634メートルである。").is_empty());
        // Ids glued to Latin letters stay untouched in any script.
        assert!(edits("型号A320的飞机").is_empty());
    }
}
