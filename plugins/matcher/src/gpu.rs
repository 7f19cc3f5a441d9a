//! GPU profiles the default matcher knows: model name, architecture and memory.

/// One GPU model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuProfile {
    /// Model name as templates write it.
    pub model: &'static str,
    /// GPU architecture.
    pub arch: &'static str,
    /// Memory per GPU in GiB.
    pub memory_gib: u64,
    /// Memory technology.
    pub memory_kind: &'static str,
}

/// AMD Instinct MI300X: gfx942, 192 GiB HBM3.
pub const MI300X: GpuProfile = GpuProfile {
    model: "MI300X",
    arch: "gfx942",
    memory_gib: 192,
    memory_kind: "HBM3",
};
/// AMD Instinct MI325X: gfx942, 256 GiB HBM3E.
pub const MI325X: GpuProfile = GpuProfile {
    model: "MI325X",
    arch: "gfx942",
    memory_gib: 256,
    memory_kind: "HBM3E",
};

/// AMD Instinct MI355X: gfx950, 288 GB HBM3E.
pub const MI355X: GpuProfile = GpuProfile {
    model: "MI355X",
    arch: "gfx950",
    memory_gib: 288,
    memory_kind: "HBM3E",
};

/// Every known profile.
pub const PROFILES: [GpuProfile; 3] = [MI300X, MI325X, MI355X];

/// Share of GPU memory model weights may take; the rest is left for the KV cache and activations (vLLM's
/// `gpu-memory-utilization` in the AIM profiles is 0.9, and weights must leave room inside that).
pub const WEIGHT_SHARE_PERCENT: u64 = 90;

const GIB: u64 = 1 << 30;

/// The profile of `model`, compared case-insensitively.
pub fn profile(model: &str) -> Option<GpuProfile> {
    PROFILES.into_iter().find(|p| p.model.eq_ignore_ascii_case(model))
}

/// Bytes of weights `count` GPUs of this profile can hold.
pub fn usable_bytes(profile: GpuProfile, count: u32) -> u64 {
    profile.memory_gib * GIB * u64::from(count) * WEIGHT_SHARE_PERCENT / 100
}

/// Bytes as GiB with one decimal, for reasons.
pub fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / GIB as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_mi300x_mi325x_and_mi355x_whatever_the_case() {
        assert_eq!(profile("mi300x"), Some(MI300X));
        assert_eq!(profile("MI325X").map(|p| (p.arch, p.memory_gib)), Some(("gfx942", 256)));
        assert_eq!(profile("mi355x").map(|p| (p.arch, p.memory_gib)), Some(("gfx950", 288)));
        assert_eq!(profile("MI250X"), None);
    }

    #[test]
    fn usable_memory_leaves_a_tenth_free() {
        assert_eq!(usable_bytes(MI300X, 1), 192 * GIB * 9 / 10);
        assert_eq!(usable_bytes(MI325X, 2), 512 * GIB * 9 / 10);
    }
}
