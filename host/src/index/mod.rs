//! The index: one watch per kind the operator reads, each feeding a store, behind one type with the queries
//! the controllers need. Controllers read the cluster only from here; the API server sees watches and the
//! operator's writes, never a GET or LIST per reconcile.
//!
//! - [`kinds`]: the table of every watched kind; everything per kind is declared there once.
//! - [`watch`], [`informer`], [`readable`], [`slim`]: one kind's watch, decoded object by object, stored slim,
//!   each change handed on once stored (relists included).
//! - [`health`], [`resumed`]: whether every watch has listed its kind and none is failing (`/readyz`, controller
//!   start), and the client layer that says a failed watch runs again.
//! - [`pending`]: writes made but not seen yet; [`keys`]: secondary keys where a scan per reconcile mattered.
//! - [`lookups`] (objects by name), [`relations`] (who refers to whom: the queries wake-ups and garbage
//!   collection share), [`template`] (either template kind).
//! - [`reads`]: what a reconcile read, recorded for the wake-up coverage test.
//!
//! Every query is a read of in-memory stores (no I/O), answered in a stable order. A change to any stored
//! object is passed to an [`OnChange`] the controllers provide, which decides whom it wakes.

pub mod health;
pub mod informer;
pub(crate) mod keys;
pub mod kinds;
pub mod lookups;
pub mod pending;
pub mod readable;
pub mod reads;
pub mod relations;
pub mod resumed;
mod served;
pub mod slim;
pub mod template;
pub mod watch;

pub use health::WatchHealth;
pub use informer::Change;
pub use kinds::{AnyChange, AnyObject, Changed, KINDS, OPTIONAL_KINDS, Stored, Writers};
pub(crate) use template::Template;

use crate::upstream::gpu;
use kinds::Stores;
use kube::runtime::reflector::{ObjectRef, Store};
use std::sync::{Arc, RwLock};

/// Whom a change wakes: the controllers implement it. Called after the index holds the change.
pub trait OnChange: Send + Sync + 'static {
    /// An object of some watched kind changed (nodes: only when the GPU inventory changed).
    fn changed(&self, index: &Index, change: Changed<'_>);
}

/// The cluster as the operator knows it.
pub struct Index {
    stores: Stores,
    inventory: RwLock<Option<Vec<gpu::GpuPool>>>,
    /// Whether every watch is listed and healthy.
    pub health: Arc<WatchHealth>,
    /// Writes made but not seen yet.
    pub(crate) pending: Arc<pending::PendingWrites>,
    /// Pods by their InferenceService.
    pub(crate) pods_by_isvc: keys::PodsByInferenceService,
}

impl Index {
    /// An empty index and the writers that fill it.
    pub fn new() -> (Arc<Index>, Writers) {
        Index::with_health(WatchHealth::of_index())
    }

    /// An empty index reporting its watches' state to `health` (made with [`WatchHealth::of_index`], and shared
    /// with the client's [`resumed::ResumedLayer`]), and the writers that fill it.
    pub fn with_health(health: Arc<WatchHealth>) -> (Arc<Index>, Writers) {
        let (stores, writers) = kinds::stores();
        let index = Index {
            stores,
            inventory: RwLock::new(None),
            health,
            pending: Default::default(),
            pods_by_isvc: Default::default(),
        };
        (Arc::new(index), writers)
    }

    /// Starts every watch; changes go to `on_change` once stored. Returns the watch tasks (they run until
    /// aborted).
    pub fn start(
        self: &Arc<Self>,
        client: &kube::Client,
        writers: Writers,
        on_change: Arc<dyn OnChange>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        kinds::watch_all(client, self, writers, on_change)
    }

    /// Hands a stored change on: a node's only when it changed the GPU inventory (nothing else of a node is read).
    pub(crate) fn hand_on(&self, change: Changed<'_>, on_change: &dyn OnChange) {
        if matches!(change, Changed::Nodes(_)) && !self.refresh_inventory() {
            return;
        }
        if let Changed::Pods(pods) = &change {
            self.pods_by_isvc.update(pods);
        }
        on_change.changed(self, change);
    }

    /// The object of kind `K` named `name` (in `namespace`, for namespaced kinds).
    pub fn get<K: Stored>(&self, namespace: Option<&str>, name: &str) -> Option<Arc<K>> {
        let key = ObjectRef::new(name);
        let key = match namespace {
            Some(ns) => key.within(ns),
            None => key,
        };
        let found = K::store(&self.stores).get(&key);
        if let Some(obj) = &found {
            reads::record(|| K::any(obj.clone()));
        }
        found
    }

    /// Every object of kind `K` that `keep` accepts, by name.
    pub fn list<K: Stored>(&self, keep: impl Fn(&K) -> bool) -> Vec<Arc<K>> {
        let mut found = K::store(&self.stores).state_filter(|o| keep(o));
        found.sort_by(|a, b| (&a.meta().namespace, &a.meta().name).cmp(&(&b.meta().namespace, &b.meta().name)));
        for obj in &found {
            reads::record(|| K::any(obj.clone()));
        }
        found
    }

    /// False while the API server does not serve `K`, the kind of an add-on the cluster may not have (see
    /// [`kinds`]): then nothing of it can be written.
    pub fn serves<K: Stored>(&self) -> bool {
        self.health.serves(K::KIND_NAME)
    }

    /// The store of kind `K` itself: for the controller runner, which looks its objects up by reference.
    pub(crate) fn store<K: Stored>(&self) -> Store<K> {
        K::store(&self.stores).clone()
    }

    /// The cluster's AMD GPUs by model, or `None` when the cluster has no nodes (then it is not checked).
    pub(crate) fn inventory(&self) -> Option<Vec<gpu::GpuPool>> {
        self.inventory.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Recomputes the GPU inventory from the stored nodes; true when it changed.
    fn refresh_inventory(&self) -> bool {
        let nodes = K8sNode::store(&self.stores).state();
        let fresh = (!nodes.is_empty()).then(|| gpu::inventory(nodes.iter().map(Arc::as_ref)));
        let mut current = self.inventory.write().unwrap_or_else(|e| e.into_inner());
        if *current == fresh {
            return false;
        }
        *current = fresh;
        true
    }
}

type K8sNode = k8s_openapi::api::core::v1::Node;
