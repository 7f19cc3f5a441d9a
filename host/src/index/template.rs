//! A namespace or a cluster template, as the controllers see either: one type for what both kinds share.

use crate::api::{AIMClusterServiceTemplate, AIMServiceTemplate, TemplateProfile, TemplateScope, TemplateStatus};
use crate::labels::Component;
use kube::ResourceExt;
use std::sync::Arc;

/// A namespace or a cluster template, as the controllers see either.
#[derive(Debug, Clone)]
pub(crate) enum Template {
    Namespace(Arc<AIMServiceTemplate>),
    Cluster(Arc<AIMClusterServiceTemplate>),
}

impl Template {
    pub(crate) fn name(&self) -> String {
        match self {
            Template::Namespace(t) => t.name_any(),
            Template::Cluster(t) => t.name_any(),
        }
    }

    pub(crate) fn scope(&self) -> TemplateScope {
        match self {
            Template::Namespace(_) => TemplateScope::Namespace,
            Template::Cluster(_) => TemplateScope::Cluster,
        }
    }

    pub(crate) fn profile(&self) -> &TemplateProfile {
        match self {
            Template::Namespace(t) => &t.spec.profile,
            Template::Cluster(t) => &t.spec.profile,
        }
    }

    /// Its status (default when it has none yet).
    pub(crate) fn status(&self) -> TemplateStatus {
        match self {
            Template::Namespace(t) => t.status.clone(),
            Template::Cluster(t) => t.status.clone(),
        }
        .unwrap_or_default()
    }

    /// True for a template the operator derived from another with a service's overrides.
    pub(crate) fn derived(&self) -> bool {
        match self {
            Template::Namespace(t) => Component::of(t.labels()) == Some(Component::DerivedTemplate),
            Template::Cluster(_) => false,
        }
    }
}
