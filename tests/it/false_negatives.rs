//! False-negative filters on a hand-built collection where the right answer is known, and `eval`
//! against an independent count.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float32Builder, ListBuilder, RecordBatch, StringArray, StringBuilder};

use super::util::*;

fn mine_fn(filter: &str) -> (Vec<String>, serde_json::Value) {
    let dir = tmp();
    let out = dir.path().join("fn.parquet");
    let f = |n: &str| fixture(&format!("fn/{n}")).display().to_string();
    ok(&[
        "mine",
        "--no-progress",
        "--corpus",
        &f("corpus.jsonl"),
        "--queries",
        &f("queries.jsonl"),
        "--qrels",
        &f("qrels.tsv"),
        "--out",
        out.to_str().unwrap(),
        "--format",
        "n-tuple",
        "--num-negatives",
        "3",
        "--fn-filter",
        filter,
    ]);
    let manifest = std::fs::read_to_string(dir.path().join("fn.parquet.manifest.json")).unwrap();
    (
        string_lists(&read_parquet(&out), "negative_ids").remove(0),
        serde_json::from_str(&manifest).unwrap(),
    )
}

#[test]
fn duplicate_paraphrase_and_near_copy_are_filtered_unrelated_passages_kept() {
    let (off, m) = mine_fn("off");
    assert!(
        !off.contains(&"dup".to_string()),
        "an exact duplicate of the positive is never a negative"
    );
    assert_eq!(m["counts"]["skipped_candidates"]["duplicate_of_positive"], 1);
    assert!(
        off.contains(&"near".to_string()) && off.contains(&"para".to_string()),
        "plain selection keeps them: {off:?}"
    );
    let (auto, m) = mine_fn("auto");
    for bad in ["dup", "near", "para"] {
        assert!(!auto.contains(&bad.to_string()), "auto kept {bad}: {auto:?}");
    }
    assert!(auto.iter().all(|id| id.starts_with('u')), "{auto:?}");
    assert_eq!(auto.len(), 3, "filters must not starve the row");
    let skipped = &m["counts"]["skipped_candidates"];
    assert_eq!(skipped["fn_near_duplicate"], 1, "{skipped}");
    assert!(
        skipped["fn_lexical"].as_u64().unwrap_or(0) + skipped["relative_margin"].as_u64().unwrap_or(0) >= 1,
        "{skipped}"
    );
}

#[test]
fn eval_counts_match_an_independent_count() {
    let dir = tmp();
    let train = dir.path().join("train.parquet");
    // Three rows; qrels judge q1: a, b, c and q2: d. Negatives: q1 [b, x, c], q1 [y], q2 [d, z].
    let rows: [(&str, &[(&str, f32)]); 3] = [
        ("q1", &[("b", 0.9), ("x", 0.5), ("c", 0.4)]),
        ("q1", &[("y", 0.2)]),
        ("q2", &[("d", 0.7), ("z", 0.6)]),
    ];
    let mut ids = ListBuilder::new(StringBuilder::new());
    let mut scores = ListBuilder::new(Float32Builder::new());
    for (_, negs) in rows {
        for (id, s) in negs {
            ids.values().append_value(id);
            scores.values().append_value(*s);
        }
        ids.append(true);
        scores.append(true);
    }
    let batch = RecordBatch::try_from_iter([
        (
            "query_id",
            Arc::new(StringArray::from(vec!["q1", "q1", "q2"])) as ArrayRef,
        ),
        (
            "positive_id",
            Arc::new(StringArray::from(vec!["a", "a2", "e"])) as ArrayRef,
        ),
        ("negative_ids", Arc::new(ids.finish()) as ArrayRef),
        ("negative_scores", Arc::new(scores.finish()) as ArrayRef),
    ])
    .unwrap();
    write_parquet(&train, &batch);
    let qrels = dir.path().join("qrels.tsv");
    std::fs::write(
        &qrels,
        "query-id\tcorpus-id\tscore\nq1\ta\t1\nq1\tb\t1\nq1\tc\t2\nq2\td\t1\nq2\tz\t0\n",
    )
    .unwrap();
    let out = ok(&[
        "eval",
        "--train",
        train.to_str().unwrap(),
        "--qrels",
        qrels.to_str().unwrap(),
        "--json",
    ]);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["negatives"], 6);
    assert_eq!(r["false_negatives"], 3); // b, c, d (z has grade 0)
    assert_eq!(r["fn_rate"], 0.5);
    assert_eq!(r["queries_with_fn"], 1.0);
    assert_eq!(r["rows"], 3);
    assert_eq!(r["mean_rank"], serde_json::Value::Null);
    assert!((r["mean_score"].as_f64().unwrap() - 3.3 / 6.0).abs() < 1e-6);
    assert_eq!(r["by_source"]["mined"]["false_negatives"], 3);
    // --hold-out keeps the best grade per query.
    let held = dir.path().join("held.tsv");
    ok(&[
        "eval",
        "--hold-out",
        "--qrels",
        qrels.to_str().unwrap(),
        "--out",
        held.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(held).unwrap(),
        "query-id\tcorpus-id\tscore\nq1\tc\t2\nq2\td\t1\n"
    );
}
