//! The five OCSF classes of the Identity & Access Management category that the audit log maps to,
//! and the Security Lake custom source each one is delivered as (one class per source, as
//! Security Lake asks).

/// OCSF version of every record: the newest Security Lake accepts from custom sources
/// ("OCSF version 1.3 and earlier", its custom-source requirements).
pub const OCSF_VERSION: &str = "1.3.0";
/// Identity & Access Management.
pub const CATEGORY_UID: i32 = 3;
pub const CATEGORY_NAME: &str = "Identity & Access Management";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OcsfClass {
    AccountChange,
    Authentication,
    EntityManagement,
    UserAccessManagement,
    GroupManagement,
}

impl OcsfClass {
    pub const ALL: [OcsfClass; 5] = [
        OcsfClass::AccountChange,
        OcsfClass::Authentication,
        OcsfClass::EntityManagement,
        OcsfClass::UserAccessManagement,
        OcsfClass::GroupManagement,
    ];

    pub fn uid(self) -> i32 {
        match self {
            OcsfClass::AccountChange => 3001,
            OcsfClass::Authentication => 3002,
            OcsfClass::EntityManagement => 3004,
            OcsfClass::UserAccessManagement => 3005,
            OcsfClass::GroupManagement => 3006,
        }
    }

    /// Security Lake's name of the class (a custom source's `EventClasses`).
    pub fn security_lake_class(self) -> &'static str {
        match self {
            OcsfClass::AccountChange => "ACCOUNT_CHANGE",
            OcsfClass::Authentication => "AUTHENTICATION",
            OcsfClass::EntityManagement => "ENTITY_MANAGEMENT",
            OcsfClass::UserAccessManagement => "USER_ACCESS",
            OcsfClass::GroupManagement => "GROUP_MANAGEMENT",
        }
    }

    /// The class's caption in the OCSF schema (`class_name`).
    pub fn name(self) -> &'static str {
        match self {
            OcsfClass::AccountChange => "Account Change",
            OcsfClass::Authentication => "Authentication",
            OcsfClass::EntityManagement => "Entity Management",
            OcsfClass::UserAccessManagement => "User Access Management",
            OcsfClass::GroupManagement => "Group Management",
        }
    }

    /// The custom source name: the folder under `ext/`, the Glue table's name (at most 20
    /// characters, as Security Lake asks of a custom source's name).
    pub fn source_name(self) -> &'static str {
        match self {
            OcsfClass::AccountChange => "atlassian_account",
            OcsfClass::Authentication => "atlassian_auth",
            OcsfClass::EntityManagement => "atlassian_entity",
            OcsfClass::UserAccessManagement => "atlassian_access",
            OcsfClass::GroupManagement => "atlassian_group",
        }
    }

    /// The class's OCSF caption for one activity id, as `activity_name` wants it.
    pub fn activity_name(self, activity_id: i32) -> &'static str {
        let names: &[(i32, &str)] = match self {
            OcsfClass::AccountChange => &[
                (1, "Create"),
                (2, "Enable"),
                (3, "Password Change"),
                (4, "Password Reset"),
                (5, "Disable"),
                (6, "Delete"),
                (7, "Attach Policy"),
                (8, "Detach Policy"),
                (9, "Lock"),
                (10, "MFA Factor Enable"),
                (11, "MFA Factor Disable"),
            ],
            OcsfClass::Authentication => &[(1, "Logon"), (2, "Logoff")],
            OcsfClass::EntityManagement => &[
                (1, "Create"),
                (2, "Read"),
                (3, "Update"),
                (4, "Delete"),
                (5, "Move"),
                (8, "Enable"),
                (9, "Disable"),
            ],
            OcsfClass::UserAccessManagement => {
                &[(1, "Assign Privileges"), (2, "Revoke Privileges")]
            }
            OcsfClass::GroupManagement => &[
                (1, "Assign Privileges"),
                (2, "Revoke Privileges"),
                (3, "Add User"),
                (4, "Remove User"),
                (5, "Delete"),
                (6, "Create"),
            ],
        };
        names
            .iter()
            .find(|(id, _)| *id == activity_id)
            .map(|(_, name)| *name)
            .unwrap_or("Other")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names_are_distinct_and_fit_security_lake() {
        let names: std::collections::BTreeSet<&str> =
            OcsfClass::ALL.iter().map(|c| c.source_name()).collect();
        assert_eq!(names.len(), OcsfClass::ALL.len());
        for name in names {
            // CreateCustomLogSource: [\w\-_:.], and at most 20 characters, so that the provider
            // role it creates (AmazonSecurityLake-Provider-<name>-<region>) fits IAM's 64.
            assert!(name.len() <= 20, "{name}");
            assert!(name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-:.".contains(c)));
        }
    }

    #[test]
    fn unknown_activities_are_other() {
        assert_eq!(OcsfClass::Authentication.activity_name(1), "Logon");
        assert_eq!(OcsfClass::Authentication.activity_name(99), "Other");
        assert_eq!(OcsfClass::GroupManagement.activity_name(6), "Create");
    }
}
