//! Which template a service runs, in the four patterns of the product:
//!
//! 1. model only: the AIMImage's `defaultServiceTemplate`; without one, the matcher chooses;
//! 2. `templateRef`: the namespace template of that name, else the cluster template;
//! 3. `overrides` only: the matcher chooses among every template of the model, or asks for a derived one,
//!    which the merger makes from the model's default template;
//! 4. `templateRef` + `overrides`: the merger derives a namespace template from the referenced one.
//!
//! A resolved service keeps its template while its spec is unchanged and the template exists, so swapping a
//! policy plugin changes later decisions, not running services.

use super::candidates::{self, TemplateRecord, to_candidate, to_wit};
use super::derived::{self, DeriveError};
use crate::api::{AIMImage, AIMService, CandidateVerdict, PolicyDecision, RuntimeParameters, TemplateScope};
use crate::controller::conditions::reasons;
use crate::controller::context::Context;
use crate::controller::error::Error;
use crate::policy::bindings::{Decision, MatchRequest};
use kube::ResourceExt;

/// Reasons specific to resolution.
pub mod reason {
    /// A policy plugin failed; the message names it.
    pub const POLICY_FAILED: &str = "PolicyFailed";
    /// The matcher found nothing that can serve the service.
    pub const NO_MATCHING_TEMPLATE: &str = "NoMatchingTemplate";
    /// The named template serves another model.
    pub const TEMPLATE_MODEL_MISMATCH: &str = "TemplateModelMismatch";
    /// A derived template's name is taken by a template the operator did not derive.
    pub const DERIVED_NAME_TAKEN: &str = "DerivedNameTaken";
}

/// The outcome of resolution. (A short-lived return value: boxing the larger variant would buy nothing.)
#[allow(clippy::large_enum_variant)]
pub enum Resolution {
    /// The service runs `template` from `image`.
    Resolved {
        /// The template.
        template: TemplateRecord,
        /// The model's image.
        image: String,
        /// The matcher's decision, when the matcher chose.
        decision: Option<PolicyDecision>,
    },
    /// It cannot be resolved; the reason says why.
    Failed {
        /// Condition reason.
        reason: &'static str,
        /// Condition message.
        message: String,
        /// The matcher's decision, when it was asked.
        decision: Option<PolicyDecision>,
    },
}

fn failed(reason: &'static str, message: String) -> Resolution {
    Resolution::Failed {
        reason,
        message,
        decision: None,
    }
}

/// Resolves `service`.
pub async fn resolve(ctx: &Context, service: &AIMService) -> Result<Resolution, Error> {
    let namespace = service.namespace().unwrap_or_default();
    let spec = &service.spec;
    let Some(image) = crate::controller::catalog::image_for(&ctx.client, &spec.aim_model_id).await? else {
        return Ok(failed(
            reasons::MODEL_NOT_FOUND,
            format!(
                "no AIMImage has modelId '{}': install the model's catalog pack, or fix spec.aimModelId",
                spec.aim_model_id
            ),
        ));
    };
    if let Some(kept) = sticky(ctx, service, &namespace).await? {
        let decision = service.status.as_ref().and_then(|s| s.decision.clone());
        return Ok(Resolution::Resolved {
            template: kept,
            image: image.spec.image,
            decision,
        });
    }
    let overrides = spec.overrides.clone().filter(|o| *o != RuntimeParameters::default());
    let client = &ctx.client;
    let resolution = match (&spec.template_ref, &overrides) {
        (Some(name), None) => match named(client, &namespace, name, &spec.aim_model_id).await? {
            Ok(template) => Resolution::Resolved {
                template,
                image: image.spec.image.clone(),
                decision: None,
            },
            Err(f) => f,
        },
        (Some(name), Some(o)) => match named(client, &namespace, name, &spec.aim_model_id).await? {
            Ok(base) => derive(ctx, service, &base, o, &image.spec.image, None).await?,
            Err(f) => f,
        },
        (None, Some(o)) => choose(ctx, service, &image, o).await?,
        (None, None) => match &image.spec.default_service_template {
            Some(default) => match candidates::lookup(client, &namespace, default).await? {
                Some(template) => Resolution::Resolved {
                    template,
                    image: image.spec.image.clone(),
                    decision: None,
                },
                None => failed(
                    reasons::TEMPLATE_NOT_FOUND,
                    format!(
                        "AIMImage {} names defaultServiceTemplate '{default}', but no namespace or cluster template has that name",
                        image.name_any()
                    ),
                ),
            },
            None => choose(ctx, service, &image, &RuntimeParameters::default()).await?,
        },
    };
    Ok(resolution)
}

