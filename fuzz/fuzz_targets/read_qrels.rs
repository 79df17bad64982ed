//! Fuzzes the qrels reader.
#![no_main]

use hardneg::input::{BadRecordPolicy, read_qrels};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("hardneg-fuzz-{}.tsv", std::process::id()));
    std::fs::write(&path, data).unwrap();
    let _ = read_qrels(&path, &mut BadRecordPolicy::strict());
    let _ = read_qrels(&path, &mut BadRecordPolicy::skipping(usize::MAX));
});
