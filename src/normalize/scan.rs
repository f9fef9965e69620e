//! A fast reader of JSON text that is already known to be valid (a `RawValue`, its compaction,
//! or a member of either): it finds values by scanning, where serde would validate and dispatch
//! every byte again. String contents, most of an audit event, are skipped eight bytes at a time.
//!
//! Nothing here validates, and nothing here panics or recurses on any input, valid or not: an
//! unterminated string or value simply ends at the end of the text.

/// Eight copies of `b`.
const fn splat(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

/// A word whose lowest set bit marks the first byte of `w` (in memory order) that is '"' or
/// '\\'; zero when there is none. Bits above the lowest may be false positives, so only
/// `trailing_zeros` of the result is meaningful.
#[inline]
fn quote_or_backslash(w: u64) -> u64 {
    const LOW: u64 = splat(0x01);
    const HIGH: u64 = splat(0x80);
    let q = w ^ splat(b'"');
    let s = w ^ splat(b'\\');
    (q.wrapping_sub(LOW) & !q | s.wrapping_sub(LOW) & !s) & HIGH
}

/// Given `i` at a string's opening quote, the index just past its closing quote (or the end of
/// the text), and whether the string has an escape.
#[inline]
pub fn string_end(b: &[u8], i: usize) -> (usize, bool) {
    let mut j = i + 1;
    let mut escaped = false;
    loop {
        while let Some(chunk) = b.get(j..j + 8) {
            let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            let m = quote_or_backslash(w);
            if m != 0 {
                j += (m.trailing_zeros() / 8) as usize;
                break;
            }
            j += 8;
        }
        while j < b.len() && b[j] != b'"' && b[j] != b'\\' {
            j += 1;
        }
        match b.get(j) {
            None => return (b.len(), escaped),
            Some(b'"') => return (j + 1, escaped),
            // An escape: the next byte never ends the string (`\uXXXX` has no quote either).
            Some(_) => {
                escaped = true;
                j += 2;
            }
        }
    }
}

#[inline]
fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

#[inline]
fn skip_blank(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_blank(b[i]) {
        i += 1;
    }
    i
}

/// Where each array and object of a compacted text closes, found by the compaction pass so
/// that later reads step over a nested value instead of scanning it again.
#[derive(Debug, Default)]
pub struct Closers {
    /// Offsets of every '{' and '[' outside strings, ascending.
    opens: Vec<u32>,
    /// Offset of each one's closer; `u32::MAX` when it has none.
    closes: Vec<u32>,
}

impl Closers {
    /// Each array and object as (offset of its opener, offset of its closer if any).
    #[cfg(test)]
    pub fn pairs(&self) -> impl Iterator<Item = (usize, Option<usize>)> + '_ {
        self.opens
            .iter()
            .zip(&self.closes)
            .map(|(o, c)| (*o as usize, (*c != u32::MAX).then_some(*c as usize)))
    }

    fn close_of(&self, open_at: usize) -> Option<usize> {
        let k = self
            .opens
            .binary_search(&u32::try_from(open_at).ok()?)
            .ok()?;
        Some(self.closes[k])
            .filter(|c| *c != u32::MAX)
            .map(|c| c as usize)
    }
}

/// A compacted text with its [`Closers`].
#[derive(Debug, Clone, Copy)]
pub struct Doc<'a> {
    pub text: &'a str,
    pub closers: &'a Closers,
}

impl<'a> Doc<'a> {
    /// The offset of `part` in the document, when it is a piece of it.
    fn offset_of(&self, part: &str) -> Option<usize> {
        let base = self.text.as_ptr() as usize;
        let start = (part.as_ptr() as usize).checked_sub(base)?;
        (start + part.len() <= self.text.len()).then_some(start)
    }
}

/// How a reader of a piece of text steps over nested values: with the closers of the document
/// it is a piece of (and its offset there), or by scanning.
#[derive(Debug, Clone, Copy, Default)]
pub struct Skip<'a> {
    closers: Option<(&'a Closers, usize)>,
}

impl<'a> Skip<'a> {
    /// For `part`, a piece of `doc` (or of nothing known: then by scanning).
    pub fn new(doc: Option<Doc<'a>>, part: &str) -> Self {
        Skip {
            closers: doc.and_then(|d| Some((d.closers, d.offset_of(part)?))),
        }
    }

    /// Given `i` at the first byte of a value in `b`, the index just past it.
    #[inline]
    fn value_end(self, b: &[u8], i: usize) -> usize {
        if let (Some((closers, offset)), Some(b'{' | b'[')) = (self.closers, b.get(i)) {
            if let Some(close) = closers.close_of(offset + i) {
                if close >= offset + i && close - offset < b.len() {
                    return close - offset + 1;
                }
            }
        }
        value_end(b, i)
    }
}

/// Given `i` at the first byte of a value, the index just past it.
pub fn value_end(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        None => b.len(),
        Some(b'"') => string_end(b, i).0,
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = string_end(b, j).0;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            b.len()
        }
        Some(_) => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']') && !is_blank(b[j]) {
                j += 1;
            }
            j
        }
    }
}

