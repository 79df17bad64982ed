//! Reading string columns from Parquet, cast to UTF-8 whatever string/number type they hold.

use std::fs::File;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Result};

/// Streams `required` columns (and an `optional` one) record batch by record batch, calling `row`
/// with the 0-based row number and `[required[0], required[1], optional]` (`None` for nulls or a
/// missing optional column). Only one record batch is held at a time.
pub fn for_each_string_row(
    path: &Path,
    required: &[&str],
    optional: Option<&str>,
    mut row: impl FnMut(usize, [Option<&str>; 3]) -> Result<()>,
) -> Result<()> {
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
    let mut next = 0usize;
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
        fn get(arr: &arrow::array::StringArray, i: usize) -> Option<&str> {
            (!arr.is_null(i)).then(|| arr.value(i))
        }
        for i in 0..batch.num_rows() {
            row(next, [get(a, i), get(b, i), c.and_then(|c| get(c, i))])?;
            next += 1;
        }
    }
    Ok(())
}
