//! Counterfactual edits: the hand-labelled gold set (precision per family), the blind-artifact
//! test (a word n-gram classifier must not tell edits from originals), property tests per family,
//! and `perturb` / `mine --counterfactuals` through the real binary and model.

use std::collections::{BTreeMap, HashMap, HashSet};

use arrow::array::{Array, AsArray};
use hardneg::perturb::{Chosen, FamilyName, Item, Perturber, perturb_all, text};
use proptest::prelude::*;
use serde_json::Value;

use super::util::{fixture, floats, mine_sample, ok, read_parquet, strings};

/// One labelled edit of `tests/fixtures/counterfactuals/gold.jsonl`.
struct Gold {
    family: String,
    label: String,
}

fn read_jsonl(name: &str) -> Vec<Value> {
    std::fs::read_to_string(fixture(name))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The gold sources run the way `hardneg perturb` runs them (seed 42, one edit per text).
fn gold_run() -> (Vec<(String, String)>, Vec<Vec<Chosen>>) {
    let sources: Vec<(String, String)> = read_jsonl("counterfactuals/sources.jsonl")
        .into_iter()
        .map(|v| {
            (
                v["_id"].as_str().unwrap().to_string(),
                v["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut perturber = Perturber::new(&FamilyName::ALL, 42);
    for (_, text) in &sources {
        perturber.learn(text);
    }
    let items: Vec<Item> = sources
        .iter()
        .map(|(id, text)| Item {
            key: id,
            text,
            query: None,
        })
        .collect();
    let (chosen, _) = perturb_all(&perturber, &items, 1, 42);
    (sources, chosen)
}

#[test]
fn gold_set_precision_is_at_least_90_percent_per_family() {
    let gold: HashMap<(String, String), Gold> = read_jsonl("counterfactuals/gold.jsonl")
        .into_iter()
        .map(|v| {
            let key = (
                v["source_id"].as_str().unwrap().to_string(),
                v["text"].as_str().unwrap().to_string(),
            );
            let g = Gold {
                family: v["family"].as_str().unwrap().to_string(),
                label: v["label"].as_str().unwrap().to_string(),
            };
            (key, g)
        })
        .collect();
    let (sources, chosen) = gold_run();
    let mut per_family: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut unlabelled = Vec::new();
    for ((id, _), list) in sources.iter().zip(&chosen) {
        for c in list {
            match gold.get(&(id.clone(), c.proposal.text.clone())) {
                Some(g) => {
                    assert_eq!(g.family, c.proposal.family.name(), "{id}");
                    let entry = per_family.entry(g.family.clone()).or_default();
                    entry.0 += 1;
                    entry.1 += usize::from(g.label == "contradicts");
                }
                None => unlabelled.push(format!("{id}: {}", c.proposal.text)),
            }
        }
    }
    assert!(
        unlabelled.is_empty(),
        "edits the gold set has no label for (label them in tests/fixtures/counterfactuals/gold.jsonl):\n{}",
        unlabelled.join("\n")
    );
    for family in FamilyName::ALL {
        let (n, good) = per_family.get(family.name()).copied().unwrap_or_default();
        assert!(n >= 150, "{}: only {n} labelled edits", family.name());
        let precision = good as f64 / n as f64;
        eprintln!("{}: {good} of {n} contradict ({precision:.3})", family.name());
        assert!(precision >= 0.9, "{}: precision {precision:.3} on {n}", family.name());
    }
}

/// One hand-labelled counterfactual of `tests/fixtures/anchored/labels.jsonl`.
#[derive(serde::Deserialize)]
struct JudgedEdit {
    collection: String,
    query_id: String,
    positive_id: String,
    family: String,
    offset: i64,
    original: String,
    replacement: String,
    valid: bool,
    fluent: bool,
    negative: bool,
}

/// Where an edit is and what it does: (query id, positive id, family, offset, original, replacement).
type EditKey = (String, String, String, i64, String, String);

/// Every counterfactual `mine --counterfactuals 4` adds on a BEIR folder of the fixtures (the
/// run the judged set was labelled on).
fn judged_run(folder: &str) -> Vec<EditKey> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("judged.parquet");
    let file = |name: &str| fixture(&format!("{folder}/{name}")).display().to_string();
    let (corpus, queries, qrels) = (file("corpus.jsonl"), file("queries.jsonl"), file("qrels.tsv"));
    ok(&[
        "mine",
        "--no-progress",
        "--corpus",
        &corpus,
        "--queries",
        &queries,
        "--qrels",
        &qrels,
        "--format",
        "labeled-list",
        "--counterfactuals",
        "4",
        "--out",
        out.to_str().unwrap(),
    ]);
    let batch = read_parquet(&out);
    let (queries, positives) = (strings(&batch, "query_id"), strings(&batch, "positive_id"));
    let edits = batch.column_by_name("negative_edits").unwrap().as_list::<i32>();
    let mut keys = Vec::new();
    for r in 0..batch.num_rows() {
        let row = edits.value(r);
        let row = row.as_struct();
        let text = |name: &str, k: usize| {
            row.column_by_name(name)
                .unwrap()
                .as_string::<i32>()
                .value(k)
                .to_string()
        };
        let offsets = row
            .column_by_name("offset")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int64Type>();
        for k in (0..row.len()).filter(|&k| row.is_valid(k)) {
            keys.push((
                queries[r].clone().unwrap(),
                positives[r].clone().unwrap(),
                text("family", k),
                offsets.value(k),
                text("original", k),
                text("replacement", k),
            ));
        }
    }
    keys
}

#[test]
fn judged_counterfactuals_are_negative_for_their_query_at_the_floors() {
    let labels: HashMap<(String, EditKey), JudgedEdit> = std::fs::read_to_string(fixture("anchored/labels.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let j: JudgedEdit = serde_json::from_str(l).unwrap();
            let key = (
                j.query_id.clone(),
                j.positive_id.clone(),
                j.family.clone(),
                j.offset,
                j.original.clone(),
                j.replacement.clone(),
            );
            ((j.collection.clone(), key), j)
        })
        .collect();
    // (labelled, valid, fluent, valid + fluent + negative for its query) per (collection, family).
    let mut tally: BTreeMap<(String, String), [usize; 4]> = BTreeMap::new();
    let mut unlabelled = Vec::new();
    for (collection, folder) in [("cisi", "anchored"), ("sample", "sample")] {
        for key in judged_run(folder) {
            let Some(j) = labels.get(&(collection.to_string(), key.clone())) else {
                unlabelled.push(format!("{collection}: {key:?}"));
                continue;
            };
            for group in [(collection, j.family.as_str()), (collection, "all"), ("both", "all")] {
                let t = tally.entry((group.0.to_string(), group.1.to_string())).or_default();
                let good = j.valid && j.fluent && j.negative;
                for (slot, hit) in t.iter_mut().zip([true, j.valid, j.fluent, good]) {
                    *slot += usize::from(hit);
                }
            }
        }
    }
    assert!(
        unlabelled.is_empty(),
        "edits the judged set has no label for (label them in tests/fixtures/anchored/labels.jsonl):\n{}",
        unlabelled.join("\n")
    );
    for ((collection, family), [n, valid, fluent, good]) in &tally {
        eprintln!(
            "{collection} {family}: {n} edits, valid {:.2}, fluent {:.2}, negative for the query {:.2}",
            *valid as f64 / *n as f64,
            *fluent as f64 / *n as f64,
            *good as f64 / *n as f64
        );
    }
    let share = |collection: &str, family: &str| {
        let [n, _, _, good] = tally[&(collection.to_string(), family.to_string())];
        (n, good as f64 / n as f64)
    };
    // Floors a little under what was measured when the set was labelled (BENCHMARKS.md).
    let (n, both) = share("both", "all");
    assert!(n >= 150, "only {n} judged edits");
    assert!(both >= 0.70, "valid, fluent and negative for the query: {both:.3}");
    assert!(share("cisi", "all").1 >= 0.30, "CISI: {:.3}", share("cisi", "all").1);
    assert!(
        share("cisi", "number").1 >= 0.6,
        "CISI numbers: {:.3}",
        share("cisi", "number").1
    );
    for family in ["number", "negation", "comparative"] {
        let (n, p) = share("sample", family);
        assert!(p >= 0.75, "sample {family}: {p:.3} on {n}");
    }
}

/// Word unigrams and bigrams of a text, lower-cased.
fn ngrams(text: &str) -> Vec<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let mut out: Vec<String> = words.clone();
    out.extend(words.windows(2).map(|w| format!("{} {}", w[0], w[1])));
    out
}

/// Area under the ROC curve of `scores` for `labels` (rank statistic, ties averaged).
fn auc(scores: &[f64], labels: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut ranks = vec![0.0; scores.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        for k in i..=j {
            ranks[order[k]] = (i + j) as f64 / 2.0 + 1.0;
        }
        i = j + 1;
    }
    let positives = labels.iter().filter(|&&l| l).count() as f64;
    let negatives = labels.len() as f64 - positives;
    let rank_sum: f64 = ranks.iter().zip(labels).filter(|(_, l)| **l).map(|(r, _)| r).sum();
    (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
}

/// Held-out AUC of an L2-regularised logistic regression on uni+bigram counts telling edited
/// texts (label true) from their sources, averaged over 5 folds (pairs stay in one fold): a
/// single 30% split of ~170 pairs moves by ±0.06 from one seed to the next.
fn artifact_auc(pairs: &[(String, String, String)]) -> f64 {
    const FOLDS: u64 = 5;
    let fold_of = |id: &str| hardneg::perturb::item_seed(7, id, "fold") % FOLDS;
    (0..FOLDS)
        .map(|fold| {
            let (test, train): (Vec<_>, Vec<_>) = pairs.iter().partition(|(id, _, _)| fold_of(id) == fold);
            fold_auc(&train, &test)
        })
        .sum::<f64>()
        / FOLDS as f64
}

/// Trains on `train` pairs and returns the AUC on `test` pairs.
fn fold_auc(train: &[&(String, String, String)], test: &[&(String, String, String)]) -> f64 {
    let texts = |pairs: &[&(String, String, String)]| -> Vec<(Vec<String>, bool)> {
        pairs
            .iter()
            .flat_map(|(_, source, edited)| [(ngrams(source), false), (ngrams(edited), true)])
            .collect()
    };
    let mut vocab: HashMap<String, usize> = HashMap::new();
    let train: Vec<(Vec<usize>, bool)> = texts(train)
        .into_iter()
        .map(|(grams, label)| {
            let features = grams
                .into_iter()
                .map(|g| {
                    let next = vocab.len();
                    *vocab.entry(g).or_insert(next)
                })
                .collect();
            (features, label)
        })
        .collect();
    let mut w = vec![0.0f64; vocab.len() + 1];
    let bias = vocab.len();
    for epoch in 0..40 {
        let rate = 0.5 / (1.0 + epoch as f64);
        for (features, label) in &train {
            let z: f64 = w[bias] + features.iter().map(|&f| w[f]).sum::<f64>();
            let gradient = 1.0 / (1.0 + (-z).exp()) - f64::from(u8::from(*label));
            w[bias] -= rate * gradient;
            for &f in features {
                w[f] -= rate * (gradient + 1e-3 * w[f]);
            }
        }
    }
    let test = texts(test);
    let scores: Vec<f64> = test
        .iter()
        .map(|(grams, _)| w[bias] + grams.iter().filter_map(|g| vocab.get(g)).map(|&f| w[f]).sum::<f64>())
        .collect();
    let labels: Vec<bool> = test.iter().map(|(_, l)| *l).collect();
    auc(&scores, &labels)
}

#[test]
fn a_blind_ngram_classifier_cannot_tell_edits_from_originals() {
    let (sources, chosen) = gold_run();
    let mut by_family: BTreeMap<&str, Vec<(String, String, String)>> = BTreeMap::new();
    for ((id, text), list) in sources.iter().zip(&chosen) {
        for c in list {
            by_family.entry(c.proposal.family.name()).or_default().push((
                id.clone(),
                text.clone(),
                c.proposal.text.clone(),
            ));
        }
    }
    let all: Vec<(String, String, String)> = by_family.values().flatten().cloned().collect();
    let pooled = artifact_auc(&all);
    eprintln!("pooled held-out AUC {pooled:.3}");
    assert!(pooled <= 0.6, "pooled held-out AUC {pooled:.3}");
    for (family, pairs) in &by_family {
        let a = artifact_auc(pairs);
        eprintln!("{family}: held-out AUC {a:.3} on {} pairs", pairs.len());
        assert!(a <= 0.6, "{family}: held-out AUC {a:.3}");
    }
}

#[test]
fn the_classifier_does_find_a_planted_cue() {
    // The artifact test must be able to fail: a one-directional edit is caught.
    let (sources, _) = gold_run();
    let pairs: Vec<(String, String, String)> = sources
        .iter()
        .take(400)
        .map(|(id, text)| (id.clone(), text.clone(), format!("{text} indeed")))
        .collect();
    assert!(artifact_auc(&pairs) > 0.9);
}

/// Words the property tests build sentences from: auxiliaries, comparatives, antonyms, numbers,
/// ids, citations, enumerators and non-ASCII words.
const VOCAB: &[&str] = &[
    "the",
    "rate",
    "is",
    "are",
    "was",
    "not",
    "can",
    "cannot",
    "will",
    "has",
    "been",
    "does",
    "increased",
    "decreased",
    "higher",
    "lower",
    "more",
    "less",
    "than",
    "above",
    "below",
    "stable",
    "large",
    "small",
    "useful",
    "two",
    "three",
    "ten",
    "5",
    "30",
    "1,200",
    "3.5",
    "%",
    "percent",
    "in",
    "1980",
    "Table",
    "4",
    "[12]",
    "/9/",
    "(3)",
    "A1",
    "covid-19",
    "naïve",
    "café",
    "σ",
    "🙂",
    ",",
    ".",
    "and",
    "of",
    "samples",
    "effect",
    "p",
    "<",
    "0.05",
    "between",
    "to",
];

fn sentence() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(VOCAB), 1..24).prop_map(|w| w.join(" "))
}

/// Tokens no edit may touch: ids, citation markers, enumerators, labels.
const PROTECTED: &[&str] = &["[12]", "/9/", "(3)", "A1", "covid-19", "Table 4"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn edits_differ_stay_small_and_never_touch_ids(text in sentence(), seed in 0u64..4) {
        let mut p = Perturber::new(&FamilyName::ALL, seed);
        p.learn(&text);
        let first = p.propose("x", &text, None);
        let again = p.propose("x", &text, None);
        prop_assert_eq!(&first.proposals, &again.proposals);
        let words = |t: &str| t.split_whitespace().count();
        for prop in &first.proposals {
            prop_assert_ne!(&prop.text, &text);
            prop_assert!(text.is_char_boundary(prop.offset));
            let end = prop.offset + prop.edit.original.len();
            prop_assert_eq!(&text[prop.offset..end], prop.edit.original.as_str());
            let rebuilt = format!("{}{}{}", &text[..prop.offset], prop.edit.replacement, &text[end..]);
            if text.matches(prop.edit.original.as_str()).count() == 1 {
                prop_assert_eq!(&rebuilt, &prop.text);
            } else {
                // Other copies of the phrase in the same context changed alike (perturb::copies):
                // the text before the first copy stands, and the replacement is in.
                let first = text.find(prop.edit.original.as_str()).unwrap();
                prop_assert!(prop.text.starts_with(&text[..first]));
                prop_assert!(prop.text.contains(prop.edit.replacement.as_str()));
            }
            let budget = hardneg::perturb::checks::budget(words(&text));
            prop_assert!(words(&prop.text).abs_diff(words(&text)) <= budget);
            for protected in PROTECTED {
                if let Some(at) = text.find(protected) {
                    let span = at..at + protected.len();
                    prop_assert!(end <= span.start || prop.offset >= span.end, "{} touched {}", prop.edit.original, protected);
                }
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let mut p = Perturber::new(&FamilyName::ALL, 1);
        p.learn(&text);
        let _ = p.propose("x", &text, Some(&text));
    }
}

/// The judged CISI pairs run through the perturber with their queries (seed 42, 4 edits a row).
fn anchored_run() -> Vec<Vec<Chosen>> {
    let by_id = |name: &str| -> HashMap<String, String> {
        read_jsonl(&format!("anchored/{name}"))
            .into_iter()
            .map(|v| {
                (
                    v["_id"].as_str().unwrap().to_string(),
                    v["text"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let (corpus, queries) = (by_id("corpus.jsonl"), by_id("queries.jsonl"));
    let pairs: Vec<(String, String)> = std::fs::read_to_string(fixture("anchored/qrels.tsv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let mut f = l.split('\t');
            (f.next().unwrap().to_string(), f.next().unwrap().to_string())
        })
        .collect();
    let mut perturber = Perturber::new(&FamilyName::ALL, 42);
    for text in corpus.values() {
        perturber.learn(text);
    }
    let keys: Vec<String> = pairs.iter().map(|(q, p)| format!("{q}:{p}")).collect();
    let items: Vec<Item> = pairs
        .iter()
        .zip(&keys)
        .map(|((q, p), key)| Item {
            key,
            text: &corpus[p],
            query: Some(&queries[q]),
        })
        .collect();
    perturb_all(&perturber, &items, 4, 42).0
}

#[test]
fn output_does_not_depend_on_threads() {
    let on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        (pool.install(gold_run).1, pool.install(anchored_run))
    };
    let (one, many) = (on(1), on(4));
    assert!(
        many.1.iter().any(|list| !list.is_empty()),
        "the anchored run edits something"
    );
    assert_eq!(one, many);
}

/// Claims for `perturb`: each offers at least one family an edit.
const CLAIMS: [&str; 9] = [
    "Honey bees pollinate about 75 percent of the crops grown for food.",
    "Pesticides are harmful to foraging bees.",
    "Colony losses increased after the spread of the varroa mite.",
    "Volcanic ash weathers into fertile soil that farmers value.",
    "A large colony holds forty thousand bees.",
    "The new engine is faster than the old one.",
    "Most patients did not respond to the higher dose.",
    "Prices rose by 12 percent in 2019.",
    "Solar panels are cheaper than they were ten years ago.",
];

#[test]
fn perturb_writes_checked_edits_of_a_text_column() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("claims.jsonl");
    let claims = &CLAIMS[..5];
    let lines: Vec<String> = claims
        .iter()
        .map(|c| serde_json::json!({ "claim": c }).to_string())
        .collect();
    std::fs::write(&input, lines.join("\n")).unwrap();
    let out = dir.path().join("edits.parquet");
    let report = ok(&[
        "perturb",
        "--input",
        input.to_str().unwrap(),
        "--column",
        "claim",
        "--id-column",
        "",
        "--counterfactuals",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(report.contains("edits of 5 texts"), "{report}");
    let batch = read_parquet(&out);
    let schema = hardneg::output::formats::schema_json(&batch.schema());
    let golden: Value =
        serde_json::from_str(&std::fs::read_to_string(super::util::root().join("schemas/perturb.json")).unwrap())
            .unwrap();
    assert_eq!(schema, golden);
    let ids = strings(&batch, "id");
    let sources = strings(&batch, "source");
    let texts = strings(&batch, "text");
    let families = strings(&batch, "family");
    assert!(batch.num_rows() >= 4, "{} edits", batch.num_rows());
    let seen: HashSet<&str> = families.iter().map(|f| f.as_deref().unwrap()).collect();
    assert!(seen.len() >= 3, "{seen:?}");
    for i in 0..batch.num_rows() {
        let id = ids[i].as_deref().unwrap();
        let family = families[i].as_deref().unwrap();
        assert!(id.contains(&format!("#cf:{family}:")), "{id}");
        assert_ne!(sources[i], texts[i]);
    }
    let similarity = floats(&batch, "similarity");
    assert!(similarity.iter().all(|s| (0.7..=1.0001).contains(s)), "{similarity:?}");
}

#[test]
fn plain_claims_get_an_edit_without_a_query() {
    // A do-support removal writes a verb next to its subject ("Aspirin increases"), a bigram no
    // table attests: negation edits skip the fluency table.
    let claims = ["Aspirin does not increase bleeding risk.", "Dolphins are mammals."];
    let mut perturber = Perturber::new(&FamilyName::ALL, 42);
    for claim in claims {
        perturber.learn(claim);
    }
    let items: Vec<Item> = claims
        .iter()
        .enumerate()
        .map(|(i, text)| Item {
            key: ["a", "b"][i],
            text,
            query: None,
        })
        .collect();
    let (chosen, _) = perturb_all(&perturber, &items, 1, 42);
    let texts: Vec<Vec<&str>> = chosen
        .iter()
        .map(|list| list.iter().map(|c| c.proposal.text.as_str()).collect())
        .collect();
    assert_eq!(
        texts,
        [["Aspirin increases bleeding risk."], ["Dolphins are not mammals."]]
    );
}

/// The rows of a `perturb` output, Parquet or JSONL, with the similarity rounded to 1e-4 (the same
/// text embedded in another batch may differ in the last bits).
fn edit_rows(path: &std::path::Path) -> Vec<Vec<String>> {
    const COLUMNS: [&str; 8] = [
        "id",
        "source_id",
        "source",
        "text",
        "family",
        "original",
        "replacement",
        "direction",
    ];
    let rounded = |s: f64| format!("{s:.4}");
    if path.extension().is_some_and(|e| e == "jsonl") {
        return std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|line| {
                let v: Value = serde_json::from_str(line).unwrap();
                let mut row: Vec<String> = COLUMNS.iter().map(|c| v[c].as_str().unwrap().to_string()).collect();
                row.push(rounded(v["similarity"].as_f64().unwrap()));
                row
            })
            .collect();
    }
    let batch = read_parquet(path);
    let columns: Vec<Vec<Option<String>>> = COLUMNS.iter().map(|c| strings(&batch, c)).collect();
    let similarity = floats(&batch, "similarity");
    (0..batch.num_rows())
        .map(|i| {
            let mut row: Vec<String> = columns.iter().map(|c| c[i].clone().unwrap()).collect();
            row.push(rounded(f64::from(similarity[i])));
            row
        })
        .collect()
}

#[test]
fn perturb_output_does_not_depend_on_its_chunk_size() {
    let dir = tempfile::tempdir().unwrap();
    let claims = CLAIMS;
    let line = |i: usize| serde_json::json!({ "_id": format!("c{i}"), "text": claims[i] }).to_string();
    let write = |name: &str, lines: &[String]| {
        let path = dir.path().join(name);
        std::fs::write(&path, lines.join("\n")).unwrap();
        path
    };
    // The last line repeats the first record: skipped, as a merged duplicate.
    let mut all: Vec<String> = (0..claims.len()).map(line).collect();
    all.push(line(0));
    let input = write("claims.jsonl", &all);
    let run = |input: &std::path::Path, out: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "perturb",
            "--input",
            input.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(["--counterfactuals", "2"]);
        args.extend(extra);
        ok(&args)
    };
    // Chunks of 2 and 1 texts (JSONL) against the whole input as one chunk (Parquet): the same
    // edits, balanced over the whole input, in the input's order.
    let whole = dir.path().join("whole.parquet");
    let report = run(&input, &whole, &[]);
    assert!(report.contains(&format!("edits of {} texts", claims.len())), "{report}");
    let rows = edit_rows(&whole);
    assert!(rows.len() >= 6, "{} edits", rows.len());
    for chunk in ["2", "1"] {
        let chunked = dir.path().join(format!("chunk{chunk}.jsonl"));
        assert_eq!(
            run(&input, &chunked, &["--chunk", chunk]),
            report.replace("whole.parquet", &format!("chunk{chunk}.jsonl"))
        );
        assert_eq!(edit_rows(&chunked), rows, "--chunk {chunk}");
    }
    let sources: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    let mut in_order = sources.clone();
    in_order.sort_by_key(|id| id[1..].parse::<usize>().unwrap());
    assert_eq!(sources, in_order, "rows follow the input's order");

    // A repeated id with another text names its line and leaves no output.
    let mut conflict = all.clone();
    conflict.push(serde_json::json!({ "_id": "c1", "text": "Pesticides are safe." }).to_string());
    let input = write("conflict.jsonl", &conflict);
    let out = dir.path().join("conflict.parquet");
    let failed = super::util::hardneg(&[
        "perturb",
        "--input",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success());
    assert!(
        stderr.contains("conflict.jsonl:11") && stderr.contains("duplicate id `c1`"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn mine_adds_labelled_counterfactuals_after_the_mined_negatives() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cf.parquet");
    mine_sample(
        &out,
        &[
            "--format",
            "labeled-list",
            "--counterfactuals",
            "2",
            "--num-negatives",
            "3",
        ],
    );
    let batch = read_parquet(&out);
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(hardneg::output::manifest_path(&out)).unwrap()).unwrap();
    let cf = &manifest["counterfactuals"];
    let rows = batch.num_rows();
    let with = cf["rows_with_counterfactuals"].as_u64().unwrap() as usize;
    // Only rows whose query asks what an edit changes get one (topical questions such as "What
    // are the stages of sleep?" get none): about a quarter of the sample's rows.
    assert!(with * 5 >= rows, "{with} of {rows} rows have a counterfactual");
    let ids = super::util::string_lists(&batch, "negative_ids");
    let sources = super::util::string_lists(&batch, "negative_sources");
    let positives = strings(&batch, "positive_id");
    let edits = batch
        .column_by_name("negative_edits")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow::array::ListArray>()
        .unwrap();
    let ranks = super::util::int_lists(&batch, "negative_ranks");
    let scores = super::util::float_lists(&batch, "negative_scores");
    let (queries, texts) = (strings(&batch, "anchor"), super::util::string_lists(&batch, "texts"));
    let mut added = 0;
    for r in 0..rows {
        let mined = sources[r].iter().take_while(|s| *s == "mined").count();
        assert!(
            sources[r][mined..].iter().all(|s| s.starts_with("counterfactual:")),
            "mined first"
        );
        assert_eq!(mined, 3);
        let row_edits = edits.value(r);
        for k in mined..ids[r].len() {
            added += 1;
            let family = sources[r][k].trim_start_matches("counterfactual:");
            assert!(ids[r][k].starts_with(&format!("{}#cf:{family}:", positives[r].as_deref().unwrap())));
            assert!(row_edits.is_valid(k));
            assert_eq!(ranks[r][k], None, "counterfactuals have no rank");
            assert!((-1.0..=1.0).contains(&scores[r][k]));
            let edit = row_edits.as_struct().slice(k, 1);
            let field = |name: &str| edit.column_by_name(name).unwrap().clone();
            let text_of = |name: &str| {
                strings(&arrow::array::RecordBatch::from(edit.clone()), name)[0]
                    .clone()
                    .unwrap()
            };
            let (original, anchor) = (text_of("original"), text_of("anchor"));
            let offset = field("offset").as_primitive::<arrow::datatypes::Int64Type>().value(0);
            // The edit is where it says, in a sentence holding the query term that anchors it.
            let positive = &texts[r][0];
            let at = positive.char_indices().nth(offset as usize).unwrap().0;
            assert!(
                positive[at..].starts_with(&original),
                "{original} at {offset} of {positive}"
            );
            let query = queries[r].as_deref().unwrap().to_lowercase();
            assert!(query.contains(&anchor), "anchor {anchor} not in {query}");
            let sentence = text::sentences(positive)
                .into_iter()
                .find(|s| s.start <= at && at < s.end)
                .unwrap();
            let anchor_stem = text::stem(&anchor);
            assert!(
                sentence.tokens.iter().any(|t| text::stem(&t.lower) == anchor_stem),
                "{anchor}: {positive}"
            );
            // No copy of the original phrase in its context stands in the edited text.
            let words: Vec<&text::Token> = sentence.tokens.iter().collect();
            let i = words.iter().position(|t| t.start == at).unwrap();
            let last = words.iter().rposition(|t| t.end <= at + original.len()).unwrap();
            if let (Some(before), Some(after)) = (i.checked_sub(1).map(|j| words[j]), words.get(last + 1)) {
                let context = &positive[before.start..after.end];
                assert!(
                    !texts[r][k + 1].contains(context),
                    "{context} still in {}",
                    texts[r][k + 1]
                );
            }
        }
        for k in 0..mined {
            assert!(!row_edits.is_valid(k), "mined negatives have no edit");
        }
    }
    assert_eq!(added, cf["added"].as_u64().unwrap() as usize);
}