/// A member of an object: its name as written between the quotes, whether that has an escape,
/// and its value's text.
pub struct Member<'a> {
    pub name: &'a str,
    pub name_escaped: bool,
    pub value: &'a str,
}

/// Where a walk over the items of one object or array stands: after the last item read, or done
/// (the end, or text it cannot read).
struct Walk<'a> {
    text: &'a str,
    at: usize,
    done: bool,
    skip: Skip<'a>,
}

impl<'a> Walk<'a> {
    /// A walk inside `text`, which opens with `open` after any blanks (else there is nothing to
    /// read).
    fn inside(text: &'a str, open: u8, skip: Skip<'a>) -> Self {
        let b = text.as_bytes();
        let at = skip_blank(b, 0);
        Walk {
            text,
            at: at + 1,
            done: b.get(at) != Some(&open),
            skip,
        }
    }

    /// Where the next item starts: past blanks and the comma before it. `None` once done.
    fn next_start(&self) -> Option<usize> {
        if self.done {
            return None;
        }
        let b = self.text.as_bytes();
        let i = skip_blank(b, self.at);
        Some(if b.get(i) == Some(&b',') {
            skip_blank(b, i + 1)
        } else {
            i
        })
    }

    /// Ends the walk.
    fn stop<T>(&mut self) -> Option<T> {
        self.done = true;
        None
    }
}

/// The members of the object `text` (a valid JSON object, blanks around it allowed), in order.
pub fn members<'a>(text: &'a str, skip: Skip<'a>) -> Members<'a> {
    Members(Walk::inside(text, b'{', skip))
}

pub struct Members<'a>(Walk<'a>);

impl<'a> Iterator for Members<'a> {
    type Item = Member<'a>;

    fn next(&mut self) -> Option<Member<'a>> {
        let walk = &mut self.0;
        let i = walk.next_start()?;
        let b = walk.text.as_bytes();
        if b.get(i) != Some(&b'"') {
            return walk.stop();
        }
        let (name_end, name_escaped) = string_end(b, i);
        let colon = skip_blank(b, name_end);
        let start = skip_blank(b, colon + 1);
        let end = walk.skip.value_end(b, start);
        if b.get(colon) != Some(&b':') || name_end < i + 2 || end <= start {
            return walk.stop();
        }
        walk.at = end;
        // Every boundary is at an ASCII byte ('"', ':', ',', a bracket or a blank), so on a
        // char boundary; `get` keeps even invalid input from panicking.
        match (
            walk.text.get(i + 1..name_end - 1),
            walk.text.get(start..end),
        ) {
            (Some(name), Some(value)) => Some(Member {
                name,
                name_escaped,
                value,
            }),
            _ => walk.stop(),
        }
    }
}

/// The elements of the array `text` (a valid JSON array, blanks around it allowed), in order.
pub fn elements<'a>(text: &'a str, skip: Skip<'a>) -> Elements<'a> {
    Elements(Walk::inside(text, b'[', skip))
}

pub struct Elements<'a>(Walk<'a>);

impl<'a> Iterator for Elements<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let walk = &mut self.0;
        let i = walk.next_start()?;
        let b = walk.text.as_bytes();
        let end = walk.skip.value_end(b, i);
        if matches!(b.get(i), None | Some(b']')) || end <= i {
            return walk.stop();
        }
        walk.at = end;
        let element = walk.text.get(i..end);
        walk.done |= element.is_none();
        element
    }
}

/// [`compact_json_into`](super::compact_json_into) and [`nesting_depth`](super::nesting_depth)
/// in one pass, strings skipped a word at a time: appends the text without blanks outside
/// strings to `out` and returns how deeply it nests. Same results as those two for any text.
/// Also records in `closers` where each array and object of the appended text closes (offsets
/// from the start of what is appended).
pub fn compact_with_depth(json: &str, out: &mut String, closers: &mut Closers) -> usize {
    out.reserve(json.len());
    closers.opens.clear();
    closers.closes.clear();
    // Offsets are kept in 32 bits; a longer text is only compacted (and read by scanning).
    let index = u32::try_from(json.len()).is_ok_and(|n| n < u32::MAX);
    let mut open: Vec<usize> = Vec::new();
    let b = json.as_bytes();
    let (mut depth, mut max) = (0usize, 0usize);
    // Start of the bytes not yet copied; runs end only at ASCII blanks, so on char boundaries.
    let mut run_start = 0;
    let mut removed = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i = string_end(b, i).0;
                continue;
            }
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
                if index {
                    open.push(closers.opens.len());
                    closers.opens.push((i - removed) as u32);
                    closers.closes.push(u32::MAX);
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if let Some(k) = open.pop() {
                    closers.closes[k] = (i - removed) as u32;
                }
            }
            b' ' | b'\t' | b'\n' | b'\r' => {
                out.push_str(&json[run_start..i]);
                run_start = i + 1;
                removed += 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push_str(&json[run_start..]);
    max
}

