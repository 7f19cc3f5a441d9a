//! Reconcile and write counters of the controllers, in the Prometheus registry `/metrics` serves: reconciles,
//! their failures by error label and their durations per controller, and the operator's writes to the API
//! server by resource, verb and result (conflicts counted on their own).

use super::error::Error;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ControllerLabel {
    controller: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    controller: String,
    error: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WriteLabels {
    resource: String,
    verb: String,
    result: String,
}

/// The controllers' counters, and the fleet's state they keep ([`crate::controller::fleet`]).
#[derive(Debug)]
pub struct ReconcileMetrics {
    /// Where the services and caches stand.
    pub fleet: crate::controller::fleet::FleetMetrics,
    runs: Family<ControllerLabel, Counter>,
    errors: Family<ErrorLabels, Counter>,
    duration: Family<ControllerLabel, Histogram>,
    writes: Family<WriteLabels, Counter>,
}

impl Default for ReconcileMetrics {
    fn default() -> Self {
        ReconcileMetrics {
            fleet: Default::default(),
            runs: Family::default(),
            errors: Family::default(),
            duration: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0005, 2.0, 16))),
            writes: Family::default(),
        }
    }
}

impl ReconcileMetrics {
    /// Adds the counters to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register("aim_reconcile", "Reconciles run", self.runs.clone());
        registry.register(
            "aim_reconcile_errors",
            "Reconciles that failed, by the step that failed",
            self.errors.clone(),
        );
        registry.register(
            "aim_reconcile_duration_seconds",
            "Time spent reconciling",
            self.duration.clone(),
        );
        registry.register(
            "aim_api_writes",
            "Writes to the API server by resource, verb and result (ok; conflict; invalid: the API server or a \
             webhook refused the object; forbidden: RBAC refused the operator; error: anything else)",
            self.writes.clone(),
        );
        self.fleet.register(registry);
    }

    pub(crate) fn reconciled(&self, controller: &str, took: Duration, error: Option<&Error>) {
        let label = ControllerLabel {
            controller: controller.to_string(),
        };
        self.runs.get_or_create(&label).inc();
        self.duration.get_or_create(&label).observe(took.as_secs_f64());
        if let Some(e) = error {
            self.errors
                .get_or_create(&ErrorLabels {
                    controller: controller.to_string(),
                    error: e.label().to_string(),
                })
                .inc();
        }
    }

    /// Records one write.
    pub fn write(&self, resource: &str, verb: &str, error: Option<&kube::Error>) {
        let result = match error {
            None => "ok",
            Some(kube::Error::Api(s)) if s.code == 409 => "conflict",
            Some(kube::Error::Api(s)) if s.code == 403 => "forbidden",
            Some(kube::Error::Api(s)) if s.code == 422 || s.code == 400 => "invalid",
            Some(_) => "error",
        };
        self.writes
            .get_or_create(&WriteLabels {
                resource: resource.to_string(),
                verb: verb.to_string(),
                result: result.to_string(),
            })
            .inc();
    }

    /// Reconciles run by `controller` so far (for tests).
    pub fn runs(&self, controller: &str) -> u64 {
        self.runs
            .get_or_create(&ControllerLabel {
                controller: controller.to_string(),
            })
            .get()
    }
}
