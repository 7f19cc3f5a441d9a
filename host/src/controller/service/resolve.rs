//! Which template a service runs, in the four patterns of the product:
//!
//! 1. model only: the AIMImage's `defaultServiceTemplate`; without one, the matcher chooses;
//! 2. `templateRef`: the namespace template of that name, else the cluster template;
//! 3. `overrides` only: the matcher chooses among every template of the model, or asks for a derived one,
//!    which the merger makes from the model's default template;
//! 4. `templateRef` + `overrides`: the merger derives a namespace template from the referenced one.
//!
//! A resolved service keeps its template while its spec is unchanged and the template exists, so swapping a
//! policy plugin changes later decisions, not running services; the `aim.silogen.ai/redecide` annotation asks
//! for a new decision. Reads come from the index; the only awaits are policy calls (memoised by the engine).

use super::candidates::{self, TemplateRecord, to_candidate, to_wit};
use super::derived;
use super::fit;
use crate::api::{
    AIMImage, AIMService, AIMServiceTemplate, CandidateVerdict, PolicyDecision, RuntimeOverrides, RuntimeParameters,
    TemplateScope,
};
use crate::controller::kit::Context;
use crate::controller::kit::reasons;
use crate::labels;
use crate::policy::bindings::{Decision, MatchRequest, MergeRequest};
use crate::policy::{Matcher, Merger};
use crate::upstream::gpu;
use kube::ResourceExt;

/// The outcome of resolution. (A short-lived return value: boxing the larger variant would buy nothing.)
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(crate) enum Resolution {
    /// The service runs `template` from `image`.
    Resolved {
        template: TemplateRecord,
        image: String,
        /// The matcher's decision, when the matcher chose.
        decision: Option<PolicyDecision>,
        /// The derived template the service runs, as it should be (the plan writes what differs).
        derive: Option<AIMServiceTemplate>,
    },
    /// It cannot be resolved; the reason says why.
    Failed {
        reason: &'static str,
        message: String,
        /// The matcher's decision, when it was asked.
        decision: Option<PolicyDecision>,
    },
}

impl Resolution {
    fn resolved(template: TemplateRecord, image: &AIMImage, decision: Option<PolicyDecision>) -> Self {
        Resolution::Resolved {
            template,
            image: image.spec.image.clone(),
            decision,
            derive: None,
        }
    }
}

fn failed(reason: &'static str, message: String) -> Resolution {
    Resolution::Failed {
        reason,
        message,
        decision: None,
    }
}

/// True when the user asked for a new decision (set `aim.silogen.ai/redecide` to a value not yet acted on).
pub(crate) fn redecide_requested(service: &AIMService) -> bool {
    let asked = service.annotations().get(labels::REDECIDE);
    let done = service.status.as_ref().and_then(|s| s.redecided.as_ref());
    asked.is_some() && asked != done
}

pub(crate) async fn resolve(ctx: &Context, service: &AIMService) -> Resolution {
    let namespace = service.namespace().unwrap_or_default();
    let spec = &service.spec;
    let Some(image) = ctx.index.image_for_model(&spec.aim_model_id) else {
        return failed(
            reasons::MODEL_NOT_FOUND,
            format!(
                "no AIMImage has modelId '{}': install the model's catalog pack, or fix spec.aimModelId",
                spec.aim_model_id
            ),
        );
    };
    if let Some(kept) = sticky(ctx, service, &namespace) {
        let decision = service.status.as_ref().and_then(|s| s.decision.clone());
        return Resolution::resolved(kept, &image, decision);
    }
    let overrides = spec.overrides.clone().filter(|o| *o != RuntimeOverrides::default());
    match (&spec.template_ref, &overrides) {
        (Some(name), None) => match named(ctx, &namespace, name, &spec.aim_model_id) {
            Ok(template) => fitted(ctx, service, template, &image).await,
            Err((reason, message)) => failed(reason, message),
        },
        (Some(name), Some(o)) => match named(ctx, &namespace, name, &spec.aim_model_id) {
            Ok(base) => match o.completed(base.profile.parameters.gpu_selector.as_ref()) {
                Ok(overrides) => derive(ctx, &namespace, &base, &overrides, &image, None).await,
                Err(message) => failed(reasons::INCOMPLETE_OVERRIDES, message),
            },
            Err((reason, message)) => failed(reason, message),
        },
        (None, Some(o)) => {
            // The GPU fields left out come from the model's default template, the base a derived one starts from.
            let default = image
                .spec
                .default_service_template
                .as_ref()
                .and_then(|d| ctx.index.template(&namespace, d));
            let base = default
                .as_ref()
                .and_then(|t| t.profile().parameters.gpu_selector.clone());
            match o.completed(base.as_ref()) {
                Ok(wanted) => choose(ctx, service, &image, &wanted).await,
                Err(message) => failed(reasons::INCOMPLETE_OVERRIDES, message),
            }
        }
        (None, None) => match &image.spec.default_service_template {
            Some(default) => match ctx.index.template(&namespace, default) {
                Some(t) => fitted(ctx, service, TemplateRecord::from(&t), &image).await,
                None => failed(
                    reasons::TEMPLATE_NOT_FOUND,
                    format!(
                        "AIMImage {} names defaultServiceTemplate '{default}', but no namespace or cluster template has that name",
                        image.name_any()
                    ),
                ),
            },
            None => choose(ctx, service, &image, &RuntimeParameters::default()).await,
        },
    }
}

