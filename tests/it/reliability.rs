//! The bad-input catalogue (one fixture per kind of problem: exit code 2, file and line named, no
//! output), counted skips, unwritable outputs, a broken model folder, and a real SIGKILL
//! mid-embedding and mid-writing followed by a cached rerun that equals an uninterrupted run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::util::*;

struct Case {
    name: &'static str,
    corpus: &'static [u8],
    queries: &'static [u8],
    qrels: &'static [u8],
    expect: &'static [&'static str],
}

const CORPUS: &[u8] = b"{\"_id\":\"1\",\"text\":\"alpha beta\"}\n{\"_id\":\"2\",\"text\":\"gamma delta\"}\n{\"_id\":\"3\",\"text\":\"epsilon\"}\n{\"_id\":\"4\",\"text\":\"zeta eta\"}\n";
const QUERIES: &[u8] = b"{\"_id\":\"q1\",\"text\":\"alpha?\"}\n";
const QRELS: &[u8] = b"query-id\tcorpus-id\tscore\nq1\t1\t1\n";

const CASES: &[Case] = &[
    Case {
        name: "malformed JSON",
        corpus: b"{\"_id\":\"1\",\"text\":\"a\"}\n{\"_id\": 2, text}\n",
        queries: QUERIES,
        qrels: QRELS,
        expect: &["corpus.jsonl:2", "malformed JSON"],
    },
    Case {
        name: "missing id",
        corpus: b"{\"text\":\"a\"}\n",
        queries: QUERIES,
        qrels: QRELS,
        expect: &["corpus.jsonl:1", "missing field `_id`"],
    },
    Case {
        name: "missing text",
        corpus: b"{\"_id\":\"1\",\"text\":\"a\"}\n{\"_id\":\"2\"}\n",
        queries: QUERIES,
        qrels: QRELS,
        expect: &["corpus.jsonl:2", "missing field `text`"],
    },
    Case {
        name: "wrong type",
        corpus: b"{\"_id\":\"1\",\"text\":[\"a\"]}\n",
        queries: QUERIES,
        qrels: QRELS,
        expect: &["corpus.jsonl:1", "field `text` must be a string"],
    },
    Case {
        name: "empty file",
        corpus: b"",
        queries: QUERIES,
        qrels: QRELS,
        expect: &["corpus.jsonl", "empty"],
    },
    Case {
        name: "invalid UTF-8",
        corpus: b"{\"_id\":\"1\",\"text\":\"a\"}\n{\"_id\":\"2\",\"text\":\"\xff\xfe\"}\n",
        queries: QUERIES,
        qrels: QRELS,
        expect: &["corpus.jsonl:2", "UTF-8"],
    },
    Case {
        name: "not an object",
        corpus: b"[1, 2]\n",
        queries: QUERIES,
        qrels: QRELS,
        expect: &["corpus.jsonl:1", "expected a JSON object"],
    },
    Case {
        name: "qrels columns",
        corpus: CORPUS,
        queries: QUERIES,
        qrels: b"query-id\tcorpus-id\tscore\nq1\t1\n",
        expect: &["qrels.tsv:2", "3 tab-separated columns"],
    },
    Case {
        name: "qrels score",
        corpus: CORPUS,
        queries: QUERIES,
        qrels: b"query-id\tcorpus-id\tscore\nq1\t1\thigh\n",
        expect: &["qrels.tsv:2", "score", "high"],
    },
    Case {
        name: "unknown corpus id",
        corpus: CORPUS,
        queries: QUERIES,
        qrels: b"query-id\tcorpus-id\tscore\nq1\t1\t1\nq1\t99\t1\n",
        expect: &["qrels.tsv:3", "`99`"],
    },
    Case {
        name: "unknown query id",
        corpus: CORPUS,
        queries: QUERIES,
        qrels: b"query-id\tcorpus-id\tscore\nq1\t1\t1\nq9\t2\t1\n",
        expect: &["qrels.tsv:3", "`q9`"],
    },
    Case {
        name: "duplicate id",
        corpus: b"{\"_id\":\"1\",\"text\":\"a\"}\n{\"_id\":\"1\",\"text\":\"b\"}\n",
        queries: QUERIES,
        qrels: QRELS,
        expect: &["corpus.jsonl:2", "duplicate id `1`"],
    },
    Case {
        name: "corpus too small",
        corpus: CORPUS,
        queries: QUERIES,
        qrels: QRELS,
        expect: &["4 documents", "--num-negatives 5"],
    },
];

fn write_case(dir: &Path, c: &Case) -> [PathBuf; 3] {
    let paths = [
        dir.join("corpus.jsonl"),
        dir.join("queries.jsonl"),
        dir.join("qrels.tsv"),
    ];
    for (p, bytes) in paths.iter().zip([c.corpus, c.queries, c.qrels]) {
        std::fs::write(p, bytes).unwrap();
    }
    paths
}

fn mine_args<'a>(paths: &'a [PathBuf; 3], out: &'a Path) -> Vec<&'a str> {
    vec![
        "mine",
        "--no-progress",
        "--corpus",
        paths[0].to_str().unwrap(),
        "--queries",
        paths[1].to_str().unwrap(),
        "--qrels",
        paths[2].to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]
}

