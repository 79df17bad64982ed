//! `hardneg report` and `--report`: one offline HTML page with every section, plots with marks,
//! corpus text escaped, what a set lacks said, and a clear error (no page) for what is not a
//! training set.

use std::path::{Path, PathBuf};

use super::util::*;

/// The sections every report has (Counterfactuals and False negatives appear when present).
const SECTIONS: [&str; 6] = ["run", "scores", "filters", "profiles", "reuse", "examples"];

/// The sample with `<script>` appended to every query and passage, so escaping is tested on
/// whatever rows the report samples: (corpus, queries, qrels).
fn hostile_sample(dir: &Path) -> [PathBuf; 3] {
    let tag = " <script>alert('hardneg')</script>";
    let mut paths = Vec::new();
    for name in ["corpus.jsonl", "queries.jsonl"] {
        let text = std::fs::read_to_string(fixture(&format!("sample/{name}"))).unwrap();
        let lines: Vec<String> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                let t = v["text"].as_str().unwrap().to_string();
                v["text"] = serde_json::Value::String(t + tag);
                v.to_string()
            })
            .collect();
        let path = dir.join(name);
        std::fs::write(&path, lines.join("\n")).unwrap();
        paths.push(path);
    }
    paths.push(fixture("sample/qrels.tsv"));
    paths.try_into().unwrap()
}

