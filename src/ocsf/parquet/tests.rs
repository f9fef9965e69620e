use super::*;
use crate::ocsf::mapping::{map_event, CATALOGUE};
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::Array;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::json;

fn event(i: usize, action: &str) -> Value {
    json!({
        "id": format!("e-{i}"),
        "attributes": {
            "time": format!("2026-03-01T10:00:{:02}Z", i % 60),
            "action": action,
            "actor": {"id": "a-1", "name": "Avery", "email": "avery@example.com"},
            "context": [{"id": "g", "type": "groups", "attributes": {"groupName": "admins"}},
                        {"id": "u", "type": "users", "attributes": {"email": "casey@example.com"}}],
            "container": [{"id": "org-1", "type": "orgs", "attributes": {"name": "acme"}}],
            "location": {"ip": "198.51.100.7"}
        },
        "message": {"content": "m"}
    })
}

fn read_back(bytes: Vec<u8>) -> Vec<arrow_array::RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .expect("a Parquet file")
        .build()
        .expect("a reader")
        .map(|b| b.expect("a batch"))
        .collect()
}

#[test]
fn every_class_writes_its_records_and_reads_back() {
    for class in OcsfClass::ALL {
        let action = CATALOGUE
            .iter()
            .find(|(_, m)| m.class == class)
            .map(|(a, _)| *a)
            .expect("an action of the class");
        let records: Vec<Value> = (0..3)
            .map(|i| map_event(&event(i, action)).expect("maps").record)
            .collect();
        let mut writer = ClassWriter::new(class).expect("a writer");
        writer.append(&records).expect("appended");
        assert_eq!(writer.rows(), 3);
        let batches = read_back(writer.finish().expect("bytes"));
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 3, "{class:?}");
        let batch = &batches[0];
        let times = batch
            .column_by_name("time")
            .expect("time")
            .as_primitive::<Int64Type>();
        assert_eq!(times.value(1), records[1]["time"].as_i64().unwrap());
        let metadata = batch
            .column_by_name("metadata")
            .expect("metadata")
            .as_struct();
        let uid = metadata
            .column_by_name("uid")
            .expect("uid")
            .as_string::<i32>();
        assert_eq!(uid.value(2), "e-2");
        assert!(batch
            .column_by_name("raw_data")
            .is_some_and(|c| c.null_count() == 0));
    }
}

#[test]
fn the_same_records_make_the_same_bytes() {
    let records: Vec<Value> = (0..50)
        .map(|i| map_event(&event(i, "user_login")).expect("maps").record)
        .collect();
    let write = || {
        let mut w = ClassWriter::new(OcsfClass::Authentication).expect("a writer");
        w.append(&records).expect("appended");
        w.finish().expect("bytes")
    };
    assert_eq!(write(), write());
}

#[test]
fn objects_are_zstd_compressed() {
    let records = vec![map_event(&event(0, "user_login")).expect("maps").record];
    let mut w = ClassWriter::new(OcsfClass::Authentication).expect("a writer");
    w.append(&records).expect("appended");
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(w.finish().unwrap()))
        .expect("a Parquet file");
    let column = reader.metadata().row_group(0).column(0);
    assert!(matches!(column.compression(), Compression::ZSTD(_)));
}

#[test]
fn a_large_class_is_written_out_in_row_groups_not_held_whole() {
    // 250 records of 100 KB of noise each: 25 MB, about 12 MB compressed, more than one row
    // group's buffer.
    let mut record = map_event(&event(0, "user_login")).expect("maps").record;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let records: Vec<Value> = (0..250)
        .map(|_| {
            let noise: String = (0..100_000)
                .map(|_| {
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    char::from(b'a' + ((seed >> 33) % 26) as u8)
                })
                .collect();
            record["raw_data"] = json!(noise);
            record.clone()
        })
        .collect();
    let mut w = ClassWriter::new(OcsfClass::Authentication).expect("a writer");
    for chunk in records.chunks(10) {
        w.append(chunk).expect("appended");
    }
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(w.finish().unwrap()))
        .expect("a Parquet file");
    let groups = reader.metadata().num_row_groups();
    assert!(groups >= 2, "{groups} row group(s)");
    let rows: i64 = reader
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.num_rows())
        .sum();
    assert_eq!(rows, 250);
}
