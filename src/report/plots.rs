//! The report's plots, drawn as inline SVG with `plotters` (no fonts, scripts or network needed).

use plotters::prelude::*;

use super::gather::Bins;
use crate::error::{Error, Result};
use crate::mine::profile::{Fate, QueryProfile};

/// Width and height of a full-width plot.
const WIDE: (u32, u32) = (760, 300);
/// Width and height of one small score profile.
const SMALL: (u32, u32) = (370, 240);

/// Font of tick labels, axis descriptions and legends.
const LABELS: (&str, u32) = ("sans-serif", 14);

/// Colours by role: positives, then one per negative source or fate.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0x1b, 0x9e, 0x77),
    RGBColor(0xd9, 0x5f, 0x02),
    RGBColor(0x75, 0x70, 0xb3),
    RGBColor(0xe7, 0x29, 0x8a),
    RGBColor(0x66, 0xa6, 0x1e),
    RGBColor(0xe6, 0xab, 0x02),
    RGBColor(0xa6, 0x76, 0x1d),
    RGBColor(0x66, 0x66, 0x66),
];

/// Inline SVG inside HTML needs no namespace; dropping it leaves the page naming no URL at all.
fn inline(svg: String) -> String {
    svg.replacen(r#" xmlns="http://www.w3.org/2000/svg""#, "", 1)
}

fn draw_err(e: impl std::fmt::Display) -> Error {
    Error::Report(format!("drawing a plot failed: {e}"))
}

/// A labelled histogram series.
pub struct Series<'a> {
    /// Legend label.
    pub label: String,
    /// The bins.
    pub bins: &'a Bins,
}

/// Overlaid histograms, each scaled to its own total (so sources of different sizes compare),
/// with an optional vertical marker (x, label).
pub fn overlaid_histograms(series: &[Series<'_>], x_desc: &str, marker: Option<(f64, String)>) -> Result<String> {
    let occupied: Vec<(f64, f64)> = series.iter().filter_map(|s| s.bins.occupied()).collect();
    let (mut lo, mut hi) = occupied
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &(l, h)| {
            (a.min(l), b.max(h))
        });
    if let Some((x, _)) = &marker {
        lo = lo.min(*x);
        hi = hi.max(*x);
    }
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    // Bins merged so the occupied range spans at most about 60 (same factor for every series).
    let finest = series.iter().map(|s| s.bins.width).fold(f64::INFINITY, f64::min);
    let factor = if finest.is_finite() {
        (((hi - lo) / finest) / 60.0).ceil().max(1.0) as usize
    } else {
        1
    };
    let merged: Vec<Bins> = series.iter().map(|s| s.bins.coarsen(factor)).collect();
    let series: Vec<Series<'_>> = series
        .iter()
        .zip(&merged)
        .map(|(s, bins)| Series {
            label: s.label.clone(),
            bins,
        })
        .collect();
    let share = |s: &Series<'_>, c: u64| c as f64 / s.bins.total().max(1) as f64;
    let top = series
        .iter()
        .flat_map(|s| s.bins.counts.iter().map(move |&c| share(s, c)))
        .fold(0.0f64, f64::max)
        .max(1e-9)
        * 1.1;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, WIDE).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(52)
            .build_cartesian_2d(lo..hi, 0.0..top)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .label_style(LABELS)
            .axis_desc_style(LABELS)
            .x_desc(x_desc)
            .y_desc("share of the series")
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .draw()
            .map_err(draw_err)?;
        for (i, s) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let bars = s
                .bins
                .counts
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(j, &c)| {
                    let x0 = s.bins.start + j as f64 * s.bins.width;
                    Rectangle::new([(x0, 0.0), (x0 + s.bins.width, share(s, c))], color.mix(0.45).filled())
                });
            chart
                .draw_series(bars)
                .map_err(draw_err)?
                .label(format!("{} (n={})", s.label, s.bins.total()))
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
        }
        if let Some((x, label)) = marker {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x, 0.0), (x, top)],
                    BLACK.stroke_width(2),
                )))
                .map_err(draw_err)?
                .label(label)
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], BLACK.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .label_font(LABELS)
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(inline(svg))
}

