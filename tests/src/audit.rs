//! Counting the operator's requests from the API server's audit log (which logs the operator's ServiceAccount
//! and nobody else): by verb, between two offsets of the log, with conflicts (409) counted on their own.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Requests in a window of the audit log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Requests {
    /// Requests by verb (`get`, `list`, `watch`, `create`, `patch`, ...).
    pub by_verb: BTreeMap<String, u64>,
    /// Writes by resource (`aimservices/status`, `events`, ...).
    pub writes_by_resource: BTreeMap<String, u64>,
    /// Answers with status 409 (Conflict or AlreadyExists).
    pub conflicts: u64,
}

const READS: [&str; 2] = ["get", "list"];
const WRITES: [&str; 6] = ["create", "update", "patch", "delete", "deletecollection", "apply"];

impl Requests {
    /// GETs and LISTs.
    pub fn reads(&self) -> u64 {
        READS.iter().map(|v| self.by_verb.get(*v).copied().unwrap_or(0)).sum()
    }

    /// Creates, updates, patches and deletes (Events included).
    pub fn writes(&self) -> u64 {
        WRITES.iter().map(|v| self.by_verb.get(*v).copied().unwrap_or(0)).sum()
    }

    /// Watches started.
    pub fn watches(&self) -> u64 {
        self.by_verb.get("watch").copied().unwrap_or(0)
    }
}

/// The log's size now: the start of a window.
pub fn offset(log: &Path) -> u64 {
    std::fs::metadata(log).map(|m| m.len()).unwrap_or(0)
}

/// The requests logged between `from` and `to` (byte offsets). A request counts once: when it completed, or
/// for a watch when it started.
pub fn count(log: &Path, from: u64, to: u64) -> Requests {
    count_where(log, from, to, None)
}

/// [`count`], of the requests on objects in `namespace` only (the cluster is shared: a test counting its own
/// writes must not count the operator finishing another test's objects).
pub fn count_in(log: &Path, from: u64, to: u64, namespace: &str) -> Requests {
    count_where(log, from, to, Some(namespace))
}

fn count_where(log: &Path, from: u64, to: u64, namespace: Option<&str>) -> Requests {
    let bytes = std::fs::read(log).unwrap_or_default();
    let (from, to) = (from as usize, (to as usize).min(bytes.len()));
    let mut requests = Requests::default();
    for line in bytes.get(from..to).unwrap_or_default().split(|b| *b == b'\n') {
        let Ok(entry) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        let verb = entry["verb"].as_str().unwrap_or_default().to_string();
        let stage = entry["stage"].as_str().unwrap_or_default();
        let counted = if verb == "watch" {
            stage == "ResponseStarted"
        } else {
            stage == "ResponseComplete"
        };
        let elsewhere = namespace.is_some_and(|ns| entry["objectRef"]["namespace"].as_str() != Some(ns));
        if !counted || elsewhere {
            continue;
        }
        if entry["responseStatus"]["code"].as_u64() == Some(409) {
            requests.conflicts += 1;
        }
        if WRITES.contains(&verb.as_str()) {
            let resource = entry["objectRef"]["resource"].as_str().unwrap_or_default();
            let resource = match entry["objectRef"]["subresource"].as_str() {
                Some(sub) => format!("{resource}/{sub}"),
                None => resource.to_string(),
            };
            *requests.writes_by_resource.entry(resource).or_default() += 1;
        }
        *requests.by_verb.entry(verb).or_default() += 1;
    }
    requests
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_count_once_by_verb_with_conflicts() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        let lines = [
            r#"{"verb":"watch","stage":"ResponseStarted","objectRef":{"resource":"aimservices"},"responseStatus":{"code":200}}"#,
            r#"{"verb":"watch","stage":"ResponseComplete","objectRef":{"resource":"aimservices"},"responseStatus":{"code":200}}"#,
            r#"{"verb":"patch","stage":"ResponseComplete","objectRef":{"resource":"aimservices","subresource":"status"},"responseStatus":{"code":200}}"#,
            r#"{"verb":"patch","stage":"ResponseComplete","objectRef":{"resource":"aimtemplatecaches"},"responseStatus":{"code":409}}"#,
            r#"{"verb":"get","stage":"ResponseComplete","objectRef":{"resource":"nodes"},"responseStatus":{"code":200}}"#,
        ];
        std::fs::write(&log, lines.join("\n")).unwrap();
        let r = count(&log, 0, offset(&log));
        assert_eq!((r.watches(), r.reads(), r.writes(), r.conflicts), (1, 1, 2, 1));
        assert_eq!(r.writes_by_resource["aimservices/status"], 1);
        let none = count_in(&log, 0, offset(&log), "team");
        assert_eq!(none.writes(), 0, "no entry names namespace team");
    }
}
