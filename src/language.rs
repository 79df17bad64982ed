//! The language of a run: given with `--language`, or detected from a sample of the corpus, and
//! recorded in the manifest. It decides which rules run: the counterfactual families other than
//! numbers and the English stemmer are English rules and run only on English text; the lexical
//! terms ([`crate::terms`]) are the same for every language.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Passages read for detection, and the most text taken from them.
const SAMPLE_TEXTS: usize = 200;
const SAMPLE_BYTES: usize = 64 * 1024;

/// ISO 639-1 codes users type, with their ISO 639-3 form (the form detection reports).
const TWO_LETTER: &[(&str, &str)] = &[
    ("en", "eng"),
    ("zh", "cmn"),
    ("ja", "jpn"),
    ("ko", "kor"),
    ("de", "deu"),
    ("fr", "fra"),
    ("es", "spa"),
    ("it", "ita"),
    ("pt", "por"),
    ("nl", "nld"),
    ("ru", "rus"),
    ("uk", "ukr"),
    ("pl", "pol"),
    ("cs", "ces"),
    ("sv", "swe"),
    ("da", "dan"),
    ("fi", "fin"),
    ("tr", "tur"),
    ("ar", "arb"),
    ("fa", "pes"),
    ("he", "heb"),
    ("hi", "hin"),
    ("bn", "ben"),
    ("th", "tha"),
    ("vi", "vie"),
    ("id", "ind"),
    ("el", "ell"),
    ("hu", "hun"),
];

/// The language of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunLanguage {
    /// ISO 639-3 code (`eng`, `cmn`, `jpn`, `deu`, …), or `und` when detection found none.
    pub code: String,
    /// `given` (`--language`) or `detected`.
    pub source: String,
    /// Detection's confidence in [0, 1] (absent when given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
}

impl RunLanguage {
    /// Whether English rules apply.
    pub fn is_english(&self) -> bool {
        self.code == "eng"
    }
}

/// Resolves `--language`: `auto` detects from `sample` (the corpus's first texts); anything else
/// is an ISO 639-1 or 639-3 code.
pub fn resolve<'a>(spec: &str, sample: impl Iterator<Item = Result<String>> + 'a) -> Result<RunLanguage> {
    let spec = spec.trim().to_lowercase();
    if spec != "auto" {
        return given(&spec);
    }
    let mut text = String::new();
    for t in sample.take(SAMPLE_TEXTS) {
        text.push_str(&t?);
        text.push('\n');
        if text.len() >= SAMPLE_BYTES {
            break;
        }
    }
    Ok(detect(&text))
}

/// The language named by an ISO 639-1 or 639-3 code.
pub fn given(code: &str) -> Result<RunLanguage> {
    let code = code.trim().to_lowercase();
    let three = TWO_LETTER
        .iter()
        .find(|(two, _)| *two == code)
        .map(|(_, three)| three.to_string())
        .or_else(|| whatlang::Lang::from_code(&code).map(|l| l.code().to_string()))
        .or_else(|| (code.len() == 3 && code.chars().all(|c| c.is_ascii_lowercase())).then(|| code.clone()))
        .ok_or_else(|| {
            Error::Config(format!(
                "--language {code}: expected auto or an ISO 639 code such as en, zh, ja, de (or eng, cmn, jpn, deu)"
            ))
        })?;
    Ok(RunLanguage {
        code: three,
        source: "given".into(),
        confidence: None,
    })
}

/// Detects the language of `text` (`und` when there is too little to tell).
pub fn detect(text: &str) -> RunLanguage {
    match whatlang::detect(text) {
        Some(info) => RunLanguage {
            code: info.lang().code().to_string(),
            source: "detected".into(),
            confidence: Some((info.confidence() * 1000.0).round() / 1000.0),
        },
        None => RunLanguage {
            code: "und".into(),
            source: "detected".into(),
            confidence: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok<'a>(texts: &'a [&'a str]) -> impl Iterator<Item = Result<String>> + 'a {
        texts.iter().map(|t| Ok(t.to_string()))
    }

    #[test]
    fn detects_english_chinese_japanese_and_german() {
        let cases = [
            (
                "eng",
                "The boundary layer thickens downstream as the flow slows near the wall of the tube.",
            ),
            ("cmn", "北京是中华人民共和国的首都，也是全国的政治和文化中心。"),
            ("jpn", "東京は日本の首都であり、世界で最も人口の多い都市の一つです。"),
            (
                "deu",
                "Die Grenzschicht wird stromabwärts dicker, weil die Strömung an der Wand langsamer wird.",
            ),
        ];
        for (code, text) in cases {
            let lang = resolve("auto", ok(&[text])).unwrap();
            assert_eq!(lang.code, code, "{text}");
            assert_eq!(lang.source, "detected");
        }
    }

    #[test]
    fn given_codes_take_either_iso_form_and_reject_nonsense() {
        assert_eq!(resolve("EN", ok(&[])).unwrap().code, "eng");
        assert!(resolve("en", ok(&[])).unwrap().is_english());
        assert_eq!(given("zh").unwrap().code, "cmn");
        assert_eq!(given("deu").unwrap().code, "deu");
        assert!(given("english!").is_err());
        assert_eq!(detect("").code, "und");
    }
}
