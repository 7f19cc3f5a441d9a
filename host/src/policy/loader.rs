//! Turns component bytes into a [`LoadedPlugin`], or refuses them with a [`LoadError`] that says why.
//!
//! The pipeline, cheapest check first: size; WebAssembly component header; compile (through the artifact
//! cache); the contract version of its exports; its imports against the allowlist; type-check against the
//! host's bindings (`InstancePre`, built once and reused for every call); a smoke test on a golden input whose
//! answer must pass the same checks as any decision.

use super::artifact_cache::{ArtifactCache, digest};
use super::bindings::{CONTRACT_PACKAGE, CONTRACT_VERSION, matcher, merger, router};
use super::call;
use super::error::LoadError;
use super::kind::{PolicyKind, Provenance};
use super::limits::SandboxLimits;
use super::plugin::{LoadedPlugin, Pre};
use super::policies::{Matcher, Merger, Policy, Router};
use super::sandbox::HostState;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

/// Imports a plugin may have. Rust's std pulls in these WASI interfaces even for pure code; the sandbox
/// gives them nothing to reach (no preopens, no environment, frozen clocks, seeded randomness).
const ALLOWED_IMPORT_PREFIXES: [&str; 6] = [
    "aim:policy/types@0.1.",
    "wasi:io/",
    "wasi:cli/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:filesystem/",
];

/// Loads components for one engine.
pub struct Loader {
    engine: Engine,
    linker: Linker<HostState>,
    cache: ArtifactCache,
    limits: SandboxLimits,
}

