//! Bad input and bad set-up give one clear message naming the path (and line), exit code 2, no
//! panic and no output file.

use std::path::Path;

use super::util::*;

fn fails_cleanly(args: &[&str], out: &Path, expect: &[&str]) {
    let result = hardneg(args);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    for e in expect {
        assert!(stderr.contains(e), "{args:?}: stderr lacks {e:?}:\n{stderr}");
    }
    assert!(!out.exists(), "{} exists after a failed run", out.display());
    let leftovers: Vec<_> = std::fs::read_dir(out.parent().unwrap()).unwrap().flatten().collect();
    assert!(
        leftovers
            .iter()
            .all(|e| !e.file_name().to_string_lossy().contains("tmp")),
        "temporary files left"
    );
}

#[test]
fn malformed_jsonl_line_names_file_and_line() {
    let dir = tmp();
    let corpus = dir.path().join("corpus.jsonl");
    std::fs::write(
        &corpus,
        "{\"_id\": \"1\", \"text\": \"ok\"}\n{\"_id\": \"2\", \"text\": oops}\n",
    )
    .unwrap();
    let out = dir.path().join("e.parquet");
    fails_cleanly(
        &[
            "embed",
            "--input",
            corpus.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &out,
        &["corpus.jsonl:2", "malformed JSON"],
    );
}

/// Embeds the reference texts with `extra` flags and expects a clean failure saying `expect`.
fn embed_fails_cleanly(extra: &[&str], expect: &[&str]) {
    let dir = tmp();
    let out = dir.path().join("e.parquet");
    let input = fixture("embeddings/reference.jsonl");
    let mut args = vec![
        "embed",
        "--input",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    fails_cleanly(&args, &out, expect);
}

#[test]
fn more_sessions_than_threads_is_refused_before_any_work() {
    for sessions in ["0", "3"] {
        embed_fails_cleanly(
            &["--threads", "2", "--sessions", sessions],
            &[&format!(
                "--sessions {sessions} must be between 1 and the thread count (2)"
            )],
        );
    }
}

#[test]
fn missing_model_folder_says_what_to_do() {
    embed_fails_cleanly(
        &["--model", "/nonexistent/model"],
        &["/nonexistent/model", "make setup"],
    );
}

#[test]
fn missing_onnx_runtime_library_says_what_to_do() {
    let dir = tmp();
    let out = dir.path().join("e.parquet");
    let input = fixture("embeddings/reference.jsonl");
    let result = std::process::Command::new(env!("CARGO_BIN_EXE_hardneg"))
        .args([
            "embed",
            "--input",
            input.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .current_dir(root())
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so.1.31.1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("/nonexistent/libonnxruntime.so.1.31.1") && stderr.contains("make setup"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn qrels_with_unknown_corpus_id_names_the_line() {
    let dir = tmp();
    let qrels = dir.path().join("qrels.tsv");
    std::fs::write(&qrels, "query-id\tcorpus-id\tscore\n1\t1\t1\n2\t99999\t1\n").unwrap();
    let out = dir.path().join("m.parquet");
    let corpus = fixture("sample/corpus.jsonl");
    let queries = fixture("sample/queries.jsonl");
    let args = [
        "mine",
        "--corpus",
        corpus.to_str().unwrap(),
        "--queries",
        queries.to_str().unwrap(),
        "--qrels",
        qrels.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    fails_cleanly(&args, &out, &["qrels.tsv:3", "99999"]);
}

#[test]
fn cuda_on_a_cpu_build_is_one_clear_sentence() {
    let expect = if cfg!(feature = "cuda") {
        "CUDA"
    } else {
        "--features cuda"
    };
    embed_fails_cleanly(&["--device", "cuda"], &[expect]);
}
