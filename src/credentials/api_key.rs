//! The API key, wrapped so that it cannot be printed by accident.
use std::collections::HashMap;
use std::fmt;

/// An Atlassian organization API key. `Debug` and `Display` print `[redacted]`; the only way to the
/// text is [`ApiKey::expose`], used when building the `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces the key in `text`, for messages that quote what a server said. Also replaced:
    /// the key as a URL or a JSON string may carry it (percent-encoded, `\/`, `\u002f`, any
    /// mix, escapes doubled), and any run of at least [`MIN_PIECE_CHARS`] of its characters
    /// in a row, since a server or proxy may echo a piece of it (cut, or broken over lines).
    /// Scrub before cutting text to length: a cut inside the key would leave its prefix.
    pub fn scrub(&self, text: &str) -> String {
        let key: Vec<char> = self.0.chars().collect();
        if key.len() < 4 {
            return text.to_string();
        }
        let min_run = key.len().min(MIN_PIECE_CHARS);
        // Where each character occurs in the key: a piece can start only there.
        let mut starts_of: HashMap<char, Vec<usize>> = HashMap::new();
        for (n, &k) in key.iter().enumerate() {
            starts_of.entry(k).or_default().push(n);
        }
        let non_ascii: Vec<char> = starts_of
            .keys()
            .copied()
            .filter(|k| !k.is_ascii())
            .collect();
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let mut firsts = Vec::new();
        let mut starts = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let Some(c) = text[i..].chars().next() else {
                break;
            };
            firsts.clear();
            firsts.push(c);
            if decode_first(bytes, i, &mut firsts) {
                firsts.extend(&non_ascii);
            }
            starts.clear();
            for f in &firsts {
                starts.extend(starts_of.get(f).into_iter().flatten());
            }
            match longest_piece(&key, bytes, i, &starts, min_run) {
                Some(end) => {
                    out.push_str(REDACTED);
                    i = end;
                }
                None => {
                    out.push(c);
                    i += c.len_utf8();
                }
            }
        }
        out
    }

    /// [`ApiKey::scrub`] of the start of `text` only: its first `chars` characters and as many
    /// after them as the key could take in its longest form, so that a key beginning within
    /// them is found whole; the rest is left out. For text about to be cut to `chars`: a few
    /// megabytes of server text are not searched to keep a few hundred characters.
    pub fn scrub_start(&self, text: &str, chars: usize) -> String {
        let reach = self.0.chars().count().saturating_mul(MAX_ENCODED_BYTES);
        let head = match text.char_indices().nth(chars.saturating_add(reach)) {
            Some((end, _)) => &text[..end],
            None => text,
        };
        self.scrub(head)
    }
}

/// Shortest run of the key's characters replaced on its own (a shorter one says little).
pub const MIN_PIECE_CHARS: usize = 8;
const REDACTED: &str = "[redacted]";
/// Escapes nested deeper than this (`\\\\/`, `%252525..`) are not looked through: bounds
/// the work on a text of backslashes.
const MAX_NESTING: usize = 4;
/// Most bytes one character of the key takes in any form looked for: four UTF-8 bytes, each
/// `%` then `25` nested three times then two hex digits.
const MAX_ENCODED_BYTES: usize = 4 * (1 + 2 * (MAX_NESTING - 1) + 2);

/// Adds to `out` the characters an escape at `at` (`%HH`, `\/`, `\uHHHH`, nested) may stand
/// for; true if it may stand for a character beyond ASCII, which is not worked out.
fn decode_first(text: &[u8], at: usize, out: &mut Vec<char>) -> bool {
    let mut beyond_ascii = false;
    match text.get(at) {
        Some(b'%') => {
            let mut q = at + 1;
            for _ in 0..MAX_NESTING {
                match hex_byte(text, q) {
                    Some(b'%') => {
                        out.push('%');
                        q += 2;
                    }
                    Some(b) if b.is_ascii() => {
                        out.push(char::from(b));
                        break;
                    }
                    Some(_) => {
                        beyond_ascii = true;
                        break;
                    }
                    None => break,
                }
            }
        }
        Some(b'\\') => {
            for q in after_backslashes(text, at) {
                match text.get(q) {
                    Some(b'u') => match hex_unit(text, q + 1).map(u32::from).map(char::from_u32) {
                        Some(Some(ch)) if ch.is_ascii() => out.push(ch),
                        Some(_) => beyond_ascii = true,
                        None => {}
                    },
                    Some(&b) if matches!(b, b'/' | b'"' | b'\\' | b'\'') => out.push(char::from(b)),
                    _ => {}
                }
            }
        }
        _ => {}
    }
    beyond_ascii
}

