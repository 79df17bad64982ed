//! `hardneg mine` end to end on the shipped sample: correctness of selection, every format
//! against its golden schema, seeded sampling, pairs input, manifest and pipelines.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::util::*;

/// Embeds the sample corpus and queries with `hardneg embed` (an independent path from `mine`).
fn sample_embeddings(dir: &Path) -> (HashMap<String, Vec<f32>>, HashMap<String, Vec<f32>>) {
    let c = dir.join("c.parquet");
    let q = dir.join("q.parquet");
    let corpus = fixture("sample/corpus.jsonl");
    let queries = fixture("sample/queries.jsonl");
    ok(&[
        "embed",
        "--no-progress",
        "--input",
        corpus.to_str().unwrap(),
        "--out",
        c.to_str().unwrap(),
    ]);
    ok(&[
        "embed",
        "--no-progress",
        "--input",
        queries.to_str().unwrap(),
        "--out",
        q.to_str().unwrap(),
    ]);
    (embeddings(&c), embeddings(&q))
}

fn corpus_texts() -> HashMap<String, String> {
    std::fs::read_to_string(fixture("sample/corpus.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let text = format!("{} {}", v["title"].as_str().unwrap(), v["text"].as_str().unwrap());
            (v["_id"].as_str().unwrap().to_string(), text)
        })
        .collect()
}

#[test]
fn n_tuple_negatives_are_the_best_non_positives_with_true_scores() {
    let dir = tmp();
    let out = dir.path().join("nt.parquet");
    mine_sample(
        &out,
        &["--format", "n-tuple", "--num-negatives", "5", "--fn-filter", "off"],
    );
    let batch = read_parquet(&out);
    let qrels = sample_qrels();
    let texts = corpus_texts();
    let (corpus, queries) = sample_embeddings(dir.path());
    let qids = strings(&batch, "query_id");
    let neg_ids = string_lists(&batch, "negative_ids");
    let neg_scores = float_lists(&batch, "negative_scores");
    let ranks = int_lists(&batch, "negative_ranks");
    let full = neg_ids.iter().filter(|n| n.len() == 5).count();
    assert!(
        full as f64 >= 0.95 * batch.num_rows() as f64,
        "{full} of {} rows full",
        batch.num_rows()
    );
    for i in 0..batch.num_rows() {
        let qid = qids[i].as_ref().unwrap();
        let positives = &qrels[qid];
        let positive_texts: HashSet<&String> = positives.iter().map(|p| &texts[p]).collect();
        let qv = &queries[qid];
        for (j, nid) in neg_ids[i].iter().enumerate() {
            assert!(
                !positives.contains(nid),
                "row {i}: negative {nid} is a positive of {qid}"
            );
            assert!(
                !positive_texts.contains(&texts[nid]),
                "row {i}: negative {nid} duplicates a positive"
            );
            let independent = cosine(qv, &corpus[nid]);
            assert!(
                (independent - neg_scores[i][j]).abs() < 1e-3,
                "row {i}: score {} vs {independent}",
                neg_scores[i][j]
            );
            assert_eq!(
                strings(&batch, &format!("negative_{}", j + 1))[i].as_deref(),
                Some(texts[nid].as_str())
            );
        }
        assert!(
            neg_scores[i].windows(2).all(|w| w[0] >= w[1]),
            "row {i}: scores not descending"
        );
        assert!(ranks[i].windows(2).all(|w| w[0] < w[1]), "row {i}: ranks not ascending");
        // Top sampling: no unused, non-positive, not-yet-seen text scores above the last negative.
        let last = *neg_scores[i].last().unwrap();
        let chosen: HashSet<&String> = neg_ids[i].iter().map(|n| &texts[n]).collect();
        for (id, v) in &corpus {
            let t = &texts[id];
            if positives.contains(id) || positive_texts.contains(t) || chosen.contains(t) {
                continue;
            }
            assert!(
                cosine(qv, v) <= last + 1e-4,
                "row {i}: {id} scores {} above the last negative {last}",
                cosine(qv, v)
            );
        }
    }
}