/// `template`, chosen without the matcher, if it can run (see [`fit`]).
async fn fitted(ctx: &Context, service: &AIMService, template: TemplateRecord, image: &AIMImage) -> Resolution {
    match fit::check(ctx, &service.spec.aim_model_id, &template, None).await {
        Ok(()) => Resolution::resolved(template, image, None),
        Err((reason, message)) => failed(reason, message),
    }
}

/// The template resolved before, if the spec is unchanged since, no new decision was asked for, and it still
/// exists.
fn sticky(ctx: &Context, service: &AIMService, namespace: &str) -> Option<TemplateRecord> {
    let status = service.status.as_ref()?;
    let resolved = status.resolved_template.as_ref()?;
    if status.head.observed_generation != service.metadata.generation || redecide_requested(service) {
        return None;
    }
    let found = ctx.index.template(namespace, &resolved.name)?;
    let record = TemplateRecord::from(&found);
    (record.scope == resolved.scope && record.profile.model_id == service.spec.aim_model_id).then_some(record)
}

/// Pattern 2: the namespace template `name`, else the cluster template; or why not (reason, message).
fn named(ctx: &Context, namespace: &str, name: &str, model: &str) -> Result<TemplateRecord, (&'static str, String)> {
    match ctx.index.template(namespace, name) {
        None => Err((
            reasons::TEMPLATE_NOT_FOUND,
            format!(
                "no AIMServiceTemplate '{name}' in namespace {namespace} and no AIMClusterServiceTemplate '{name}'"
            ),
        )),
        Some(t) if t.profile().model_id != model => Err((
            reasons::TEMPLATE_MODEL_MISMATCH,
            format!(
                "template '{name}' serves model '{}', but the service asks for '{model}'",
                t.profile().model_id
            ),
        )),
        Some(t) => Ok(TemplateRecord::from(&t)),
    }
}

fn scope_word(scope: TemplateScope) -> &'static str {
    match scope {
        TemplateScope::Namespace => "namespace",
        TemplateScope::Cluster => "cluster",
    }
}

/// The GPU inventory the matcher judges `templates` against: the cluster's `amd.com/gpu`s, or none (not
/// checked; the fit check judges the chosen template against its own resource) when a candidate requests its
/// GPUs as another resource, which the WIT's pools cannot say.
fn matcher_inventory(ctx: &Context, templates: &[TemplateRecord]) -> Option<Vec<crate::policy::bindings::GpuPool>> {
    let default = |t: &TemplateRecord| {
        t.profile
            .parameters
            .gpu_selector
            .as_ref()
            .is_none_or(|g| g.resource() == gpu::RESOURCE)
    };
    if !templates.iter().all(default) {
        return None;
    }
    ctx.index
        .inventory()
        .map(|pools| candidates::inventory_to_wit(&pools, gpu::RESOURCE))
}