#[cfg(test)]
mod tests {
    use super::super::{compact_json_into, nesting_depth};
    use super::*;

    /// Compaction, depth and closers in one pass are the two passes they replace, over the
    /// golden inputs (real, generated, pretty-printed, escaped and repeated names: sequences of
    /// JSON texts) and every prefix of their first 1,000 characters (text that is not JSON).
    #[test]
    fn one_pass_compaction_is_the_two_passes() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
        let mut inputs = 0;
        for entry in std::fs::read_dir(dir).expect("tests/golden") {
            let path = entry.expect("an entry").path();
            if path.extension().is_none_or(|e| e != "input") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("UTF-8");
            let prefixes = text
                .char_indices()
                .map(|(i, _)| (&text[..i], false))
                .take(1_000);
            for (text, json) in prefixes.chain([(text.as_str(), true)]) {
                let mut want = String::from("prefix");
                compact_json_into(text, &mut want);
                let mut got = String::from("prefix");
                let mut closers = Closers::default();
                let depth = compact_with_depth(text, &mut got, &mut closers);
                assert_eq!(got, want, "{}", path.display());
                assert_eq!(depth, nesting_depth(text), "{text}");
                assert_eq!(depth, nesting_depth(&want), "{text}");
                if json {
                    assert_closers_found(&got.as_bytes()["prefix".len()..], &closers);
                }
            }
            inputs += 1;
        }
        assert!(inputs >= 8, "the golden inputs are there");
    }

    /// Every array and object of valid compact JSON text closes where a scan finds it.
    fn assert_closers_found(compact: &[u8], closers: &Closers) {
        let mut count = 0;
        for (open, close) in closers.pairs() {
            assert!(matches!(compact[open], b'{' | b'['), "an opener at {open}");
            assert_eq!(close.map(|c| c + 1), Some(value_end(compact, open)));
            count += 1;
        }
        let (mut in_string, mut escaped, mut openers) = (false, false, 0);
        for &b in compact {
            match (in_string, escaped, b) {
                (true, true, _) => escaped = false,
                (true, false, b'\\') => escaped = true,
                (true, false, b'"') => in_string = false,
                (true, false, _) => {}
                (false, _, b'"') => in_string = true,
                (false, _, b'{' | b'[') => openers += 1,
                (false, _, _) => {}
            }
        }
        assert_eq!(count, openers);
    }

    #[test]
    fn strings_end_at_the_first_unescaped_quote_at_any_offset() {
        for pad in 0..20 {
            let body = format!("{}\\\"{}\\\\", "x".repeat(pad), "é".repeat(pad));
            let text = format!("\"{body}\"tail");
            assert_eq!(string_end(text.as_bytes(), 0), (text.len() - 4, true));
            let plain = format!("\"{}\",", "y".repeat(pad));
            assert_eq!(string_end(plain.as_bytes(), 0), (plain.len() - 1, false));
        }
        assert_eq!(string_end(b"\"open", 0), (5, false));
        assert_eq!(string_end(b"\"ends in \\", 0).0, 10);
    }

    #[test]
    fn members_and_elements_with_and_without_blanks() {
        for text in [
            r#"{"a":1,"b\"":[1,{"c":"}"}],"d":{"e":null},"f":"x\\"}"#,
            " {\n \"a\" : 1 ,\t\"b\\\"\":[1, {\"c\":\"}\"} ] ,\"d\":{ \"e\" : null }, \"f\" : \"x\\\\\" } ",
        ] {
            let got: Vec<(&str, bool, String)> = members(text, Skip::default())
                .map(|m| {
                    let value = m.value.replace([' ', '\n', '\t'], "");
                    (m.name, m.name_escaped, value)
                })
                .collect();
            assert_eq!(
                got,
                vec![
                    ("a", false, "1".to_owned()),
                    ("b\\\"", true, r#"[1,{"c":"}"}]"#.to_owned()),
                    ("d", false, r#"{"e":null}"#.to_owned()),
                    ("f", false, r#""x\\""#.to_owned()),
                ],
                "{text}"
            );
        }
        let got: Vec<&str> =
            elements(r#"[ 1 ,"a",[[]],{"x":[]},true , -2.5e3 ]"#, Skip::default()).collect();
        assert_eq!(
            got,
            vec!["1", "\"a\"", "[[]]", r#"{"x":[]}"#, "true", "-2.5e3"]
        );
        assert_eq!(elements("[]", Skip::default()).count(), 0);
        assert_eq!(elements(" [ ] ", Skip::default()).count(), 0);
        assert_eq!(members("{}", Skip::default()).count(), 0);
        assert_eq!(members(" { } ", Skip::default()).count(), 0);
        assert_eq!(members("[1]", Skip::default()).count(), 0);
        assert_eq!(elements("{}", Skip::default()).count(), 0);
    }
}
