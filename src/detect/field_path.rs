//! Field paths into a normalized event (the JSON line the collector writes):
//! `attributes.actor.name`; `attributes.context[].type` (`[]`: every element of the array);
//! `attributes.context[0].type` (one element). A [`FieldRef`] is one or more paths separated by
//! `|`: the first that reaches a value wins (`attributes.actor.name|attributes.actor.id`).

use serde_json::Value;

/// Longest rendering of one placeholder in a title, runbook or key (all its values together):
/// events are not ours to trust.
pub const MAX_VALUE_CHARS: usize = 200;
/// Elements of one array a path reaches through `[]` (or `[i]`): rules see the first ones
/// only, so a huge array costs no more than this (the projection keeps no more either).
pub const MAX_ELEMENTS: usize = 1_000;
/// Characters of one string value rules compare and render: the start of a longer one.
pub const MAX_TEXT_CHARS: usize = 4_096;
/// Most dot-separated parts of a Sigma field name (each may be an array: the projection keeps
/// both readings, 2^n of them).
pub const MAX_SIGMA_SEGMENTS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    Key(String),
    Each,
    Index(usize),
    /// A Sigma path's step past a key: through an array's elements if the value is one, else
    /// the value itself (Sigma's `a.b.c` reaches into arrays implicitly).
    Flatten,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    text: String,
    steps: Vec<Step>,
}

impl FieldPath {
    /// Parses `a.b[].c`; the error says what is wrong, without quoting the text.
    pub fn parse(text: &str) -> Result<FieldPath, String> {
        if text.is_empty() {
            return Err("a field path is empty (write one like attributes.actor.name)".into());
        }
        let mut steps = Vec::new();
        for segment in text.split('.') {
            parse_segment(segment, &mut steps)?;
        }
        Ok(FieldPath {
            text: text.to_owned(),
            steps,
        })
    }

    /// A Sigma field name (`attributes.context.type`): dot-separated keys, each of which may
    /// hold an array (its elements are looked into). At most [`MAX_SIGMA_SEGMENTS`] keys, so the
    /// projection's tree stays small.
    pub fn sigma(text: &str) -> Result<FieldPath, String> {
        let segments: Vec<&str> = text.split('.').collect();
        if segments.len() > MAX_SIGMA_SEGMENTS {
            return Err(format!(
                "a field name has more than {MAX_SIGMA_SEGMENTS} dot-separated parts"
            ));
        }
        let mut steps = Vec::new();
        for segment in segments {
            if segment.contains('[') {
                return Err("a Sigma field name reaches into arrays without [ ] (write attributes.context.type)".into());
            }
            parse_segment(segment, &mut steps)?;
            steps.push(Step::Flatten);
        }
        Ok(FieldPath {
            text: text.to_owned(),
            steps,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub(super) fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Every non-null value the path reaches (several through `[]`, none when absent), in
    /// the order of the arrays.
    pub fn values<'a>(&self, event: &'a Value) -> Vec<&'a Value> {
        let mut out = Vec::new();
        walk(event, &self.steps, &mut out);
        out
    }
}

/// The values `steps` reach from `v`, depth first (the order step-by-step would give), into
/// `out`: one vector however many steps (a title renders a few paths for every match).
fn walk<'a>(v: &'a Value, steps: &[Step], out: &mut Vec<&'a Value>) {
    let Some((step, rest)) = steps.split_first() else {
        if !v.is_null() {
            out.push(v);
        }
        return;
    };
    match step {
        Step::Key(k) => {
            if let Some(child) = v.get(k) {
                walk(child, rest, out);
            }
        }
        Step::Index(i) if *i < MAX_ELEMENTS => {
            if let Some(child) = v.get(*i) {
                walk(child, rest, out);
            }
        }
        Step::Index(_) => {}
        Step::Each => {
            for child in v.as_array().into_iter().flatten().take(MAX_ELEMENTS) {
                walk(child, rest, out);
            }
        }
        Step::Flatten => match v.as_array() {
            Some(a) => a
                .iter()
                .take(MAX_ELEMENTS)
                .for_each(|child| walk(child, rest, out)),
            None => walk(v, rest, out),
        },
    }
}

fn parse_segment(segment: &str, steps: &mut Vec<Step>) -> Result<(), String> {
    let (name, mut rest) = segment.split_at(segment.find('[').unwrap_or(segment.len()));
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !name_ok {
        return Err("a field path has an empty or invalid name between dots (names are letters, digits, '_' and '-')".into());
    }
    steps.push(Step::Key(name.to_owned()));
    while !rest.is_empty() {
        let close = rest
            .find(']')
            .filter(|_| rest.starts_with('['))
            .ok_or("a field path has an unclosed '[' (write [] or [0])")?;
        let inside = &rest[1..close];
        steps.push(if inside.is_empty() {
            Step::Each
        } else {
            Step::Index(
                inside
                    .parse()
                    .map_err(|_| "a field path has something other than a number inside [ ]")?,
            )
        });
        rest = &rest[close + 1..];
    }
    Ok(())
}

