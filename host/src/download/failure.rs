//! Why a download failed, as a kind the operator maps to a condition reason and a message that says what to do.
//! The downloader prints it as its last line (`{"result":"failed","kind":…,"message":…}`) and as its container's
//! termination message, which is where the operator reads it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The kinds of failure a person can act on differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailureKind {
    /// 401/403: no token, or one without access.
    Unauthorized,
    /// 404: no such model, revision, bucket or prefix (or nothing under it).
    NotFound,
    /// A file's bytes do not match the checksum the source publishes.
    ChecksumMismatch,
    /// Not enough room in the volume.
    DiskFull,
    /// No bytes arrived for the stall timeout.
    Stalled,
    /// The endpoint could not be reached.
    Unreachable,
    /// The source URI is malformed.
    InvalidSource,
    /// Anything else (the message says what).
    Other,
}

/// A failed download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// What kind.
    pub kind: FailureKind,
    /// What happened and what to do.
    pub message: String,
}

impl Failure {
    /// A failure of `kind`.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
        }
    }

    /// The failure for an HTTP status from `what` (a URL or object), with the credential that was (or was not)
    /// sent: `token` names the environment variable, `had_token` whether it was set.
    pub fn from_status(status: u16, what: &str, token: &str, had_token: bool) -> Self {
        match status {
            401 | 403 if had_token => Failure::new(
                FailureKind::Unauthorized,
                format!(
                    "{what} refused the credentials in {token} (HTTP {status}): the token has no access to it; put a \
                     token with access in the Secret that {token} comes from (spec.env of the ModelCache, template \
                     or service)"
                ),
            ),
            401 | 403 => Failure::new(
                FailureKind::Unauthorized,
                format!(
                    "{what} needs credentials (HTTP {status}) and {token} is not set: add {token} to spec.env from a \
                     Secret (for example valueFrom.secretKeyRef) of the ModelCache, template or service"
                ),
            ),
            404 => Failure::new(
                FailureKind::NotFound,
                format!("{what} does not exist (HTTP 404): check the source URI's name and revision"),
            ),
            _ => Failure::new(FailureKind::Other, format!("{what} answered HTTP {status}")),
        }
    }

    /// The failure for a TLS handshake that did not trust `endpoint`'s certificate, if `cause` (a transport
    /// error's text, with its sources) is one: the usual cause is a mirror behind a private CA.
    pub fn untrusted_certificate(endpoint: &str, cause: &str) -> Option<Self> {
        let lower = cause.to_ascii_lowercase();
        let tls = ["certificate", "unknownissuer", "unknown issuer", "invalid peer"];
        tls.iter().any(|t| lower.contains(t)).then(|| {
            Failure::new(
                FailureKind::Unreachable,
                format!(
                    "{endpoint} presented a TLS certificate this downloader does not trust ({cause}): if it is signed \
                     by a private CA, have the cluster admin start the operator with --downloader-ca-bundle naming \
                     a ConfigMap that holds that CA in the cache's namespace (or run `aim-operator download` with \
                     --extra-ca-file)"
                ),
            )
        })
    }

    /// The line the downloader prints last.
    pub fn to_line(&self) -> String {
        serde_json::json!({ "result": "failed", "kind": self.kind, "message": self.message }).to_string()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The downloader's last line, parsed: `Ok(bytes)` for success, `Err` for a failure; `None` when the text is
/// not such a line (another image's output: the operator shows it as it is).
pub fn parse_last_line(text: &str) -> Option<Result<u64, Failure>> {
    let line = text.trim().lines().last()?;
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    match value.get("result")?.as_str()? {
        "ok" => Some(Ok(value.get("bytes").and_then(serde_json::Value::as_u64).unwrap_or(0))),
        "failed" => Some(Err(serde_json::from_value(value).ok()?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_say_what_to_do_about_the_token() {
        let missing = Failure::from_status(401, "hf://org/m", "HF_TOKEN", false);
        assert_eq!(missing.kind, FailureKind::Unauthorized);
        assert!(missing.message.contains("HF_TOKEN is not set"), "{missing}");
        let wrong = Failure::from_status(403, "hf://org/m", "HF_TOKEN", true);
        assert!(wrong.message.contains("refused the credentials in HF_TOKEN"), "{wrong}");
        assert_eq!(
            Failure::from_status(404, "x", "HF_TOKEN", true).kind,
            FailureKind::NotFound
        );
    }

    #[test]
    fn the_last_line_round_trips() {
        let f = Failure::new(FailureKind::DiskFull, "no room");
        assert_eq!(parse_last_line(&format!("progress\n{}", f.to_line())), Some(Err(f)));
        assert_eq!(parse_last_line("{\"result\":\"ok\",\"bytes\":42}"), Some(Ok(42)));
        assert_eq!(parse_last_line("Traceback: boom"), None);
    }
}
