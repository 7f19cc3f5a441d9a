//! Types for the kinds of other projects the operator reads without Rust types of their own: KServe's
//! `InferenceService`, the Gateway API's `HTTPRoute` and `Gateway`. Each is a [`DynamicObject`] tagged with its
//! kind ([`Dynamic<M>`]), so that every watched kind has a type of its own: the index declares them all in one
//! table and finds a kind's store by its type.
//!
//! The operator needs a handful of their fields and their own CRDs validate the rest, so the body stays untyped:
//! typed metadata and each other top-level field as JSON text, parsed when read ([`Dynamic::field_value`]).

use kube::Resource;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ObjectMeta};
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::{RawValue, to_raw_value};
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

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

/// An object of kind `M`, untyped inside: its metadata typed, every other top-level field (`spec`, `status`, …)
/// kept as the compact JSON text the API server sent.
///
/// Text, not a `serde_json::Value` tree: the index holds one of these per InferenceService and route, and a tree
/// costs several times its text in small allocations (every key a `String`, every map a B-tree node). A reader
/// parses the one field it needs ([`Dynamic::field_value`]); the drift comparison serializes the whole object
/// as before.
pub struct Dynamic<M> {
    /// The object's metadata.
    pub metadata: ObjectMeta,
    /// The other top-level fields, in the order they came, `apiVersion` and `kind` left out (they are `M`'s).
    fields: Vec<(Box<str>, Box<RawValue>)>,
    kind: PhantomData<fn() -> M>,
}

impl<M> Dynamic<M> {
    /// Tags `object` as of kind `M`.
    pub fn new(object: DynamicObject) -> Self {
        let fields = match object.data {
            Value::Object(map) => map
                .into_iter()
                .filter(|(name, _)| !matches!(name.as_str(), "apiVersion" | "kind" | "metadata"))
                .filter_map(|(name, value)| Some((name.into_boxed_str(), to_raw_value(&value).ok()?)))
                .collect(),
            _ => vec![],
        };
        Dynamic {
            metadata: object.metadata,
            fields,
            kind: PhantomData,
        }
    }

    /// The top-level field `name` (`spec`, `status`) as its JSON text.
    pub fn field(&self, name: &str) -> Option<&RawValue> {
        self.fields.iter().find(|(n, _)| &**n == name).map(|(_, v)| &**v)
    }

    /// The top-level field `name`, parsed; `Null` when absent.
    pub fn field_value(&self, name: &str) -> Value {
        self.field(name)
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
            .unwrap_or(Value::Null)
    }

    /// Sets the top-level field `name` to `value` (JSON text), or removes it with `None`.
    pub fn set_field(&mut self, name: &str, value: Option<Box<RawValue>>) {
        let at = self.fields.iter().position(|(n, _)| &**n == name);
        match (at, value) {
            (Some(i), Some(v)) => self.fields[i].1 = v,
            (None, Some(v)) => self.fields.push((name.into(), v)),
            (Some(i), None) => {
                self.fields.remove(i);
            }
            (None, None) => {}
        }
    }
}

impl<M> Clone for Dynamic<M> {
    fn clone(&self) -> Self {
        Dynamic {
            metadata: self.metadata.clone(),
            fields: self.fields.clone(),
            kind: PhantomData,
        }
    }
}

impl<M> PartialEq for Dynamic<M> {
    fn eq(&self, other: &Self) -> bool {
        self.metadata == other.metadata
            && self.fields.len() == other.fields.len()
            && self
                .fields
                .iter()
                .zip(&other.fields)
                .all(|((a, x), (b, y))| a == b && x.get() == y.get())
    }
}

impl<M> fmt::Debug for Dynamic<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Dynamic");
        s.field("metadata", &self.metadata);
        for (name, value) in &self.fields {
            s.field(name, &value.get());
        }
        s.finish()
    }
}

impl<M: DynamicKind> Serialize for Dynamic<M> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.len() + 3))?;
        map.serialize_entry("apiVersion", &format!("{}/{}", M::GROUP, M::VERSION))?;
        map.serialize_entry("kind", M::KIND)?;
        map.serialize_entry("metadata", &self.metadata)?;
        for (name, value) in &self.fields {
            map.serialize_entry(&**name, value)?;
        }
        map.end()
    }
}

impl<'de, M> Deserialize<'de> for Dynamic<M> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(Fields(PhantomData))
    }
}

/// Reads an object's top-level fields: `metadata` typed, `apiVersion` and `kind` skipped, the rest as text.
struct Fields<M>(PhantomData<fn() -> M>);

