//! Stages over a run folder: `plan` → `stage …` → `finalize` writes the training set `mine` writes,
//! survives a killed shard, refuses a changed plan and names what is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::util::*;

/// Small windows and chunks so the sample's 276 passages and 54 queries fill every shard.
const SPLIT: [&str; 4] = ["--sort-window", "50", "--query-chunk", "16"];

fn settings(extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = sample_args();
    args.extend(["--no-progress".to_string()]);
    args.extend(SPLIT.iter().chain(extra).map(|s| s.to_string()));
    args
}

fn plan(run: &Path, out: &Path, shards: (usize, usize, usize), extra: &[&str]) -> std::process::Output {
    let mut args: Vec<String> = vec!["plan".into(), "--run".into(), run.display().to_string()];
    for (flag, n) in [
        ("--corpus-shards", shards.0),
        ("--index-partitions", shards.1),
        ("--query-shards", shards.2),
    ] {
        args.extend([flag.to_string(), n.to_string()]);
    }
    args.extend(settings(extra));
    args.extend(["--out".into(), out.display().to_string()]);
    hardneg(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Runs one shard of one stage (shared with the report tests).
pub(super) fn stage(run: &Path, stage: &str, shard: &str) -> String {
    ok(&[
        "stage",
        stage,
        "--run",
        &run.display().to_string(),
        "--shard",
        shard,
        "--no-progress",
    ])
}

/// Runs every shard of every stage (in reverse order within a stage) and finalize.
fn run_all(run: &Path, shards: (usize, usize, usize)) {
    for (name, n) in [
        ("embed-corpus", shards.0),
        ("build-index", shards.1),
        ("mine-queries", shards.2),
    ] {
        for i in (0..n).rev() {
            stage(run, name, &format!("{i}/{n}"));
        }
    }
    ok(&["finalize", "--run", &run.display().to_string(), "--no-progress"]);
}

fn mine(out: &Path, extra: &[&str]) {
    let mut args: Vec<String> = vec!["mine".into()];
    args.extend(settings(extra));
    args.extend(["--out".into(), out.display().to_string()]);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
}

/// Mines the sample (n-tuple) into `dir/mine.parquet` and plans the same settings into `dir/run`
/// with `shards`: (run folder, the plan's output, mine's output).
fn mined_and_planned(dir: &Path, shards: (usize, usize, usize)) -> (PathBuf, PathBuf, PathBuf) {
    let (run, out, mined) = (dir.join("run"), dir.join("staged.parquet"), dir.join("mine.parquet"));
    mine(&mined, &["--format", "n-tuple"]);
    assert!(plan(&run, &out, shards, &["--format", "n-tuple"]).status.success());
    (run, out, mined)
}

fn status_json(run: &Path) -> serde_json::Value {
    serde_json::from_str(&ok(&["status", "--run", &run.display().to_string(), "--json"])).unwrap()
}

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn stages_write_byte_for_byte_the_training_set_mine_writes() {
    let dir = tmp();
    // The whole-run rules too: counterfactuals balanced per chunk, the reuse cap in query order.
    let extra = [
        "--format",
        "n-tuple-scores",
        "--exact",
        "--counterfactuals",
        "2",
        "--max-negative-reuse",
        "2",
    ];
    let mined = dir.path().join("mine.parquet");
    mine(&mined, &extra);
    for shards in [(1, 1, 1), (3, 2, 2)] {
        let run = dir.path().join(format!("run-{}{}{}", shards.0, shards.1, shards.2));
        let out = dir
            .path()
            .join(format!("staged-{}{}{}.parquet", shards.0, shards.1, shards.2));
        let planned = plan(&run, &out, shards, &extra);
        assert!(planned.status.success(), "{}", String::from_utf8_lossy(&planned.stderr));
        let layout: serde_json::Value = serde_json::from_slice(&bytes(&run.join("plan.json"))).unwrap();
        for key in ["corpus_shards", "partitions", "query_shards"] {
            for span in layout["layout"][key].as_array().unwrap() {
                assert!(
                    span["end"].as_u64() > span["start"].as_u64(),
                    "an empty {key} shard: {span}"
                );
            }
        }
        run_all(&run, shards);
        assert!(
            bytes(&out) == bytes(&mined),
            "{shards:?}: the staged training set differs from mine's"
        );
        let profiles = |p: &Path| bytes(Path::new(&format!("{}.profiles.json", p.display())));
        assert!(
            profiles(&out) == profiles(&mined),
            "{shards:?}: the staged score profiles differ from mine's"
        );
        let (m, s) = (manifest(&mined), manifest(&out));
        for key in ["counts", "scores", "counterfactuals"] {
            assert_eq!(m[key], s[key], "{shards:?}: manifest {key}");
        }
        assert_eq!(s["config"]["run"]["query_shards"], shards.2);
    }
}

fn manifest(out: &Path) -> serde_json::Value {
    let mut p = out.as_os_str().to_owned();
    p.push(".manifest.json");
    serde_json::from_slice(&bytes(Path::new(&p))).unwrap()
}

#[test]
fn a_shard_killed_mid_stage_reruns_alone_and_the_output_is_unchanged() {
    let dir = tmp();
    let (run, out, mined) = mined_and_planned(dir.path(), (2, 1, 1));
    stage(&run, "embed-corpus", "0/2");
    let first = run.join("vectors/part-00000.parquet");
    let first_written = std::fs::metadata(&first).unwrap().modified().unwrap();

    // Shard 1 sleeps after each embedded window; kill it with SIGKILL once it has started.
    let mut child = Command::new(env!("CARGO_BIN_EXE_hardneg"))
        .args([
            "stage",
            "embed-corpus",
            "--run",
            &run.display().to_string(),
            "--shard",
            "1/2",
            "--no-progress",
        ])
        .current_dir(root())
        .env("HARDNEG_HOLD", "embed:60000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !run
        .join("vectors")
        .read_dir()
        .unwrap()
        .any(|e| e.unwrap().file_name().to_string_lossy().starts_with(".part-00001"))
    {
        assert!(Instant::now() < deadline, "shard 1 never started writing");
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed = Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    child.wait().unwrap();
    assert!(
        !run.join("vectors/part-00001.parquet").exists(),
        "a killed shard left a part"
    );
    let status = status_json(&run);
    let embed = &status["stages"][0];
    assert_eq!(embed["done"], 1);
    assert_eq!(embed["shards"][1]["state"], "started");

    // Rerun everything: the finished shard is skipped, the killed one recomputed.
    assert!(stage(&run, "embed-corpus", "0/2").contains("already done"));
    assert!(stage(&run, "embed-corpus", "1/2").contains("done in"));
    assert_eq!(std::fs::metadata(&first).unwrap().modified().unwrap(), first_written);
    stage(&run, "build-index", "0/1");
    stage(&run, "mine-queries", "0/1");
    ok(&["finalize", "--run", &run.display().to_string()]);
    assert!(bytes(&out) == bytes(&mined), "the output changed after the rerun");
    assert_eq!(status_json(&run)["finalized"], true);
}

#[test]
fn a_plan_with_other_settings_is_refused_naming_what_differs() {
    let dir = tmp();
    let (run, out) = (dir.path().join("run"), dir.path().join("out.parquet"));
    assert!(plan(&run, &out, (1, 1, 1), &[]).status.success());
    let again = plan(&run, &out, (1, 1, 1), &[]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("unchanged"));
    let changed = plan(&run, &out, (1, 1, 1), &["--num-negatives", "7"]);
    assert!(!changed.status.success());
    let err = String::from_utf8_lossy(&changed.stderr);
    assert!(err.contains("settings.num_negatives: 5 in the plan, 7 now"), "{err}");
    let reshaped = plan(&run, &out, (2, 1, 1), &[]);
    assert!(String::from_utf8_lossy(&reshaped.stderr).contains("shards"));
    // A worker asked for a shard count the plan does not have is refused too.
    let wrong = hardneg(&[
        "stage",
        "embed-corpus",
        "--run",
        &run.display().to_string(),
        "--shard",
        "0/3",
    ]);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("planned with 1 embed-corpus shards"));
}

#[test]
fn finalize_names_what_is_missing_and_writes_nothing() {
    let dir = tmp();
    let (run, out) = (dir.path().join("run"), dir.path().join("out.parquet"));
    assert!(plan(&run, &out, (2, 1, 1), &[]).status.success());
    stage(&run, "embed-corpus", "0/2");
    stage(&run, "embed-corpus", "1/2");
    stage(&run, "build-index", "0/1");
    let r = run.display().to_string();
    let not_run = hardneg(&["finalize", "--run", &r]);
    assert!(!not_run.status.success());
    assert!(String::from_utf8_lossy(&not_run.stderr).contains("mine-queries 0/1 is not done"));
    stage(&run, "mine-queries", "0/1");
    std::fs::remove_file(run.join("vectors/part-00001.parquet")).unwrap();
    let missing = hardneg(&["finalize", "--run", &r]);
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains("embed-corpus 1/2") && err.contains("vectors/part-00001.parquet"),
        "{err}"
    );
    assert!(!out.exists(), "a failed finalize left an output");
    let status = status_json(&run);
    assert_eq!(status["stages"][0]["shards"][1]["state"], "failed");
    assert_eq!(status["finalized"], false);
}

#[test]
fn status_lists_every_shard_of_every_stage() {
    let dir = tmp();
    let (run, out) = (dir.path().join("run"), dir.path().join("out.parquet"));
    assert!(plan(&run, &out, (3, 2, 2), &[]).status.success());
    stage(&run, "embed-corpus", "1/3");
    let status = status_json(&run);
    let stages: Vec<(String, u64, u64)> = status["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap().to_string(),
                s["done"].as_u64().unwrap(),
                s["total"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        stages,
        [
            ("embed-corpus".into(), 1, 3),
            ("build-index".into(), 0, 2),
            ("mine-queries".into(), 0, 2)
        ]
    );
    let states: Vec<&str> = status["stages"][0]["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["missing", "done", "missing"]);
    assert_eq!(status["finalized"], false);
    let table = ok(&["status", "--run", &run.display().to_string()]);
    assert!(
        table.contains("embed-corpus") && table.contains("0/3") && table.contains("missing"),
        "{table}"
    );
    // A folder without a plan says what to run first.
    let none = hardneg(&["status", "--run", &dir.path().join("nothing").display().to_string()]);
    assert!(String::from_utf8_lossy(&none.stderr).contains("hardneg plan"));
}

#[test]
fn hnsw_partitions_share_most_negatives_with_exact_search() {
    let dir = tmp();
    let (run, out, exact) = (
        dir.path().join("run"),
        dir.path().join("hnsw.parquet"),
        dir.path().join("exact.parquet"),
    );
    let hnsw = ["--format", "n-tuple", "--exact-below", "0", "--exact-max-queries", "0"];
    assert!(plan(&run, &out, (2, 2, 2), &hnsw).status.success());
    run_all(&run, (2, 2, 2));
    assert_eq!(manifest(&out)["index"]["kind"], "hnsw");
    mine(&exact, &["--format", "n-tuple", "--exact"]);
    let (a, b) = (read_parquet(&out), read_parquet(&exact));
    assert_eq!(strings(&a, "query_id"), strings(&b, "query_id"));
    let (mut shared, mut total) = (0, 0);
    for (x, y) in string_lists(&a, "negative_ids")
        .iter()
        .zip(string_lists(&b, "negative_ids"))
    {
        shared += y.iter().filter(|id| x.contains(id)).count();
        total += y.len();
    }
    assert!(
        shared as f64 >= 0.95 * total as f64,
        "{shared} of {total} negatives shared"
    );
}

#[test]
fn two_workers_racing_on_one_shard_leave_one_valid_part() {
    let dir = tmp();
    let (run, out, mined) = mined_and_planned(dir.path(), (1, 1, 1));
    stage(&run, "embed-corpus", "0/1");
    stage(&run, "build-index", "0/1");
    let r = run.display().to_string();
    let racer = || {
        Command::new(env!("CARGO_BIN_EXE_hardneg"))
            .args(["stage", "mine-queries", "--run", &r, "--shard", "0/1", "--no-progress"])
            .current_dir(root())
            .output()
            .unwrap()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(racer);
        let b = s.spawn(racer);
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(a.status.success() && b.status.success());
    let leftovers: Vec<String> = std::fs::read_dir(run.join("mined"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, ["part-00000.jsonl.gz"]);
    ok(&["finalize", "--run", &r]);
    assert!(bytes(&out) == bytes(&mined));
}

#[test]
fn embed_corpus_takes_cached_vectors_and_writes_the_same_output() {
    let dir = tmp();
    let (run, out) = (dir.path().join("run"), dir.path().join("staged.parquet"));
    let cache = dir.path().join("cache").display().to_string();
    assert!(plan(&run, &out, (1, 1, 1), &["--format", "n-tuple"]).status.success());
    let r = run.display().to_string();
    let embed = || {
        ok(&[
            "stage",
            "embed-corpus",
            "--run",
            &r,
            "--shard",
            "0/1",
            "--cache",
            &cache,
            "--no-progress",
        ])
    };
    embed();
    let first = read_parquet(&run.join("vectors/part-00000.parquet")).num_rows();
    std::fs::remove_file(run.join("done/embed-corpus/00000-of-00001.json")).unwrap();
    embed();
    let marker: serde_json::Value =
        serde_json::from_slice(&bytes(&run.join("done/embed-corpus/00000-of-00001.json"))).unwrap();
    // Every distinct passage came from the cache; none was embedded again.
    assert_eq!(marker["detail"]["embedding"]["texts"], 0);
    assert!(marker["detail"]["cached"].as_u64() > Some(200));
    assert_eq!(read_parquet(&run.join("vectors/part-00000.parquet")).num_rows(), first);
}
