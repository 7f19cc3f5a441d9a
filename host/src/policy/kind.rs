//! The three policies, how the host names them and the plugins behind them, and what a reload did.

use std::fmt;

/// Which policy a plugin implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyKind {
    /// Chooses a service's template.
    Matcher,
    /// Applies overrides to a template.
    Merger,
    /// Chooses a service's HTTP path.
    Router,
}

impl PolicyKind {
    /// Every kind, in a stable order.
    pub const ALL: [PolicyKind; 3] = [PolicyKind::Matcher, PolicyKind::Merger, PolicyKind::Router];

    /// The WIT interface name (`aim:policy/<name>`), also the plugin file stem (`<name>.wasm`).
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::Matcher => "matcher",
            PolicyKind::Merger => "merger",
            PolicyKind::Router => "router",
        }
    }

    /// The file a plugin directory holds for this kind.
    pub fn file_name(self) -> String {
        format!("{}.wasm", self.name())
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for PolicyKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PolicyKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown policy '{s}': expected matcher, merger or router"))
    }
}

/// Which plugin made a decision: recorded with every decision.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Provenance {
    /// `builtin` or the plugin file's name.
    pub plugin: String,
    /// `sha256:<hex>` of the component's bytes.
    pub digest: String,
}

impl Provenance {
    /// The digest shortened for messages: `sha256:` and 12 hex digits.
    pub fn short_digest(&self) -> &str {
        let end = self.digest.len().min("sha256:".len() + 12);
        &self.digest[..end]
    }
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.plugin, self.short_digest())
    }
}

/// What a reload did for one policy.
#[derive(Debug, Clone, PartialEq)]
pub enum ReloadEvent {
    /// A new plugin passed its checks and is now in use.
    Loaded {
        /// The policy.
        kind: PolicyKind,
        /// The plugin now in use.
        provenance: Provenance,
    },
    /// A file was refused; `keeping` stays in use.
    Refused {
        /// The policy.
        kind: PolicyKind,
        /// The refused file.
        file: String,
        /// Why, for the log and the Event.
        error: String,
        /// The plugin that stays.
        keeping: Provenance,
    },
    /// The policy's file disappeared; the built-in default is back.
    Reverted {
        /// The policy.
        kind: PolicyKind,
        /// The built-in plugin.
        provenance: Provenance,
    },
}
