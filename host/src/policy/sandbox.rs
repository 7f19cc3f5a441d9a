//! The sandbox every plugin call runs in: one shared engine with epoch interruption, and a fresh store per call
//! with a memory cap, a bounded log pipe and a WASI context that grants nothing.
//!
//! What a plugin sees of WASI: no files (no preopens), no network (sockets and name lookup denied), no
//! environment or arguments, an empty stdin, a wall clock frozen at the Unix epoch, a monotonic clock frozen
//! at zero, and randomness from a fixed seed. A plugin is therefore a pure function of its input.

use super::limits::{EPOCH_TICK, SandboxLimits};
use rand::SeedableRng;
use std::time::Duration;
use wasmtime::component::ResourceTable;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store};

/// The smallest linear memory a pooled slot holds; the per-store cap ([`SandboxLimits::memory_bytes`]) is what
/// plugins actually get.
const MIN_POOLED_MEMORY: usize = 256 << 20;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

/// State of one store: the WASI context, its resource table, the limiter and the captured output.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    cap: Cap,
    log: MemoryOutputPipe,
}

/// The store's limiter: a memory cap, and a record of whether it refused a growth, so a trap that follows is
/// known to be the cap (not guessed from wasmtime's error text).
struct Cap {
    memory_bytes: usize,
    memory_denied: bool,
    instances: u32,
}

impl ResourceLimiter for Cap {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.memory_denied = true;
            // An error (not `Ok(false)`) makes `memory.grow` trap, so the plugin stops here.
            return Err(wasmtime::Error::msg(format!(
                "memory growth to {desired} bytes refused; the cap is {} bytes",
                self.memory_bytes
            )));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, _desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.instances as usize
    }

    // A core module has at most one table and one memory in practice; allowing one of each per instance keeps
    // the three limits in step.
    fn tables(&self) -> usize {
        self.instances as usize
    }

    fn memories(&self) -> usize {
        self.instances as usize
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl HostState {
    /// What the plugin wrote to stdout and stderr (bounded).
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&self.log.contents()).into_owned()
    }

    /// True when the limiter refused a memory growth during this call.
    pub fn memory_denied(&self) -> bool {
        self.cap.memory_denied
    }
}

/// A wall clock stopped at the Unix epoch.
struct FrozenWallClock;

impl HostWallClock for FrozenWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

/// A monotonic clock that never advances.
struct FrozenMonotonicClock;

impl HostMonotonicClock for FrozenMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// Builds the engine every plugin shares and starts the thread that advances its epoch every [`EPOCH_TICK`].
/// The thread holds only a weak reference and ends when the engine is dropped. The pool holds `slots` plugin
/// instances at once: callers size it from the calls they let run at once, so it cannot run out; each slot
/// holds what `limits` lets one call create.
pub fn new_engine(slots: u32, limits: &SandboxLimits) -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    // Policies are synchronous pure functions; without component-model concurrency calls and instantiation
    // are several times cheaper.
    config.concurrency_support(false);
    config.max_wasm_stack(512 << 10);
    // Pooling: instances reuse pre-reserved memory slots instead of mapping fresh ones on every call. Where
    // the address space cannot be reserved (tight ulimits), fall back to on-demand allocation.
    let mut pool = PoolingAllocationConfig::new();
    let per_call = limits.instances.max(1);
    pool.total_component_instances(slots)
        .total_core_instances(slots.saturating_mul(per_call))
        .total_memories(slots.saturating_mul(per_call))
        .total_tables(slots.saturating_mul(per_call))
        // Per component: a Python component has dozens of core modules, memories and tables.
        .max_core_instances_per_component(per_call)
        .max_memories_per_component(per_call)
        .max_tables_per_component(per_call)
        .max_memory_size(limits.memory_bytes.max(MIN_POOLED_MEMORY));
    let mut pooled = config.clone();
    pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = match Engine::new(&pooled) {
        Ok(engine) => engine,
        Err(e) => {
            tracing::warn!(error = %e, "pooling allocator unavailable; allocating plugin instances on demand");
            Engine::new(&config)?
        }
    };
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("aim-policy-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map_err(wasmtime::Error::from)?;
    Ok(engine)
}

/// A fresh store for one call: memory capped, deadline armed, WASI granting nothing.
pub fn new_store(engine: &Engine, limits: &SandboxLimits) -> Store<HostState> {
    let log = MemoryOutputPipe::new(limits.log_bytes);
    let wasi = WasiCtx::builder()
        .stdout(log.clone())
        .stderr(log.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .wall_clock(FrozenWallClock)
        .monotonic_clock(FrozenMonotonicClock)
        .secure_random(rand::rngs::StdRng::seed_from_u64(0))
        .insecure_random(rand::rngs::StdRng::seed_from_u64(0))
        .insecure_random_seed(0)
        .build();
    let mut store = Store::new(
        engine,
        HostState {
            wasi,
            table: ResourceTable::new(),
            cap: Cap {
                memory_bytes: limits.memory_bytes,
                memory_denied: false,
                instances: limits.instances,
            },
            log,
        },
    );
    store.limiter(|state| &mut state.cap);
    store.set_epoch_deadline(limits.deadline_ticks());
    store
}
