//! The default matching policy, as plain Rust: the component glue converts the WIT records to these types.
//!
//! Rules, in order, for each candidate template (all of them templates of the requested model):
//! 1. it must be `Available`;
//! 2. each wanted parameter must be equal to the template's; a template that leaves a wanted parameter open is
//!    accepted with a lower score (the runtime picks), a different value is rejected;
//! 3. when the template pins known GPUs (MI300X, MI325X, MI355X) and its model sources have sizes, the weights must fit
//!    in 90% of the GPUs' memory;
//! 4. when the GPU inventory is known, the cluster must have the GPU model, with enough on one node.
//!
//! Accepted candidates are ranked by score: namespace over cluster, exact over open, known memory fit, then
//! fewer GPUs. Equal scores are broken by scope, then name, so the same input always gives the same answer, and
//! every verdict says why.

use crate::gpu;
pub use crate::request::*;
use std::cmp::Ordering;
use std::fmt::Write as _;

const NAMESPACE_BONUS: i32 = 1000;
const EXACT_BONUS: i32 = 100;
const FIT_KNOWN_BONUS: i32 = 10;
const MAX_GPU_BONUS: i32 = 8;

/// Decides which template serves `request`.
pub fn match_template(request: &Request) -> Outcome {
    let verdicts: Vec<Verdict> = request
        .candidates
        .iter()
        .enumerate()
        .map(|(i, c)| judge(i as u32, c, request))
        .collect();
    let mut ranked: Vec<&Verdict> = verdicts.iter().filter(|v| v.accepted).collect();
    ranked.sort_by(|a, b| rank(request, a, b));

    let Some(best) = ranked.first() else {
        let (decision, reason) = nothing_accepted(request, &verdicts);
        return Outcome {
            decision,
            reason,
            verdicts,
        };
    };
    let chosen = &request.candidates[best.candidate as usize];
    let mut reason = format!(
        "chose {} template '{}' (score {})",
        scope_word(chosen.scope),
        chosen.name,
        best.score
    );
    if let Some(runner_up) = ranked.get(1) {
        let other = &request.candidates[runner_up.candidate as usize];
        if runner_up.score == best.score {
            let _ = write!(
                reason,
                "; tied with '{}', broken by {}",
                other.name,
                tie_breaker(chosen, other)
            );
        } else {
            let _ = write!(reason, " over '{}' (score {})", other.name, runner_up.score);
        }
    }
    let best_index = best.candidate;
    let best_name = chosen.name.clone();
    let verdicts = verdicts
        .into_iter()
        .map(|mut v| {
            if v.accepted && v.candidate != best_index {
                let _ = write!(v.reason, "; ranked below '{best_name}'");
            }
            v
        })
        .collect();
    Outcome {
        decision: Decision::Use(best_index),
        reason,
        verdicts,
    }
}

/// Orders accepted verdicts best first: score, then namespace before cluster, then name, then position.
fn rank(request: &Request, a: &Verdict, b: &Verdict) -> Ordering {
    let (ca, cb) = (
        &request.candidates[a.candidate as usize],
        &request.candidates[b.candidate as usize],
    );
    b.score
        .cmp(&a.score)
        .then(ca.scope.cmp(&cb.scope))
        .then(ca.name.cmp(&cb.name))
        .then(a.candidate.cmp(&b.candidate))
}

fn tie_breaker(chosen: &Candidate, other: &Candidate) -> &'static str {
    if chosen.scope != other.scope {
        "scope (namespace first)"
    } else {
        "name (alphabetical)"
    }
}

fn nothing_accepted(request: &Request, verdicts: &[Verdict]) -> (Decision, String) {
    let rejected = verdicts.len();
    if request.wanted.is_empty() {
        let reason = if rejected == 0 {
            format!("no template exists for model '{}'", request.model_id)
        } else {
            format!(
                "none of the {rejected} templates of model '{}' can run it; see each verdict",
                request.model_id
            )
        };
        return (Decision::None, reason);
    }
    if let (Some(gpu), Some(inventory)) = (&request.wanted.gpu, &request.inventory)
        && let Err(why) = check_inventory(gpu, inventory)
    {
        return (
            Decision::None,
            format!("cannot derive a template for the overrides: {why}"),
        );
    }
    let reason = format!(
        "no template of model '{}' matches the overrides ({}); derive one from the model's default template",
        request.model_id,
        describe(&request.wanted)
    );
    (Decision::Derive(request.wanted.clone()), reason)
}

