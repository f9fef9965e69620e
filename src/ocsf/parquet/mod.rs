//! Parquet objects of one OCSF class each, as Security Lake asks of custom sources: zstd, data
//! pages of at most 1 MB, row groups far under 256 MB, rows in time order. The bytes depend on
//! the records alone (no clock, no random id), so a derivation done twice writes the same object.
mod columns;
mod schema;

pub use schema::{class_schema, glue_columns};

use crate::ocsf::class::OcsfClass;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use serde_json::Value;
use thiserror::Error;

/// Columns whose values are (nearly) all distinct: no dictionary encoding.
const UNIQUE_PER_EVENT: [&[&str]; 5] = [
    &["raw_data"],
    &["metadata", "uid"],
    &["metadata", "original_time"],
    &["metadata", "logged_time"],
    &["time"],
];
/// Rows per row group, at most.
const ROW_GROUP_ROWS: usize = 16_384;
/// Bytes of a row group held before it is written out: a writer keeps its open row group
/// uncompressed (with `raw_data`, about 1.5 KB a row), so this bounds the derivation's memory per
/// class and day (without it a batch of 50,000 events peaked at 145 MB: commit `2b94f62`).
const ROW_GROUP_BUFFER_BYTES: usize = 8 * 1024 * 1024;
const DATA_PAGE_BYTES: usize = 1024 * 1024;
/// Records turned into Arrow columns at a time.
const DECODE_ROWS: usize = 8_192;

#[derive(Debug, Error)]
#[error("could not write the {class} Parquet object: {reason}")]
pub struct ParquetError {
    pub class: &'static str,
    pub reason: String,
}

/// One class's object being written: records go in (in time order), bytes come out.
pub struct ClassWriter {
    class: OcsfClass,
    writer: ArrowWriter<Vec<u8>>,
    rows: usize,
}

impl ClassWriter {
    pub fn new(class: OcsfClass) -> Result<Self, ParquetError> {
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_data_page_size_limit(DATA_PAGE_BYTES)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
        // A value per event: a dictionary of them only costs memory (up to its limit, per
        // column and open writer) before the writer gives up on it.
        for path in UNIQUE_PER_EVENT {
            let path = ColumnPath::new(path.iter().map(|p| p.to_string()).collect());
            props = props.set_column_dictionary_enabled(path, false);
        }
        let props = props.build();
        let writer = ArrowWriter::try_new(Vec::new(), class_schema(class), Some(props))
            .map_err(|e| error(class, e))?;
        Ok(ClassWriter {
            class,
            writer,
            rows: 0,
        })
    }

    /// Appends `records` (OCSF records of this class, already in time order).
    pub fn append(&mut self, records: &[Value]) -> Result<(), ParquetError> {
        let class = self.class;
        for chunk in records.chunks(DECODE_ROWS) {
            let batch =
                columns::record_batch(class_schema(class), chunk).map_err(|e| error(class, e))?;
            self.writer.write(&batch).map_err(|e| error(class, e))?;
            self.rows += chunk.len();
            if self.writer.in_progress_size() > ROW_GROUP_BUFFER_BYTES {
                self.writer.flush().map_err(|e| error(class, e))?;
            }
        }
        Ok(())
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The finished object.
    pub fn finish(self) -> Result<Vec<u8>, ParquetError> {
        let class = self.class;
        self.writer.into_inner().map_err(|e| error(class, e))
    }
}

/// Each row's organization and event id (`metadata.tenant_uid`, `metadata.uid`), in row order:
/// what the suite counts (an id is unique within its organization).
pub fn event_uids(object: bytes::Bytes) -> Result<Vec<(String, String)>, ParquetError> {
    use arrow_array::cast::AsArray;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let unreadable = |e: &dyn std::fmt::Display| ParquetError {
        class: "OCSF",
        reason: format!("reading it back: {e}"),
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(object)
        .and_then(|b| b.build())
        .map_err(|e| unreadable(&e))?;
    let mut uids = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| unreadable(&e))?;
        let metadata = batch
            .column_by_name("metadata")
            .and_then(|c| c.as_struct_opt())
            .ok_or_else(|| unreadable(&"no metadata column"))?;
        let column = |name: &str| {
            metadata
                .column_by_name(name)
                .and_then(|u| u.as_string_opt::<i32>())
                .ok_or_else(|| unreadable(&format!("no metadata.{name} column")))
        };
        let (tenants, ids) = (column("tenant_uid")?, column("uid")?);
        uids.extend(tenants.iter().zip(ids.iter()).map(|(t, u)| {
            (
                t.unwrap_or_default().to_string(),
                u.unwrap_or_default().to_string(),
            )
        }));
    }
    Ok(uids)
}

fn error(class: OcsfClass, e: impl std::fmt::Display) -> ParquetError {
    ParquetError {
        class: class.name(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests;
