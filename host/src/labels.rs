//! Labels and annotations the operator puts on what it creates, so people and the operator can find them, and
//! the [`Component`] that made each object, named once.

use std::collections::BTreeMap;
use std::fmt;

/// `app.kubernetes.io/managed-by`.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Its value on everything the operator creates.
pub const MANAGED_BY_VALUE: &str = "aim-operator";
/// Which part of the operator created the object (a [`Component`]).
pub const COMPONENT: &str = "aim.silogen.ai/component";
/// The template an object belongs to.
pub const TEMPLATE: &str = "aim.silogen.ai/template";
/// The model cache an object belongs to.
pub const MODEL_CACHE: &str = "aim.silogen.ai/model-cache";
/// The service an object belongs to.
pub const SERVICE: &str = "aim.silogen.ai/service";
/// On a derived template: the template it was derived from.
pub const DERIVED_FROM: &str = "aim.silogen.ai/derived-from";
/// Annotation on a derived template: the merger plugin (and digest) that derived it.
pub const DERIVED_BY: &str = "aim.silogen.ai/derived-by";
/// Annotation on an HTTPRoute: the router plugin (and digest) that chose its path.
pub const PATH_DECIDED_BY: &str = "aim.silogen.ai/path-decided-by";
/// Annotation on what the operator applies: a hash of what it wanted, so that a field it stops wanting counts as
/// a difference (a comparison of fields alone would only see fields that are still wanted).
pub const APPLIED_HASH: &str = "aim.silogen.ai/applied-hash";
/// Annotation a user sets on an `AIMService` (to any new value) to have its template and path decided again
/// by the policy plugins now in use.
pub const REDECIDE: &str = "aim.silogen.ai/redecide";
/// On a ReferenceGrant the operator made: the namespace whose routes it lets reach the HTTP add-on's interceptor.
pub const GRANTS_NAMESPACE: &str = "aim.silogen.ai/grants-namespace";

/// What made an object: the value of the [`COMPONENT`] label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Component {
    /// A template's discovery Job.
    Discovery,
    /// A model cache's download Job (and its pod's ServiceAccount, Role and RoleBinding).
    Download,
    /// A model cache's size-check Job (a cache without `spec.size`).
    SizeCheck,
    /// A model cache's volume claim.
    CacheVolume,
    /// A `ModelCache` a template cache created for one of its sources.
    ModelCache,
    /// The `AIMTemplateCache` a namespace template with `caching.enabled` owns.
    TemplateCache,
    /// An `AIMTemplateCache` created for services with `cacheModel: true`.
    ServiceCache,
    /// A template derived from another with a service's overrides.
    DerivedTemplate,
    /// A service's KServe InferenceService.
    Runtime,
    /// A service's HTTPRoute.
    Routing,
    /// What wakes a service from zero through KEDA's HTTP add-on: its ScaledObject and InterceptorRoute, and
    /// the ReferenceGrant of its namespace.
    Wake,
}

impl Component {
    /// Every component.
    pub const ALL: [Component; 11] = [
        Component::Discovery,
        Component::Download,
        Component::SizeCheck,
        Component::CacheVolume,
        Component::ModelCache,
        Component::TemplateCache,
        Component::ServiceCache,
        Component::DerivedTemplate,
        Component::Runtime,
        Component::Routing,
        Component::Wake,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Discovery => "discovery",
            Component::Download => "download",
            Component::SizeCheck => "size-check",
            Component::CacheVolume => "cache-volume",
            Component::ModelCache => "model-cache",
            Component::TemplateCache => "template-cache",
            Component::ServiceCache => "service-cache",
            Component::DerivedTemplate => "derived-template",
            Component::Runtime => "runtime",
            Component::Routing => "routing",
            Component::Wake => "wake",
        }
    }

    /// The component an object's labels name, if the operator made it.
    pub fn of(labels: &BTreeMap<String, String>) -> Option<Component> {
        if !is_managed(labels) {
            return None;
        }
        let value = labels.get(COMPONENT)?;
        Component::ALL.into_iter().find(|c| c.as_str() == value)
    }

    /// The label selector of this component's objects.
    pub fn selector(self) -> String {
        format!("{MANAGED_BY}={MANAGED_BY_VALUE},{COMPONENT}={}", self.as_str())
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The standard labels plus the component.
pub fn managed(component: Component) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
        (COMPONENT.to_string(), component.as_str().to_string()),
    ])
}

/// The label selector of everything the operator made.
pub fn managed_selector() -> String {
    format!("{MANAGED_BY}={MANAGED_BY_VALUE}")
}

/// True for objects the operator created.
pub fn is_managed(labels: &BTreeMap<String, String>) -> bool {
    labels.get(MANAGED_BY).is_some_and(|v| v == MANAGED_BY_VALUE)
}

/// A label value: at most 63 characters (longer names are cut; labels only help people find objects).
pub fn value(text: &str) -> String {
    text.chars()
        .take(63)
        .collect::<String>()
        .trim_end_matches(['-', '.', '_'])
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_round_trip_through_their_labels() {
        for c in Component::ALL {
            assert_eq!(Component::of(&managed(c)), Some(c));
        }
        let mut foreign = managed(Component::Runtime);
        foreign.insert(MANAGED_BY.into(), "someone-else".into());
        assert_eq!(
            Component::of(&foreign),
            None,
            "only the operator's own objects have a component"
        );
    }
}
