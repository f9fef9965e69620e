//! YAML read safely: no anchors or aliases (a few kilobytes can alias their way to billions of
//! nodes before any Sigma parser sees them).

use serde::de::{Deserialize, IgnoredAny};

use crate::detect::error::scrub;

/// Refuses anchors (`&name`) and aliases (`*name`) before anything is expanded. The parser
/// decides, so `&` and `*` in quotes, block scalars, comments and plain text are fine. Loading
/// into `IgnoredAny` follows no alias. `&` and `*` mean the same everywhere but where a node
/// begins (both are plain characters elsewhere), so the text with every `&` made `*` loads
/// exactly when the file has no anchor: an anchor becomes an alias of nothing.
pub fn refuse_anchors(text: &str) -> Result<(), String> {
    let refused = |e: yaml_serde::Error| {
        let line = e
            .location()
            .map(|l| format!(" (line {})", l.line()))
            .unwrap_or_default();
        format!(
            "anchors and aliases (`&name`, `*name`) are not allowed in rule files{line}: write each value out in full"
        )
    };
    if let Err(e) = load_all(text) {
        // An alias with no anchor; any other error is the file's syntax.
        return Err(if e.to_string().starts_with("unknown anchor") {
            refused(e)
        } else {
            scrub(&e.to_string())
        });
    }
    if text.contains('&') {
        load_all(&text.replace('&', "*")).map_err(refused)?;
    }
    Ok(())
}

/// Every document of the stream (`---`-separated), loaded into nothing.
fn load_all(text: &str) -> Result<(), yaml_serde::Error> {
    for document in yaml_serde::Deserializer::from_str(text) {
        IgnoredAny::deserialize(document)?;
    }
    Ok(())
}
