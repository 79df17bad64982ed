//! JSON Lines reading (plain or gzipped) with 1-based line numbers in every error.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde_json::{Map, Value};

use super::{BadRecordPolicy, TextFields, TextRecord, join_title};
use crate::error::{Error, Result};

/// Opens `path`, transparently gunzipping `.gz` files.
pub fn open(path: &Path) -> Result<Box<dyn BufRead>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(Box::new(BufReader::with_capacity(1 << 16, reader)))
}

/// Calls `f(line, object)` for every non-blank line; blank lines are ignored. A line that is not
/// UTF-8 or not a JSON object goes through `policy`.
pub fn for_each_object(
    path: &Path,
    policy: &mut BadRecordPolicy,
    mut f: impl FnMut(usize, Map<String, Value>, &mut BadRecordPolicy) -> Result<()>,
) -> Result<()> {
    let mut reader = open(path)?;
    let mut buf = Vec::new();
    let mut line = 0usize;
    let mut any = false;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        line += 1;
        let text = match std::str::from_utf8(&buf) {
            Ok(t) => t.trim(),
            Err(e) => {
                policy.handle(
                    Error::record(path, line, format!("invalid UTF-8 at byte {}", e.valid_up_to())),
                    "invalid UTF-8",
                )?;
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        any = true;
        match serde_json::from_str::<Value>(text.trim_start_matches('\u{feff}')) {
            Ok(Value::Object(obj)) => f(line, obj, policy)?,
            Ok(other) => policy.handle(
                Error::record(path, line, format!("expected a JSON object, found {}", kind(&other))),
                "malformed JSON",
            )?,
            Err(e) => policy.handle(
                Error::record(path, line, format!("malformed JSON: {e}")),
                "malformed JSON",
            )?,
        }
    }
    if !any {
        return Err(Error::input(path, "no records: the file is empty"));
    }
    Ok(())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads a string field. Numbers are accepted for ids (`"_id": 12`). A missing field is an error
/// unless `optional`.
pub fn string_field(
    path: &Path,
    line: usize,
    obj: &Map<String, Value>,
    field: &str,
    optional: bool,
) -> Result<Option<String>> {
    match obj.get(field) {
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Null) | None if optional => Ok(None),
        None => Err(Error::record(path, line, format!("missing field `{field}`"))),
        Some(other) => Err(Error::record(
            path,
            line,
            format!("field `{field}` must be a string, found {}", kind(other)),
        )),
    }
}

/// Builds a [`TextRecord`] from one JSON object.
pub fn text_record(
    path: &Path,
    line: usize,
    obj: &Map<String, Value>,
    fields: &TextFields,
) -> Result<Option<TextRecord>> {
    // No id field configured: the line number is the id.
    let id = if fields.id.is_empty() {
        line.to_string()
    } else {
        string_field(path, line, obj, &fields.id, false)?.unwrap_or_default()
    };
    if id.is_empty() {
        return Err(Error::record(path, line, format!("field `{}` is empty", fields.id)));
    }
    let text = string_field(path, line, obj, &fields.text, false)?.unwrap_or_default();
    let title = match &fields.title {
        Some(t) => string_field(path, line, obj, t, true)?,
        None => None,
    };
    Ok(Some(TextRecord {
        id,
        text: join_title(title.as_deref(), &text),
    }))
}
