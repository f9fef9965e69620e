//! OCSF records (JSON objects) into Arrow columns of a class's schema, column by column: strings,
//! 32- and 64-bit integers, lists of strings and structs of those, as the schemas use. A field a
//! record lacks (or holds with another JSON type) is null; a field the schema lacks is not
//! written (the schema is the contract, held to the mapping by the OCSF validation).
use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, StructArray};
use arrow_schema::{ArrowError, DataType, Field, Fields, SchemaRef};
use serde_json::Value;
use std::sync::Arc;

/// `records` as one batch of `schema`.
pub fn record_batch(schema: SchemaRef, records: &[Value]) -> Result<RecordBatch, ArrowError> {
    let rows: Vec<Option<&Value>> = records.iter().map(Some).collect();
    let columns = schema
        .fields()
        .iter()
        .map(|f| column(f, &field_of(&rows, f.name())))
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema, columns)
}

/// Each row's value of `name` (`None` where the row, or its field, is absent).
fn field_of<'a>(rows: &[Option<&'a Value>], name: &str) -> Vec<Option<&'a Value>> {
    rows.iter()
        .map(|r| r.and_then(|v| v.get(name)).filter(|v| !v.is_null()))
        .collect()
}

fn column(field: &Field, values: &[Option<&Value>]) -> Result<ArrayRef, ArrowError> {
    Ok(match field.data_type() {
        DataType::Utf8 => Arc::new(StringArray::from_iter(
            values.iter().map(|v| v.and_then(Value::as_str)),
        )),
        DataType::Int32 => Arc::new(Int32Array::from_iter(values.iter().map(|v| {
            v.and_then(Value::as_i64)
                .and_then(|n| i32::try_from(n).ok())
        }))),
        DataType::Int64 => Arc::new(Int64Array::from_iter(
            values.iter().map(|v| v.and_then(Value::as_i64)),
        )),
        DataType::List(item) if item.data_type() == &DataType::Utf8 => string_list(item, values),
        DataType::Struct(fields) => struct_column(fields, values)?,
        other => {
            return Err(ArrowError::NotYetImplemented(format!(
                "{}: no OCSF column is of type {other}",
                field.name()
            )))
        }
    })
}

fn string_list(item: &Arc<Field>, values: &[Option<&Value>]) -> ArrayRef {
    let mut builder = ListBuilder::new(StringBuilder::new()).with_field(item.clone());
    for v in values {
        match v.and_then(Value::as_array) {
            Some(items) => {
                for s in items {
                    builder.values().append_option(s.as_str());
                }
                builder.append(true);
            }
            None => builder.append(false),
        }
    }
    Arc::new(builder.finish())
}

fn struct_column(fields: &Fields, values: &[Option<&Value>]) -> Result<ArrayRef, ArrowError> {
    let present: Vec<Option<&Value>> = values.iter().map(|v| v.filter(|v| v.is_object())).collect();
    let children = fields
        .iter()
        .map(|f| column(f, &field_of(&present, f.name())))
        .collect::<Result<Vec<_>, _>>()?;
    let nulls = present.iter().map(Option::is_some).collect();
    Ok(Arc::new(StructArray::try_new(
        fields.clone(),
        children,
        Some(nulls),
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, Int64Type};
    use arrow_array::Array;
    use arrow_schema::Schema;
    use serde_json::json;

    fn schema() -> SchemaRef {
        let user = Fields::from(vec![
            Field::new("uid", DataType::Utf8, true),
            Field::new("n", DataType::Int32, true),
        ]);
        Arc::new(Schema::new(vec![
            Field::new("t", DataType::Int64, true),
            Field::new_list("tags", Field::new_list_field(DataType::Utf8, true), true),
            Field::new("user", DataType::Struct(user), true),
        ]))
    }

    #[test]
    fn values_nulls_and_nested_objects_land_in_their_columns() {
        let records = vec![
            json!({"t": 5, "tags": ["a", "b"], "user": {"uid": "u1", "n": 7}, "extra": 1}),
            json!({"tags": [], "user": {"uid": "u2"}}),
            json!({"t": "not a number", "user": "not an object"}),
        ];
        let batch = record_batch(schema(), &records).expect("a batch");
        assert_eq!(batch.num_rows(), 3);
        let t = batch.column(0).as_primitive::<Int64Type>();
        assert_eq!((t.value(0), t.is_null(1), t.is_null(2)), (5, true, true));
        let tags = batch.column(1).as_list::<i32>();
        assert_eq!(tags.value(0).as_string::<i32>().value(1), "b");
        assert_eq!(
            (tags.value(1).len(), tags.is_null(1), tags.is_null(2)),
            (0, false, true)
        );
        let user = batch.column(2).as_struct();
        assert!(user.is_valid(1) && user.is_null(2));
        assert_eq!(user.column(0).as_string::<i32>().value(1), "u2");
        let n = user.column(1).as_primitive::<Int32Type>();
        assert_eq!((n.value(0), n.is_null(1)), (7, true));
    }

    #[test]
    fn an_integer_out_of_its_column_range_is_null_not_wrapped() {
        let s = Arc::new(Schema::new(vec![Field::new("n", DataType::Int32, true)]));
        let batch = record_batch(s, &[json!({"n": 5_000_000_000i64})]).expect("a batch");
        assert!(batch.column(0).is_null(0));
    }
}
