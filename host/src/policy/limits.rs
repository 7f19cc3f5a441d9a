//! The sandbox's limits: per-call CPU deadline, memory cap, output cap, component size cap and instance count.
//! The defaults admit a Python policy built with componentize-py and still stop a hostile one (a loop at the
//! deadline, a memory hog at the cap); `aim-operator run` and `plugin check|eval` take them as flags.

use std::time::Duration;

/// Limits applied to every plugin call and load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxLimits {
    /// Wall-clock CPU budget of one call, enforced with epoch interruption (granularity: [`EPOCH_TICK`]).
    pub deadline: Duration,
    /// Largest linear memory a plugin may grow to.
    pub memory_bytes: usize,
    /// Largest answer (sum of its strings and list entries) the host accepts.
    pub output_bytes: usize,
    /// Largest component file the host compiles.
    pub component_bytes: usize,
    /// Bytes of stdout/stderr kept per call (the rest is dropped).
    pub log_bytes: usize,
    /// Core module instances one call may create. A Rust plugin needs a handful; a Python one (componentize-py
    /// links CPython and its libc as separate modules) several dozen.
    pub instances: u32,
}

/// How often the epoch advances; a runaway call is stopped within `deadline` + one tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            deadline: Duration::from_millis(200),
            memory_bytes: 64 << 20,
            output_bytes: 1 << 20,
            // A Python policy built by componentize-py is about 18 MB (CPython and its standard library).
            component_bytes: 32 << 20,
            log_bytes: 16 << 10,
            instances: 64,
        }
    }
}

impl SandboxLimits {
    /// The deadline in epoch ticks (at least one).
    pub fn deadline_ticks(&self) -> u64 {
        (self.deadline.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
    }
}
