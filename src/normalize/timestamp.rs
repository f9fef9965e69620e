//! RFC 3339 parsing and Panther timestamp formatting.
//!
//! Hand-written rather than chrono's `DateTime::parse_from_rfc3339` so that the accepted set is
//! exactly this one: 0 to 9 fractional digits (Atlassian mixes `…18Z`, `…19.008Z` and
//! `…11.117451Z` within one page, and more than nanosecond precision cannot be represented, so
//! it is refused instead of being silently truncated, as chrono would), `T` or `t` only (chrono
//! also takes a space), and UTC years up to 9999. It is also faster than chrono's parser
//! (benches/PER_EVENT.md). The values are chrono's.

use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc,
};

/// Why a string is not an accepted RFC 3339 timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("expected {expected} at byte {at}")]
    Syntax { expected: &'static str, at: usize },
    #[error("more than 9 fractional second digits")]
    TooManyFractionalDigits,
    #[error("{component} out of range")]
    OutOfRange { component: &'static str },
}

/// Parses an RFC 3339 timestamp with 0 to 9 fractional digits and `Z` or a numeric
/// offset; returns UTC.
///
/// Also accepted, as RFC 3339 allows: lowercase `t` and `z`, `-00:00`, and a leap
/// second `23:59:60` (UTC), which becomes `23:59:59.999999999`, as it always has (chrono could
/// represent it, as nanosecond ≥ 10⁹, but Panther's format has no place for it).
/// Refused, as before: a UTC time after year 9999.
pub fn parse_timestamp(s: &str) -> Result<DateTime<Utc>, TimestampError> {
    let mut c = Cursor {
        b: s.as_bytes(),
        pos: 0,
    };
    let year = c.digits(4, "4-digit year")?;
    c.expect(b"-", "'-'")?;
    let month = c.digits(2, "2-digit month")?;
    c.expect(b"-", "'-'")?;
    let day = c.digits(2, "2-digit day")?;
    c.expect(b"Tt", "'T'")?;
    let hour = c.digits(2, "2-digit hour")?;
    c.expect(b":", "':'")?;
    let minute = c.digits(2, "2-digit minute")?;
    c.expect(b":", "':'")?;
    let second = c.digits(2, "2-digit second")?;

    let mut nanos = 0u32;
    if c.peek() == Some(b'.') {
        c.pos += 1;
        let mut count = 0u32;
        while let Some(d) = c.peek().filter(u8::is_ascii_digit) {
            count += 1;
            if count > 9 {
                return Err(TimestampError::TooManyFractionalDigits);
            }
            nanos = nanos * 10 + u32::from(d - b'0');
            c.pos += 1;
        }
        if count == 0 {
            return Err(c.syntax("fractional digit"));
        }
        nanos *= 10u32.pow(9 - count);
    }

    let offset_seconds: i32 = match c.peek() {
        Some(b'Z' | b'z') => {
            c.pos += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            c.pos += 1;
            let oh = c.digits(2, "2-digit offset hour")?;
            c.expect(b":", "':'")?;
            let om = c.digits(2, "2-digit offset minute")?;
            if oh > 23 {
                return Err(TimestampError::OutOfRange {
                    component: "offset hour",
                });
            }
            if om > 59 {
                return Err(TimestampError::OutOfRange {
                    component: "offset minute",
                });
            }
            // Values are at most 23 and 59, so the casts are lossless.
            let secs = (oh * 3600 + om * 60) as i32;
            if sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return Err(c.syntax("'Z' or a numeric offset")),
    };
    if c.pos != c.b.len() {
        return Err(c.syntax("end of timestamp"));
    }

    let leap = second == 60;
    let (second, nanos) = if leap {
        (59, 999_999_999)
    } else {
        (second, nanos)
    };

    let range = |component| TimestampError::OutOfRange { component };
    // `digits` yields at most 9999, so the year cast is lossless. Components are checked in
    // this order (month, day, hour, minute, second) so each error names the first bad one.
    let year = year as i32;
    if !(1..=12).contains(&month) {
        return Err(range("month"));
    }
    let date = NaiveDate::from_ymd_opt(year, month, day).ok_or(range("day"))?;
    if hour > 23 {
        return Err(range("hour"));
    }
    if minute > 59 {
        return Err(range("minute"));
    }
    if second > 59 {
        return Err(range("second"));
    }
    let time =
        NaiveTime::from_hms_nano_opt(hour, minute, second, nanos).ok_or(range("nanosecond"))?;
    let local = NaiveDateTime::new(date, time);
    let utc = if offset_seconds == 0 {
        local
    } else {
        // |offset| ≤ 23:59, within what `FixedOffset` takes.
        let offset = FixedOffset::east_opt(offset_seconds).ok_or(range("offset"))?;
        local.checked_sub_offset(offset).ok_or(range("year"))?
    };
    if utc.year() > 9999 {
        return Err(range("year"));
    }
    if leap && (utc.hour(), utc.minute()) != (23, 59) {
        return Err(range("second"));
    }
    Ok(utc.and_utc())
}

/// Formats as Panther/Glue `YYYY-MM-DD HH:MM:SS.fffffffff` (always 9 fractional
/// digits), in UTC.
pub fn format_panther_timestamp<Tz: TimeZone>(t: DateTime<Tz>) -> String {
    let mut out = String::with_capacity(29);
    push_panther_timestamp(&mut out, t);
    out
}

/// [`format_panther_timestamp`], appended to `out`.
pub(super) fn push_panther_timestamp<Tz: TimeZone>(out: &mut String, t: DateTime<Tz>) {
    let t = t.naive_utc();
    // A chrono leap second (nanosecond ≥ 10⁹; `parse_timestamp` never makes one) is written as
    // the last instant of its second, as `parse_timestamp` reads one.
    let nanos = t.nanosecond().min(999_999_999);
    let year = t.year();
    if !(0..=9999).contains(&year) {
        out.push_str(&format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:09}",
            year,
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            nanos
        ));
        return;
    }
    // Digits written directly: `format!` cost as much as the rest of the `p_*` fields.
    let mut buf = *b"0000-00-00 00:00:00.000000000";
    let mut put = |end: usize, width: usize, mut v: u32| {
        for i in (end - width..end).rev() {
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(4, 4, year as u32);
    put(7, 2, t.month());
    put(10, 2, t.day());
    put(13, 2, t.hour());
    put(16, 2, t.minute());
    put(19, 2, t.second());
    put(29, 9, nanos);
    out.push_str(std::str::from_utf8(&buf).expect("ASCII digits"));
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn syntax(&self, expected: &'static str) -> TimestampError {
        TimestampError::Syntax {
            expected,
            at: self.pos,
        }
    }

    /// Reads exactly `n` ASCII digits (n ≤ 4).
    fn digits(&mut self, n: usize, what: &'static str) -> Result<u32, TimestampError> {
        let mut v = 0u32;
        for _ in 0..n {
            match self.peek() {
                Some(d) if d.is_ascii_digit() => {
                    v = v * 10 + u32::from(d - b'0');
                    self.pos += 1;
                }
                _ => return Err(self.syntax(what)),
            }
        }
        Ok(v)
    }

    fn expect(&mut self, one_of: &[u8], what: &'static str) -> Result<(), TimestampError> {
        match self.peek() {
            Some(b) if one_of.contains(&b) => {
                self.pos += 1;
                Ok(())
            }
            _ => Err(self.syntax(what)),
        }
    }
}
