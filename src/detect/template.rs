//! Title, runbook and dedup-key templates: text with `{field.path}` placeholders filled from
//! the event (`{{` and `}}` for literal braces). A placeholder whose field is absent renders as
//! `(no field.path)`: an alert is still raised, and the gap is visible.

use serde_json::Value;

use super::field_path::{clip, FieldRef};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(FieldRef),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, chars.peek()) {
                ('{', Some('{')) | ('}', Some('}')) => {
                    literal.push(c);
                    chars.next();
                }
                ('{', _) => {
                    let mut inner = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => inner.push(c),
                            None => {
                                return Err(
                                    "a '{' is never closed (write {{ for a literal brace)".into()
                                )
                            }
                        }
                    }
                    let field = FieldRef::parse(&inner)
                        .map_err(|e| format!("a placeholder {{…}} is not a field path: {e}"))?;
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Field(field));
                }
                ('}', _) => {
                    return Err("a '}' has no '{' before it (write }} for a literal brace)".into())
                }
                _ => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { parts })
    }

    /// The fields the template reads.
    pub fn fields(&self) -> impl Iterator<Item = &FieldRef> {
        self.parts.iter().filter_map(|p| match p {
            Part::Field(f) => Some(f),
            Part::Text(_) => None,
        })
    }

    /// The most characters a rendering can take: its text, and each placeholder at its longest.
    pub fn max_chars(&self) -> usize {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.chars().count(),
                Part::Field(f) => f.max_rendered_chars(),
            })
            .sum()
    }

    /// [`Template::render`] cut to at most `max` characters (`…` marks the cut).
    pub fn render_capped(&self, event: &Value, max: usize) -> String {
        clip(&self.render(event), max)
    }

    pub fn render(&self, event: &Value) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Field(f) => {
                    if !f.render_into(event, &mut out) {
                        out.push_str(&format!("(no {})", f.describe()));
                    }
                }
            }
        }
        out
    }
}
