//! The labels and annotations of an `AIMService` that follow it onto its InferenceService, the predictor's pods
//! and its HTTPRoute (pure). What never follows: `kubectl.kubernetes.io/…` (kubectl's bookkeeping, such as the
//! whole last-applied object), `aim.silogen.ai/…` (the operator's own keys, which mean something on the service
//! only) and `app.kubernetes.io/managed-by`. The operator's own labels and annotations on a child are added
//! after these, so they always win.

use crate::api::AIMClusterConfigSpec;
use crate::download::filter::wildcard;
use crate::labels;
use std::collections::BTreeMap;

/// What the cluster config says about metadata that follows.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Propagation {
    /// Label key patterns that follow (`None`: every label).
    pub(crate) labels: Option<Vec<String>>,
    /// Annotations every route gets.
    pub(crate) route_annotations: BTreeMap<String, String>,
}

impl Propagation {
    /// From the cluster config in use (none: every label, no route annotations).
    pub(crate) fn from_config(spec: Option<&AIMClusterConfigSpec>) -> Propagation {
        Propagation {
            labels: spec.and_then(|s| s.propagate_labels.clone()),
            route_annotations: spec
                .and_then(|s| s.routing.as_ref())
                .map(|r| r.route_annotations.clone())
                .unwrap_or_default(),
        }
    }
}

/// Keys that stay on the service.
fn reserved(key: &str) -> bool {
    let prefix = |p: &str| key.starts_with(p);
    prefix("kubectl.kubernetes.io/") || prefix("aim.silogen.ai/") || key == labels::MANAGED_BY
}

/// The service's labels that follow it.
pub(crate) fn labels(service: Option<&BTreeMap<String, String>>, p: &Propagation) -> BTreeMap<String, String> {
    let wanted = |key: &str| {
        p.labels
            .as_ref()
            .is_none_or(|patterns| patterns.iter().any(|pattern| wildcard(pattern, key)))
    };
    service
        .into_iter()
        .flatten()
        .filter(|(k, _)| !reserved(k) && wanted(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The service's annotations that follow it onto its InferenceService and pods.
pub(crate) fn annotations(service: Option<&BTreeMap<String, String>>) -> BTreeMap<String, String> {
    service
        .into_iter()
        .flatten()
        .filter(|(k, _)| !reserved(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The route's annotations: the cluster config's, then the service's (which win by key).
pub(crate) fn route_annotations(
    service: Option<&BTreeMap<String, String>>,
    p: &Propagation,
) -> BTreeMap<String, String> {
    let mut merged = p.route_annotations.clone();
    merged.extend(annotations(service));
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[rstest::rstest]
    #[case::every_label_by_default(None, &["example.com/cost-center", "team"])]
    #[case::only_matching_keys(Some(vec!["example.com/*".to_string()]), &["example.com/cost-center"])]
    #[case::none(Some(vec![]), &[])]
    fn labels_follow_as_the_cluster_config_says(#[case] patterns: Option<Vec<String>>, #[case] kept: &[&str]) {
        let service = map(&[
            ("team", "nlp"),
            ("example.com/cost-center", "42"),
            ("aim.silogen.ai/service", "x"),
            ("app.kubernetes.io/managed-by", "helm"),
        ]);
        let p = Propagation {
            labels: patterns,
            ..Default::default()
        };
        let followed = labels(Some(&service), &p);
        assert_eq!(followed.keys().map(String::as_str).collect::<Vec<_>>(), kept);
    }

    #[test]
    fn kubectl_and_operator_annotations_stay_and_the_service_wins_on_the_route() {
        let service = map(&[
            ("kubectl.kubernetes.io/last-applied-configuration", "{…}"),
            ("aim.silogen.ai/redecide", "1"),
            ("example.com/owner", "ana"),
            ("gateway.example.com/timeout", "600s"),
        ]);
        assert_eq!(
            annotations(Some(&service)),
            map(&[("example.com/owner", "ana"), ("gateway.example.com/timeout", "600s")])
        );
        let p = Propagation {
            labels: None,
            route_annotations: map(&[
                ("gateway.example.com/timeout", "300s"),
                ("gateway.example.com/retries", "2"),
            ]),
        };
        assert_eq!(
            route_annotations(Some(&service), &p),
            map(&[
                ("example.com/owner", "ana"),
                ("gateway.example.com/retries", "2"),
                ("gateway.example.com/timeout", "600s"),
            ])
        );
    }
}
