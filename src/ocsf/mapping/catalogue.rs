//! Every action of the real catalogue (`GET /admin/v1/orgs/{orgId}/event-actions`, lower-cased as
//! events carry them) to its OCSF class and activity: the table docs/security-lake.md lists.
//! An action not in the table (Atlassian adds some) is an Entity Management "Other".
use crate::ocsf::class::OcsfClass::{self, *};

/// OCSF `severity_id`: 1 Informational, 3 Medium.
pub const INFORMATIONAL: i32 = 1;
pub const MEDIUM: i32 = 3;

/// How one action maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionMapping {
    pub class: OcsfClass,
    pub activity_id: i32,
    pub severity_id: i32,
    /// The action reports a failure (`status_id` 2), not a change made.
    pub failed: bool,
    /// The privilege granted or revoked (`privileges`), for the classes that carry one.
    pub privilege: Option<&'static str>,
}

const fn m(class: OcsfClass, activity_id: i32) -> ActionMapping {
    ActionMapping {
        class,
        activity_id,
        severity_id: INFORMATIONAL,
        failed: false,
        privilege: None,
    }
}

impl ActionMapping {
    /// An action that hands out power or weakens a control: Medium.
    const fn risky(mut self) -> Self {
        self.severity_id = MEDIUM;
        self
    }
    const fn failed(mut self) -> Self {
        self.failed = true;
        self
    }
    const fn grants(mut self, privilege: &'static str) -> Self {
        self.privilege = Some(privilege);
        self
    }
}

/// The mapping of an action not in the catalogue.
pub const UNKNOWN_ACTION: ActionMapping = m(EntityManagement, 99);

/// Activity ids used below, by class (the OCSF 1.3 enumerations).
const CREATE: i32 = 1;
const OTHER: i32 = 99;
// Account Change
const ENABLE: i32 = 2;
const PASSWORD_CHANGE: i32 = 3;
const PASSWORD_RESET: i32 = 4;
const DISABLE: i32 = 5;
const DELETE_ACCOUNT: i32 = 6;
const ATTACH_POLICY: i32 = 7;
const DETACH_POLICY: i32 = 8;
const MFA_ENABLE: i32 = 10;
const MFA_DISABLE: i32 = 11;
// Authentication
const LOGON: i32 = 1;
const LOGOFF: i32 = 2;
// User Access Management and Group Management
const ASSIGN: i32 = 1;
const REVOKE: i32 = 2;
// Group Management
const ADD_USER: i32 = 3;
const REMOVE_USER: i32 = 4;
const DELETE_GROUP: i32 = 5;
const CREATE_GROUP: i32 = 6;
// Entity Management
const READ: i32 = 2;
const UPDATE: i32 = 3;
const DELETE: i32 = 4;
const MOVE: i32 = 5;
const ENTITY_ENABLE: i32 = 8;
const ENTITY_DISABLE: i32 = 9;

