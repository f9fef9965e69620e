//! Where the OCSF copy goes, and how it reads the archive's keys. Every key is derived from the
//! archive batches it comes from (generation, a range of sequences) and the record's class and
//! event day, never from the clock: deriving the same batches again writes the very same keys.
use crate::ocsf::class::OcsfClass;
use crate::sink::{generation_tag, TABLE};
use chrono::DateTime;
use std::collections::BTreeMap;
use std::ops::Range;

/// Where the archive's event objects are, relative to the archive's root.
pub fn logs_prefix() -> String {
    format!("logs/{TABLE}/")
}

/// Security Lake's partition values: the AWS Region the objects are uploaded to and the account
/// they pertain to (`external` outside AWS, as its guidance has it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub region: String,
    pub account_id: String,
}

/// Each class's folder in the lake: `ext/<source name>/`, unless Security Lake placed its custom
/// source elsewhere under that folder (a version folder, `ext/<source name>/1.0/`: the stack
/// passes the locations it answered, OCSF_SOURCE_LOCATIONS).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceFolders(BTreeMap<OcsfClass, String>);

impl SourceFolders {
    /// `folder` must start with `ext/<source name>/` and end with `/` (checked by the caller).
    pub fn with(mut self, class: OcsfClass, folder: String) -> Self {
        self.0.insert(class, folder);
        self
    }

    pub fn folder(&self, class: OcsfClass) -> String {
        self.0
            .get(&class)
            .cloned()
            .unwrap_or_else(|| default_folder(class))
    }
}

/// `ext/<source name>/`: Security Lake's documented custom-source prefix.
pub fn default_folder(class: OcsfClass) -> String {
    format!("ext/{}/", class.source_name())
}

/// The archive batches one derivation covers, as its objects' names end: `<gen>-<first>` for one
/// batch (the names of the copy's first version, one object per batch), `<gen>-<first>-<last>`
/// for several.
pub fn group_stem(generation: &str, batches: &Range<u64>) -> String {
    let tag = generation_tag(generation);
    let first = batches.start;
    match batches.end.saturating_sub(1) {
        last if last <= first => format!("{tag}-{first:010}"),
        last => format!("{tag}-{first:010}-{last:010}"),
    }
}

/// A file name's generation tag and batches ([`group_stem`] read back); `None` for another name.
pub fn parse_group_stem(name: &str) -> Option<(String, Range<u64>)> {
    let stem = name.split('.').next()?;
    let mut parts = stem.split('-');
    let tag = parts.next()?;
    let number = |s: Option<&str>| s.filter(|s| s.len() == 10)?.parse::<u64>().ok();
    let first = number(parts.next())?;
    let last = match parts.next() {
        None => first,
        some => number(some).filter(|last| *last > first)?,
    };
    if parts.next().is_some() || tag.is_empty() {
        return None;
    }
    Some((tag.to_string(), first..last + 1))
}

/// `<folder>region=<r>/accountId=<a>/eventDay=<YYYYMMDD>/<group stem>.zstd.parquet` (the folder
/// `ext/<source name>/` by default): one class's records of one event day, from the archive
/// `batches` of `generation`.
pub fn lake_key(
    class: OcsfClass,
    folders: &SourceFolders,
    partition: &Partition,
    event_day: &str,
    generation: &str,
    batches: &Range<u64>,
) -> String {
    format!(
        "{}region={}/accountId={}/eventDay={event_day}/{}.zstd.parquet",
        folders.folder(class),
        partition.region,
        partition.account_id,
        group_stem(generation, batches)
    )
}

/// The event day (`YYYYMMDD`, UTC) of a record's time.
pub fn event_day(time_ms: i64) -> String {
    DateTime::from_timestamp_millis(time_ms)
        .unwrap_or(DateTime::UNIX_EPOCH)
        .format("%Y%m%d")
        .to_string()
}

/// `ocsf-quarantine/atlassian_audit/`: the lines that could not be mapped.
pub fn quarantine_prefix() -> String {
    format!("ocsf-quarantine/{TABLE}/")
}

/// `ocsf-quarantine/atlassian_audit/<group stem>.json.gz`: the lines of the archive `batches`
/// that could not be mapped, with the reason.
pub fn quarantine_key(generation: &str, batches: &Range<u64>) -> String {
    format!(
        "{}{}.json.gz",
        quarantine_prefix(),
        group_stem(generation, batches)
    )
}

/// `ocsf-state/atlassian_audit/<gen>.json`: how far the batches of one generation are derived.
pub fn ledger_key(generation: &str) -> String {
    format!("ocsf-state/{TABLE}/{}.json", generation_tag(generation))
}

/// An archive object's place: its batch and event hour, read back from its key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ArchiveObject {
    /// `YYYYMMDDTHH`: sorts as time does.
    pub hour: String,
    pub generation_tag: String,
    pub sequence: u64,
    pub key: String,
}

