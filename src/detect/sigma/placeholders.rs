//! The pack's settings, given to rules as Sigma placeholders (`field|expand: '%admin_groups%'`):
//! a standard way to keep site-specific lists out of the rules, which a SIEM's converter fills
//! from its own pipeline. Here they are filled by an rsigma `value_placeholders` pipeline.

use rsigma_eval::Pipeline;
use serde_json::json;

/// The lists rules may name as `%admin_groups%` and `%system_actors%`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackSettings {
    /// Group names that make their members admins, beyond `*-administrators`.
    pub admin_groups: Vec<String>,
    /// Actor ids whose removals are routine deprovisioning (Atlassian's system, a SCIM
    /// directory's actor), left out of `mass_user_removal`.
    pub system_actors: Vec<String>,
}

impl Default for PackSettings {
    fn default() -> Self {
        PackSettings {
            admin_groups: vec!["site-admins".into(), "org-admins".into()],
            system_actors: vec!["atlassian-internal-system".into()],
        }
    }
}

impl PackSettings {
    /// The defaults with `admin_groups` and `system_actors` extended (comma-separated lists,
    /// blanks ignored).
    pub fn with_extra(admin_groups: Option<&str>, system_actors: Option<&str>) -> PackSettings {
        let mut settings = PackSettings::default();
        settings.admin_groups.extend(list(admin_groups));
        settings.system_actors.extend(list(system_actors));
        settings
    }

    /// The pipeline that puts the lists in place of the placeholders.
    pub fn pipeline(&self) -> Result<Pipeline, String> {
        rsigma_eval::parse_pipeline(&self.pipeline_yaml()).map_err(|e| e.to_string())
    }

    /// That pipeline as text (pySigma's processing-pipeline format, which rsigma reads too):
    /// `rules export` writes it beside the rules for `sigma convert -p`.
    pub fn pipeline_yaml(&self) -> String {
        // JSON is YAML: the lists are quoted whatever they hold.
        json!({
            "name": "atlassian-audit-collector placeholders",
            "priority": 10,
            "vars": {"admin_groups": self.admin_groups, "system_actors": self.system_actors},
            "transformations": [{"id": "placeholders", "type": "value_placeholders"}],
        })
        .to_string()
    }
}

fn list(text: Option<&str>) -> impl Iterator<Item = String> + '_ {
    text.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}
