//! The `AIMImage` status controller: an image reports whether its default template exists and whether another
//! image claims the same model (the first by name is used; the others report `DuplicateModelId`).

use crate::api::{AIMImage, AIMImageStatus, ResourceState};
use crate::controller::kit::conditions::{self, Cond, reasons, types};
use crate::controller::kit::status;
use crate::controller::kit::{Context, Error};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use std::sync::Arc;

/// The image's status, from the first image of its model (by name) and whether its default template exists as
/// a cluster template.
pub(crate) fn plan(image: &AIMImage, first_of_model: &str, default_exists: bool, now: Timestamp) -> AIMImageStatus {
    let generation = image.metadata.generation;
    let mut next = image.status.clone().unwrap_or_default();
    next.head.observed_generation = generation;
    let verdict = match &image.spec.default_service_template {
        _ if first_of_model != image.name_any() => Cond::no(
            reasons::DUPLICATE_MODEL,
            format!(
                "AIMImage {first_of_model} also maps modelId '{}' and is used instead (the first by name)",
                image.spec.model_id
            ),
        ),
        None => Cond::yes(
            reasons::NO_DEFAULT_TEMPLATE,
            "no default template: the matcher chooses for services that name none",
        ),
        Some(name) if default_exists => Cond::yes(
            reasons::DEFAULT_TEMPLATE_FOUND,
            format!("default template {name} exists"),
        ),
        Some(name) => Cond::no(
            reasons::DEFAULT_TEMPLATE_MISSING,
            format!(
                "defaultServiceTemplate {name} names no AIMClusterServiceTemplate: services of this model that name no template fail unless their namespace has an AIMServiceTemplate {name}"
            ),
        ),
    };
    let conds = &mut next.head.conditions;
    let ready = Cond {
        reason: if verdict.ok { reasons::READY } else { verdict.reason },
        ..verdict.clone()
    };
    conditions::set(conds, types::READY, &ready, generation, now);
    let failure = if verdict.ok {
        Cond::no(reasons::NO_FAILURE, "")
    } else {
        Cond::yes(verdict.reason, verdict.message.clone())
    };
    conditions::set(conds, types::FAILURE, &failure, generation, now);
    next.head.status = Some(if verdict.ok {
        ResourceState::Available
    } else {
        ResourceState::Degraded
    });
    next
}

/// One reconcile of an image.
pub(crate) async fn reconcile(image: Arc<AIMImage>, ctx: Arc<Context>) -> Result<Action, Error> {
    let first = ctx
        .index
        .image_for_model(&image.spec.model_id)
        .map(|i| i.name_any())
        .unwrap_or_default();
    let default_exists = image
        .spec
        .default_service_template
        .as_deref()
        .is_some_and(|name| ctx.index.cluster_template(name).is_some());
    let next = plan(&image, &first, default_exists, Timestamp::now());
    status::write(&ctx, image.as_ref(), next).await?;
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::AIMImageSpec;

    fn image(name: &str, default: Option<&str>) -> AIMImage {
        AIMImage::new(
            name,
            AIMImageSpec {
                model_id: "m/x".into(),
                image: "reg/x:1".into(),
                default_service_template: default.map(String::from),
            },
        )
    }

    fn ready(s: &AIMImageStatus) -> (&str, &str) {
        let c = conditions::get(&s.head.conditions, types::READY).unwrap();
        (c.status.as_str(), c.reason.as_str())
    }

    #[test]
    fn an_image_reports_its_default_template_and_duplicates() {
        let now = Timestamp::now();
        let s = plan(&image("a", Some("t")), "a", true, now);
        assert_eq!(
            (s.head.status, ready(&s)),
            (Some(ResourceState::Available), ("True", reasons::READY))
        );
        let s = plan(&image("a", Some("t")), "a", false, now);
        assert_eq!(s.head.status, Some(ResourceState::Degraded));
        assert_eq!(ready(&s), ("False", reasons::DEFAULT_TEMPLATE_MISSING));
        let s = plan(&image("b", None), "a", false, now);
        assert_eq!(ready(&s), ("False", reasons::DUPLICATE_MODEL));
        let s = plan(&image("a", None), "a", false, now);
        assert_eq!(ready(&s), ("True", reasons::READY));
    }
}
