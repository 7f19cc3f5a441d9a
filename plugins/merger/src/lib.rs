//! The default AIM merger policy: applies a service's overrides to a template for a derived template.
//!
//! Overrides win field by field (the GPU selector as a whole). The derived-name suffix is
//! `ovr-<what changed>-<hash>`: readable, RFC 1123, at most 40 characters, and a function of the base name and
//! the overrides alone, so services asking for the same thing share one derived template.

#![cfg_attr(not(target_arch = "wasm32"), forbid(unsafe_code))]

pub mod policy;

// The canonical-ABI glue wit-bindgen generates is unsafe by nature; it stays inside this module.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod component;