#[test]
fn every_format_matches_its_golden_schema_and_texts_match_ids() {
    let dir = tmp();
    let texts = corpus_texts();
    for format in [
        "triplet",
        "n-tuple",
        "n-tuple-scores",
        "labeled-pair",
        "labeled-list",
        "flag-embedding",
        "tevatron",
    ] {
        let jsonl = matches!(format, "flag-embedding" | "tevatron");
        let out = dir.path().join(if jsonl {
            format!("{format}.jsonl")
        } else {
            format!("{format}.parquet")
        });
        mine_sample(&out, &["--format", format]);
        let parquet = if jsonl {
            dir.path().join(format!("{format}.jsonl.provenance.parquet"))
        } else {
            out.clone()
        };
        let batch = read_parquet(&parquet);
        let golden: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root().join(format!("schemas/{format}.json"))).unwrap())
                .unwrap();
        assert_eq!(
            hardneg::output::formats::schema_json(&batch.schema()),
            golden,
            "{format} schema"
        );
        if jsonl {
            let lines = std::fs::read_to_string(&out).unwrap();
            assert_eq!(
                lines.lines().count(),
                batch.num_rows(),
                "{format}: sidecar rows align with lines"
            );
            let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
            let key = if format == "tevatron" {
                "negative_passages"
            } else {
                "neg"
            };
            assert_eq!(first[key].as_array().unwrap().len(), 5);
        } else if format == "triplet" {
            for (id, text) in strings(&batch, "negative_id").iter().zip(strings(&batch, "negative")) {
                assert_eq!(&texts[id.as_ref().unwrap()], text.as_ref().unwrap());
            }
        }
        if !jsonl {
            for (id, text) in strings(&batch, "positive_id").iter().zip(strings(
                &batch,
                if format.starts_with("labeled") {
                    "anchor"
                } else {
                    "positive"
                },
            )) {
                if !format.starts_with("labeled") {
                    assert_eq!(&texts[id.as_ref().unwrap()], text.as_ref().unwrap(), "{format}");
                }
            }
        }
    }
}

#[test]
fn labeled_pair_alternates_positive_then_negatives() {
    let dir = tmp();
    let out = dir.path().join("lp.parquet");
    mine_sample(&out, &["--format", "labeled-pair", "--num-negatives", "2"]);
    let batch = read_parquet(&out);
    let labels = batch.column_by_name("label").unwrap();
    let labels = arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(labels);
    assert_eq!(labels.values()[..3], [1, 0, 0]);
    assert_eq!(
        strings(&batch, "negative_id")[0],
        None,
        "the positive's line has no negative"
    );
}

#[test]
fn random_and_simans_sampling_are_reproducible_by_seed_whatever_the_threads() {
    let dir = tmp();
    for sampling in ["random", "simans"] {
        let run = |seed: &str, threads: &str| {
            let out = dir.path().join(format!("{sampling}-{seed}-{threads}.parquet"));
            mine_sample(
                &out,
                &[
                    "--format",
                    "n-tuple",
                    "--sampling",
                    sampling,
                    "--seed",
                    seed,
                    "--range-max",
                    "30",
                    "--threads",
                    threads,
                ],
            );
            string_lists(&read_parquet(&out), "negative_ids")
        };
        let a = run("7", "1");
        assert_eq!(a, run("7", "2"), "{sampling}: same seed, other thread count");
        assert_ne!(a, run("8", "2"), "{sampling}: another seed");
        assert!(a.iter().all(|row| row.len() == 5), "{sampling}: every row full");
    }
}

#[test]
fn runs_are_byte_identical_whatever_the_thread_and_session_count() {
    let dir = tmp();
    let run = |precision: &str, search: &[&str], threads: &str, sessions: &str| {
        let out = dir
            .path()
            .join(format!("{precision}-{}-t{threads}-s{sessions}.parquet", search.len()));
        let args = [
            &["--format", "n-tuple-scores", "--precision", precision][..],
            search,
            &["--threads", threads, "--sessions", sessions],
        ];
        mine_sample(&out, &args.concat());
        std::fs::read(&out).unwrap()
    };
    // An HNSW graph is built one vector at a time in row order, so it repeats too.
    for (precision, search) in [("fp32", &["--exact"][..]), ("int8", &["--exact"]), ("fp32", &HNSW)] {
        let one = run(precision, search, "1", "1");
        for (threads, sessions) in [("2", "1"), ("2", "2"), ("3", "3")] {
            assert!(
                one == run(precision, search, threads, sessions),
                "{precision} {search:?}: --threads {threads} --sessions {sessions} wrote another file than --threads 1"
            );
        }
    }
}