/// Where the longest run of `key`'s characters (at least `min_run`, any encoding of each)
/// beginning at one of `starts` and at byte `at` of `text` ends, if there is one.
fn longest_piece(
    key: &[char],
    text: &[u8],
    at: usize,
    starts: &[usize],
    min_run: usize,
) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    let mut next: Vec<usize> = Vec::new();
    let mut found: Vec<usize> = Vec::new();
    for &start in starts {
        // Every offset reachable after matching key[start..start + n], for growing n.
        let mut ends = vec![at];
        let mut matched = 0;
        for &k in &key[start..] {
            next.clear();
            for &e in &ends {
                encodings_at(text, e, k, &mut found);
                for end in found.drain(..) {
                    if !next.contains(&end) {
                        next.push(end);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            matched += 1;
            std::mem::swap(&mut ends, &mut next);
        }
        if matched >= min_run {
            let end = ends.iter().copied().max().unwrap_or(at);
            if best.is_none_or(|(m, e)| (matched, end) > (m, e)) {
                best = Some((matched, end));
            }
        }
    }
    best.map(|(_, end)| end)
}

/// Adds to `ends` the offsets just past each way `c` can be written at byte `at` of `text`: as itself,
/// percent-encoded (`%2F`, `%2f`, `%252F`), or JSON/Rust-escaped (`\/`, `\"`, `\u002F`, with
/// the backslash itself escaped again).
fn encodings_at(text: &[u8], at: usize, c: char, ends: &mut Vec<usize>) {
    let mut utf8 = [0u8; 4];
    let utf8 = c.encode_utf8(&mut utf8).as_bytes();
    if text[at..].starts_with(utf8) {
        ends.push(at + utf8.len());
    }
    // Every other form begins with an escape.
    if !matches!(text.get(at), Some(b'%' | b'\\')) {
        return;
    }
    // Percent-encoded: each UTF-8 byte as `%HH`, `%25` repeated for each encoding over it.
    let mut positions = vec![at];
    for &b in utf8 {
        let mut next = Vec::new();
        for p in positions {
            if text.get(p) != Some(&b'%') {
                continue;
            }
            let mut q = p + 1;
            for _ in 0..MAX_NESTING {
                if hex_byte(text, q) == Some(b) {
                    next.push(q + 2);
                }
                if hex_byte(text, q) != Some(b'%') {
                    break;
                }
                q += 2;
            }
        }
        positions = next;
    }
    ends.extend(positions);
    // Escaped: one or more backslashes, then `uHHHH` (each UTF-16 unit) or the character.
    let mut units = [0u16; 2];
    let units = c.encode_utf16(&mut units);
    let mut positions = vec![at];
    for (n, &unit) in units.iter().enumerate() {
        let mut next = Vec::new();
        for p in positions {
            for q in after_backslashes(text, p) {
                if text.get(q) == Some(&b'u') && hex_unit(text, q + 1) == Some(unit) {
                    next.push(q + 5);
                }
                if n == 0 && matches!(c, '/' | '"' | '\\' | '\'') && text.get(q) == Some(&(c as u8))
                {
                    ends.push(q + 1);
                }
            }
        }
        positions = next;
    }
    ends.extend(positions);
}

/// Offsets just past 1..=MAX_NESTING backslashes at `at`.
fn after_backslashes(text: &[u8], at: usize) -> std::ops::Range<usize> {
    let run = text
        .iter()
        .skip(at)
        .take(MAX_NESTING)
        .take_while(|&&b| b == b'\\')
        .count();
    at + 1..at + 1 + run
}

fn hex_byte(text: &[u8], at: usize) -> Option<u8> {
    u8::try_from(hex_digits(text.get(at..at + 2)?)?).ok()
}

fn hex_unit(text: &[u8], at: usize) -> Option<u16> {
    u16::try_from(hex_digits(text.get(at..at + 4)?)?).ok()
}

/// Hex digits of either case (no sign, which `from_str_radix` would take).
fn hex_digits(digits: &[u8]) -> Option<u32> {
    digits
        .iter()
        .try_fold(0u32, |n, &b| Some(n * 16 + char::from(b).to_digit(16)?))
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ATATT3x/Ff+GF0\"key=material";

    /// No piece of `KEY` of `MIN_PIECE_CHARS` or more, in any form tried, is left.
    fn assert_scrubbed(text: &str) {
        let out = ApiKey::new(KEY).scrub(text);
        assert!(out.contains(REDACTED), "{out}");
        let chars: Vec<char> = KEY.chars().collect();
        for start in 0..chars.len() {
            for end in start + MIN_PIECE_CHARS..=chars.len() {
                let piece: String = chars[start..end].iter().collect();
                assert!(!out.contains(&piece), "{piece:?} left in {out:?}");
            }
        }
    }

    #[test]
    fn the_key_goes_in_every_form_a_server_may_echo() {
        let json = KEY
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('/', "\\/");
        let unicode = KEY.replace('/', "\\u002F").replace('"', "\\u0022");
        let percent = KEY
            .replace('/', "%2f")
            .replace('+', "%2B")
            .replace('"', "%22")
            .replace('=', "%3D");
        let doubled = KEY.replace('/', "%252F");
        let rust_debug = json.escape_debug().to_string();
        let key = ApiKey::new(KEY);
        for form in [KEY.to_string(), json, unicode, percent, doubled, rust_debug] {
            assert_eq!(
                key.scrub(&format!("Authorization: Bearer {form} was refused")),
                format!("Authorization: Bearer {REDACTED} was refused"),
                "{form}"
            );
            assert_eq!(key.scrub(&format!("{form}{form}")), REDACTED.repeat(2));
        }
    }

    #[test]
    fn pieces_of_the_key_go_too() {
        // Cut by a proxy, or broken over lines.
        assert_scrubbed("Bearer ATATT3x/Ff+G…");
        assert_scrubbed("Bearer ATATT3x/Ff+\nGF0\"key=material");
        assert_scrubbed("the token ended in \"key=material");
    }

    #[test]
    fn other_text_is_kept() {
        let key = ApiKey::new(KEY);
        let text = "HTTP 403 ADMIN-403-1: ATAT%2 \\u00 is \"not\" allowed %zz \\";
        assert_eq!(key.scrub(text), text);
        assert_eq!(key.scrub("ATATT3x"), "ATATT3x", "shorter than a piece");
        assert_eq!(key.scrub("a ATATT3x/Ff+GF0 b"), format!("a {REDACTED} b"));
        assert_eq!(
            ApiKey::new("abc").scrub("abc"),
            "abc",
            "too short to look for"
        );
        assert_eq!(
            ApiKey::new("abcde").scrub("xabcdex abcd"),
            "x[redacted]x abcd"
        );
    }

    #[test]
    fn the_start_of_a_long_text_is_scrubbed_and_the_rest_left_out() {
        let key = ApiKey::new(KEY);
        let deep = KEY.replace('/', "%25252F");
        let text = format!("{}Bearer {deep} {}", "x".repeat(290), "y".repeat(1_000_000));
        let out = key.scrub_start(&text, 300);
        assert!(
            out.contains(&format!("Bearer {REDACTED} y")),
            "the key is found whole"
        );
        assert!(
            out.len() < 300 + KEY.len() * MAX_ENCODED_BYTES + 1,
            "{}",
            out.len()
        );
        assert_eq!(key.scrub_start("short", 300), "short");
    }
}