#[test]
fn every_bad_input_fails_with_file_line_and_no_output() {
    for case in CASES {
        let dir = tmp();
        let paths = write_case(dir.path(), case);
        let out = dir.path().join("out").join("train.parquet");
        let result = hardneg(&mine_args(&paths, &out));
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert_eq!(result.status.code(), Some(2), "{}: {stderr}", case.name);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
            "{}: {stderr}",
            case.name
        );
        for e in case.expect {
            assert!(stderr.contains(e), "{}: stderr lacks {e:?}:\n{stderr}", case.name);
        }
        let left: Vec<String> = std::fs::read_dir(dir.path().join("out"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        assert!(left.is_empty(), "{}: files left behind: {left:?}", case.name);
    }
}

#[test]
fn parquet_without_the_configured_columns_names_them() {
    let dir = tmp();
    let pairs = dir.path().join("pairs.parquet");
    let batch = arrow::array::RecordBatch::try_from_iter([(
        "question",
        std::sync::Arc::new(arrow::array::StringArray::from(vec!["a"])) as arrow::array::ArrayRef,
    )])
    .unwrap();
    write_parquet(&pairs, &batch);
    let out = dir.path().join("o.parquet");
    let result = hardneg(&[
        "mine",
        "--pairs",
        pairs.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(2));
    assert!(
        stderr.contains("pairs.parquet") && stderr.contains("missing column `anchor`") && stderr.contains("question"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn skip_mode_counts_bad_records_and_fails_past_the_limit() {
    let dir = tmp();
    let mut corpus = CORPUS.to_vec();
    corpus.extend_from_slice(
        b"{\"_id\":\"5\",\"text\":\"theta\"}\n{\"_id\":\"6\",\"text\":\"iota\"}\n{broken\n{\"_id\":\"7\"}\n",
    );
    let case = Case {
        name: "skip",
        corpus: Box::leak(corpus.into_boxed_slice()),
        queries: QUERIES,
        qrels: QRELS,
        expect: &[],
    };
    let paths = write_case(dir.path(), &case);
    let out = dir.path().join("o.parquet");
    let mut args = mine_args(&paths, &out);
    args.extend([
        "--num-negatives",
        "2",
        "--on-bad-record",
        "skip",
        "--max-bad-records",
        "2",
    ]);
    ok(&args);
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("o.parquet.manifest.json")).unwrap()).unwrap();
    assert_eq!(
        m["counts"]["bad_records_skipped"]["malformed JSON"], 1,
        "{}",
        m["counts"]
    );
    assert_eq!(
        m["counts"]["bad_records_skipped"]["malformed record"], 1,
        "{}",
        m["counts"]
    );
    std::fs::remove_file(&out).unwrap();
    let mut args = mine_args(&paths, &out);
    args.extend([
        "--num-negatives",
        "2",
        "--on-bad-record",
        "skip",
        "--max-bad-records",
        "1",
    ]);
    let result = hardneg(&args);
    assert_eq!(result.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&result.stderr).contains("--max-bad-records 1"));
    assert!(!out.exists());
}

#[test]
fn an_unwritable_output_fails_before_any_work() {
    let dir = tmp();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let out = blocker.join("train.parquet"); // a folder that is a file
    let mut args: Vec<String> = vec!["mine".into()];
    args.extend(sample_args());
    args.extend([
        "--out".into(),
        out.display().to_string(),
        "--model".into(),
        "/nonexistent".into(),
    ]);
    let result = hardneg(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(2));
    assert!(
        stderr.contains("train.parquet") && !stderr.contains("/nonexistent"),
        "the output is checked first: {stderr}"
    );
}

#[test]
fn corrupt_model_and_mismatched_tokenizer_are_explained() {
    let dir = tmp();
    let model = dir.path().join("model");
    std::fs::create_dir(&model).unwrap();
    let real = root().join("models/all-MiniLM-L6-v2");
    std::fs::copy(real.join("tokenizer.json"), model.join("tokenizer.json")).unwrap();
    std::fs::write(model.join("model.onnx"), b"this is not an onnx graph").unwrap();
    let input = fixture("embeddings/reference.jsonl");
    let out = dir.path().join("e.parquet");
    let args = [
        "embed",
        "--input",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
    ];
    let result = hardneg(&args);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("model.onnx") && stderr.contains("corrupt"), "{stderr}");
    // A tokenizer whose vocabulary is larger than the model's embedding table.
    for file in ["model.onnx", "model.onnx.data"] {
        std::fs::copy(real.join(file), model.join(file)).unwrap();
    }
    let mut tok: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(real.join("tokenizer.json")).unwrap()).unwrap();
    tok["model"]["vocab"]["zzz-not-in-the-model"] = serde_json::json!(40000);
    std::fs::write(model.join("tokenizer.json"), tok.to_string()).unwrap();
    let result = hardneg(&args);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("does not match"), "{stderr}");
    assert!(!out.exists());
}

