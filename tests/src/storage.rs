//! Storage classes for tests: one kwok provisions volumes for (claims bind at once), or one no provisioner
//! serves (claims stay pending, as with a provisioner that cannot find room).

use crate::controlplane::storage_class;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, PostParams};

/// Ensures StorageClass `name`, provisioned by kwok when `served`, by nobody otherwise. An existing one is kept
/// (classes are immutable, and a control plane reused across runs may have it already).
pub async fn ensure_class(client: &kube::Client, name: &str, served: bool) {
    let mut class = storage_class(name, false);
    if !served {
        class["provisioner"] = serde_json::Value::String("example.com/nobody-serves-this".into());
    }
    let class: StorageClass = serde_json::from_value(class).expect("storage class");
    match Api::<StorageClass>::all(client.clone())
        .create(&PostParams::default(), &class)
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(e) => panic!("create storage class {name}: {e}"),
    }
}
