//! The default AIM matcher policy: picks the template an `AIMService` runs.
//!
//! [`policy`] is the whole policy as plain Rust (see its docs for the rules) over the types of [`request`]; [`gpu`] holds the MI300X,
//! MI325X and MI355X profiles. On `wasm32` the crate also exports the `aim:policy/matcher` interface of
//! `wit/aim-policy.wit`, converting its records to and from the policy's types. Plugin authors: copy this crate.

#![cfg_attr(not(target_arch = "wasm32"), forbid(unsafe_code))]

pub mod gpu;
pub mod policy;
pub mod request;

// The canonical-ABI glue wit-bindgen generates is unsafe by nature; it stays inside this module.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod component;

#[cfg(test)]
mod tests;