impl<'de, M> Visitor<'de> for Fields<M> {
    type Value = Dynamic<M>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Dynamic<M>, A::Error> {
        let mut metadata = ObjectMeta::default();
        let mut fields = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            match name.as_str() {
                "metadata" => metadata = map.next_value()?,
                "apiVersion" | "kind" => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => fields.push((name.into_boxed_str(), map.next_value::<Box<RawValue>>()?)),
            }
        }
        Ok(Dynamic {
            metadata,
            fields,
            kind: PhantomData,
        })
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
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
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

/// `keda.sh/v1alpha1 ScaledObject`.
pub struct ScaledObjectKind;
impl DynamicKind for ScaledObjectKind {
    const GROUP: &'static str = "keda.sh";
    const VERSION: &'static str = "v1alpha1";
    const KIND: &'static str = "ScaledObject";
    const PLURAL: &'static str = "scaledobjects";
}

/// `http.keda.sh/v1beta1 InterceptorRoute` (KEDA's HTTP add-on, v0.14 and later).
pub struct InterceptorRouteKind;
impl DynamicKind for InterceptorRouteKind {
    const GROUP: &'static str = "http.keda.sh";
    const VERSION: &'static str = "v1beta1";
    const KIND: &'static str = "InterceptorRoute";
    const PLURAL: &'static str = "interceptorroutes";
}

/// `gateway.networking.k8s.io/v1beta1 ReferenceGrant`.
pub struct ReferenceGrantKind;
impl DynamicKind for ReferenceGrantKind {
    const GROUP: &'static str = "gateway.networking.k8s.io";
    const VERSION: &'static str = "v1beta1";
    const KIND: &'static str = "ReferenceGrant";
    const PLURAL: &'static str = "referencegrants";
}

/// A KServe InferenceService.
pub type InferenceService = Dynamic<InferenceServiceKind>;
/// A KEDA ScaledObject (the operator's own, for a service that wakes from zero).
pub type ScaledObject = Dynamic<ScaledObjectKind>;
/// An InterceptorRoute of KEDA's HTTP add-on.
pub type InterceptorRoute = Dynamic<InterceptorRouteKind>;
/// A Gateway API ReferenceGrant.
pub type ReferenceGrant = Dynamic<ReferenceGrantKind>;
/// A Gateway API HTTPRoute.
pub type HttpRoute = Dynamic<HttpRouteKind>;
/// A Gateway API Gateway.
pub type Gateway = Dynamic<GatewayKind>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn isvc_json() -> Value {
        json!({
            "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": { "name": "chat", "namespace": "team", "labels": { "a": "b" } },
            "spec": { "predictor": { "minReplicas": 1, "model": { "runtime": "aim", "args": ["--x", "1"] } } },
            "status": { "conditions": [{ "type": "Ready", "status": "True" }] }
        })
    }

    #[test]
    fn an_object_read_as_text_serializes_back_to_what_was_read() {
        let text = isvc_json().to_string();
        let isvc: InferenceService = serde_json::from_str(&text).unwrap();
        assert_eq!(isvc.metadata.name.as_deref(), Some("chat"));
        assert_eq!(isvc.field("spec").unwrap().get(), isvc_json()["spec"].to_string());
        assert_eq!(serde_json::to_value(&isvc).unwrap(), isvc_json());
        let from_value: InferenceService = serde_json::from_value(isvc_json()).unwrap();
        assert_eq!(from_value, isvc, "read from a Value tree or from text, the same object");
        let untyped: DynamicObject = serde_json::from_value(isvc_json()).unwrap();
        assert_eq!(InferenceService::new(untyped), isvc);
    }

    #[test]
    fn a_field_is_read_parsed_replaced_and_removed() {
        let mut isvc: InferenceService = serde_json::from_value(isvc_json()).unwrap();
        assert_eq!(isvc.field_value("status")["conditions"][0]["type"], "Ready");
        assert_eq!(isvc.field_value("missing"), Value::Null);
        isvc.set_field("status", Some(to_raw_value(&json!({})).unwrap()));
        assert_eq!(isvc.field_value("status"), json!({}));
        isvc.set_field("status", None);
        assert!(isvc.field("status").is_none());
        let mut changed = isvc.clone();
        assert_eq!(changed, isvc);
        changed.set_field("spec", Some(to_raw_value(&json!({ "predictor": {} })).unwrap()));
        assert_ne!(changed, isvc, "a field's text is compared");
    }
}