/// Vertical bars over named categories.
pub fn bars(labels: &[String], counts: &[u64], x_desc: &str, y_desc: &str) -> Result<String> {
    let n = labels.len().max(1);
    let top = counts.iter().copied().max().unwrap_or(0).max(1) as f64 * 1.1;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, WIDE).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..n as f64, 0.0..top)
            .map_err(draw_err)?;
        let label_of = |x: &f64| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 1e-6 {
                labels.get(i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .label_style(LABELS)
            .axis_desc_style(LABELS)
            .disable_x_mesh()
            .x_labels(2 * n + 1)
            .x_label_formatter(&label_of)
            .x_desc(x_desc)
            .y_desc(y_desc)
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(draw_err)?;
        chart
            .draw_series(counts.iter().enumerate().map(|(i, &c)| {
                Rectangle::new(
                    [(i as f64 + 0.15, 0.0), (i as f64 + 0.85, c as f64)],
                    PALETTE[1].filled(),
                )
            }))
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(inline(svg))
}

/// The colour of a fate in the score profiles, and its legend order.
fn fate_style(fate: Fate) -> (usize, RGBColor) {
    match fate {
        Fate::Chosen => (0, PALETTE[1]),
        Fate::Window => (1, PALETTE[2]),
        Fate::RangeMin => (2, PALETTE[5]),
        Fate::Skipped(r) if !r.is_filter() => (3, PALETTE[0]),
        Fate::Skipped(_) => (4, PALETTE[3]),
        Fate::Beyond => (5, RGBColor(0xbb, 0xbb, 0xbb)),
    }
}

/// The legend of the score profiles: (label, CSS colour), in order.
pub fn fate_legend() -> Vec<(String, String)> {
    let css = |c: RGBColor| format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2);
    [
        ("chosen", Fate::Chosen),
        ("window, not taken", Fate::Window),
        ("above the window (range-min)", Fate::RangeMin),
        (
            "labelled positive or its duplicate",
            Fate::Skipped(crate::mine::select::SkipReason::Positive),
        ),
        (
            "skipped by a filter",
            Fate::Skipped(crate::mine::select::SkipReason::RelativeMargin),
        ),
        ("beyond the window", Fate::Beyond),
    ]
    .into_iter()
    .map(|(label, fate)| (label.to_string(), css(fate_style(fate).1)))
    .collect()
}

/// One query's candidates: score against rank, coloured by fate, the positives' scores as lines.
pub fn profile(p: &QueryProfile) -> Result<String> {
    let scores = p
        .candidates
        .iter()
        .map(|c| f64::from(c.score))
        .chain(p.positive_scores.iter().map(|&s| f64::from(s)));
    let (lo, hi) = scores.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), s| (a.min(s), b.max(s)));
    let (lo, hi) = if lo.is_finite() {
        (lo - 0.02, hi + 0.02)
    } else {
        (0.0, 1.0)
    };
    let ranks = p.candidates.len().max(1) as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SMALL).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(42)
            .build_cartesian_2d(-0.5..ranks, lo..hi)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("rank")
            .y_desc("cosine")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .x_labels(6)
            .y_labels(5)
            .draw()
            .map_err(draw_err)?;
        for &s in &p.positive_scores {
            let s = f64::from(s);
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(-0.5, s), (ranks, s)],
                    PALETTE[0].stroke_width(2),
                )))
                .map_err(draw_err)?;
        }
        // Drawn in legend order reversed, so chosen candidates sit on top.
        let mut points: Vec<_> = p.candidates.iter().collect();
        points.sort_by_key(|c| std::cmp::Reverse(fate_style(c.fate).0));
        chart
            .draw_series(points.into_iter().map(|c| {
                let (_, color) = fate_style(c.fate);
                let size = if c.fate == Fate::Chosen { 4 } else { 2 };
                Circle::new((f64::from(c.rank), f64::from(c.score)), size, color.filled())
            }))
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(inline(svg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_draw_one_mark_per_occupied_bin() {
        let mut b = Bins::new(0.0, 0.1, 10);
        [0.05, 0.15, 0.15, 0.95].iter().for_each(|&v| b.add(v));
        let svg = overlaid_histograms(
            &[Series {
                label: "x".into(),
                bins: &b,
            }],
            "cosine",
            Some((0.5, "marker".into())),
        )
        .unwrap();
        assert!(svg.starts_with("<svg"));
        // Three occupied bins plus the legend's swatch.
        assert!(svg.matches("<rect").count() >= 4, "{svg}");
        assert!(svg.contains("marker"));
        assert!(!svg.contains("http"), "the inline SVG names no URL");
    }
}