/// Patterns 1 (no default) and 3: ask the matcher.
async fn choose(ctx: &Context, service: &AIMService, image: &AIMImage, wanted: &RuntimeParameters) -> Resolution {
    let namespace = service.namespace().unwrap_or_default();
    let templates: Vec<TemplateRecord> = ctx
        .index
        .templates_of_model(&namespace, &service.spec.aim_model_id)
        .iter()
        .map(TemplateRecord::from)
        .collect();
    let request = MatchRequest {
        model_id: service.spec.aim_model_id.clone(),
        wanted: to_wit(wanted),
        candidates: templates.iter().map(to_candidate).collect(),
        inventory: matcher_inventory(ctx, &templates),
    };
    let decided = match ctx.policy.decide::<Matcher>(request).await {
        Ok(d) => d,
        Err(e) => return failed(reasons::POLICY_FAILED, e.to_string()),
    };
    let result = &decided.value;
    let mut decision = PolicyDecision {
        plugin: decided.provenance.plugin.clone(),
        digest: decided.provenance.digest.clone(),
        outcome: String::new(),
        reason: result.reason.clone(),
        candidates: result
            .verdicts
            .iter()
            .map(|v| {
                let t = &templates[v.candidate as usize];
                CandidateVerdict {
                    name: t.name.clone(),
                    scope: format!("{:?}", t.scope),
                    accepted: v.accepted,
                    score: v.score,
                    reason: v.reason.clone(),
                }
            })
            .collect(),
    };
    match &result.decision {
        Decision::UseCandidate(i) => {
            let template = templates[*i as usize].clone();
            // A template the operator derived for the same overrides (by this service a moment ago, before its
            // status was written, or by another service) says so: it is what "derive" made.
            let derived = if template.derived {
                " (derived by the operator for these overrides)"
            } else {
                ""
            };
            decision.outcome = format!("use {} template {}{derived}", scope_word(template.scope), template.name);
            Resolution::resolved(template, image, Some(decision))
        }
        Decision::Derive(params) => {
            let params = candidates::from_wit(params);
            decision.outcome = "derive a template from the model's default".into();
            let Some(default) = &image.spec.default_service_template else {
                return Resolution::Failed {
                    reason: reasons::NO_MATCHING_TEMPLATE,
                    message: format!(
                        "no template matches the overrides and AIMImage {} names no defaultServiceTemplate to derive one from",
                        image.name_any()
                    ),
                    decision: Some(decision),
                };
            };
            match ctx.index.template(&namespace, default) {
                Some(base) => {
                    derive(
                        ctx,
                        &namespace,
                        &TemplateRecord::from(&base),
                        &params,
                        image,
                        Some(decision),
                    )
                    .await
                }
                None => Resolution::Failed {
                    reason: reasons::TEMPLATE_NOT_FOUND,
                    message: format!("the default template '{default}' to derive from does not exist"),
                    decision: Some(decision),
                },
            }
        }
        Decision::None => {
            decision.outcome = "none".into();
            Resolution::Failed {
                reason: reasons::NO_MATCHING_TEMPLATE,
                message: result.reason.clone(),
                decision: Some(decision),
            }
        }
    }
}

/// Patterns 3 (derive) and 4: the merger's template, as the index has it or as it is to be made.
async fn derive(
    ctx: &Context,
    namespace: &str,
    base: &TemplateRecord,
    overrides: &RuntimeParameters,
    image: &AIMImage,
    decision: Option<PolicyDecision>,
) -> Resolution {
    let request = MergeRequest {
        base_name: base.name.clone(),
        model_id: base.profile.model_id.clone(),
        base: to_wit(&base.profile.parameters),
        overrides: to_wit(overrides),
    };
    let merged = match ctx.policy.decide::<Merger>(request).await {
        Ok(m) => m,
        Err(e) => {
            return Resolution::Failed {
                reason: reasons::POLICY_FAILED,
                message: e.to_string(),
                decision,
            };
        }
    };
    let desired = derived::desired(namespace, base, &merged.value, &merged.provenance);
    let name = desired.name_any();
    let existing = ctx.index.namespace_template(namespace, &name);
    if derived::foreign(existing.as_deref()) {
        return Resolution::Failed {
            reason: reasons::DERIVED_NAME_TAKEN,
            message: format!(
                "the derived template would be named '{name}', but a template of that name exists and was not derived by the operator"
            ),
            decision,
        };
    }
    let template = TemplateRecord {
        name,
        scope: TemplateScope::Namespace,
        profile: desired.spec.profile.clone(),
        status: existing.as_ref().and_then(|t| t.status.clone()).unwrap_or_default(),
        derived: true,
    };
    if let Err((reason, message)) = fit::check(ctx, &base.profile.model_id, &template, Some(base)).await {
        return Resolution::Failed {
            reason,
            message,
            decision,
        };
    }
    Resolution::Resolved {
        template,
        image: image.spec.image.clone(),
        decision,
        derive: Some(desired),
    }
}
