//! The Arrow schema of each class's Parquet objects: the OCSF attributes the mapping fills, with
//! OCSF's types (`timestamp_t` as milliseconds in a 64-bit integer, as Security Lake's own
//! tables hold `time`), every field nullable (absent in OCSF is null in Parquet).
use crate::ocsf::class::OcsfClass;
use arrow_schema::{DataType, Field, Fields, Schema};
use std::sync::Arc;

fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}
fn int(name: &str) -> Field {
    Field::new(name, DataType::Int32, true)
}
fn long(name: &str) -> Field {
    Field::new(name, DataType::Int64, true)
}
fn texts(name: &str) -> Field {
    Field::new_list(name, Field::new_list_field(DataType::Utf8, true), true)
}
fn object(name: &str, fields: Vec<Field>) -> Field {
    Field::new(name, DataType::Struct(Fields::from(fields)), true)
}

fn user(name: &str) -> Field {
    object(name, vec![text("uid"), text("name"), text("email_addr")])
}

fn metadata() -> Field {
    object(
        "metadata",
        vec![
            text("version"),
            object("product", vec![text("name"), text("vendor_name")]),
            text("uid"),
            text("event_code"),
            text("original_time"),
            long("logged_time"),
            text("tenant_uid"),
            text("log_name"),
            text("log_provider"),
            texts("profiles"),
            texts("labels"),
        ],
    )
}

fn cloud() -> Field {
    object(
        "cloud",
        vec![
            text("provider"),
            object("account", vec![text("uid"), text("name"), text("type")]),
            object("org", vec![text("uid"), text("name")]),
        ],
    )
}

/// Every class's fields, in the order of OCSF's base event.
fn base() -> Vec<Field> {
    vec![
        int("activity_id"),
        text("activity_name"),
        int("category_uid"),
        text("category_name"),
        int("class_uid"),
        text("class_name"),
        long("type_uid"),
        text("type_name"),
        int("severity_id"),
        text("severity"),
        int("status_id"),
        text("status"),
        long("time"),
        text("message"),
        metadata(),
        cloud(),
        object("actor", vec![user("user")]),
        object(
            "src_endpoint",
            vec![
                text("ip"),
                object("location", vec![text("city"), text("region"), text("desc")]),
            ],
        ),
        text("raw_data"),
    ]
}

/// The fields only `class` has (what the mapping's class step fills).
fn specific(class: OcsfClass) -> Vec<Field> {
    let typed = |name: &str| object(name, vec![text("uid"), text("name"), text("type")]);
    match class {
        OcsfClass::Authentication => vec![user("user"), object("service", vec![text("name")])],
        OcsfClass::AccountChange => vec![user("user")],
        OcsfClass::UserAccessManagement => {
            vec![user("user"), texts("privileges"), typed("resource")]
        }
        OcsfClass::GroupManagement => vec![
            object("group", vec![text("uid"), text("name")]),
            user("user"),
            texts("privileges"),
        ],
        OcsfClass::EntityManagement => vec![typed("entity")],
    }
}

/// The schema of `class`'s objects.
pub fn class_schema(class: OcsfClass) -> Arc<Schema> {
    let mut fields = base();
    fields.extend(specific(class));
    Arc::new(Schema::new(fields))
}

/// The Glue (Hive) type of an Arrow type of these schemas, as a Glue table's column declares it.
fn hive_type(data_type: &DataType) -> String {
    match data_type {
        DataType::Utf8 => "string".into(),
        DataType::Int32 => "int".into(),
        DataType::Int64 => "bigint".into(),
        DataType::List(item) => format!("array<{}>", hive_type(item.data_type())),
        DataType::Struct(fields) => {
            let inner: Vec<String> = fields
                .iter()
                .map(|f| format!("{}:{}", f.name(), hive_type(f.data_type())))
                .collect();
            format!("struct<{}>", inner.join(","))
        }
        other => format!("unsupported<{other}>"),
    }
}

/// The columns (name, Glue type) of `class`'s table: what the stack's Glue tables declare
/// over `ext/` (a test holds template.yaml to it).
pub fn glue_columns(class: OcsfClass) -> Vec<(String, String)> {
    class_schema(class)
        .fields()
        .iter()
        .map(|f| (f.name().to_string(), hive_type(f.data_type())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glue_types_of_every_column_are_known() {
        for class in OcsfClass::ALL {
            for (name, hive) in glue_columns(class) {
                assert!(!hive.contains("unsupported"), "{class:?}.{name}: {hive}");
            }
        }
        let auth = glue_columns(OcsfClass::Authentication);
        assert!(auth.contains(&("time".into(), "bigint".into())));
        assert!(auth.contains(&("service".into(), "struct<name:string>".into())));
    }
}
