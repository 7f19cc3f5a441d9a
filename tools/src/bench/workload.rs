//! What a benchmark run creates: a catalog (an AIMImage and cluster templates with inline model sources, so
//! they are Available without discovery), a cluster config with a gateway (so every service gets a route), and
//! N services of one workload in one request.

use std::fmt::Write;

/// The model every benchmark service serves.
pub const MODEL: &str = "bench/llama-3.1-8b";
/// The cluster template services name.
pub const TEMPLATE: &str = "bench-mi300x-fp8";
/// The storage class model caches get.
pub const STORAGE_CLASS: &str = "bench-rwx";

/// What the services ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Pattern (b): `templateRef` to a cluster template.
    TemplateRef,
    /// Pattern (b) with `cacheModel: true`: one template cache and one model cache shared by all.
    TemplateRefCached,
    /// Pattern (c): overrides without a template, four different ones, so four templates are derived and
    /// shared.
    Overrides,
    /// `templateRef`, measured while another namespace holds 5 × N services that fail (half name a model no
    /// image serves, half ask for more GPUs than any node has): noisy neighbours must not slow it.
    TemplateRefNoisy,
}

impl Workload {
    /// Every workload.
    pub const ALL: [Workload; 4] = [
        Workload::TemplateRef,
        Workload::TemplateRefCached,
        Workload::Overrides,
        Workload::TemplateRefNoisy,
    ];

    /// Its name on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Workload::TemplateRef => "templateRef",
            Workload::TemplateRefCached => "templateRef+cacheModel",
            Workload::Overrides => "overrides",
            Workload::TemplateRefNoisy => "templateRef+noisyNeighbours",
        }
    }

    /// By name.
    pub fn parse(name: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == name)
    }
}

/// The catalog, the cluster config and the storage class (cluster-scoped, applied once per control plane).
pub fn catalog() -> String {
    format!(
        "apiVersion: aim.silogen.ai/v1alpha1
kind: AIMImage
metadata: {{name: bench-llama}}
spec: {{modelId: {MODEL}, image: registry.bench/aim/llama:1, defaultServiceTemplate: {TEMPLATE}}}
---
apiVersion: aim.silogen.ai/v1alpha1
kind: AIMClusterServiceTemplate
metadata: {{name: {TEMPLATE}}}
spec:
  modelId: {MODEL}
  metric: latency
  precision: fp8
  gpuSelector: {{count: 1, model: MI300X}}
  modelSources: [{{sourceUri: hf://bench/llama-3.1-8b-fp8, size: 8Gi}}]
---
apiVersion: aim.silogen.ai/v1alpha1
kind: AIMClusterConfig
metadata: {{name: default}}
spec:
  routing: {{gateway: {{name: bench-gw, namespace: bench-infra}}}}
  cacheStorageClassName: {STORAGE_CLASS}
"
    )
}

/// `n` services of `workload` in `namespace`, as one List.
pub fn services(workload: Workload, n: usize, namespace: &str) -> String {
    services_in(workload, n, &[namespace.to_string()])
}

/// `n` services of `workload` spread over `namespaces` in turn, as one List.
pub fn services_in(workload: Workload, n: usize, namespaces: &[String]) -> String {
    let mut yaml = String::from("apiVersion: v1\nkind: List\nitems:\n");
    for i in 0..n {
        let spec = match workload {
            Workload::TemplateRef | Workload::TemplateRefNoisy => {
                format!("{{aimModelId: {MODEL}, templateRef: {TEMPLATE}}}")
            }
            Workload::TemplateRefCached => {
                format!("{{aimModelId: {MODEL}, templateRef: {TEMPLATE}, cacheModel: true}}")
            }
            Workload::Overrides => {
                let (precision, gpus) = [("bf16", 1), ("bf16", 2), ("fp16", 1), ("fp16", 2)][i % 4];
                format!(
                    "{{aimModelId: {MODEL}, overrides: {{precision: {precision}, gpuSelector: {{count: {gpus}, model: MI300X}}}}}}"
                )
            }
        };
        let _ = writeln!(
            yaml,
            "- apiVersion: aim.silogen.ai/v1alpha1\n  kind: AIMService\n  metadata: {{name: svc-{i:05}, namespace: {}}}\n  spec: {spec}",
            namespaces[i % namespaces.len()]
        );
    }
    yaml
}

/// The noisy neighbours of [`Workload::TemplateRefNoisy`]: `n` services in `namespace` that fail, half for a
/// model no image serves, half asking for 64 GPUs per replica.
pub fn failing_services(n: usize, namespace: &str) -> String {
    let mut yaml = String::from("apiVersion: v1\nkind: List\nitems:\n");
    for i in 0..n {
        let spec = if i % 2 == 0 {
            "{aimModelId: bench/no-such-model}".to_string()
        } else {
            format!("{{aimModelId: {MODEL}, overrides: {{gpuSelector: {{count: 64, model: MI300X}}}}}}")
        };
        let _ = writeln!(
            yaml,
            "- apiVersion: aim.silogen.ai/v1alpha1\n  kind: AIMService\n  metadata: {{name: noisy-{i:05}, namespace: {namespace}}}\n  spec: {spec}"
        );
    }
    yaml
}
