//! The sandbox's limits: per-call CPU deadline, memory cap, output cap and input size cap.

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
}

/// How often the epoch advances; a runaway call is stopped within `deadline` + one tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            deadline: Duration::from_millis(200),
            memory_bytes: 64 << 20,
            output_bytes: 1 << 20,
            component_bytes: 8 << 20,
            log_bytes: 16 << 10,
        }
    }
}

impl SandboxLimits {
    /// The deadline in epoch ticks (at least one).
    pub fn deadline_ticks(&self) -> u64 {
        (self.deadline.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
    }
}
