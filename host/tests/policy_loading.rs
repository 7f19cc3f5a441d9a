//! Components the host must refuse at load, each with a message that says which rule and why.

mod support;

use aim_operator::policy::builtin;
use aim_operator::policy::{LoadError, PolicyKind};
use support::*;

fn refused(bytes: &[u8], kind: PolicyKind) -> LoadError {
    match engine().load(bytes, "plugin.wasm", Some(kind)) {
        Ok(_) => panic!("accepted"),
        Err(e) => e,
    }
}

#[test]
fn a_component_importing_sockets_is_refused_naming_the_import() {
    let err = refused(NETWORKED, PolicyKind::Matcher);
    assert!(matches!(err, LoadError::ForbiddenImport { .. }), "{err}");
    assert!(err.to_string().contains("imports wasi:sockets/"), "{err}");
    assert!(err.to_string().contains("which policy plugins may not use"), "{err}");
}

#[test]
fn a_component_built_against_another_contract_version_is_refused_naming_both() {
    let err = refused(FUTURE_CONTRACT, PolicyKind::Matcher);
    assert!(
        err.to_string()
            .contains("built against contract aim:policy@0.2.0; this operator supports aim:policy@0.1.0"),
        "{err}"
    );
}

#[test]
fn garbage_bytes_are_not_webassembly() {
    let err = refused(b"#!/bin/sh\nrm -rf /\n", PolicyKind::Matcher);
    assert!(err.to_string().contains("not a WebAssembly component"), "{err}");
}

#[test]
fn an_empty_file_is_refused() {
    assert!(matches!(refused(b"", PolicyKind::Router), LoadError::Empty));
}

#[test]
fn a_core_module_is_refused_with_how_to_build_a_component() {
    // The smallest valid core module: magic and version 1.
    let err = refused(b"\0asm\x01\0\0\0", PolicyKind::Matcher);
    assert!(
        err.to_string()
            .contains("core WebAssembly module, not a component: build it for wasm32-wasip2"),
        "{err}"
    );
}

#[test]
fn a_truncated_component_does_not_compile() {
    let half = &builtin::MATCHER[..builtin::MATCHER.len() / 2];
    let err = refused(half, PolicyKind::Matcher);
    assert!(matches!(err, LoadError::Compile(_)), "{err}");
}

#[test]
fn a_component_for_another_policy_is_refused_naming_what_it_exports() {
    let err = refused(builtin::ROUTER, PolicyKind::Matcher);
    assert!(
        err.to_string()
            .contains("exports no aim:policy/matcher interface (it exports: aim:policy/router@0.1.0)"),
        "{err}"
    );
}

#[test]
fn an_oversized_file_is_refused_before_compiling() {
    let mut big = builtin::MATCHER.to_vec();
    big.resize(engine().limits().component_bytes + 1, 0);
    assert!(matches!(refused(&big, PolicyKind::Matcher), LoadError::TooLarge { .. }));
}

#[test]
fn the_kind_is_detected_from_the_exports_when_not_given() {
    let plugin = engine().load(builtin::MERGER, "merger.wasm", None).expect("loads");
    assert_eq!(plugin.kind, PolicyKind::Merger);
    assert!(
        plugin.imports.iter().all(|i| !i.starts_with("wasi:sockets")),
        "{:?}",
        plugin.imports
    );
}