/// A corpus large enough to be caught mid-embedding: the sample three times under new ids.
fn big_corpus(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(fixture("sample/corpus.jsonl")).unwrap();
    let mut out = String::new();
    for copy in 0..3 {
        for line in text.lines() {
            let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
            let id = v["_id"].as_str().unwrap().to_string();
            v["_id"] = serde_json::json!(if copy == 0 { id } else { format!("{id}-{copy}") });
            v["text"] = serde_json::json!(format!("{} (copy {copy})", v["text"].as_str().unwrap()));
            out.push_str(&v.to_string());
            out.push('\n');
        }
    }
    std::fs::write(dir.join("corpus.jsonl"), out).unwrap();
    let mut args: Vec<String> = sample_args();
    args[1] = dir.join("corpus.jsonl").display().to_string();
    args
}

fn start(args: &[String], hold: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_hardneg"))
        .args(args)
        .current_dir(root())
        .env("HARDNEG_HOLD", hold)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn no_finished_output(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(
            !name.starts_with("train.parquet"),
            "a finished-looking {name} exists after SIGKILL"
        );
    }
}

#[test]
fn sigkill_mid_embedding_and_mid_writing_then_cached_rerun_equals_uninterrupted_run() {
    let dir = tmp();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let cache = dir.path().join("cache");
    let data = big_corpus(dir.path());
    let run_args = |out_file: &Path, cache: &Path| -> Vec<String> {
        let mut a: Vec<String> = vec![
            "mine".into(),
            "--no-progress".into(),
            "--format".into(),
            "n-tuple".into(),
        ];
        a.extend(data.iter().cloned());
        // Small windows: each is cached as soon as it is embedded.
        a.extend([
            "--batch-size".into(),
            "8".into(),
            "--cache".into(),
            cache.display().to_string(),
        ]);
        a.extend(["--out".into(), out_file.display().to_string()]);
        a
    };
    // Reference: uninterrupted, with a cache of its own.
    let reference = dir.path().join("reference.parquet");
    ok(&run_args(&reference, &dir.path().join("cache-ref"))
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());

    // 1. Killed while embedding (each window holds 1.5 s), after some windows were cached.
    let target = out.join("train.parquet");
    let mut child = start(&run_args(&target, &cache), "embed:1500");
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    while std::fs::read_dir(&cache).map_or(0, |d| d.count()) == 0 {
        assert!(std::time::Instant::now() < deadline, "no window was ever cached");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap(); // SIGKILL, with most of the 13 windows still to embed
    child.wait().unwrap();
    no_finished_output(&out);
    let parts_after_kill = std::fs::read_dir(&cache).unwrap().count();

    // 2. Killed while writing (held before the output is renamed into place).
    let mut child = start(&run_args(&target, &cache), "write:60000");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().contains("tmp"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never reached the write stage"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    no_finished_output(&out);

    // 3. The rerun embeds nothing new and equals the uninterrupted run.
    ok(&run_args(&target, &cache).iter().map(String::as_str).collect::<Vec<_>>());
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("train.parquet.manifest.json")).unwrap()).unwrap();
    assert_eq!(
        m["counts"]["cached_passages"], m["counts"]["corpus"],
        "everything came from the cache"
    );
    assert_eq!(m["embedding"]["corpus"]["texts"], 0);
    assert!(parts_after_kill > 0, "the killed run cached finished windows");
    let (a, b) = (read_parquet(&reference), read_parquet(&target));
    assert_eq!(string_lists(&a, "negative_ids"), string_lists(&b, "negative_ids"));
    for (x, y) in float_lists(&a, "negative_scores")
        .iter()
        .flatten()
        .zip(float_lists(&b, "negative_scores").iter().flatten())
    {
        assert!((x - y).abs() < 1e-5);
    }
}

/// Threads of process `pid` that belong to hardneg's worker pool (named `hardneg-pool-N`).
#[cfg(target_os = "linux")]
fn pool_threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |tasks| {
        tasks
            .flatten()
            .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.starts_with("hardneg-pool")))
            .count()
    })
}

#[cfg(target_os = "linux")]
#[test]
fn threads_flag_sizes_the_worker_pool() {
    // Two sizes: a pool left at the core count could match one of them, not both.
    for threads in [1usize, 3] {
        let dir = tmp();
        let mut args: Vec<String> = vec!["mine".into(), "--no-progress".into()];
        args.extend(sample_args());
        args.extend(["--threads", &threads.to_string(), "--sessions", "1", "--out"].map(String::from));
        args.push(dir.path().join("train.parquet").display().to_string());
        // Held before the output is renamed into place: alive until killed.
        let mut child = start(&args, "write:60000");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while pool_threads(child.id()) < threads && std::time::Instant::now() < deadline {
            assert!(child.try_wait().unwrap().is_none(), "hardneg exited early");
            std::thread::sleep(Duration::from_millis(50));
        }
        // Time for any thread beyond the bound to appear.
        std::thread::sleep(Duration::from_millis(500));
        let seen = pool_threads(child.id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(seen, threads, "--threads {threads}");
    }
}
