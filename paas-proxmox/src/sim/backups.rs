//! Backup archives on the nodes' storages, their names and PVE's retention (`prune-backups`)
//! rules (pve-storage Storage.pm `archive_info`, `prune_mark_backup_group`; pve-manager
//! VZDump.pm `$generate_notes`; pinned 6f49432acc6d and 5829c814947b).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde_json::{Value, json};

use super::types::GuestKind;

/// One `vzdump` archive on a node's storage.
#[derive(Debug, Clone)]
pub(crate) struct BackupVolume {
    pub node: String,
    pub storage: String,
    /// `local:backup/vzdump-lxc-100-2025_01_30-14_05_12.tar.zst`.
    pub volid: String,
    pub vmid: u32,
    pub kind: GuestKind,
    /// Creation time (epoch seconds), the one the file name encodes.
    pub ctime: i64,
    pub size: u64,
    /// `tar.zst`, `vma.zst`, `tar`, ... (`$BACKUP_EXT_RE_2`'s first group).
    pub format: String,
    pub notes: Option<String>,
    pub protected: bool,
    /// The guest's config map when it was backed up (what `pct.conf` / `qemu-server.conf`
    /// inside the archive holds), without `lock` and snapshot sections.
    pub config: BTreeMap<String, String>,
}

impl BackupVolume {
    /// The entry `GET .../storage/{storage}/content` lists.
    pub fn content_json(&self) -> Value {
        let mut v = json!({
            "volid": self.volid,
            "content": "backup",
            "format": self.format,
            "size": self.size,
            "ctime": self.ctime,
            "vmid": self.vmid,
            "subtype": self.kind.as_str(),
        });
        if let Some(n) = &self.notes {
            v["notes"] = json!(n);
        }
        if self.protected {
            v["protected"] = json!(1);
        }
        v
    }
}

/// The compression of `compress=` and its file extension (`compressor_info`).
pub(crate) fn compression_ext(compress: Option<&str>) -> Option<&'static str> {
    match compress {
        None | Some("0") => None,
        Some("1") | Some("lzo") => Some("lzo"),
        Some("gzip") => Some("gz"),
        Some(_) => Some("zst"),
    }
}

/// `vzdump-<type>-<vmid>-<YYYY_MM_DD-HH_MM_SS>.<tar|vma>[.<ext>]` and its format string.
/// The simulator's host runs in UTC.
pub(crate) fn archive_name(
    kind: GuestKind,
    vmid: u32,
    ctime: i64,
    ext: Option<&str>,
) -> (String, String) {
    let t = DateTime::<Utc>::from_timestamp(ctime, 0).unwrap_or_default();
    let base = match kind {
        GuestKind::Lxc => "tar",
        GuestKind::Qemu => "vma",
    };
    let format = match ext {
        Some(e) => format!("{base}.{e}"),
        None => base.to_string(),
    };
    let name = format!(
        "vzdump-{}-{vmid}-{}.{format}",
        kind.as_str(),
        t.format("%Y_%m_%d-%H_%M_%S")
    );
    (name, format)
}

/// Parses a `prune-backups` property string as PVE does (the `prune-backups` format and
/// `validate_prune_backups`): keep options with a count; all zero or `keep-all=1` means
/// "keep all" (an empty map).
pub(crate) fn parse_prune(value: &str) -> Result<BTreeMap<String, u64>, String> {
    const KEYS: [&str; 7] = [
        "keep-all",
        "keep-last",
        "keep-hourly",
        "keep-daily",
        "keep-weekly",
        "keep-monthly",
        "keep-yearly",
    ];
    let mut out = BTreeMap::new();
    let mut keep_all = false;
    let mut errors = Vec::new();
    for part in value.split(',').filter(|p| !p.trim().is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(
                "value without key, but schema does not define a default key\n".to_string(),
            );
        };
        if !KEYS.contains(&k) {
            return Err(format!(
                "invalid key in comma-separated list property: {k}\n"
            ));
        }
        if out.contains_key(k) || (k == "keep-all" && keep_all) {
            return Err(format!(
                "duplicate key in comma-separated list property: {k}\n"
            ));
        }
        if k == "keep-all" {
            match v.to_ascii_lowercase().as_str() {
                "1" | "on" | "yes" | "true" => keep_all = true,
                "0" | "off" | "no" | "false" => {}
                _ => errors.push(format!(
                    "prune-backups.{k}: type check ('boolean') failed - got '{v}'"
                )),
            }
            continue;
        }
        match v.parse::<u64>() {
            Ok(n) => {
                out.insert(k.to_string(), n);
            }
            Err(_) if v.parse::<i64>().is_ok() => errors.push(format!(
                "prune-backups.{k}: value must have a minimum value of 0"
            )),
            Err(_) => errors.push(format!(
                "prune-backups.{k}: type check ('integer') failed - got '{v}'"
            )),
        }
    }
    if !errors.is_empty() {
        return Err(format!("format error\n{}\n", errors.join("\n")));
    }
    out.retain(|_, n| *n > 0);
    if out.is_empty() {
        return Ok(out);
    }
    if keep_all {
        return Err("keep-all cannot be set together with other options.\n".to_string());
    }
    Ok(out)
}

