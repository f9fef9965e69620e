//! The stack's Glue tables over the OCSF copy (`OcsfCopy=StackBucket`) declare exactly the
//! columns the Parquet writer writes, class by class, and read the layout the derivation writes.
use atlassian_audit::ocsf::parquet::glue_columns;
use atlassian_audit::ocsf::OcsfClass;
use atlassian_audit_test_support::template::template;

fn table_resource(class: OcsfClass) -> String {
    let mut name = String::from("Ocsf");
    for part in class.source_name().split('_') {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            name.push(first.to_ascii_uppercase());
            name.extend(chars);
        }
    }
    name.push_str("Table");
    name
}

#[test]
fn each_class_table_declares_the_writers_columns() {
    let t = template();
    for class in OcsfClass::ALL {
        let name = table_resource(class);
        let table = &t["Resources"][name.as_str()];
        assert_eq!(table["Condition"].as_str(), Some("OcsfTablesOn"), "{name}");
        let input = &table["Properties"]["TableInput"];
        assert_eq!(input["Name"].as_str(), Some(class.source_name()), "{name}");
        let declared: Vec<(String, String)> = input["StorageDescriptor"]["Columns"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has columns"))
            .iter()
            .map(|c| {
                (
                    c["Name"].as_str().unwrap_or_default().to_string(),
                    c["Type"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let want = glue_columns(class);
        if declared != want {
            let yaml: Vec<String> = want
                .iter()
                .map(|(n, t)| format!("            - {{ Name: {n}, Type: \"{t}\" }}"))
                .collect();
            panic!(
                "{name}: template.yaml declares other columns; the writer's are:\n{}",
                yaml.join("\n")
            );
        }
        let template = input["Parameters"]["storage.location.template"].to_string();
        assert!(
            template.contains(&format!(
                "ext/{}/region=${{!region}}/accountId=${{!accountId}}/eventDay=${{!eventDay}}",
                class.source_name()
            )),
            "{name}: {template}"
        );
    }
}

/// CloudFormation has no resource type for a custom source: the custom resource OcsfCustomSources
/// registers each class as its own source, named as the folder the collector writes under `ext/`,
/// with its class's Security Lake event class, and its function's code is
/// functions/security_lake_sources.py byte for byte (the file its Python tests run).
#[test]
fn the_stack_registers_each_class_as_its_own_custom_source() {
    let t = template();
    let sources = &t["Resources"]["OcsfCustomSources"];
    assert_eq!(sources["Condition"], "OcsfToSecurityLake");
    assert_eq!(sources["Type"], "Custom::SecurityLakeCustomSources");
    let props = &sources["Properties"];
    let declared: Vec<(String, String)> = props["Sources"]
        .as_array()
        .expect("Sources")
        .iter()
        .map(|s| {
            let field = |f: &str| s[f].as_str().unwrap_or_default().to_string();
            (field("Name"), field("EventClass"))
        })
        .collect();
    let mut want: Vec<(String, String)> = OcsfClass::ALL
        .iter()
        .map(|c| {
            (
                c.source_name().to_string(),
                c.security_lake_class().to_string(),
            )
        })
        .collect();
    let mut got = declared.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(
        props["CrawlerRoleArn"],
        serde_json::json!({"Fn::GetAtt": ["OcsfCrawlerRole", "Arn"]})
    );
    assert_eq!(
        props["ServiceToken"]["Fn::GetAtt"][0],
        "OcsfSourcesFunction"
    );

    let function = &t["Resources"]["OcsfSourcesFunction"];
    assert_eq!(function["Condition"], "OcsfToSecurityLake");
    let code = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/functions/security_lake_sources.py"
    ))
    .expect("functions/security_lake_sources.py");
    assert!(
        function["Properties"]["InlineCode"].as_str() == Some(code.as_str()),
        "template.yaml's OcsfSourcesFunction InlineCode differs from functions/security_lake_sources.py: copy the file in (indented under InlineCode: |)"
    );
    assert_eq!(function["Properties"]["Handler"], "index.handler");
    assert!(t["Outputs"]["OcsfCrawlerRoleArn"].is_object());
    assert_eq!(
        t["Outputs"]["OcsfSourceLocations"]["Value"],
        serde_json::json!({"Fn::GetAtt": ["OcsfCustomSources", "Locations"]})
    );
}