impl Loader {
    /// A loader whose linker offers exactly the WASI interfaces of the sandbox.
    pub fn new(engine: Engine, cache: ArtifactCache, limits: SandboxLimits) -> wasmtime::Result<Self> {
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        Ok(Loader {
            engine,
            linker,
            cache,
            limits,
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The limits calls and loads run under.
    pub fn limits(&self) -> &SandboxLimits {
        &self.limits
    }

    /// Loads `bytes` as the `expected` policy, or as whichever policy it exports when `expected` is `None`.
    pub fn load(&self, bytes: &[u8], name: &str, expected: Option<PolicyKind>) -> Result<LoadedPlugin, LoadError> {
        check_header(bytes, self.limits.component_bytes)?;
        let component = self
            .cache
            .component(&self.engine, bytes)
            .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        let ty = component.component_type();
        let exports: Vec<String> = ty.exports(&self.engine).map(|(n, _)| n.to_string()).collect();
        let imports: Vec<String> = ty.imports(&self.engine).map(|(n, _)| n.to_string()).collect();
        let (kind, contract) = contract_of(&exports, expected)?;
        if let Some(import) = imports
            .iter()
            .find(|i| !ALLOWED_IMPORT_PREFIXES.iter().any(|p| i.starts_with(p)))
        {
            return Err(LoadError::ForbiddenImport { import: import.clone() });
        }
        let plugin = LoadedPlugin {
            kind,
            provenance: Provenance {
                plugin: name.to_string(),
                digest: digest(bytes),
            },
            contract,
            imports,
            pre: self.pre(kind, &component)?,
        };
        self.smoke_test(&plugin)
            .map_err(|e| LoadError::SmokeTest(Box::new(e)))?;
        Ok(plugin)
    }

    fn pre(&self, kind: PolicyKind, component: &Component) -> Result<Pre, LoadError> {
        let mismatch = |e: wasmtime::Error| LoadError::Mismatch {
            supported: CONTRACT_VERSION,
            detail: format!("{e:#}"),
        };
        let instance_pre = self.linker.instantiate_pre(component).map_err(mismatch)?;
        Ok(match kind {
            PolicyKind::Matcher => Pre::Matcher(matcher::MatcherPolicyPre::new(instance_pre).map_err(mismatch)?),
            PolicyKind::Merger => Pre::Merger(merger::MergerPolicyPre::new(instance_pre).map_err(mismatch)?),
            PolicyKind::Router => Pre::Router(router::RouterPolicyPre::new(instance_pre).map_err(mismatch)?),
        })
    }

    /// One decision on a golden input; the answer must pass the usual checks.
    fn smoke_test(&self, plugin: &LoadedPlugin) -> Result<(), super::error::CallError> {
        match plugin.kind {
            PolicyKind::Matcher => self.smoke::<Matcher>(plugin),
            PolicyKind::Merger => self.smoke::<Merger>(plugin),
            PolicyKind::Router => self.smoke::<Router>(plugin),
        }
    }

    fn smoke<P: Policy>(&self, plugin: &LoadedPlugin) -> Result<(), super::error::CallError> {
        call::call::<P>(&self.engine, plugin, &self.limits, &P::golden()).map(drop)
    }
}

fn check_header(bytes: &[u8], limit: usize) -> Result<(), LoadError> {
    if bytes.is_empty() {
        return Err(LoadError::Empty);
    }
    if bytes.len() > limit {
        return Err(LoadError::TooLarge {
            bytes: bytes.len(),
            limit,
        });
    }
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(LoadError::NotWasm);
    }
    // Bytes 4..8: version 1 and layer 0 for a core module; the component layer is 1.
    if bytes[6..8] == [0, 0] {
        return Err(LoadError::CoreModule);
    }
    Ok(())
}

/// Finds the `aim:policy/<kind>@<version>` export and checks the version is one this host speaks (0.1.x).
fn contract_of(exports: &[String], expected: Option<PolicyKind>) -> Result<(PolicyKind, String), LoadError> {
    let policy_exports: Vec<(PolicyKind, &str)> = exports
        .iter()
        .filter_map(|e| {
            let rest = e.strip_prefix(CONTRACT_PACKAGE)?.strip_prefix('/')?;
            let (interface, version) = rest.split_once('@').unwrap_or((rest, ""));
            Some((interface.parse().ok()?, version))
        })
        .collect();
    let wanted = expected.or_else(|| policy_exports.first().map(|(k, _)| *k));
    let found = wanted.and_then(|w| policy_exports.iter().find(|(k, _)| *k == w));
    let Some((kind, version)) = found else {
        return Err(LoadError::MissingExport {
            wanted: wanted.unwrap_or(PolicyKind::Matcher),
            exports: if exports.is_empty() {
                "nothing".into()
            } else {
                exports.join(", ")
            },
        });
    };
    let supported_track = CONTRACT_VERSION
        .rsplit_once('.')
        .map(|(track, _)| track)
        .unwrap_or(CONTRACT_VERSION);
    if version.rsplit_once('.').map(|(track, _)| track) != Some(supported_track) {
        return Err(LoadError::IncompatibleVersion {
            found: format!(
                "{CONTRACT_PACKAGE}@{}",
                if version.is_empty() { "<unversioned>" } else { version }
            ),
            supported: CONTRACT_VERSION,
        });
    }
    Ok((*kind, format!("{CONTRACT_PACKAGE}@{version}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exports(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_contract_is_read_from_the_export_name() {
        let (kind, contract) = contract_of(&exports(&["aim:policy/router@0.1.3"]), None).unwrap();
        assert_eq!((kind, contract.as_str()), (PolicyKind::Router, "aim:policy@0.1.3"));
    }

    #[test]
    fn another_minor_track_is_incompatible() {
        let err = contract_of(&exports(&["aim:policy/matcher@0.2.0"]), Some(PolicyKind::Matcher)).unwrap_err();
        assert!(
            err.to_string()
                .contains("built against contract aim:policy@0.2.0; this operator supports aim:policy@0.1.0"),
            "{err}"
        );
    }

    #[test]
    fn the_wrong_interface_names_what_it_exports() {
        let err = contract_of(&exports(&["aim:policy/router@0.1.0"]), Some(PolicyKind::Matcher)).unwrap_err();
        assert!(
            err.to_string()
                .contains("exports no aim:policy/matcher interface (it exports: aim:policy/router@0.1.0)"),
            "{err}"
        );
    }

    #[test]
    fn headers_tell_garbage_and_core_modules_from_components() {
        assert!(matches!(check_header(b"", 10), Err(LoadError::Empty)));
        assert!(matches!(check_header(b"hello world!", 100), Err(LoadError::NotWasm)));
        assert!(matches!(
            check_header(b"\0asm\x01\0\0\0", 100),
            Err(LoadError::CoreModule)
        ));
        assert!(check_header(b"\0asm\x0d\0\x01\0", 100).is_ok());
        assert!(matches!(check_header(&[0; 200], 100), Err(LoadError::TooLarge { .. })));
    }
}