/// The catalogue, sorted by action.
pub const CATALOGUE: &[(&str, ActionMapping)] = &[
    (
        "added_org_admin",
        m(UserAccessManagement, ASSIGN).grants("org-admin").risky(),
    ),
    ("api_token_created", m(AccountChange, OTHER).risky()),
    ("api_token_revoked", m(AccountChange, OTHER)),
    ("auth_policy_created", m(EntityManagement, CREATE)),
    ("auth_policy_deleted", m(EntityManagement, DELETE).risky()),
    ("auth_policy_type_updated", m(EntityManagement, UPDATE)),
    ("auth_policy_updated", m(EntityManagement, UPDATE)),
    ("become_managed_scim_user", m(AccountChange, OTHER)),
    ("become_unmanaged_scim_user", m(AccountChange, OTHER)),
    ("default_auth_policy_updated", m(EntityManagement, UPDATE)),
    ("domain_added", m(EntityManagement, CREATE)),
    ("domain_auth_policy_changed", m(EntityManagement, UPDATE)),
    ("domain_auth_policy_deleted", m(EntityManagement, DELETE)),
    (
        "domain_auth_policy_failed",
        m(EntityManagement, UPDATE).failed(),
    ),
    ("domain_claimed", m(EntityManagement, CREATE)),
    ("domain_deleted", m(EntityManagement, DELETE)),
    ("domain_removed", m(EntityManagement, DELETE)),
    ("domain_verification_completed", m(EntityManagement, UPDATE)),
    ("domain_verification_removed", m(EntityManagement, DELETE)),
    ("domain_verification_started", m(EntityManagement, OTHER)),
    ("email_change", m(AccountChange, OTHER)),
    ("export_audit_log", m(EntityManagement, READ).risky()),
    ("export_domain_account", m(EntityManagement, READ).risky()),
    ("export_managed_account", m(EntityManagement, READ).risky()),
    (
        "export_unmanaged_product_instances",
        m(EntityManagement, READ),
    ),
    (
        "group_added_as_product_default",
        m(GroupManagement, ASSIGN).grants("product-default"),
    ),
    (
        "group_added_as_role_default",
        m(GroupManagement, ASSIGN).grants("role-default"),
    ),
    (
        "group_added_to_site",
        m(GroupManagement, ASSIGN).grants("site-access"),
    ),
    ("group_created", m(GroupManagement, CREATE_GROUP)),
    ("group_deleted", m(GroupManagement, DELETE_GROUP)),
    (
        "group_granted_admin_access",
        m(GroupManagement, ASSIGN).grants("admin-access").risky(),
    ),
    (
        "group_granted_product_access",
        m(GroupManagement, ASSIGN).grants("product-access"),
    ),
    (
        "group_granted_role",
        m(GroupManagement, ASSIGN).grants("role"),
    ),
    (
        "group_removed_as_product_default",
        m(GroupManagement, REVOKE).grants("product-default"),
    ),
    (
        "group_removed_as_role_default",
        m(GroupManagement, REVOKE).grants("role-default"),
    ),
    (
        "group_revoked_admin_access",
        m(GroupManagement, REVOKE).grants("admin-access"),
    ),
    (
        "group_revoked_product_access",
        m(GroupManagement, REVOKE).grants("product-access"),
    ),
    (
        "group_revoked_role",
        m(GroupManagement, REVOKE).grants("role"),
    ),
    ("group_updated", m(GroupManagement, OTHER)),
    ("gsync_connection", m(EntityManagement, CREATE)),
    ("gsync_disconnection", m(EntityManagement, DELETE)),
    (
        "gsync_sso_disabled",
        m(EntityManagement, ENTITY_DISABLE).risky(),
    ),
    ("gsync_sso_enabled", m(EntityManagement, ENTITY_ENABLE)),
    (
        "gsync_user_invitation_message_updated",
        m(EntityManagement, UPDATE),
    ),
    ("gsync_user_invite", m(AccountChange, CREATE)),
    ("managed_account_deactivated", m(AccountChange, DISABLE)),
    ("managed_account_deleted", m(AccountChange, DELETE_ACCOUNT)),
    (
        "managed_account_deletion_cancelled",
        m(AccountChange, OTHER),
    ),
    (
        "managed_account_deletion_scheduled",
        m(AccountChange, OTHER),
    ),
    ("managed_account_reactivated", m(AccountChange, ENABLE)),
    ("migration_scheduled", m(EntityManagement, OTHER)),
    ("password_change", m(AccountChange, PASSWORD_CHANGE)),
    ("password_policy_changed", m(EntityManagement, UPDATE)),
    ("password_reset_complete", m(AccountChange, PASSWORD_RESET)),
    ("password_reset_request", m(AccountChange, OTHER)),
    ("policy_created", m(EntityManagement, CREATE)),
    ("policy_deleted", m(EntityManagement, DELETE)),
    ("policy_disabled", m(EntityManagement, ENTITY_DISABLE)),
    ("policy_enforced", m(EntityManagement, ENTITY_ENABLE)),
    ("policy_updated", m(EntityManagement, UPDATE)),
    ("release_track_bundle_released", m(EntityManagement, UPDATE)),
    (
        "release_track_subscription_updated",
        m(EntityManagement, UPDATE),
    ),
    (
        "removed_org_admin",
        m(UserAccessManagement, REVOKE).grants("org-admin"),
    ),
    (
        "reset_all_managed_account_passwords",
        m(EntityManagement, OTHER).risky(),
    ),
    ("saml_config_created", m(EntityManagement, CREATE)),
    ("saml_config_deleted", m(EntityManagement, DELETE).risky()),
    ("saml_config_updated", m(EntityManagement, UPDATE)),
    ("saml_policy_changed", m(EntityManagement, UPDATE)),
    ("saml_policy_deleted", m(EntityManagement, DELETE)),
    ("scim_auto_sync_complete", m(EntityManagement, OTHER)),
    ("scim_auto_sync_initiated", m(EntityManagement, OTHER)),
    ("scim_directory_created", m(EntityManagement, CREATE)),
    ("scim_directory_deleted", m(EntityManagement, DELETE)),
    ("scim_directory_token_rotated", m(EntityManagement, UPDATE)),
    ("scim_group_add_member", m(GroupManagement, ADD_USER)),
    ("scim_group_create", m(GroupManagement, CREATE_GROUP)),
    ("scim_group_delete", m(GroupManagement, DELETE_GROUP)),
    ("scim_group_remove_member", m(GroupManagement, REMOVE_USER)),
    (
        "scim_group_unmanaged_member_added",
        m(GroupManagement, ADD_USER),
    ),
    (
        "scim_group_unmanaged_member_removed",
        m(GroupManagement, REMOVE_USER),
    ),
    ("scim_group_update", m(GroupManagement, OTHER)),
    ("scim_manual_sync_complete", m(EntityManagement, OTHER)),
    ("scim_manual_sync_initiated", m(EntityManagement, OTHER)),
    ("scim_sync_disabled", m(EntityManagement, ENTITY_DISABLE)),
    ("scim_sync_enabled", m(EntityManagement, ENTITY_ENABLE)),
    (
        "scim_troubleshooting_log_cleared",
        m(EntityManagement, DELETE),
    ),
    ("scim_unmanaged_user_created", m(AccountChange, CREATE)),
    (
        "scim_unmanaged_user_deleted",
        m(AccountChange, DELETE_ACCOUNT),
    ),
    ("scim_unmanaged_user_updated", m(AccountChange, OTHER)),
    ("scim_user_create", m(AccountChange, CREATE)),
    ("scim_user_delete", m(AccountChange, DELETE_ACCOUNT)),
    ("scim_user_linked_to_aa", m(AccountChange, OTHER)),
    ("scim_user_unlinked_from_aa", m(AccountChange, OTHER)),
    ("scim_user_update", m(AccountChange, OTHER)),
    ("set_session_policy", m(EntityManagement, UPDATE)),
    ("site_created", m(EntityManagement, CREATE)),
    ("site_initiated", m(EntityManagement, CREATE)),
    ("site_rename_event", m(EntityManagement, UPDATE)),
    (
        "site_sync_all_conflicting_groups",
        m(EntityManagement, OTHER),
    ),
    ("site_sync_conflicting_group", m(GroupManagement, OTHER)),
    ("site_transferred", m(EntityManagement, MOVE)),
    (
        "twosv_disabled_for_user",
        m(AccountChange, MFA_DISABLE).risky(),
    ),
    ("twosv_enabled_for_user", m(AccountChange, MFA_ENABLE)),
    ("twosv_enforced", m(EntityManagement, ENTITY_ENABLE)),
    (
        "twosv_unenforced",
        m(EntityManagement, ENTITY_DISABLE).risky(),
    ),
    (
        "user_access_settings_domain_added",
        m(EntityManagement, CREATE),
    ),
    (
        "user_access_settings_domain_removed",
        m(EntityManagement, DELETE),
    ),
    ("user_added_to_group", m(GroupManagement, ADD_USER)),
    (
        "user_added_to_site",
        m(UserAccessManagement, ASSIGN).grants("site-access"),
    ),
    ("user_auth_policy_changed", m(AccountChange, ATTACH_POLICY)),
    ("user_auth_policy_deleted", m(AccountChange, DETACH_POLICY)),
    (
        "user_auth_policy_failed",
        m(AccountChange, ATTACH_POLICY).failed(),
    ),
    ("user_created", m(AccountChange, CREATE)),
    ("user_detail_change", m(AccountChange, OTHER)),
    ("user_detail_change_requested", m(AccountChange, OTHER)),
    ("user_details_change_requested", m(AccountChange, OTHER)),
    ("user_disabled_org_access", m(AccountChange, DISABLE)),
    (
        "user_disabled_site_access",
        m(UserAccessManagement, REVOKE).grants("site-access"),
    ),
    ("user_enabled_org_access", m(AccountChange, ENABLE)),
    (
        "user_enabled_site_access",
        m(UserAccessManagement, ASSIGN).grants("site-access"),
    ),
    (
        "user_granted_product_access",
        m(UserAccessManagement, ASSIGN).grants("product-access"),
    ),
    (
        "user_granted_role",
        m(UserAccessManagement, ASSIGN).grants("role"),
    ),
    ("user_invite_to_org", m(AccountChange, CREATE)),
    ("user_invited", m(AccountChange, CREATE)),
    ("user_logged_in_as_user", m(Authentication, LOGON).risky()),
    ("user_login", m(Authentication, LOGON)),
    ("user_logout", m(Authentication, LOGOFF)),
    ("user_password_reset_requested", m(AccountChange, OTHER)),
    ("user_re_invited", m(AccountChange, OTHER)),
    ("user_re_invited_to_org", m(AccountChange, OTHER)),
    ("user_removed_from_group", m(GroupManagement, REMOVE_USER)),
    ("user_removed_from_org", m(AccountChange, DELETE_ACCOUNT)),
    (
        "user_removed_from_site",
        m(UserAccessManagement, REVOKE).grants("site-access"),
    ),
    (
        "user_revoked_product_access",
        m(UserAccessManagement, REVOKE).grants("product-access"),
    ),
    (
        "user_revoked_role",
        m(UserAccessManagement, REVOKE).grants("role"),
    ),
];

