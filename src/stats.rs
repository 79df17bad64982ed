//! Score statistics (count, mean, std, quartiles) and the summary table sentence-transformers
//! users know: Positive, Negative and Difference columns.

use std::fmt::Write as _;

/// Summary statistics of a list of scores.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ScoreStats {
    /// Number of scores.
    pub count: usize,
    /// Arithmetic mean.
    pub mean: Option<f64>,
    /// Median.
    pub median: Option<f64>,
    /// Standard deviation (population).
    pub std: Option<f64>,
    /// Smallest.
    pub min: Option<f64>,
    /// 25th percentile (linear interpolation).
    pub p25: Option<f64>,
    /// 75th percentile.
    pub p75: Option<f64>,
    /// Largest.
    pub max: Option<f64>,
}

/// Percentile `q` in [0, 1] of sorted values, with linear interpolation (numpy's default).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

impl ScoreStats {
    /// Statistics of `values` (NaN-free).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let mut v: Vec<f64> = values.into_iter().collect();
        if v.is_empty() {
            return ScoreStats::default();
        }
        v.sort_by(f64::total_cmp);
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        ScoreStats {
            count: v.len(),
            mean: Some(mean),
            median: Some(percentile(&v, 0.5)),
            std: Some(var.sqrt()),
            min: Some(v[0]),
            p25: Some(percentile(&v, 0.25)),
            p75: Some(percentile(&v, 0.75)),
            max: Some(v[v.len() - 1]),
        }
    }
}

/// Renders side-by-side statistics as an aligned text table.
pub fn table(columns: &[(&str, &ScoreStats)]) -> String {
    type Getter = fn(&ScoreStats) -> Option<f64>;
    let rows: [(&str, Getter); 8] = [
        ("mean", |s| s.mean),
        ("median", |s| s.median),
        ("std", |s| s.std),
        ("min", |s| s.min),
        ("25%", |s| s.p25),
        ("50%", |s| s.median),
        ("75%", |s| s.p75),
        ("max", |s| s.max),
    ];
    let mut out = String::new();
    let _ = write!(out, "{:<8}", "Metric");
    for (name, _) in columns {
        let _ = write!(out, "{name:>12}");
    }
    let _ = write!(out, "\n{:<8}", "count");
    for (_, s) in columns {
        let _ = write!(out, "{:>12}", s.count);
    }
    for (label, get) in rows {
        let _ = write!(out, "\n{label:<8}");
        for (_, s) in columns {
            let _ = match get(s) {
                Some(v) => write!(out, "{v:>12.4}"),
                None => write!(out, "{:>12}", "-"),
            };
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_match_numpy_conventions() {
        let s = ScoreStats::of([1.0, 2.0, 3.0, 4.0]);
        assert_eq!(s.count, 4);
        assert_eq!(s.mean, Some(2.5));
        assert_eq!(s.median, Some(2.5));
        assert_eq!(s.p25, Some(1.75));
        assert_eq!(s.p75, Some(3.25));
        assert!((s.std.unwrap() - 1.118_034).abs() < 1e-6);
        assert_eq!(ScoreStats::of([]).mean, None);
    }

    #[test]
    fn table_has_a_line_per_metric() {
        let s = ScoreStats::of([0.5]);
        let t = table(&[("Positive", &s), ("Negative", &s)]);
        assert_eq!(t.lines().count(), 10);
        assert!(t.contains("Positive") && t.contains("0.5000"));
    }
}
