//! A template's whole plan, pure: where discovery stands ([`super::discovery`]), its own cache
//! ([`super::caching`]) and its status ([`super::plan`]), as the writes that carry them out (start or remove
//! the discovery Job, apply or remove the cache) and the status.

use super::TemplateKind;
use super::caching::{self, CacheAction};
use super::discovery::{self, JobAction, Refused, Step};
use super::job;
use super::observe::Observed;
use super::plan::{self as status_plan, Sources};
use crate::api::TemplateStatus;
use crate::controller::kit::Context;
use crate::controller::kit::conditions::{self, types};
use crate::controller::kit::pipeline::Plan;
use crate::controller::kit::writes::{Guard, Ownership, Writes};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::ResourceExt;

/// The plan of `obj`, owned by `owner`, given what was observed and what starting its Job was refused for.
pub(crate) fn plan<T: TemplateKind>(
    obj: &T,
    o: &Observed,
    ctx: &Context,
    owner: &OwnerReference,
    refused: Option<Refused>,
) -> Plan<TemplateStatus> {
    let profile = obj.profile();
    let mut writes = Writes::new();
    let (job_namespace, job_name) = &o.job;
    let sources = match &profile.model_sources {
        Some(inline) => Sources::Inline(inline.clone()),
        None => {
            let observed = discovery::Observed {
                status: &o.status,
                image: o.image.as_deref(),
                model: &profile.model_id,
                asked: crate::upstream::aim::describe(&profile.parameters),
                created: obj.meta().creation_timestamp.as_ref().map(|t| t.0),
                hash: o.hash.clone(),
                job_name: format!("{job_namespace}/{job_name}"),
                job: o.job_state.clone(),
                running: (o.running, ctx.config.discovery.max_concurrent_jobs),
                refused,
                now: o.now,
            };
            let planned = discovery::plan(&observed, &ctx.config.discovery);
            match planned.job {
                JobAction::Keep => {}
                JobAction::Create => {
                    let inputs = job::DiscoveryInputs {
                        template: &obj.name_any(),
                        namespace: job_namespace,
                        owner: owner.clone(),
                        image: o.image.as_deref().unwrap_or_default(),
                        profile,
                    };
                    writes.create_guarded(&job::build(&inputs, &o.hash), None, Guard::DiscoverySlot);
                }
                JobAction::Delete => writes.delete(ctx.index.job(job_namespace, job_name).as_deref()),
            }
            Sources::Discovery {
                step: planned.step,
                record: planned.record,
            }
        }
    };
    let discovered = matches!(
        sources,
        Sources::Inline(_)
            | Sources::Discovery {
                step: Step::Done { .. },
                ..
            }
    );
    let had_cache = conditions::get(&o.status.head.conditions, types::CACHE_WARM).is_some();
    let name = obj.name_any();
    let namespace = obj.namespace();
    let cache_state = match &namespace {
        Some(ns) if obj.caching_enabled() || had_cache => {
            let template = caching::Owner {
                name: &name,
                namespace: ns,
                owner: owner.clone(),
                credentials: &profile.credentials,
                enabled: obj.caching_enabled(),
            };
            let (state, action) = caching::plan(&template, discovered, o.cache.as_deref());
            match action {
                CacheAction::Keep => {}
                CacheAction::Apply(desired) => writes.ensure(desired.as_ref(), o.cache.as_deref(), Ownership::Owned),
                CacheAction::Delete => writes.delete(o.cache.as_deref()),
            }
            state
        }
        _ => None,
    };
    let mut planned = status_plan::status(&o.status, obj.meta().generation, &sources, cache_state.as_ref(), o.now);
    planned.status.cache = cache_word(o.any_cache.as_deref());
    Plan {
        writes,
        status: planned.status,
        requeue: planned.requeue,
    }
}

/// The `CACHE` column: where the template cache of the template's name stands, whoever made it.
fn cache_word(cache: Option<&crate::api::AIMTemplateCache>) -> Option<String> {
    use crate::api::ResourceState;
    let state = cache?.status.as_ref().and_then(|s| s.head.status);
    Some(
        match state {
            Some(ResourceState::Available) => "Warm",
            Some(ResourceState::Failed) => "Failed",
            Some(ResourceState::Degraded) => "Degraded",
            _ => "Warming",
        }
        .into(),
    )
}

/// What to do when the discovery Job's namespace does not exist.
pub(crate) fn missing_namespace<T: TemplateKind>(obj: &T, ctx: &Context, namespace: &str) -> String {
    if namespace == ctx.config.namespace && obj.namespace().is_none() {
        format!(
            "discovery Jobs of cluster templates run in the operator's namespace '{namespace}', which does not \
             exist: create it (kubectl create namespace {namespace}) or start the operator with --namespace \
             naming one that exists"
        )
    } else {
        format!("the discovery Job's namespace '{namespace}' does not exist")
    }
}