#[test]
fn batch_and_window_sizes_do_not_change_rows_or_negatives() {
    let dir = tmp();
    let run = |extra: &[&str], name: &str| {
        let out = dir.path().join(name);
        let mut args = vec!["--format", "n-tuple", "--exact"];
        args.extend(extra);
        mine_sample(&out, &args);
        let b = read_parquet(&out);
        (
            strings(&b, "query_id"),
            string_lists(&b, "negative_ids"),
            float_lists(&b, "negative_scores"),
        )
    };
    let (q1, ids1, s1) = run(
        &["--batch-size", "3", "--sort-window", "50", "--query-chunk", "7"],
        "small.parquet",
    );
    let (q2, ids2, s2) = run(
        &[
            "--batch-size",
            "64",
            "--max-batch-tokens",
            "50000",
            "--sort-window",
            "100000",
        ],
        "big.parquet",
    );
    assert_eq!(q1, q2, "row order");
    assert_eq!(ids1, ids2, "negatives");
    // Other batch shapes change float summation order: scores agree to float rounding.
    for (a, b) in s1.iter().flatten().zip(s2.iter().flatten()) {
        assert!((a - b).abs() < 1e-5);
    }
}

/// Arguments that make the sample (276 passages, few queries) build an HNSW graph.
const HNSW: [&str; 4] = ["--exact-below", "0", "--exact-max-queries", "0"];

#[test]
fn a_cached_rerun_memory_maps_the_saved_index_instead_of_embedding() {
    let dir = tmp();
    let cache = dir.path().join("cache");
    let cache_arg = cache.display().to_string();
    let args = [&["--format", "n-tuple", "--cache", cache_arg.as_str()][..], &HNSW[..]].concat();
    let saved = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&cache)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("index-") && n.ends_with(".usearch"))
            .collect();
        names.sort();
        names
    };
    let (first, second) = (dir.path().join("1.parquet"), dir.path().join("2.parquet"));
    mine_sample(&first, &args);
    assert_eq!(saved().len(), 1, "the built HNSW index is saved in the cache");
    mine_sample(&second, &args);
    let m = manifest_of(&second);
    assert_eq!(m["embedding"]["corpus"]["texts"], 0, "nothing embedded on the rerun");
    assert_eq!(m["counts"]["cached_passages"], m["counts"]["corpus"]);
    assert_eq!(m["index"]["kind"], "hnsw");
    let (a, b) = (read_parquet(&first), read_parquet(&second));
    assert_eq!(string_lists(&a, "negative_ids"), string_lists(&b, "negative_ids"));
    assert_eq!(float_lists(&a, "negative_scores"), float_lists(&b, "negative_scores"));
    // Another index layout is another file, never the saved one.
    mine_sample(
        &dir.path().join("3.parquet"),
        &[&args[..], &["--index-dtype", "i8"]].concat(),
    );
    assert_eq!(saved().len(), 2);
}

fn manifest_of(out: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.with_extension("parquet.manifest.json")).unwrap()).unwrap()
}

#[test]
fn hnsw_and_exact_search_agree_on_the_sample() {
    let dir = tmp();
    let exact = dir.path().join("e.parquet");
    let hnsw = dir.path().join("h.parquet");
    let few_queries = dir.path().join("q.parquet");
    mine_sample(&exact, &["--format", "n-tuple", "--exact"]);
    mine_sample(
        &hnsw,
        &[&["--format", "n-tuple", "--index-dtype", "f16"][..], &HNSW[..]].concat(),
    );
    // Whatever the corpus size, a job with few queries searches exactly.
    mine_sample(&few_queries, &["--format", "n-tuple", "--exact-below", "0"]);
    assert_eq!(manifest_of(&exact)["index"]["kind"], "exact");
    assert_eq!(manifest_of(&hnsw)["index"]["kind"], "hnsw");
    assert_eq!(manifest_of(&few_queries)["index"]["kind"], "exact");
    assert_eq!(read_parquet(&exact), read_parquet(&few_queries));
    let (shared, total) = negatives_shared(&exact, &hnsw);
    assert!(
        shared as f64 >= 0.95 * total as f64,
        "{shared} of {total} negatives shared"
    );
}

/// How many of `a`'s negative ids the same row of `b` has too, and how many `a` has.
fn negatives_shared(a: &std::path::Path, b: &std::path::Path) -> (usize, usize) {
    let (a, b) = (
        string_lists(&read_parquet(a), "negative_ids"),
        string_lists(&read_parquet(b), "negative_ids"),
    );
    let shared = a
        .iter()
        .zip(&b)
        .map(|(x, y)| x.iter().filter(|id| y.contains(id)).count())
        .sum();
    (shared, a.iter().map(Vec::len).sum())
}

