//! Corpora in other languages: the lexical filter keeps a paraphrase of the positive out of the
//! negatives in Chinese, Japanese and German; the language is detected and recorded; English-only
//! counterfactual rules are left out (or refused when asked for) and number edits still work.

use std::path::Path;

use super::util::*;

fn collection(lang: &str) -> Vec<String> {
    ["corpus.jsonl", "queries.jsonl", "qrels.tsv"]
        .iter()
        .zip(["--corpus", "--queries", "--qrels"])
        .flat_map(|(f, flag)| {
            [
                flag.to_string(),
                fixture(&format!("languages/{lang}/{f}")).display().to_string(),
            ]
        })
        .collect()
}

fn mine_lang(lang: &str, out: &Path, filter: &str) -> serde_json::Value {
    let mut args: Vec<String> = vec!["mine".into(), "--no-progress".into()];
    args.extend(collection(lang));
    // Nearly every passage is a candidate, so selection walks the whole ranking.
    args.extend(
        [
            "--format",
            "n-tuple",
            "--num-negatives",
            "15",
            "--keep-short",
            "--fn-filter",
            filter,
            "--out",
        ]
        .map(String::from),
    );
    args.push(out.display().to_string());
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let mut m = out.as_os_str().to_owned();
    m.push(".manifest.json");
    serde_json::from_slice(&std::fs::read(m).unwrap()).unwrap()
}

#[test]
fn the_lexical_filter_keeps_the_paraphrase_out_in_chinese_japanese_and_german() {
    let dir = tmp();
    for (lang, code) in [("zh", "cmn"), ("ja", "jpn"), ("de", "deu")] {
        let out = dir.path().join(format!("{lang}.parquet"));
        let manifest = mine_lang(lang, &out, "lexical=0.5");
        assert_eq!(manifest["language"]["code"], code, "{lang}");
        assert_eq!(manifest["language"]["source"], "detected");
        let negatives = string_lists(&read_parquet(&out), "negative_ids");
        assert!(
            !negatives[0].contains(&"para".to_string()),
            "{lang}: the paraphrase is a negative"
        );
        assert!(
            manifest["counts"]["skipped_candidates"]["fn_lexical"].as_u64() >= Some(1),
            "{lang}: {}",
            manifest["counts"]["skipped_candidates"]
        );
        // Without the filter the paraphrase is one of the negatives: the filter is what removed it.
        let unfiltered = dir.path().join(format!("{lang}-off.parquet"));
        mine_lang(lang, &unfiltered, "off");
        assert!(string_lists(&read_parquet(&unfiltered), "negative_ids")[0].contains(&"para".to_string()));
    }
}

fn perturb(input: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let (i, o) = (input.display().to_string(), out.display().to_string());
    let mut args = vec!["perturb", "--input", &i, "--out", &o, "--counterfactuals", "1"];
    args.extend(extra);
    hardneg(&args)
}

#[test]
fn a_number_edit_in_a_chinese_passage_changes_the_number_and_nothing_else() {
    let dir = tmp();
    let out = dir.path().join("edits.parquet");
    let input = fixture("languages/zh/corpus.jsonl");
    let run = perturb(&input, &out, &[]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("edits.parquet.manifest.json")).unwrap()).unwrap();
    assert_eq!(report["language"]["code"], "cmn");
    assert_eq!(report["families"], serde_json::json!(["number"]));
    assert_eq!(
        report["families_left_out"],
        serde_json::json!(["negation", "comparative", "antonym"])
    );
    let b = read_parquet(&out);
    let (ids, sources, edited) = (strings(&b, "source_id"), strings(&b, "source"), strings(&b, "text"));
    let beijing = ids
        .iter()
        .position(|i| i.as_deref() == Some("d17"))
        .expect("the Beijing passage got an edit");
    let (before, after) = (sources[beijing].clone().unwrap(), edited[beijing].clone().unwrap());
    assert_ne!(before, after);
    // Only digits differ: the text around the number is untouched.
    let strip = |s: &str| s.chars().filter(|c| !c.is_ascii_digit()).collect::<String>();
    assert_eq!(strip(&before), strip(&after), "{before} -> {after}");
}

#[test]
fn english_only_families_are_refused_for_another_language_with_what_is_available() {
    let dir = tmp();
    let input = fixture("languages/de/corpus.jsonl");
    let run = perturb(&input, &dir.path().join("x.parquet"), &["--families", "negation"]);
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("`negation` has English rules only") && err.contains("available families are number"),
        "{err}"
    );
    // Given explicitly, the language wins over detection.
    let forced = perturb(
        &input,
        &dir.path().join("y.parquet"),
        &["--families", "negation", "--language", "en"],
    );
    assert!(forced.status.success(), "{}", String::from_utf8_lossy(&forced.stderr));
}
