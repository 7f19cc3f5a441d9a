//! The APIs of other projects the operator reads or writes, named once: KServe's `InferenceService`, the
//! Gateway API's `Gateway`, `HTTPRoute` and `ReferenceGrant`, KEDA's `ScaledObject` and its HTTP add-on's
//! `InterceptorRoute`, and how the AMD GPU operator labels nodes.
//!
//! KServe and Gateway API objects are handled untyped inside ([`dynamic`]): the operator needs a handful of their
//! fields, and their own CRDs validate the rest.

pub(crate) mod aim;
pub mod dynamic;
pub(crate) mod gpu;

pub use dynamic::{Gateway, HttpRoute, InferenceService, InterceptorRoute, ReferenceGrant, ScaledObject};

/// The label KServe puts on an InferenceService's pods, naming the InferenceService.
pub const INFERENCE_SERVICE_LABEL: &str = "serving.kserve.io/inferenceservice";
