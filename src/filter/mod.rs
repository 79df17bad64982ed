//! False-negative filters: signals that a mined candidate is an unlabelled positive, each counted
//! under its own reason. Selected with `--fn-filter`: `off`, `auto` (the measured default), or a
//! comma list of `margin[=M]`, `lexical[=A]`, `duplicate[=T]`.
//!
//! - `margin=M`: positive-aware relative margin (candidates scoring above `p − |p|·M`, `p` the
//!   lowest positive score, are dropped), applied when `--relative-margin` is not given.
//! - `lexical=A`: drop candidates whose BM25 for the query reaches `A ×` the weakest positive's BM25:
//!   a second, lexical opinion that the candidate answers the query as well as a positive does.
//! - `duplicate=T`: drop candidates whose cosine to any positive is at least `T` (same content).
//!
//! `auto` is `margin=0,lexical=0.5,duplicate=0.95`, chosen from the trade-off curves in
//! BENCHMARKS.md (pooling-bias simulation).

pub mod bm25;

use crate::error::{Error, Result};

/// Parsed `--fn-filter`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FnFilter {
    /// Relative margin applied when the user set none.
    pub margin: Option<f32>,
    /// Lexical ratio cap.
    pub lexical: Option<f64>,
    /// Candidate–positive cosine at which a candidate counts as the positive's duplicate.
    pub duplicate: Option<f32>,
}

impl FnFilter {
    /// No filtering: sentence-transformers-parity selection.
    pub const OFF: FnFilter = FnFilter {
        margin: None,
        lexical: None,
        duplicate: None,
    };
    /// The default preset.
    pub const AUTO: FnFilter = FnFilter {
        margin: Some(0.0),
        lexical: Some(0.5),
        duplicate: Some(0.95),
    };

    /// Parses `off`, `auto` or `margin[=M],lexical[=A],duplicate[=T]`.
    pub fn parse(spec: &str) -> Result<Self> {
        match spec.trim() {
            "off" | "none" => return Ok(Self::OFF),
            "auto" => return Ok(Self::AUTO),
            _ => {}
        }
        let mut f = Self::OFF;
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').map_or((part, None), |(n, v)| (n, Some(v)));
            let num = |default: f64| -> Result<f64> {
                value.map_or(Ok(default), |v| {
                    v.parse()
                        .map_err(|_| Error::Config(format!("--fn-filter {part}: `{v}` is not a number")))
                })
            };
            match name {
                "margin" => f.margin = Some(num(f64::from(Self::AUTO.margin.unwrap_or_default()))? as f32),
                "lexical" => f.lexical = Some(num(Self::AUTO.lexical.unwrap_or_default())?),
                "duplicate" => f.duplicate = Some(num(f64::from(Self::AUTO.duplicate.unwrap_or_default()))? as f32),
                _ => {
                    return Err(Error::Config(format!(
                        "--fn-filter: unknown filter `{name}` (expected off, auto, or a list of margin, lexical, duplicate)"
                    )));
                }
            }
        }
        Ok(f)
    }

    /// Whether any filter is on.
    pub fn is_on(&self) -> bool {
        *self != Self::OFF
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_presets_and_lists() {
        assert_eq!(FnFilter::parse("off").unwrap(), FnFilter::OFF);
        assert_eq!(FnFilter::parse("auto").unwrap(), FnFilter::AUTO);
        let f = FnFilter::parse("lexical=0.3, duplicate").unwrap();
        assert_eq!((f.margin, f.lexical, f.duplicate), (None, Some(0.3), Some(0.95)));
        assert!(FnFilter::parse("bogus").is_err());
        assert!(FnFilter::parse("margin=x").is_err());
    }
}