/// How `action` maps; an action outside the catalogue is [`UNKNOWN_ACTION`].
pub fn action_mapping(action: &str) -> ActionMapping {
    match CATALOGUE.binary_search_by(|(a, _)| (*a).cmp(action)) {
        Ok(i) => CATALOGUE[i].1,
        Err(_) => UNKNOWN_ACTION,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The real catalogue's action ids, lower-cased as events carry them.
    fn real_catalogue() -> Vec<String> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/atlassian/event_actions_real_2021.json"
        );
        let text = std::fs::read_to_string(path).expect("the catalogue fixture");
        let doc: Value = serde_json::from_str(&text).expect("JSON");
        let mut ids: Vec<String> = doc["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|e| e["id"].as_str().expect("an id").to_ascii_lowercase())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    #[test]
    fn the_table_is_exactly_the_real_catalogue_sorted() {
        let table: Vec<String> = CATALOGUE.iter().map(|(a, _)| a.to_string()).collect();
        assert_eq!(
            table,
            real_catalogue(),
            "one row per catalogue action, sorted"
        );
        assert_eq!(table.len(), 135);
    }

    #[test]
    fn every_activity_is_one_the_class_defines() {
        for (action, m) in CATALOGUE {
            assert!(
                m.activity_id == OTHER || m.class.activity_name(m.activity_id) != "Other",
                "{action}: activity {} is not one of {:?}'s",
                m.activity_id,
                m.class
            );
        }
    }

    #[test]
    fn privileges_go_with_assign_and_revoke_only() {
        for (action, m) in CATALOGUE {
            let assigns = matches!(m.class, UserAccessManagement | GroupManagement)
                && matches!(m.activity_id, ASSIGN | REVOKE);
            assert_eq!(m.privilege.is_some(), assigns, "{action}");
        }
    }

    #[test]
    fn the_issue_classes_hold_where_ocsf_agrees() {
        let cases = [
            ("user_login", Authentication, LOGON),
            ("user_logout", Authentication, LOGOFF),
            ("user_created", AccountChange, CREATE),
            ("twosv_disabled_for_user", AccountChange, MFA_DISABLE),
            ("api_token_created", AccountChange, OTHER),
            ("group_created", GroupManagement, CREATE_GROUP),
            ("user_removed_from_group", GroupManagement, REMOVE_USER),
            ("added_org_admin", UserAccessManagement, ASSIGN),
            ("user_granted_product_access", UserAccessManagement, ASSIGN),
            // A grant to a group is Group Management's "Assign Privileges": User Access
            // Management requires a user.
            ("group_granted_product_access", GroupManagement, ASSIGN),
            ("policy_created", EntityManagement, CREATE),
            ("export_audit_log", EntityManagement, READ),
            ("not_in_the_catalogue", EntityManagement, OTHER),
        ];
        for (action, class, activity) in cases {
            let m = action_mapping(action);
            assert_eq!((m.class, m.activity_id), (class, activity), "{action}");
        }
    }

    /// docs/security-lake.md's table row of one action.
    fn doc_row(action: &str, m: &ActionMapping) -> String {
        let mut notes = Vec::new();
        if m.severity_id == MEDIUM {
            notes.push("Medium".to_string());
        }
        if m.failed {
            notes.push("Failure".to_string());
        }
        if let Some(p) = m.privilege {
            notes.push(format!("`{p}`"));
        }
        format!(
            "| `{action}` | {} ({}) | {} ({}) | {} |",
            m.class.name(),
            m.class.uid(),
            m.class.activity_name(m.activity_id),
            m.activity_id,
            notes.join(", ")
        )
    }

    #[test]
    fn the_doc_lists_every_action_as_the_table_maps_it() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/security-lake.md");
        let doc = std::fs::read_to_string(path).expect("docs/security-lake.md");
        let missing: Vec<String> = CATALOGUE
            .iter()
            .map(|(a, m)| doc_row(a, m))
            .filter(|row| !doc.lines().any(|l| l == row))
            .collect();
        assert!(
            missing.is_empty(),
            "docs/security-lake.md lacks these rows (or has them otherwise):\n{}",
            missing.join("\n")
        );
    }

    #[test]
    fn failures_and_risky_actions_are_marked() {
        assert!(action_mapping("user_auth_policy_failed").failed);
        assert!(!action_mapping("user_auth_policy_changed").failed);
        assert_eq!(action_mapping("added_org_admin").severity_id, MEDIUM);
        assert_eq!(action_mapping("group_created").severity_id, INFORMATIONAL);
    }
}
