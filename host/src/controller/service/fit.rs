//! Whether a template a service is about to run can run at all: the matcher's memory-fit and GPU-inventory
//! rules, applied to the one template the service ends on, whoever chose it (the AIMImage's default, a
//! `templateRef`, or the merger's derived template). A matcher-chosen template was judged already and is not
//! asked again.
//!
//! The matcher plugin is asked with that template as the only candidate, presented as `Available` (readiness
//! is the template controller's business, not fit) and with no wanted parameters, so its verdict is about fit
//! and inventory alone. A derived template not yet discovered is shown with its base's source sizes: the
//! merger changes metric, precision or GPUs, and the weights of the base are the best figure known before the
//! dry-run reports its own.

use super::candidates::{TemplateRecord, inventory_to_wit, to_candidate};
use crate::api::{ResourceState, TemplateScope};
use crate::controller::kit::Context;
use crate::controller::kit::reasons;
use crate::policy::Matcher;
use crate::policy::bindings::{MatchRequest, RuntimeParameters};

/// Why the template cannot run: (condition reason, message).
pub(crate) type Unfit = (&'static str, String);

/// Checks `template` for `model`; `sizes_from` lends its model source sizes when `template` has none yet.
pub(crate) async fn check(
    ctx: &Context,
    model: &str,
    template: &TemplateRecord,
    sizes_from: Option<&TemplateRecord>,
) -> Result<(), Unfit> {
    let request = MatchRequest {
        model_id: model.to_string(),
        wanted: RuntimeParameters {
            metric: None,
            precision: None,
            gpu: None,
        },
        candidates: vec![to_candidate(&as_judged(template, sizes_from))],
        inventory: ctx
            .index
            .inventory()
            .map(|pools| inventory_to_wit(&pools, &resource_of(template))),
    };
    let decided = ctx
        .policy
        .decide::<Matcher>(request)
        .await
        .map_err(|e| (reasons::POLICY_FAILED, e.to_string()))?;
    match decided.value.verdicts.first() {
        Some(v) if !v.accepted => Err((
            reasons::TEMPLATE_DOES_NOT_FIT,
            format!("{} cannot run: {}", describe(template), v.reason),
        )),
        _ => Ok(()),
    }
}

/// The extended resource `template` requests its GPUs as.
fn resource_of(template: &TemplateRecord) -> String {
    template
        .profile
        .parameters
        .gpu_selector
        .as_ref()
        .map_or(crate::upstream::gpu::RESOURCE, |g| g.resource())
        .to_string()
}

/// The template as the fit check shows it to the matcher.
fn as_judged(template: &TemplateRecord, sizes_from: Option<&TemplateRecord>) -> TemplateRecord {
    let mut shown = template.clone();
    shown.status.head.status = Some(ResourceState::Available);
    if shown.status.model_sources.is_empty()
        && let Some(other) = sizes_from
    {
        shown.status.model_sources = other.status.model_sources.clone();
    }
    shown
}

fn describe(template: &TemplateRecord) -> String {
    let kind = match (template.derived, template.scope) {
        (true, _) => "the derived template",
        (false, TemplateScope::Namespace) => "template",
        (false, TemplateScope::Cluster) => "cluster template",
    };
    format!("{kind} '{}'", template.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ModelSource, TemplateStatus};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn record(name: &str, sizes: &[&str], state: Option<ResourceState>) -> TemplateRecord {
        let status = TemplateStatus {
            head: crate::api::StatusHead {
                status: state,
                ..Default::default()
            },
            model_sources: sizes
                .iter()
                .map(|s| ModelSource {
                    source_uri: "hf://org/m".into(),
                    size: Some(Quantity(s.to_string())),
                    name: None,
                })
                .collect(),
            ..Default::default()
        };
        TemplateRecord {
            derived: true,
            ..crate::fixtures::template_record(name, TemplateScope::Namespace, status)
        }
    }

    #[test]
    fn a_template_without_sizes_is_judged_with_its_bases_and_as_available() {
        let derived = record("d", &[], Some(ResourceState::Pending));
        let base = record("b", &["754Gi"], Some(ResourceState::Available));
        let shown = as_judged(&derived, Some(&base));
        assert_eq!(shown.status.head.status, Some(ResourceState::Available));
        assert_eq!(shown.status.model_sources, base.status.model_sources);
        assert_eq!(shown.name, "d");
    }

    #[test]
    fn a_template_with_its_own_sizes_keeps_them() {
        let derived = record("d", &["20Gi"], None);
        let base = record("b", &["754Gi"], None);
        let shown = as_judged(&derived, Some(&base));
        assert_eq!(shown.status.model_sources, derived.status.model_sources);
    }
}
