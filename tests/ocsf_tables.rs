//! The stack's Glue tables over the OCSF copy (`OcsfCopy=StackBucket`) declare exactly the
//! columns the Parquet writer writes, class by class, and read the layout the derivation writes.
use atlassian_audit::ocsf::parquet::glue_columns;
use atlassian_audit::ocsf::OcsfClass;

#[path = "support/template.rs"]
mod template_file;

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
    let t = template_file::template();
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

/// CloudFormation has no resource type for a custom source: docs/security-lake.md gives the
/// five registrations, each with its class's source name and Security Lake event class.
#[test]
fn the_doc_registers_each_class_as_its_own_custom_source() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/security-lake.md"
    ))
    .expect("docs/security-lake.md");
    for class in OcsfClass::ALL {
        let line = format!(
            "  --source-name {} --event-classes {} \\",
            class.source_name(),
            class.security_lake_class()
        );
        assert!(
            doc.lines().any(|l| l == line),
            "docs/security-lake.md lacks: {line}"
        );
    }
    let t = template_file::template();
    assert_eq!(
        t["Resources"]["OcsfCrawlerRole"]["Condition"],
        "OcsfToSecurityLake"
    );
    assert!(t["Outputs"]["OcsfCrawlerRoleArn"].is_object());
}
