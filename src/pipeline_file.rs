//! Pipeline files for `hardneg run`: strict TOML (`version = 1`, unknown keys are errors) with the
//! same keys as `hardneg mine`'s flags (underscores for dashes), overridable by `--set key=value`.

use std::path::Path;

use crate::error::{Error, Result};
use crate::settings::MineSettings;

/// Reads `path`, applies `overrides` (`key=value`, value parsed as TOML, else taken as a string)
/// and returns validated settings.
pub fn load(path: &Path, overrides: &[String]) -> Result<MineSettings> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| Error::input(path, format!("invalid TOML: {e}")))?;
    match table.remove("version") {
        Some(toml::Value::Integer(1)) => {}
        Some(v) => {
            return Err(Error::input(
                path,
                format!("unsupported version {v}: this hardneg reads version = 1"),
            ));
        }
        None => return Err(Error::input(path, "missing `version = 1`")),
    }
    let mut overridden = std::collections::HashSet::new();
    for item in overrides {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| Error::Config(format!("--set `{item}`: expected key=value")))?;
        let key = key.trim().replace('-', "_");
        let value = value.trim();
        let parsed = format!("v = {value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.to_string()));
        overridden.insert(key.clone());
        table.insert(key, parsed);
    }
    let settings: MineSettings = table.clone().try_into().map_err(|e: toml::de::Error| {
        let message = e.message();
        match failing_key(&table) {
            Some(key) if overridden.contains(key) => Error::Config(format!("--set {key}: {message}")),
            Some(key) => match line_of(&text, key) {
                Some(line) => Error::record(path, line, format!("`{key}`: {message}")),
                None => Error::input(path, format!("`{key}`: {message}")),
            },
            None => Error::input(path, format!("invalid pipeline: {message}")),
        }
    })?;
    settings.validate()?;
    Ok(settings)
}

/// The first key whose value cannot be read on its own (deserializing from a table loses the key).
fn failing_key(table: &toml::Table) -> Option<&String> {
    table
        .iter()
        .find(|(key, value)| {
            let alone = toml::Table::from_iter([((*key).clone(), (*value).clone())]);
            alone.try_into::<MineSettings>().is_err()
        })
        .map(|(key, _)| key)
}

/// The 1-based line that sets top-level `key` in `text`.
fn line_of(text: &str, key: &str) -> Option<usize> {
    let sets = |line: &str| {
        line.trim_start()
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    };
    text.lines().position(sets).map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn reads_keys_and_applies_overrides() {
        let f =
            write("version = 1\npairs = \"p.jsonl\"\nout = \"o.parquet\"\nnum_negatives = 3\nformat = \"n-tuple\"\n");
        let s = load(f.path(), &["num-negatives=7".into(), "relative_margin=0.05".into()]).unwrap();
        assert_eq!(s.num_negatives, 7);
        assert_eq!(s.relative_margin, Some(0.05));
        assert_eq!(s.format, crate::output::Format::NTuple);
        assert_eq!(s.sort_window, 4096, "defaults come from the flags");
    }

    #[test]
    fn a_bad_value_names_its_line_and_key_or_its_override() {
        let f = write("version = 1\npairs = \"p\"\nout = \"o\"\n\nthreads = 0\nnum_negatives = 3\n");
        let err = load(f.path(), &[]).unwrap_err().to_string();
        assert!(err.contains(":5: `threads`: invalid value"), "{err}");
        let f = write("version = 1\npairs = \"p\"\nout = \"o\"\n");
        let err = load(f.path(), &["num_negatives=-1".into()]).unwrap_err().to_string();
        assert!(err.starts_with("--set num_negatives: invalid value"), "{err}");
    }

    #[test]
    fn unknown_keys_and_missing_version_fail() {
        let f = write("version = 1\npairs = \"p\"\nout = \"o\"\nnum_negativs = 3\n");
        assert!(load(f.path(), &[]).unwrap_err().to_string().contains("num_negativs"));
        let f = write("pairs = \"p\"\n");
        assert!(load(f.path(), &[]).unwrap_err().to_string().contains("version"));
    }
}
