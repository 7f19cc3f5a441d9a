//! The AIM operator's developer tools, apart from the test harness they build on (`aim_tests`):
//!
//! - [`demo`]: the embedded demo `aim-local demo` runs (the README's main command, `scripts/demo`).
//! - [`bench`]: the rollout and download benchmarks `aim-bench` runs (`scripts/bench`; figures in BENCHMARKS.md).
//!
//! `aim-local up` starts a local control plane that stays up (the test suite's shared cluster, and a developer's).

pub mod bench;
pub mod demo;
pub mod demo_request;