fn judge(index: u32, c: &Candidate, request: &Request) -> Verdict {
    let reject = |reason: String| Verdict {
        candidate: index,
        accepted: false,
        score: 0,
        reason,
    };
    if c.state != State::Available {
        return reject(format!("not ready (status {:?}); it is used once Available", c.state));
    }
    let mut score = if c.scope == Scope::Namespace {
        NAMESPACE_BONUS
    } else {
        0
    };
    let mut notes: Vec<String> = vec![format!("{} template", scope_word(c.scope))];

    let wanted = &request.wanted;
    let comparisons = [
        compare(wanted.metric, c.params.metric, "metric", |m| {
            format!("{m:?}").to_lowercase()
        }),
        compare(wanted.precision, c.params.precision, "precision", |p| {
            format!("{p:?}").to_lowercase()
        }),
        compare(wanted.gpu.as_ref(), c.params.gpu.as_ref(), "gpu", describe_gpu),
    ];
    let (mut exact, mut open) = (0, 0);
    for comparison in comparisons {
        match comparison {
            Err(why) => return reject(why),
            Ok(Match::Exact) => exact += 1,
            Ok(Match::Open) => open += 1,
            Ok(Match::NotWanted) => {}
        }
    }
    score += exact * EXACT_BONUS;
    if open > 0 {
        notes.push(format!("leaves {open} of the overrides to the runtime"));
    } else if exact > 0 {
        notes.push("exact match on the overrides".into());
    }

    if let Some(gpu) = &c.params.gpu {
        match memory_fit(gpu, &c.source_sizes) {
            Fit::Fits(note) => {
                score += FIT_KNOWN_BONUS;
                notes.push(note);
            }
            Fit::TooBig(why) => return reject(why),
            Fit::Unknown(note) => notes.push(note),
        }
        if let Some(inventory) = &request.inventory
            && let Err(why) = check_inventory(gpu, inventory)
        {
            return reject(why);
        }
        score += MAX_GPU_BONUS - (gpu.count.min(MAX_GPU_BONUS as u32) as i32);
    } else {
        notes.push("pins no GPUs, so neither memory nor inventory is checked".into());
    }
    Verdict {
        candidate: index,
        accepted: true,
        score,
        reason: format!("accepted: {}", notes.join("; ")),
    }
}

/// How a template relates to one wanted parameter.
enum Match {
    /// The service does not ask for it.
    NotWanted,
    /// The template pins the wanted value.
    Exact,
    /// The template leaves it open; the runtime picks.
    Open,
}

/// Compares one wanted parameter with the template's, or says why it rules the template out.
fn compare<T: PartialEq + Copy>(
    wanted: Option<T>,
    have: Option<T>,
    field: &str,
    show: impl Fn(T) -> String,
) -> Result<Match, String> {
    match (wanted, have) {
        (None, _) => Ok(Match::NotWanted),
        (Some(w), Some(h)) if w == h => Ok(Match::Exact),
        (Some(_), None) => Ok(Match::Open),
        (Some(w), Some(h)) => Err(format!("{field} is {}, the service wants {}", show(h), show(w))),
    }
}

enum Fit {
    Fits(String),
    TooBig(String),
    Unknown(String),
}

fn memory_fit(gpu: &Gpu, sizes: &[Option<u64>]) -> Fit {
    let Some(profile) = gpu::profile(&gpu.model) else {
        return Fit::Unknown(format!("no memory profile for GPU '{}', fit not checked", gpu.model));
    };
    if sizes.is_empty() || sizes.iter().any(Option::is_none) {
        return Fit::Unknown("model source sizes unknown, fit not checked".into());
    }
    let need: u64 = sizes.iter().flatten().sum();
    let usable = gpu::usable_bytes(profile, gpu.count);
    let setup = format!(
        "{} × {} ({} GiB {} each)",
        gpu.count, profile.model, profile.memory_gib, profile.memory_kind
    );
    if need > usable {
        Fit::TooBig(format!(
            "model sources need {}, more than the {} usable on {setup}",
            gpu::gib(need),
            gpu::gib(usable)
        ))
    } else {
        Fit::Fits(format!(
            "{} of weights fit in {} usable on {setup}",
            gpu::gib(need),
            gpu::gib(usable)
        ))
    }
}

fn check_inventory(gpu: &Gpu, inventory: &[GpuPool]) -> Result<(), String> {
    let Some(pool) = inventory.iter().find(|p| p.model.eq_ignore_ascii_case(&gpu.model)) else {
        let have: Vec<String> = inventory
            .iter()
            .map(|p| format!("{} × {} on {} nodes", p.allocatable, p.model, p.nodes))
            .collect();
        let have = if have.is_empty() {
            "no AMD GPUs".to_string()
        } else {
            have.join(", ")
        };
        return Err(format!("no node has {} GPUs (the cluster has {have})", gpu.model));
    };
    if gpu.count > pool.max_per_node {
        return Err(format!(
            "needs {} × {} on one node; the largest node has {} allocatable",
            gpu.count, gpu.model, pool.max_per_node
        ));
    }
    Ok(())
}

fn scope_word(scope: Scope) -> &'static str {
    match scope {
        Scope::Namespace => "namespace",
        Scope::Cluster => "cluster",
    }
}

fn describe_gpu(gpu: &Gpu) -> String {
    format!("{} × {}", gpu.count, gpu.model)
}

fn describe(p: &Params) -> String {
    let mut parts = Vec::new();
    if let Some(m) = p.metric {
        parts.push(format!("metric={}", format!("{m:?}").to_lowercase()));
    }
    if let Some(pr) = p.precision {
        parts.push(format!("precision={}", format!("{pr:?}").to_lowercase()));
    }
    if let Some(g) = &p.gpu {
        parts.push(format!("gpu={}", describe_gpu(g)));
    }
    parts.join(", ")
}