#[test]
fn exact_search_stores_vectors_as_the_index_dtype_says() {
    let dir = tmp();
    let (f16, f32) = (dir.path().join("16.parquet"), dir.path().join("32.parquet"));
    mine_sample(&f16, &["--format", "n-tuple", "--exact"]);
    mine_sample(&f32, &["--format", "n-tuple", "--exact", "--index-dtype", "f32"]);
    let passages = manifest_of(&f16)["counts"]["corpus"].as_u64().unwrap();
    // f16 by default: half the bytes of the model's f32 vectors, and the same negatives but for
    // near-ties (scores move by about 1e-4).
    assert_eq!(manifest_of(&f16)["index"]["bytes"], passages * 384 * 2);
    assert_eq!(manifest_of(&f32)["index"]["bytes"], passages * 384 * 4);
    let (shared, total) = negatives_shared(&f32, &f16);
    assert!(
        shared as f64 >= 0.99 * total as f64,
        "{shared} of {total} negatives shared"
    );
}

#[test]
fn manifest_records_inputs_counts_and_scores() {
    let dir = tmp();
    let out = dir.path().join("m.parquet");
    mine_sample(&out, &["--format", "n-tuple"]);
    let m = manifest_of(&out);
    assert_eq!(m["inputs"].as_array().unwrap().len(), 3);
    assert_eq!(m["inputs"][0]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(m["model"]["sha256"].as_str().unwrap().len(), 64);
    // The sample's 276 passages as 384-dimensional f16 vectors (the default `--index-dtype`).
    assert_eq!(m["index"]["kind"], "exact");
    assert_eq!(m["index"]["bytes"], m["counts"]["corpus"].as_u64().unwrap() * 384 * 2);
    assert_eq!(
        m["counts"]["rows"].as_u64().unwrap() as usize,
        read_parquet(&out).num_rows()
    );
    assert_eq!(m["counts"]["queries_without_positive"], 1);
    assert!(m["counts"]["skipped_candidates"]["positive"].as_u64().unwrap() > 0);
    assert!(m["scores"]["negative"]["mean"].as_f64().unwrap() > 0.0);
    assert_eq!(m["config"]["num_negatives"], 5);
    // Threads and sessions left to the machine are recorded as run: one CPU session per thread.
    let threads = m["config"]["threads"].as_u64().unwrap();
    assert!(threads >= 1);
    assert_eq!(m["config"]["sessions"].as_u64(), Some(threads));
    for stage in [
        "read",
        "embed_corpus",
        "embed_queries",
        "search_select",
        "write",
        "total",
    ] {
        assert!(m["timings"][stage].is_number(), "timing {stage}");
    }
}

#[test]
fn pairs_from_jsonl_and_parquet_give_one_row_per_pair() {
    let dir = tmp();
    let pairs = fixture("pairs.jsonl");
    let out = dir.path().join("p.parquet");
    ok(&[
        "mine",
        "--no-progress",
        "--pairs",
        pairs.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--format",
        "n-tuple",
        "--num-negatives",
        "3",
    ]);
    let batch = read_parquet(&out);
    assert_eq!(batch.num_rows(), 30);
    // Repeated anchors mean several positives: a row's negatives are none of its anchor's positives.
    let qids = strings(&batch, "query_id");
    let pids = strings(&batch, "positive_id");
    let mut positives: HashMap<String, HashSet<String>> = HashMap::new();
    for (q, p) in qids.iter().zip(&pids) {
        positives
            .entry(q.clone().unwrap())
            .or_default()
            .insert(p.clone().unwrap());
    }
    assert_eq!(positives.len(), 20);
    for (i, negs) in string_lists(&batch, "negative_ids").iter().enumerate() {
        assert!(negs.iter().all(|n| !positives[qids[i].as_ref().unwrap()].contains(n)));
    }
    // The same pairs as Parquet, with other column names.
    let pq_path = dir.path().join("pairs.parquet");
    let lines = std::fs::read_to_string(&pairs).unwrap();
    let (a, p): (Vec<String>, Vec<String>) = lines
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["anchor"].as_str().unwrap().to_string(),
                v["positive"].as_str().unwrap().to_string(),
            )
        })
        .unzip();
    let batch = arrow::array::RecordBatch::try_from_iter([
        (
            "question",
            std::sync::Arc::new(arrow::array::StringArray::from(a)) as arrow::array::ArrayRef,
        ),
        (
            "answer",
            std::sync::Arc::new(arrow::array::StringArray::from(p)) as arrow::array::ArrayRef,
        ),
    ])
    .unwrap();
    write_parquet(&pq_path, &batch);
    let out2 = dir.path().join("p2.parquet");
    ok(&[
        "mine",
        "--no-progress",
        "--pairs",
        pq_path.to_str().unwrap(),
        "--anchor-column",
        "question",
        "--positive-column",
        "answer",
        "--out",
        out2.to_str().unwrap(),
        "--format",
        "n-tuple",
        "--num-negatives",
        "3",
    ]);
    assert_eq!(
        string_lists(&read_parquet(&out2), "negative_ids"),
        string_lists(&read_parquet(&out), "negative_ids")
    );
}

