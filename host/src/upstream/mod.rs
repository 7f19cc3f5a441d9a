//! The APIs of other projects the operator reads or writes, named once: KServe's `InferenceService`, the
//! Gateway API's `Gateway` and `HTTPRoute`, and how the AMD GPU operator labels nodes.
//!
//! KServe and Gateway API objects are handled untyped (`DynamicObject`): the operator needs a handful of their
//! fields, and their own CRDs validate the rest.

pub mod aim;
pub mod gpu;

use kube::api::{ApiResource, GroupVersionKind};

/// `serving.kserve.io/v1beta1 InferenceService`.
pub fn inference_service() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "serving.kserve.io",
        "v1beta1",
        "InferenceService",
    ))
}

/// The label KServe puts on an InferenceService's pods, naming the InferenceService.
pub const INFERENCE_SERVICE_LABEL: &str = "serving.kserve.io/inferenceservice";

/// `gateway.networking.k8s.io/v1 HTTPRoute`.
pub fn http_route() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute"))
}

/// `gateway.networking.k8s.io/v1 Gateway`.
pub fn gateway() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "Gateway"))
}
