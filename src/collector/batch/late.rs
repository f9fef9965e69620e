//! Late events: those whose event-hour lies well before the newest hour of their batch so far.
//! Written with the batch, each would add an object to an old hour partition per batch; so a
//! batch stages them (one object outside `logs/`, `sink::staging_key`) and the last batch of
//! the run carries every staged event into its own hour objects: a run writes each late hour
//! once ([`crate::checkpoint::carried_count`]).
//!
//! A staging object is gzip text, one event a line: its event-hour (unix seconds), a tab, and
//! its line as `logs/` holds it. Which events are late depends only on the events before them
//! in the batch, so any prefix a redo reads stages the same ones.
use flate2::read::GzDecoder;
use std::io::{self, BufRead, BufReader};

/// An event whose hour is more than this before its batch's newest hour so far is late.
pub const LATE_AFTER_HOURS: i64 = 2;

/// Whether an event of `hour` is late in a batch whose newest event-hour so far is `newest`.
pub fn is_late(hour: i64, newest: i64) -> bool {
    hour < newest - LATE_AFTER_HOURS * 3600
}

/// A late event's staging line.
pub fn staging_line(hour: i64, line: &str) -> String {
    format!("{hour}\t{line}")
}

/// Every (hour, line) of a staging object, in order.
pub fn for_each_staged(
    body: &[u8],
    mut each: impl FnMut(i64, &str) -> io::Result<()>,
) -> io::Result<()> {
    let mut reader = BufReader::new(GzDecoder::new(body));
    let mut text = String::new();
    loop {
        text.clear();
        if reader.read_line(&mut text)? == 0 {
            return Ok(());
        }
        let line = text.strip_suffix('\n').unwrap_or(&text);
        let (hour, event) = line
            .split_once('\t')
            .and_then(|(hour, event)| Some((hour.parse::<i64>().ok()?, event)))
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a staging object's line does not start with its event-hour and a tab",
                )
            })?;
        each(hour, event)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn late_means_more_than_two_hours_before_the_newest() {
        let h = 3600;
        // (hour, newest, late)
        for (hour, newest, late) in [
            (10 * h, 10 * h, false),
            (8 * h, 10 * h, false),
            (7 * h, 10 * h, true),
            (-h, 5 * h, true),
        ] {
            assert_eq!(is_late(hour, newest), late, "{hour} against {newest}");
        }
    }

    #[test]
    fn staging_lines_read_back_as_written() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for (hour, line) in [(3600, r#"{"a":"x\ty"}"#), (-7200, "{}")] {
            writeln!(gz, "{}", staging_line(hour, line)).unwrap();
        }
        let body = gz.finish().unwrap();
        let mut got = Vec::new();
        for_each_staged(&body, |hour, line| {
            got.push((hour, line.to_string()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            got,
            vec![
                (3600, r#"{"a":"x\ty"}"#.to_string()),
                (-7200, "{}".to_string())
            ]
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        writeln!(gz, "not an hour").unwrap();
        let broken = gz.finish().unwrap();
        assert!(for_each_staged(&broken, |_, _| Ok(())).is_err());
    }
}