#[test]
fn every_shipped_pipeline_validates_and_demo_runs() {
    for entry in std::fs::read_dir(root().join("pipelines")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            ok(&["validate", path.to_str().unwrap()]);
        }
    }
    let dir = tmp();
    let out = dir.path().join("demo.parquet");
    ok(&[
        "run",
        "pipelines/demo.toml",
        "--set",
        &format!("out={}", out.display()),
        "--set",
        "no_progress=true",
    ]);
    assert!(read_parquet(&out).num_rows() > 0);
}

#[test]
fn inspect_reports_rows_and_negatives_per_row() {
    let dir = tmp();
    let out = dir.path().join("i.parquet");
    mine_sample(&out, &["--format", "n-tuple-scores", "--num-negatives", "3"]);
    let report = ok(&["inspect", out.to_str().unwrap()]);
    let rows = read_parquet(&out).num_rows();
    assert!(report.contains(&format!("{rows} rows")), "{report}");
    assert!(report.contains(&format!("negatives per row: 3:{rows}")), "{report}");
    assert!(report.contains("Positive") && report.contains("Negative"));
}

/// Rows whose positive is the query's nearest passage, counted independently: with
/// `--fn-filter off` and top sampling the nearest non-positive is always the first negative, so
/// a row's positive came first exactly when no negative has rank 0.
fn rows_without_rank_zero(out: &Path) -> u64 {
    int_lists(&read_parquet(out), "negative_ranks")
        .iter()
        .filter(|ranks| !ranks.contains(&Some(0)))
        .count() as u64
}

#[test]
fn the_run_says_when_positives_are_their_queries_nearest_passage() {
    let dir = tmp();
    // Title → text pairs, as regime B of the training-value benchmark: the text is nearly always
    // its title's nearest passage, and the summary says what that means for training.
    let pairs = dir.path().join("titles.jsonl");
    let corpus = std::fs::read_to_string(fixture("sample/corpus.jsonl")).unwrap();
    let lines: Vec<String> = corpus
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            serde_json::json!({"anchor": v["title"], "positive": v["text"]}).to_string()
        })
        .collect();
    std::fs::write(&pairs, lines.join("\n")).unwrap();
    let out = dir.path().join("titles.parquet");
    let run = hardneg(&[
        "mine",
        "--no-progress",
        "--pairs",
        pairs.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--format",
        "n-tuple",
        "--fn-filter",
        "off",
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let counts = &manifest_of(&out)["counts"];
    let first = counts["rows_positive_first"].as_u64().unwrap();
    assert_eq!(first, rows_without_rank_zero(&out));
    let rows = counts["rows"].as_u64().unwrap();
    assert!(first * 2 >= rows, "{first} of {rows}");
    let summary = String::from_utf8_lossy(&run.stderr);
    let share = format!("nearest passage in {:.0}% of rows", 100.0 * first as f64 / rows as f64);
    assert!(
        summary.contains(&share) && summary.contains("make bench-train"),
        "{summary}"
    );

    // The sample's judged queries have several positives each, and the count holds there too.
    let out = dir.path().join("beir.parquet");
    mine_sample(&out, &["--format", "n-tuple", "--fn-filter", "off"]);
    let m = manifest_of(&out);
    assert_eq!(
        m["counts"]["rows_positive_first"].as_u64().unwrap(),
        rows_without_rank_zero(&out)
    );
}