/// One or more paths, `|`-separated: the first that reaches a value is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRef {
    alternatives: Vec<FieldPath>,
}

impl FieldRef {
    /// One Sigma field name (no alternatives).
    pub fn sigma(text: &str) -> Result<FieldRef, String> {
        Ok(FieldRef {
            alternatives: vec![FieldPath::sigma(text)?],
        })
    }

    pub fn parse(text: &str) -> Result<FieldRef, String> {
        let alternatives = text
            .split('|')
            .map(|p| FieldPath::parse(p.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FieldRef { alternatives })
    }

    pub(super) fn paths(&self) -> &[FieldPath] {
        &self.alternatives
    }

    /// The text a rule wrote, for fallbacks (`(no attributes.actor.name)`).
    pub fn describe(&self) -> String {
        let paths: Vec<&str> = self.alternatives.iter().map(FieldPath::as_str).collect();
        paths.join("|")
    }

    /// The values of the first alternative that reaches any.
    pub fn values<'a>(&self, event: &'a Value) -> Vec<&'a Value> {
        self.alternatives
            .iter()
            .map(|p| p.values(event))
            .find(|v| !v.is_empty())
            .unwrap_or_default()
    }

    /// The values rendered as one line (`, `-joined, repeats dropped, at most
    /// [`MAX_VALUE_CHARS`] and an ellipsis in all), or `None` when absent.
    pub fn render(&self, event: &Value) -> Option<String> {
        let mut out = String::new();
        self.render_into(event, &mut out).then_some(out)
    }

    /// [`FieldRef::render`] appended to `out`; `false` (nothing appended) when absent. One
    /// value, the usual case, is written straight into `out`.
    pub fn render_into(&self, event: &Value, out: &mut String) -> bool {
        match self.values(event).as_slice() {
            [] => false,
            // At most MAX_VALUE_CHARS and an ellipsis: the join's clip would change nothing.
            [one] => {
                push_display(one, out);
                true
            }
            many => {
                out.push_str(&render_many(many));
                true
            }
        }
    }

    /// The most characters [`FieldRef::render`] or its `(no …)` fallback can give.
    pub fn max_rendered_chars(&self) -> usize {
        (MAX_VALUE_CHARS + 1).max(self.describe().chars().count() + 4)
    }
}

/// Several values as [`FieldRef::render`] gives them.
fn render_many(values: &[&Value]) -> String {
    let mut seen: Vec<String> = Vec::new();
    let mut chars = 0;
    for v in values {
        let text = display_value(v);
        if !seen.contains(&text) {
            chars += text.chars().count() + 2;
            seen.push(text);
        }
        if chars > MAX_VALUE_CHARS {
            break;
        }
    }
    clip(&seen.join(", "), MAX_VALUE_CHARS + 1)
}

/// `text` cut to at most `max` characters, `…` standing for what was cut.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some(_) => {
            let keep: String = text.chars().take(max.saturating_sub(1)).collect();
            format!("{keep}…")
        }
    }
}

/// A scalar's text as a condition compares it: strings as they are, numbers and booleans as
/// JSON writes them; `None` for objects and arrays.
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(match s.char_indices().nth(MAX_TEXT_CHARS) {
            Some((at, _)) => s[..at].to_owned(),
            None => s.clone(),
        }),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// [`display_value`] appended to `out`; a string without a copy of its own.
fn push_display(v: &Value, out: &mut String) {
    let Value::String(s) = v else {
        out.push_str(&display_value(v));
        return;
    };
    // As display_value: the first MAX_VALUE_CHARS characters (its cut to MAX_TEXT_CHARS
    // first changes nothing), an ellipsis if there were more.
    let mut chars = s.chars();
    for c in chars.by_ref().take(MAX_VALUE_CHARS) {
        out.push(if c.is_control() { ' ' } else { c });
    }
    if chars.next().is_some() {
        out.push('…');
    }
}

/// One line, at most [`MAX_VALUE_CHARS`]: control characters become spaces, objects and arrays
/// compact JSON.
fn display_value(v: &Value) -> String {
    let text = scalar_text(v).unwrap_or_else(|| v.to_string());
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_VALUE_CHARS)
        .collect();
    if text.chars().nth(MAX_VALUE_CHARS).is_some() {
        out.push('…');
    }
    out
}