/// Reads `logs/atlassian_audit/…/YYYYMMDDTHH0000Z-<gen>-<seq>.json.gz`; `None` for anything else.
pub fn parse_logs_key(key: &str) -> Option<ArchiveObject> {
    let name = key.strip_prefix(&logs_prefix())?.rsplit('/').next()?;
    let stem = name.strip_suffix(".json.gz")?;
    let mut parts = stem.splitn(3, '-');
    let (stamp, generation, sequence) = (parts.next()?, parts.next()?, parts.next()?);
    let hour = stamp.strip_suffix("0000Z")?;
    if hour.len() != 11 || sequence.len() != 10 {
        return None;
    }
    Some(ArchiveObject {
        hour: hour.to_string(),
        generation_tag: generation.to_string(),
        sequence: sequence.parse().ok()?,
        key: key.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::logs_key;

    fn partition() -> Partition {
        Partition {
            region: "eu-west-1".into(),
            account_id: "123456789012".into(),
        }
    }

    #[test]
    fn lake_keys_follow_security_lakes_layout() {
        let default = SourceFolders::default();
        let key = |folders: &SourceFolders, class| {
            lake_key(
                class,
                folders,
                &partition(),
                "20260301",
                "3f2a9c1b-77aa-4d00",
                &(7..8),
            )
        };
        assert_eq!(
            key(&default, OcsfClass::Authentication),
            "ext/atlassian_auth/region=eu-west-1/accountId=123456789012/eventDay=20260301/3f2a9c1b77aa-0000000007.zstd.parquet"
        );
        // A version folder Security Lake gave one source; the others keep theirs.
        let versioned = default.with(OcsfClass::Authentication, "ext/atlassian_auth/1.0/".into());
        assert_eq!(
            key(&versioned, OcsfClass::Authentication),
            "ext/atlassian_auth/1.0/region=eu-west-1/accountId=123456789012/eventDay=20260301/3f2a9c1b77aa-0000000007.zstd.parquet"
        );
        assert!(
            key(&versioned, OcsfClass::GroupManagement).starts_with("ext/atlassian_group/region=")
        );
        assert_eq!(event_day(1_772_359_200_500), "20260301");
        assert_eq!(event_day(-1), "19691231");
    }

    /// One batch keeps the copy's first names; several name their first and last; both read back,
    /// and nothing else does.
    #[test]
    fn group_stems_name_their_batches_and_read_back() {
        let generation = "3f2a9c1b-77aa-4d00";
        assert_eq!(group_stem(generation, &(7..8)), "3f2a9c1b77aa-0000000007");
        assert_eq!(
            group_stem(generation, &(7..12)),
            "3f2a9c1b77aa-0000000007-0000000011"
        );
        for batches in [7..8, 7..12, 0..1] {
            let name = format!("{}.zstd.parquet", group_stem(generation, &batches));
            assert_eq!(
                parse_group_stem(&name),
                Some(("3f2a9c1b77aa".to_string(), batches))
            );
        }
        assert_eq!(
            parse_group_stem(
                &quarantine_key(generation, &(3..5)).replace(&quarantine_prefix(), "")
            ),
            Some(("3f2a9c1b77aa".to_string(), 3..5))
        );
        for other in [
            "x.zstd.parquet",
            "3f2a9c1b77aa-7.zstd.parquet",
            "3f2a9c1b77aa-0000000007-0000000007.zstd.parquet",
            "3f2a9c1b77aa-0000000009-0000000007.zstd.parquet",
            "3f2a9c1b77aa-0000000007-0000000009-0000000010.zstd.parquet",
            "-0000000007.zstd.parquet",
        ] {
            assert_eq!(parse_group_stem(other), None, "{other}");
        }
    }

    #[test]
    fn archive_keys_read_back() {
        let key = logs_key(1_617_429_600, "3f2a9c1b-77aa-4d00-9e11", 42);
        let parsed = parse_logs_key(&key).expect("an archive key");
        assert_eq!(parsed.hour, "20210403T06");
        assert_eq!(parsed.generation_tag, "3f2a9c1b77aa");
        assert_eq!(parsed.sequence, 42);
        for other in [
            "alerts/atlassian_audit/year=2021/month=04/day=03/hour=06/20210403T060000Z-g-0000000042.json.gz",
            "logs/atlassian_audit/year=2021/month=04/day=03/hour=06/notes.txt",
            "logs/atlassian_audit/year=2021/month=04/day=03/hour=06/20210403T060000Z-g-42.json.gz",
        ] {
            assert_eq!(parse_logs_key(other), None, "{other}");
        }
    }

    #[test]
    fn state_keys_carry_the_generation_tag() {
        assert_eq!(ledger_key("ab-cd"), "ocsf-state/atlassian_audit/abcd.json");
        assert_eq!(
            quarantine_key("ab-cd", &(3..4)),
            "ocsf-quarantine/atlassian_audit/abcd-0000000003.json.gz"
        );
    }
}
