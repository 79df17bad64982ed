//! Fuzzes the JSONL text and pair readers: any bytes give records or a located error, never a panic.
#![no_main]

use hardneg::input::{BadRecordPolicy, TextFields, read_pairs, read_texts};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("hardneg-fuzz-{}.jsonl", std::process::id()));
    std::fs::write(&path, data).unwrap();
    let _ = read_texts(&path, &TextFields::default(), &mut BadRecordPolicy::strict());
    let _ = read_texts(&path, &TextFields::default(), &mut BadRecordPolicy::skipping(usize::MAX));
    let _ = read_pairs(&path, "anchor", "positive", &mut BadRecordPolicy::skipping(usize::MAX));
});