/// The template resolved before, if the spec is unchanged since and it still exists.
async fn sticky(ctx: &Context, service: &AIMService, namespace: &str) -> Result<Option<TemplateRecord>, Error> {
    let Some(status) = &service.status else {
        return Ok(None);
    };
    let (Some(resolved), Some(observed)) = (&status.resolved_template, status.observed_generation) else {
        return Ok(None);
    };
    if Some(observed) != service.metadata.generation {
        return Ok(None);
    }
    let found = candidates::lookup(&ctx.client, namespace, &resolved.name).await?;
    Ok(found.filter(|t| t.scope == resolved.scope && t.profile.model_id == service.spec.aim_model_id))
}

/// Pattern 2: the namespace template `name`, else the cluster template.
async fn named(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    model: &str,
) -> Result<Result<TemplateRecord, Resolution>, Error> {
    match candidates::lookup(client, namespace, name).await? {
        None => Ok(Err(failed(
            reasons::TEMPLATE_NOT_FOUND,
            format!(
                "no AIMServiceTemplate '{name}' in namespace {namespace} and no AIMClusterServiceTemplate '{name}'"
            ),
        ))),
        Some(t) if t.profile.model_id != model => Ok(Err(failed(
            reason::TEMPLATE_MODEL_MISMATCH,
            format!(
                "template '{name}' serves model '{}', but the service asks for '{model}'",
                t.profile.model_id
            ),
        ))),
        Some(t) => Ok(Ok(t)),
    }
}

/// Patterns 1 (no default) and 3: ask the matcher.
async fn choose(
    ctx: &Context,
    service: &AIMService,
    image: &AIMImage,
    wanted: &RuntimeParameters,
) -> Result<Resolution, Error> {
    let namespace = service.namespace().unwrap_or_default();
    let templates = candidates::of_model(&ctx.client, &namespace, &service.spec.aim_model_id).await?;
    let request = MatchRequest {
        model_id: service.spec.aim_model_id.clone(),
        wanted: to_wit(wanted),
        candidates: templates.iter().map(to_candidate).collect(),
        inventory: candidates::inventory(&ctx.client).await?,
    };
    let decided = match ctx.policy.match_template(request).await {
        Ok(d) => d,
        Err(e) => return Ok(failed(reason::POLICY_FAILED, e.to_string())),
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
            decision.outcome = format!("use {} template {}", scope_word(template.scope), template.name);
            Ok(Resolution::Resolved {
                template,
                image: image.spec.image.clone(),
                decision: Some(decision),
            })
        }
        Decision::Derive(params) => {
            let params = candidates::from_wit(params);
            decision.outcome = "derive a template from the model's default".into();
            let Some(default) = &image.spec.default_service_template else {
                return Ok(Resolution::Failed {
                    reason: reason::NO_MATCHING_TEMPLATE,
                    message: format!(
                        "no template matches the overrides and AIMImage {} names no defaultServiceTemplate to derive one from",
                        image.name_any()
                    ),
                    decision: Some(decision),
                });
            };
            match candidates::lookup(&ctx.client, &namespace, default).await? {
                Some(base) => derive(ctx, service, &base, &params, &image.spec.image, Some(decision)).await,
                None => Ok(Resolution::Failed {
                    reason: reasons::TEMPLATE_NOT_FOUND,
                    message: format!("the default template '{default}' to derive from does not exist"),
                    decision: Some(decision),
                }),
            }
        }
        Decision::None => {
            decision.outcome = "none".into();
            Ok(Resolution::Failed {
                reason: reason::NO_MATCHING_TEMPLATE,
                message: result.reason.clone(),
                decision: Some(decision),
            })
        }
    }
}

async fn derive(
    ctx: &Context,
    service: &AIMService,
    base: &TemplateRecord,
    overrides: &RuntimeParameters,
    image: &str,
    decision: Option<PolicyDecision>,
) -> Result<Resolution, Error> {
    match derived::derive(ctx, service, base, overrides).await {
        Ok((template, _)) => Ok(Resolution::Resolved {
            template,
            image: image.to_string(),
            decision,
        }),
        Err(DeriveError::Policy(e)) => Ok(Resolution::Failed {
            reason: reason::POLICY_FAILED,
            message: e.to_string(),
            decision,
        }),
        Err(DeriveError::NameTaken(name)) => Ok(Resolution::Failed {
            reason: reason::DERIVED_NAME_TAKEN,
            message: format!(
                "the derived template would be named '{name}', but a template of that name exists and was not derived by the operator"
            ),
            decision,
        }),
        Err(DeriveError::Api(e)) => Err(e),
    }
}

fn scope_word(scope: TemplateScope) -> &'static str {
    match scope {
        TemplateScope::Namespace => "namespace",
        TemplateScope::Cluster => "cluster",
    }
}
