//! Plugin host costs, printed as figures (not a pass/fail test): compile time, precompiled-artifact load time,
//! and one matcher decision (fresh store + instantiate + call + output checks) at 10, 100 and 1,000 candidates
//! next to the same policy compiled natively (the plugin crate's own `policy` module), with the ratio.
//!
//! The 0-candidate row is the fixed cost of a call (store, WASI context, instantiation, one round trip).
//!
//! Then the same decision by the example Python matcher (`plugins/python-matcher`) next to the Rust component.
//!
//! Run: `cargo bench -p aim-operator --bench policy`. Aims (issue #3): within 2× of native at 100 candidates,
//! under 1 ms at 1,000.

use aim_operator::policy::artifact_cache::ArtifactCache;
use aim_operator::policy::bindings::{
    Candidate, GpuPool, GpuSelector, MatchRequest, Metric, Precision, RuntimeParameters, Scope, TemplateState,
};
use aim_operator::policy::sandbox::new_engine;
use aim_operator::policy::{Matcher, PolicyEngine, PolicyEngineConfig, builtin};
use aim_plugin_matcher::policy as native;
use std::time::{Duration, Instant};

const MODEL: &str = "meta/llama-3.1-8b-instruct";

fn main() {
    println!(
        "policy plugin host benchmark ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("matcher component: {} bytes", builtin::MATCHER.len());

    let engine = new_engine(4, &aim_operator::policy::SandboxLimits::default()).expect("engine");
    let compile = sample(5, || {
        wasmtime::component::Component::new(&engine, builtin::MATCHER).expect("compiles");
    });
    report("compile (Cranelift)", &compile);

    let dir = tempfile::tempdir().expect("tempdir");
    let cache = ArtifactCache::in_dir(dir.path());
    cache
        .component(&engine, builtin::MATCHER)
        .expect("first load compiles and stores");
    let load = sample(50, || {
        cache.component(&engine, builtin::MATCHER).expect("cached load");
    });
    report("precompiled load (cache hit)", &load);

    let policy = PolicyEngine::new(PolicyEngineConfig::default()).expect("policy engine");
    println!();
    println!(
        "{:>10} {:>14} {:>14} {:>14} {:>8}",
        "candidates", "wasm median", "wasm p99", "native median", "ratio"
    );
    for n in [0usize, 10, 100, 1000] {
        let request = request(n);
        let native_request = to_native(&request);
        let iterations = match n {
            0 | 10 => 3000,
            100 => 1000,
            _ => 200,
        };
        // Same answer from both, or the comparison is meaningless.
        let wasm_answer = policy.decide_blocking::<Matcher>(&request).expect("decides").value;
        let native_answer = native::match_template(&native_request);
        assert_eq!(
            wasm_answer.reason, native_answer.reason,
            "the component and the native policy disagree"
        );
        let wasm = sample(iterations, || {
            policy.decide_blocking::<Matcher>(&request).expect("decides");
        });
        let native = sample(iterations * 2, || {
            std::hint::black_box(native::match_template(std::hint::black_box(&native_request)));
        });
        println!(
            "{n:>10} {:>14} {:>14} {:>14} {:>7.2}x",
            fmt(median(&wasm)),
            fmt(percentile(&wasm, 99)),
            fmt(median(&native)),
            median(&wasm).as_secs_f64() / median(&native).as_secs_f64()
        );
    }
    python(&engine, &policy);
    println!();
    println!("peak RSS: {}", peak_rss());
}

/// The example Python matcher (`plugins/python-matcher`, built with its `build.sh`, or the file named by
/// `AIM_BENCH_PYTHON_MATCHER`): compile, precompiled load, and a decision next to the Rust component's.
fn python(engine: &wasmtime::Engine, rust: &PolicyEngine) {
    println!();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = match std::env::var_os("AIM_BENCH_PYTHON_MATCHER") {
        Some(file) => std::path::PathBuf::from(file),
        None => {
            let out = dir.path().join("python-matcher.wasm");
            let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/python-matcher/build.sh");
            match std::process::Command::new(&script).arg(&out).output() {
                Ok(o) if o.status.success() => out,
                Ok(o) => {
                    return println!(
                        "python matcher: skipped, build failed: {}",
                        String::from_utf8_lossy(&o.stderr)
                    );
                }
                Err(e) => return println!("python matcher: skipped, cannot run {}: {e}", script.display()),
            }
        }
    };
    let bytes = std::fs::read(&file).expect("the Python matcher");
    println!("python matcher component: {} bytes", bytes.len());
    let compile = sample(3, || {
        wasmtime::component::Component::new(engine, &bytes).expect("compiles");
    });
    report("python: compile (Cranelift)", &compile);
    let cache = ArtifactCache::in_dir(dir.path());
    cache.component(engine, &bytes).expect("first load compiles and stores");
    let load = sample(20, || {
        cache.component(engine, &bytes).expect("cached load");
    });
    report("python: precompiled load (cache hit)", &load);

    let policy = PolicyEngine::new(PolicyEngineConfig::default()).expect("policy engine");
    policy.install(
        policy
            .load(&bytes, "matcher.wasm", Some(aim_operator::policy::PolicyKind::Matcher))
            .expect("the Python matcher loads"),
    );
    println!();
    println!(
        "{:>10} {:>14} {:>14} {:>14} {:>8}",
        "candidates", "python median", "python p99", "rust median", "ratio"
    );
    for n in [0usize, 10, 100, 1000] {
        let request = request(n);
        let iterations = if n == 1000 { 30 } else { 100 };
        let python = sample(iterations, || {
            policy.decide_blocking::<Matcher>(&request).expect("decides");
        });
        let wasm = sample(iterations, || {
            rust.decide_blocking::<Matcher>(&request).expect("decides");
        });
        println!(
            "{n:>10} {:>14} {:>14} {:>14} {:>7.2}x",
            fmt(median(&python)),
            fmt(percentile(&python, 99)),
            fmt(median(&wasm)),
            median(&python).as_secs_f64() / median(&wasm).as_secs_f64()
        );
    }
}

fn sample(n: usize, mut f: impl FnMut()) -> Vec<Duration> {
    for _ in 0..n.min(20) {
        f();
    }
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times
}

fn median(sorted: &[Duration]) -> Duration {
    sorted[sorted.len() / 2]
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn fmt(d: Duration) -> String {
    if d >= Duration::from_millis(1) {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    }
}

fn report(what: &str, sorted: &[Duration]) {
    println!(
        "{what:<30} median {:>10}   p99 {:>10}   (n={})",
        fmt(median(sorted)),
        fmt(percentile(sorted, 99)),
        sorted.len()
    );
}

fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l["VmHWM:".len()..].trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// `n` candidates of the model in a realistic mix: both scopes, several precisions and GPU counts, MI300X and
/// MI325X, a few not ready, sizes known; the service asks for bf16.
fn request(n: usize) -> MatchRequest {
    let precisions = [Precision::Fp8, Precision::Bf16, Precision::Fp16, Precision::Bf16];
    let candidates = (0..n)
        .map(|i| Candidate {
            name: format!("llama-8b-{i:04}"),
            scope: if i % 3 == 0 { Scope::Namespace } else { Scope::Cluster },
            parameters: RuntimeParameters {
                metric: Some(if i % 2 == 0 {
                    Metric::Latency
                } else {
                    Metric::Throughput
                }),
                precision: Some(precisions[i % precisions.len()]),
                gpu: Some(GpuSelector {
                    model: if i % 5 == 0 { "MI325X" } else { "MI300X" }.into(),
                    count: 1 << (i % 4),
                }),
            },
            state: if i % 7 == 6 {
                TemplateState::Pending
            } else {
                TemplateState::Available
            },
            model_source_sizes: vec![Some(16 << 30)],
        })
        .collect();
    MatchRequest {
        model_id: MODEL.into(),
        wanted: RuntimeParameters {
            metric: None,
            precision: Some(Precision::Bf16),
            gpu: None,
        },
        candidates,
        inventory: Some(vec![
            GpuPool {
                model: "MI300X".into(),
                nodes: 4,
                allocatable: 32,
                max_per_node: 8,
            },
            GpuPool {
                model: "MI325X".into(),
                nodes: 1,
                allocatable: 8,
                max_per_node: 8,
            },
        ]),
    }
}

fn to_native(r: &MatchRequest) -> native::Request {
    let params = |p: &RuntimeParameters| native::Params {
        metric: p.metric.map(|m| match m {
            Metric::Latency => native::Metric::Latency,
            Metric::Throughput => native::Metric::Throughput,
        }),
        precision: p.precision.map(|p| match p {
            Precision::Auto => native::Precision::Auto,
            Precision::Fp4 => native::Precision::Fp4,
            Precision::Fp8 => native::Precision::Fp8,
            Precision::Fp16 => native::Precision::Fp16,
            Precision::Fp32 => native::Precision::Fp32,
            Precision::Bf16 => native::Precision::Bf16,
            Precision::Int4 => native::Precision::Int4,
            Precision::Int8 => native::Precision::Int8,
        }),
        gpu: p.gpu.as_ref().map(|g| native::Gpu {
            model: g.model.clone(),
            count: g.count,
        }),
    };
    native::Request {
        model_id: r.model_id.clone(),
        wanted: params(&r.wanted),
        candidates: r
            .candidates
            .iter()
            .map(|c| native::Candidate {
                name: c.name.clone(),
                scope: match c.scope {
                    Scope::Namespace => native::Scope::Namespace,
                    Scope::Cluster => native::Scope::Cluster,
                },
                params: params(&c.parameters),
                state: match c.state {
                    TemplateState::Pending => native::State::Pending,
                    TemplateState::Progressing => native::State::Progressing,
                    TemplateState::Available => native::State::Available,
                    TemplateState::Degraded => native::State::Degraded,
                    TemplateState::Failed => native::State::Failed,
                },
                source_sizes: c.model_source_sizes.clone(),
            })
            .collect(),
        inventory: r.inventory.as_ref().map(|pools| {
            pools
                .iter()
                .map(|p| native::GpuPool {
                    model: p.model.clone(),
                    nodes: p.nodes,
                    allocatable: p.allocatable,
                    max_per_node: p.max_per_node,
                })
                .collect()
        }),
    }
}