/// What pruning does to one backup (`mark`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    Keep,
    Remove,
    Protected,
}

impl Mark {
    /// `keep`, `remove`, `protected`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mark::Keep => "keep",
            Mark::Remove => "remove",
            Mark::Protected => "protected",
        }
    }
}

/// Marks one backup group (one guest's backups) as `prune_mark_backup_group` does:
/// `entries` are (ctime, protected); the result is in the same order.
pub(crate) fn mark_group(entries: &[(i64, bool)], keep: &BTreeMap<String, u64>) -> Vec<Mark> {
    let mut marks: Vec<Option<Mark>> = entries
        .iter()
        .map(|(_, p)| p.then_some(Mark::Protected))
        .collect();
    if keep.is_empty() {
        return marks.into_iter().map(|m| m.unwrap_or(Mark::Keep)).collect();
    }
    // Newest first.
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by(|a, b| entries[*b].0.cmp(&entries[*a].0));
    let t = |c: i64| DateTime::<Utc>::from_timestamp(c, 0).unwrap_or_default();
    type IdFn = fn(DateTime<Utc>, i64) -> String;
    let rules: [(&str, IdFn); 6] = [
        ("keep-last", |_, c| c.to_string()),
        ("keep-hourly", |d, _| {
            format!("{}/{}/{}/{}", d.hour(), d.day(), d.month(), d.year())
        }),
        ("keep-daily", |d, _| {
            format!("{}/{}/{}", d.day(), d.month(), d.year())
        }),
        ("keep-weekly", |d, _| {
            let w = d.iso_week();
            format!("{}/{}", w.week(), w.year())
        }),
        ("keep-monthly", |d, _| format!("{}/{}", d.month(), d.year())),
        ("keep-yearly", |d, _| d.year().to_string()),
    ];
    for (key, id) in rules {
        let Some(&count) = keep.get(key) else {
            continue;
        };
        // `$prune_mark`: periods already covered by a kept backup count as included.
        let mut already: BTreeSet<String> = BTreeSet::new();
        for &i in &order {
            if marks[i] == Some(Mark::Keep) {
                already.insert(id(t(entries[i].0), entries[i].0));
            }
        }
        let mut newly: BTreeSet<String> = BTreeSet::new();
        for &i in &order {
            let pid = id(t(entries[i].0), entries[i].0);
            if marks[i].is_some() || already.contains(&pid) {
                continue;
            }
            if !newly.contains(&pid) {
                if newly.len() as u64 >= count {
                    break;
                }
                newly.insert(pid);
                marks[i] = Some(Mark::Keep);
            } else {
                marks[i] = Some(Mark::Remove);
            }
        }
    }
    marks
        .into_iter()
        .map(|m| m.unwrap_or(Mark::Remove))
        .collect()
}

