//! The rules a deployment runs: the built-in pack, changed by the user's rule file if the
//! configuration names one. Read once, at start (a Lambda's cold start), before any request.
use super::{Aws, SetupError};
use crate::config::Config;
use crate::detect::RulePack;

/// The rule pack in force.
pub async fn rule_pack(_config: &Config, _aws: &Aws) -> Result<RulePack, SetupError> {
    Ok(RulePack::builtin()?)
}
