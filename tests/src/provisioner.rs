//! `FakeProvisioner`: plays a storage provisioner, which this control plane does not run. It creates the
//! PersistentVolume a provisioner would create for a claim; the real PersistentVolume controller in
//! kube-controller-manager then binds the two.

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, PostParams};
use serde_json::json;
use std::time::{Duration, Instant};

/// The provisioner name test storage classes use.
pub const PROVISIONER: &str = "fake.test.aim.silogen.ai";

/// Plays a storage provisioner.
pub struct FakeProvisioner {
    client: kube::Client,
}

impl FakeProvisioner {
    /// A provisioner using `client`.
    pub fn new(client: kube::Client) -> Self {
        FakeProvisioner { client }
    }

    /// Ensures a StorageClass `name` served by this provisioner (an existing one is kept: classes are
    /// immutable, and a control plane reused across runs may have it already).
    pub async fn storage_class(&self, name: &str) {
        let classes: Api<StorageClass> = Api::all(self.client.clone());
        let class: StorageClass =
            serde_json::from_value(json!({ "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": { "name": name }, "provisioner": PROVISIONER, "volumeBindingMode": "Immediate" }))
            .expect("storage class");
        match classes.create(&PostParams::default(), &class).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(e) => panic!("create storage class {name}: {e}"),
        }
    }

    /// Creates a volume for claim `claim` in `namespace` and waits until the claim is Bound.
    pub async fn provision(&self, namespace: &str, claim: &str) {
        self.create_volume(namespace, claim).await.expect("create volume");
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), namespace);
        let start = Instant::now();
        while claims
            .get(claim)
            .await
            .expect("read claim")
            .status
            .and_then(|s| s.phase)
            .as_deref()
            != Some("Bound")
        {
            assert!(start.elapsed() < Duration::from_secs(60), "claim {claim} did not bind");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Creates the volume for claim `claim` (idempotent); the PersistentVolume controller binds it.
    pub async fn create_volume(&self, namespace: &str, claim: &str) -> Result<(), kube::Error> {
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), namespace);
        let pvc = claims.get(claim).await?;
        let spec = pvc.spec.clone().unwrap_or_default();
        let size = spec
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref()?.get("storage").cloned())
            .unwrap_or_default();
        let pv_name = format!("pv-{}", pvc.metadata.uid.clone().unwrap_or_default());
        let pv: PersistentVolume = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": { "name": pv_name },
            "spec": {
                "capacity": { "storage": size },
                "accessModes": spec.access_modes,
                "storageClassName": spec.storage_class_name.clone().unwrap_or_default(),
                "persistentVolumeReclaimPolicy": "Delete",
                "claimRef": { "namespace": namespace, "name": claim, "uid": pvc.metadata.uid },
                "csi": { "driver": PROVISIONER, "volumeHandle": pv_name },
            }
        }))
        .expect("volume");
        match Api::<PersistentVolume>::all(self.client.clone())
            .create(&PostParams::default(), &pv)
            .await
        {
            Ok(_) => Ok(()),
            // Provisioned already; the binding may still be under way.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
            Err(e) => Err(e),
        }
    }
}
