//! Fuzzes pipeline files and --set overrides.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("hardneg-fuzz-{}.toml", std::process::id()));
    std::fs::write(&path, data).unwrap();
    let overrides: Vec<String> = String::from_utf8_lossy(data).lines().take(3).map(str::to_string).collect();
    let _ = hardneg::pipeline_file::load(&path, &[]);
    let _ = hardneg::pipeline_file::load(&path, &overrides);
});
