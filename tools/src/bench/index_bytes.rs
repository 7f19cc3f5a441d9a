//! The index's bytes per object: a sample of each kind the index keeps per service, as the API server returns it
//! and as the index keeps it after slimming ([`aim_operator::testing::keep`]), serialized as JSON, and the heap
//! the kept object holds in memory ([`super::heap`]).

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
    /// Mean heap bytes a kept object holds (sizes asked for, without the allocator's own overhead).
    pub heap: usize,
    /// Mean number of allocations a kept object holds.
    pub allocations: usize,
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
        let sizes: Vec<(usize, usize, isize, isize)> = list
            .items
            .iter()
            .filter_map(|o| {
                let mut value = serde_json::to_value(o).ok()?;
                value["kind"] = serde_json::Value::from(kind);
                value["apiVersion"] = serde_json::Value::from(resource.api_version.clone());
                let text = serde_json::to_string(&value).ok()?;
                let (kept, heap, allocations) = super::heap::held_by(|| aim_operator::testing::keep(&text));
                let kept = kept?;
                Some((kept.listed, kept.kept, heap, allocations))
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
            heap: (sizes.iter().map(|s| s.2).sum::<isize>() / n as isize).max(0) as usize,
            allocations: (sizes.iter().map(|s| s.3).sum::<isize>() / n as isize).max(0) as usize,
        });
    }
    out
}
