//! The index's bytes per object: a sample of each kind the index keeps per service, as the API server returns it
//! and as the index keeps it after slimming ([`aim_operator::testing::slimmed_sizes`]), serialized as JSON (a
//! stand-in for memory: the index holds the typed objects, of about that size).

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};

/// Of one kind: the objects sampled, and their mean bytes as listed and as kept.
#[derive(Debug, Clone)]
pub struct KindBytes {
    /// The kind.
    pub kind: &'static str,
    /// Objects sampled.
    pub sampled: usize,
    /// Mean serialized bytes as the API server returns them.
    pub listed: usize,
    /// Mean serialized bytes as the index keeps them.
    pub kept: usize,
}

/// Samples up to `limit` objects of each kind in the whole cluster.
pub async fn measure(client: &kube::Client, limit: u32) -> Vec<KindBytes> {
    let kinds: [(&str, &str, &str, &'static str); 6] = [
        ("", "v1", "Pod", "Pod"),
        ("apps", "v1", "Deployment", "Deployment"),
        ("batch", "v1", "Job", "Job"),
        ("serving.kserve.io", "v1beta1", "InferenceService", "InferenceService"),
        ("gateway.networking.k8s.io", "v1", "HTTPRoute", "HTTPRoute"),
        ("aim.silogen.ai", "v1alpha1", "AIMService", "AIMService"),
    ];
    let mut out = Vec::new();
    for (group, version, kind, name) in kinds {
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        let Ok(list) = api.list(&ListParams::default().limit(limit)).await else {
            continue;
        };
        let sizes: Vec<(usize, usize)> = list
            .items
            .iter()
            .filter_map(|o| {
                let mut value = serde_json::to_value(o).ok()?;
                value["kind"] = serde_json::Value::from(kind);
                value["apiVersion"] = serde_json::Value::from(resource.api_version.clone());
                aim_operator::testing::slimmed_sizes(&value)
            })
            .collect();
        if sizes.is_empty() {
            continue;
        }
        let n = sizes.len();
        out.push(KindBytes {
            kind: name,
            sampled: n,
            listed: sizes.iter().map(|s| s.0).sum::<usize>() / n,
            kept: sizes.iter().map(|s| s.1).sum::<usize>() / n,
        });
    }
    out
}