/// `$verify_notes_template` (PM VZDump.pm:99-118): `Err` is the text PVE reports.
pub(crate) fn verify_notes_template(tmpl: &str) -> Result<(), String> {
    if tmpl.contains('\n') {
        return Err("contains a line feed\n".to_string());
    }
    let mut problems = Vec::new();
    let chars: Vec<char> = tmpl.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\' && i + 1 < chars.len() {
            if chars[i + 1] != 'n' && chars[i + 1] != '\\' {
                problems.push(format!("escape sequence '\\{}' at char {i}", chars[i + 1]));
            }
            i += 2;
            continue;
        }
        i += 1;
    }
    let mut rest = tmpl;
    let mut offset = 0;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let var = &after[..end];
                if !var.is_empty()
                    && !var.contains(|c: char| c.is_whitespace() || c == '{' || c == '}')
                    && !["cluster", "guestname", "node", "vmid"].contains(&var)
                {
                    problems.push(format!("variable '{var}' at char {}", offset + start + 2));
                }
                offset += start + 2 + end + 2;
                rest = &after[end + 2..];
            }
            None => break,
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("found unknown: {}\n", problems.join(", ")))
    }
}

/// `$generate_notes`: the template with `\n`, `\\` and `{{var}}` replaced.
pub(crate) fn generate_notes(tmpl: &str, vars: &[(&str, String)]) -> String {
    let mut out = String::new();
    let mut chars = tmpl.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    for (k, v) in vars {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_formats() {
        // 2025-01-30 14:05:12 UTC
        let (name, format) = archive_name(GuestKind::Lxc, 100, 1_738_245_912, Some("zst"));
        assert_eq!(name, "vzdump-lxc-100-2025_01_30-14_05_12.tar.zst");
        assert_eq!(format, "tar.zst");
        let (name, _) = archive_name(GuestKind::Qemu, 101, 1_738_245_912, None);
        assert_eq!(name, "vzdump-qemu-101-2025_01_30-14_05_12.vma");
    }

    #[test]
    fn prune_options_parse_like_pve() {
        assert!(parse_prune("keep-all=1").unwrap().is_empty());
        assert!(parse_prune("keep-last=0").unwrap().is_empty());
        assert_eq!(parse_prune("keep-last=2,keep-daily=1").unwrap().len(), 2);
        assert_eq!(
            parse_prune("keep-all=1,keep-last=2").unwrap_err(),
            "keep-all cannot be set together with other options.\n"
        );
        assert_eq!(
            parse_prune("keep-last=x").unwrap_err(),
            "format error\nprune-backups.keep-last: type check ('integer') failed - got 'x'\n"
        );
        assert_eq!(
            parse_prune("keep-forever=1").unwrap_err(),
            "invalid key in comma-separated list property: keep-forever\n"
        );
    }

    #[test]
    fn keep_last_and_daily() {
        let day = 86_400;
        let base = 1_738_245_912;
        // Three backups today (newest last), one yesterday, one protected two days ago.
        let e = [
            (base - 2 * day, true),
            (base - day, false),
            (base, false),
            (base + 60, false),
            (base + 120, false),
        ];
        let keep: BTreeMap<String, u64> = [("keep-last".to_string(), 2)].into();
        let m: Vec<&str> = mark_group(&e, &keep).iter().map(|m| m.as_str()).collect();
        assert_eq!(m, ["protected", "remove", "remove", "keep", "keep"]);
        let keep: BTreeMap<String, u64> = [("keep-daily".to_string(), 2)].into();
        let m: Vec<&str> = mark_group(&e, &keep).iter().map(|m| m.as_str()).collect();
        assert_eq!(m, ["protected", "keep", "remove", "remove", "keep"]);
        // keep-last=1 + keep-daily=2: today's newest counts for today, then yesterday.
        let keep: BTreeMap<String, u64> =
            [("keep-last".to_string(), 1), ("keep-daily".to_string(), 2)].into();
        let m: Vec<&str> = mark_group(&e, &keep).iter().map(|m| m.as_str()).collect();
        assert_eq!(m, ["protected", "keep", "remove", "remove", "keep"]);
        assert!(
            mark_group(&e, &BTreeMap::new())
                .iter()
                .all(|m| *m != Mark::Remove)
        );
    }

    #[test]
    fn notes() {
        assert!(verify_notes_template("{{guestname}} on {{node}}\\n{{vmid}}").is_ok());
        assert_eq!(
            verify_notes_template("{{nope}}").unwrap_err(),
            "found unknown: variable 'nope' at char 2\n"
        );
        assert_eq!(
            generate_notes(
                "{{guestname}}\\n{{vmid}}",
                &[("guestname", "web".into()), ("vmid", "100".into())]
            ),
            "web\n100"
        );
    }
}