fn page(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every section present, every plot with marks (more than its background), no external
/// resource and no script. Scores, margins, ranks, filters and reuse are plotted whenever the
/// manifest is there.
fn check_page(html: &str, sections: &[&str]) {
    check_plots(html, sections, 5);
}

fn check_plots(html: &str, sections: &[&str], at_least: usize) {
    for s in sections {
        assert!(html.contains(&format!("<section id=\"{s}\"")), "section {s} missing");
    }
    let plots: Vec<&str> = html.split("<svg").skip(1).collect();
    assert!(plots.len() >= at_least, "{} plots", plots.len());
    for svg in plots {
        let svg = &svg[..svg.find("</svg>").expect("closed svg")];
        let marks = svg.matches("<rect").count().saturating_sub(1) + svg.matches("<circle").count();
        assert!(marks > 0, "a plot without marks: {}", &svg[..svg.len().min(300)]);
    }
    for external in ["http://", "https://", "src=", "@import", "url(", "<link", "<script"] {
        assert!(!html.contains(external), "the page names `{external}`");
    }
}

#[test]
fn mine_report_and_report_write_every_section_with_text_escaped() {
    let dir = tmp();
    let [corpus, queries, qrels] = hostile_sample(dir.path());
    let out = dir.path().join("train.parquet");
    let mine_page = dir.path().join("mined.html");
    ok(&[
        "mine",
        "--no-progress",
        "--corpus",
        &corpus.display().to_string(),
        "--queries",
        &queries.display().to_string(),
        "--qrels",
        &qrels.display().to_string(),
        "--out",
        &out.display().to_string(),
        "--format",
        "labeled-list",
        "--counterfactuals",
        "2",
        "--report",
        &mine_page.display().to_string(),
    ]);
    let html = page(&mine_page);
    check_page(&html, &[&SECTIONS[..], &["counterfactuals"]].concat());
    assert!(html.contains("&lt;script&gt;alert("), "corpus text is shown escaped");
    assert!(
        !html.contains("class=\"missing\""),
        "nothing is missing from a mined set"
    );
    // Score profiles: 12 by default, each with its chosen candidates.
    assert_eq!(html.matches("<div class=\"card\">").count(), 12);
    // The counterfactual examples highlight the edit.
    assert!(html.contains("<mark><del>"));

    let again = dir.path().join("again.html");
    let full = fixture("sample/qrels.tsv").display().to_string();
    let said = ok(&[
        "report",
        &out.display().to_string(),
        "--out",
        &again.display().to_string(),
        "--qrels",
        &full,
        "--profiles",
        "3",
    ]);
    assert!(said.contains("wrote"));
    let html = page(&again);
    check_page(
        &html,
        &[&SECTIONS[..], &["counterfactuals", "false-negatives"]].concat(),
    );
    assert_eq!(html.matches("<div class=\"card\">").count(), 3);
    // The sample's qrels are the ones mined from: no mined negative is judged relevant.
    let eval = ok(&[
        "eval",
        "--train",
        &out.display().to_string(),
        "--qrels",
        &full,
        "--json",
    ]);
    let eval: serde_json::Value = serde_json::from_str(&eval).unwrap();
    let negatives = eval["negatives"].as_u64().unwrap();
    assert!(
        html.contains(&format!("<td>all</td><td class=\"num\">{negatives}</td>")),
        "eval's figures"
    );
}

#[test]
fn every_format_and_a_sharded_folder_get_a_report() {
    let dir = tmp();
    for format in ["triplet", "n-tuple", "labeled-pair", "flag-embedding", "tevatron"] {
        let ext = if format == "flag-embedding" || format == "tevatron" {
            "jsonl"
        } else {
            "parquet"
        };
        let out = dir.path().join(format!("{format}.{ext}"));
        let html_path = dir.path().join(format!("{format}.html"));
        mine_sample(&out, &["--format", format, "--exact"]);
        ok(&[
            "report",
            &out.display().to_string(),
            "--out",
            &html_path.display().to_string(),
        ]);
        let html = page(&html_path);
        check_page(&html, &SECTIONS);
        let manifest: serde_json::Value =
            serde_json::from_str(&page(&PathBuf::from(format!("{}.manifest.json", out.display())))).unwrap();
        let rows = manifest["counts"]["rows"].as_u64().unwrap();
        assert!(html.contains(&format!("<p>{rows} rows,")), "{format}: row count");
        // Example rows show their texts: a query of the sample and a negative's text.
        assert!(
            html.contains("class=\"q\">What") || html.contains("class=\"q\">How"),
            "{format}: query text"
        );
        assert!(
            html.contains("<div class=\"neg\"><span class=\"meta\">mined"),
            "{format}: negatives"
        );
    }

    // A sharded run writing a folder of parts: finalize --report.
    let run = dir.path().join("run");
    let folder = format!("{}/", dir.path().join("staged").display());
    let mut args: Vec<String> = ["plan", "--run", &run.display().to_string()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(
        [
            "--query-shards",
            "2",
            "--query-chunk",
            "16",
            "--no-progress",
            "--out",
            &folder,
        ]
        .map(String::from),
    );
    args.extend(sample_args());
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    for (name, shards) in [("embed-corpus", 1), ("build-index", 1), ("mine-queries", 2)] {
        for i in 0..shards {
            super::stages::stage(&run, name, &format!("{i}/{shards}"));
        }
    }
    let staged_page = dir.path().join("staged.html");
    ok(&[
        "finalize",
        "--run",
        &run.display().to_string(),
        "--no-progress",
        "--report",
        &staged_page.display().to_string(),
    ]);
    let html = page(&staged_page);
    check_page(&html, &SECTIONS);
    assert!(!html.contains("class=\"missing\""));
    assert_eq!(html.matches("<div class=\"card\">").count(), 12);
}

#[test]
fn a_set_without_manifest_or_sidecar_says_what_it_lacks() {
    let dir = tmp();
    let out = dir.path().join("train.parquet");
    mine_sample(&out, &["--format", "n-tuple-scores", "--exact"]);
    let alone = dir.path().join("alone");
    std::fs::create_dir(&alone).unwrap();
    let copy = alone.join("train.parquet");
    std::fs::copy(&out, &copy).unwrap();
    let html_path = alone.join("r.html");
    ok(&[
        "report",
        &copy.display().to_string(),
        "--out",
        &html_path.display().to_string(),
    ]);
    let html = page(&html_path);
    // Without the manifest there are no filter counts; without the sidecar, no profiles.
    check_plots(&html, &SECTIONS, 4);
    assert!(!html.contains("<circle"));
    assert!(html.contains("No manifest beside the training set"));
    assert!(html.contains("No score-profile sidecar"));
}

#[test]
fn what_is_not_a_training_set_gets_a_clear_error_and_no_page() {
    let dir = tmp();
    let html_path = dir.path().join("r.html");
    let corpus = fixture("sample/corpus.jsonl").display().to_string();
    let out = hardneg(&["report", &corpus, "--out", &html_path.display().to_string()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("corpus.jsonl") && err.contains("not a Parquet file"),
        "{err}"
    );
    assert!(!html_path.exists());

    let bare = dir.path().join("bare.parquet");
    mine_sample(&bare, &["--format", "n-tuple", "--exact", "--no-provenance"]);
    let out = hardneg(&[
        "report",
        &bare.display().to_string(),
        "--out",
        &html_path.display().to_string(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("query_id") && err.contains("--no-provenance"), "{err}");
    assert!(!html_path.exists());
}
