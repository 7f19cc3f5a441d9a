//! Types for the kinds of other projects the operator reads without Rust types of their own: KServe's
//! `InferenceService`, the Gateway API's `HTTPRoute` and `Gateway`. Each is a [`DynamicObject`] tagged with its
//! kind ([`Dynamic<M>`]), so that every watched kind has a type of its own: the index declares them all in one
//! table and finds a kind's store by its type.
//!
//! The operator needs a handful of their fields and their own CRDs validate the rest, so the body stays untyped
//! (read through `serde_json::Value` pointers); [`Dynamic`] dereferences to the [`DynamicObject`].

use kube::Resource;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ObjectMeta};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

/// A kind known by its group, version and kind, namespaced.
pub trait DynamicKind: Send + Sync + 'static {
    /// API group.
    const GROUP: &'static str;
    /// Version.
    const VERSION: &'static str;
    /// Kind.
    const KIND: &'static str;
    /// Plural (the resource's URL segment).
    const PLURAL: &'static str;

    /// The kind as kube's [`ApiResource`].
    fn api_resource() -> ApiResource {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(Self::GROUP, Self::VERSION, Self::KIND),
            Self::PLURAL,
        )
    }
}

/// An object of kind `M`, untyped inside.
pub struct Dynamic<M> {
    /// The object.
    pub object: DynamicObject,
    kind: PhantomData<fn() -> M>,
}

impl<M> Dynamic<M> {
    /// Tags `object` as of kind `M`.
    pub fn new(object: DynamicObject) -> Self {
        Dynamic {
            object,
            kind: PhantomData,
        }
    }
}

impl<M> Deref for Dynamic<M> {
    type Target = DynamicObject;
    fn deref(&self) -> &DynamicObject {
        &self.object
    }
}

impl<M> Clone for Dynamic<M> {
    fn clone(&self) -> Self {
        Dynamic::new(self.object.clone())
    }
}

impl<M> PartialEq for Dynamic<M> {
    fn eq(&self, other: &Self) -> bool {
        self.object == other.object
    }
}

impl<M> fmt::Debug for Dynamic<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.object.fmt(f)
    }
}

impl<M> Serialize for Dynamic<M> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.object.serialize(serializer)
    }
}

impl<'de, M> Deserialize<'de> for Dynamic<M> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        DynamicObject::deserialize(deserializer).map(Dynamic::new)
    }
}

impl<M: DynamicKind> Resource for Dynamic<M> {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(M::KIND)
    }
    fn group(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(M::GROUP)
    }
    fn version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(M::VERSION)
    }
    fn plural(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(M::PLURAL)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.object.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.object.metadata
    }
}

/// `serving.kserve.io/v1beta1 InferenceService`.
pub struct InferenceServiceKind;
impl DynamicKind for InferenceServiceKind {
    const GROUP: &'static str = "serving.kserve.io";
    const VERSION: &'static str = "v1beta1";
    const KIND: &'static str = "InferenceService";
    const PLURAL: &'static str = "inferenceservices";
}

/// `gateway.networking.k8s.io/v1 HTTPRoute`.
pub struct HttpRouteKind;
impl DynamicKind for HttpRouteKind {
    const GROUP: &'static str = "gateway.networking.k8s.io";
    const VERSION: &'static str = "v1";
    const KIND: &'static str = "HTTPRoute";
    const PLURAL: &'static str = "httproutes";
}

/// `gateway.networking.k8s.io/v1 Gateway`.
pub struct GatewayKind;
impl DynamicKind for GatewayKind {
    const GROUP: &'static str = "gateway.networking.k8s.io";
    const VERSION: &'static str = "v1";
    const KIND: &'static str = "Gateway";
    const PLURAL: &'static str = "gateways";
}

/// A KServe InferenceService.
pub type InferenceService = Dynamic<InferenceServiceKind>;
/// A Gateway API HTTPRoute.
pub type HttpRoute = Dynamic<HttpRouteKind>;
/// A Gateway API Gateway.
pub type Gateway = Dynamic<GatewayKind>;
