//! The AIM operator: serves LLMs on AMD GPUs through KServe, with template matching, override merging and
//! routing decided by sandboxed WebAssembly policy plugins.
//!
//! `api` holds the custom resource types; the binary in `main.rs` only wires commands to this library.

pub mod api;
pub mod controller;
pub mod crdgen;
pub mod download;
pub mod events;
mod fixtures;
pub mod index;
pub mod labels;
pub mod plugin_cli;
pub mod policy;
pub mod process;
pub mod testing;
pub mod upstream;
