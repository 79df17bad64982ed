//! Reading string columns from Parquet, cast to UTF-8 whatever string/number type they hold.

use std::fs::File;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Result};

/// Reads `required` columns (and an `optional` one) row by row; each row is
/// `[required[0], required[1], optional]`, `None` for nulls or a missing optional column.
pub fn read_string_columns(path: &Path, required: &[&str], optional: Option<&str>) -> Result<Vec<[Option<String>; 3]>> {
    let perr = |e: &dyn std::fmt::Display| Error::Parquet {
        path: path.into(),
        message: e.to_string(),
    };
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| perr(&e))?;
    let schema = builder.schema().clone();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    for col in required {
        if !names.contains(col) {
            return Err(Error::input(
                path,
                format!("missing column `{col}` (columns: {})", names.join(", ")),
            ));
        }
    }
    let optional = optional.filter(|o| names.contains(o));
    let reader = builder.build().map_err(|e| perr(&e))?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| perr(&e))?;
        let column = |name: &str| -> Result<arrow::array::ArrayRef> {
            let col = batch.column_by_name(name).expect("column checked above");
            arrow::compute::cast(col, &DataType::Utf8).map_err(|_| {
                Error::input(
                    path,
                    format!("column `{name}` must hold strings, found {}", col.data_type()),
                )
            })
        };
        let a = column(required[0])?;
        let b = column(required[1])?;
        let c = optional.map(column).transpose()?;
        let (a, b) = (a.as_string::<i32>(), b.as_string::<i32>());
        let c = c.as_ref().map(|c| c.as_string::<i32>());
        let get = |arr: &arrow::array::StringArray, i: usize| (!arr.is_null(i)).then(|| arr.value(i).to_string());
        for i in 0..batch.num_rows() {
            rows.push([get(a, i), get(b, i), c.and_then(|c| get(c, i))]);
        }
    }
    Ok(rows)
}
