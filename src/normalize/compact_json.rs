//! Whitespace compaction and string escaping for JSON text.

/// Follows a JSON text byte by byte, telling which bytes belong to a string.
#[derive(Default)]
struct Strings {
    inside: bool,
    escaped: bool,
}

impl Strings {
    /// Whether `b`, the next byte, belongs to a string (its quotes included).
    #[inline]
    fn holds(&mut self, b: u8) -> bool {
        if self.inside {
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.inside = false;
            }
            true
        } else {
            self.inside = b == b'"';
            self.inside
        }
    }
}

/// Removes insignificant whitespace from a JSON text (outside strings), appending to
/// `out`; assumes valid JSON.
///
/// Everything else is copied byte for byte, so key order, duplicate keys, number
/// spelling and string escapes stay exactly as received.
pub fn compact_json_into(json: &str, out: &mut String) {
    out.reserve(json.len());
    let bytes = json.as_bytes();
    let mut strings = Strings::default();
    // Start of the run of bytes not yet copied; runs are split only at ASCII
    // whitespace, so every slice boundary is a char boundary.
    let mut run_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !strings.holds(b) && matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            out.push_str(&json[run_start..i]);
            run_start = i + 1;
        }
    }
    out.push_str(&json[run_start..]);
}

/// Appends `s` as a JSON string literal, escaped the way serde_json does it.
///
/// Written out because it cannot fail, where `serde_json::to_string` returns a `Result`.
pub fn push_json_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let mut run_start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[run_start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        } else {
            out.push_str(escape);
        }
        run_start = i + 1;
    }
    out.push_str(&s[run_start..]);
    out.push('"');
}

/// How deeply arrays and objects nest in a JSON text (0 for a scalar), counted without
/// recursion so that any depth is safe to measure; assumes valid JSON.
pub fn nesting_depth(json: &str) -> usize {
    let mut depth = 0usize;
    let mut max = 0usize;
    let mut strings = Strings::default();
    for &b in json.as_bytes() {
        if strings.holds(b) {
            continue;
        }
        match b {
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}
