//! Fleet metrics: where the services and caches stand, for alerts and dashboards, at a cost that does not grow
//! with them. No series per object: every label is bounded by something an admin reads (a namespace, a state,
//! a GPU model, a phase, a failure reason), so 10,000 services cost the same series as 1,000 (the closing
//! sentence of each metric's help says what bounds it).
//!
//! The leader recomputes the gauges from the index every [`SCAN_EVERY`] (a scan of services and caches in
//! memory, no API request); counters and the time-to-ready histogram count what the scans see happen while this
//! process leads: a start completing, a download's bytes, a download failing. A replica that does not lead
//! reports no fleet gauges (they are cleared when it stops leading), so `sum` and `max` over replicas are the
//! fleet's.

use crate::api::{AIMService, ModelCache, ResourceState, ServiceState};
use crate::controller::kit::conditions::{reasons, types};
use crate::controller::service::serving;
use crate::index::Index;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

/// How often the gauges are recomputed.
pub const SCAN_EVERY: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct ServiceLabels {
    namespace: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GpuLabel {
    gpu_model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

/// The fleet's metrics.
#[derive(Debug)]
pub struct FleetMetrics {
    services: Family<ServiceLabels, Gauge>,
    caches: Family<StateLabel, Gauge>,
    waiting_for_gpus: Family<GpuLabel, Gauge>,
    past_budget: Gauge,
    downloads_running: Gauge,
    download_bytes: Counter,
    download_failures: Family<ReasonLabel, Counter>,
    time_to_ready: Family<PhaseLabel, Histogram>,
    watches_failing: Gauge,
    seen: Mutex<Seen>,
}

/// What the scans have seen, to count what happens between two of them once.
#[derive(Debug, Default)]
struct Seen {
    /// A scan has run (the first one records the fleet as it is, counting nothing).
    scanned: bool,
    /// Services whose completed start was counted (by uid).
    started: std::collections::HashSet<String>,
    /// Per cache (uid): bytes downloaded and failed attempts as last seen.
    caches: HashMap<String, (i64, i32)>,
}

/// Buckets of a start phase, in seconds: from a second to four hours.
fn phase_buckets() -> impl Iterator<Item = f64> {
    [
        1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0,
    ]
    .into_iter()
}

impl Default for FleetMetrics {
    fn default() -> Self {
        FleetMetrics {
            services: Family::default(),
            caches: Family::default(),
            waiting_for_gpus: Family::default(),
            past_budget: Gauge::default(),
            downloads_running: Gauge::default(),
            download_bytes: Counter::default(),
            download_failures: Family::default(),
            time_to_ready: Family::new_with_constructor(|| Histogram::new(phase_buckets())),
            watches_failing: Gauge::default(),
            seen: Mutex::default(),
        }
    }
}

impl FleetMetrics {
    /// Adds the metrics to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "aim_services",
            "AIMServices by namespace and state (Pending, Starting, Running, Failed, Degraded); bounded by namespaces",
            self.services.clone(),
        );
        registry.register(
            "aim_model_caches",
            "ModelCaches by state (Pending, Progressing, Available, Degraded, Failed)",
            self.caches.clone(),
        );
        registry.register(
            "aim_services_waiting_for_gpus",
            "Services with replicas no node can take (Unschedulable, ReplicasWaiting), by the GPU model they ask for",
            self.waiting_for_gpus.clone(),
        );
        registry.register(
            "aim_services_past_startup_budget",
            "Services not ready (and not failed) for longer than their model's startup budget allows",
            self.past_budget.clone(),
        );
        registry.register(
            "aim_downloads_running",
            "ModelCaches whose download is under way",
            self.downloads_running.clone(),
        );
        registry.register(
            "aim_download_bytes",
            "Bytes the model caches' downloads reported, while this replica leads",
            self.download_bytes.clone(),
        );
        registry.register(
            "aim_download_failures",
            "Failed download and size-check attempts, by the cache's Failure reason",
            self.download_failures.clone(),
        );
        registry.register(
            "aim_service_start_phase_seconds",
            "How long each phase of a service's first start took (status.startup), for starts completed while this \
             replica leads; by phase",
            self.time_to_ready.clone(),
        );
        registry.register(
            "aim_index_watches_failing",
            "Watches of the index that cannot reach the API server or are refused by it (the operator is not ready)",
            self.watches_failing.clone(),
        );
    }

    /// Recomputes the gauges and counts what happened since the last scan, at `now`, from `index`.
    pub fn scan(&self, index: &Index, now: Timestamp) {
        let services = index.list(|_: &AIMService| true);
        let caches = index.list(|_: &ModelCache| true);
        let mut by_state: BTreeMap<ServiceLabels, i64> = BTreeMap::new();
        let mut waiting: BTreeMap<String, i64> = BTreeMap::new();
        let mut past = 0;
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        for svc in &services {
            let status = svc.status.clone().unwrap_or_default();
            let state = status.head.status.unwrap_or_default();
            *by_state
                .entry(ServiceLabels {
                    namespace: svc.namespace().unwrap_or_default(),
                    state: format!("{state:?}"),
                })
                .or_default() += 1;
            let runtime = status.head.conditions.iter().find(|c| c.type_ == types::RUNTIME_READY);
            let template = status
                .resolved_template
                .as_ref()
                .and_then(|t| index.template(&svc.namespace().unwrap_or_default(), &t.name));
            if runtime.is_some_and(|c| [reasons::UNSCHEDULABLE, reasons::REPLICAS_WAITING].contains(&c.reason.as_str()))
            {
                let model = template
                    .as_ref()
                    .and_then(|t| t.profile().parameters.gpu_selector.clone())
                    .map_or("unknown".to_string(), |g| g.model.to_uppercase());
                *waiting.entry(model).or_default() += 1;
            }
            if state != ServiceState::Running && state != ServiceState::Failed {
                let since = status
                    .head
                    .conditions
                    .iter()
                    .find(|c| c.type_ == types::READY)
                    .map(|c| c.last_transition_time.0)
                    .or(svc.metadata.creation_timestamp.as_ref().map(|t| t.0));
                let bytes = template
                    .as_ref()
                    .and_then(|t| serving::model_bytes(&t.status().model_sources));
                let budget = serving::startup_budget(bytes, false);
                if since.is_some_and(|s| now.as_second() - s.as_second() > budget.as_secs() as i64) {
                    past += 1;
                }
            }
            self.count_start(&mut seen, svc);
        }
        self.services.clear();
        for (labels, n) in by_state {
            self.services.get_or_create(&labels).set(n);
        }
        self.waiting_for_gpus.clear();
        for (gpu_model, n) in waiting {
            self.waiting_for_gpus.get_or_create(&GpuLabel { gpu_model }).set(n);
        }
        self.past_budget.set(past);

        let mut cache_states: BTreeMap<String, i64> = BTreeMap::new();
        let mut running = 0;
        for mc in &caches {
            let status = mc.status.clone().unwrap_or_default();
            let state = status.head.status.unwrap_or_default();
            *cache_states.entry(format!("{state:?}")).or_default() += 1;
            let download = status.download.clone().unwrap_or_default();
            if state == ResourceState::Progressing && download.job.is_some() {
                running += 1;
            }
            let done = download.downloaded_bytes.unwrap_or(0);
            let failures = download.failed_attempts + status.size_check.as_ref().map_or(0, |s| s.failed_attempts);
            let uid = mc.uid().unwrap_or_default();
            if let Some((last_done, last_failures)) = seen.caches.insert(uid, (done, failures)) {
                // A new attempt may start lower (a file fetched again): only growth counts.
                if done > last_done {
                    self.download_bytes.inc_by((done - last_done) as u64);
                }
                if failures > last_failures {
                    let reason = status
                        .head
                        .conditions
                        .iter()
                        .find(|c| c.type_ == types::FAILURE && c.status == "True")
                        .map_or("Unknown".to_string(), |c| c.reason.clone());
                    self.download_failures
                        .get_or_create(&ReasonLabel { reason })
                        .inc_by((failures - last_failures) as u64);
                }
            }
        }
        let live: std::collections::HashSet<String> = caches.iter().filter_map(|c| c.uid()).collect();
        seen.caches.retain(|uid, _| live.contains(uid));
        self.caches.clear();
        for (state, n) in cache_states {
            self.caches.get_or_create(&StateLabel { state }).set(n);
        }
        self.downloads_running.set(running);
        self.watches_failing.set(index.health.failing() as i64);
        seen.scanned = true;
    }

    /// Counts the phases of `svc`'s start once it is complete, if this process has not (a start already
    /// complete at the first scan is the fleet's history, not news: its uid is recorded, nothing counted).
    fn count_start(&self, seen: &mut Seen, svc: &AIMService) {
        let Some(startup) = svc.status.as_ref().and_then(|s| s.startup.as_ref()) else {
            return;
        };
        if startup.time_to_ready.is_none() {
            return;
        }
        let uid = svc.uid().unwrap_or_default();
        if !seen.started.insert(uid) || !seen.scanned {
            return;
        }
        for phase in &startup.phases {
            if let (Some(s), Some(f)) = (&phase.started, &phase.finished) {
                let secs = (f.0.as_millisecond() - s.0.as_millisecond()).max(0) as f64 / 1000.0;
                self.time_to_ready
                    .get_or_create(&PhaseLabel {
                        phase: phase.name.clone(),
                    })
                    .observe(secs);
            }
        }
    }

    /// Clears the gauges (this replica no longer leads: they are the leader's to report).
    pub fn forget(&self) {
        self.services.clear();
        self.caches.clear();
        self.waiting_for_gpus.clear();
        self.past_budget.set(0);
        self.downloads_running.set(0);
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Seen::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AIMServiceStatus, DownloadStatus, ModelCacheStatus, StartupPhase, StartupStatus, StatusHead};
    use crate::controller::kit::conditions::{Cond, set};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use kube::runtime::watcher::Event;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_767_225_600 + s).unwrap()
    }

    fn service(
        name: &str,
        state: ServiceState,
        runtime_reason: Option<&'static str>,
        ready_for: Option<i64>,
    ) -> AIMService {
        let mut s = AIMService::new(name, crate::fixtures::service_spec("m/x"));
        s.metadata.namespace = Some("team".into());
        s.metadata.uid = Some(format!("uid-{name}"));
        s.metadata.creation_timestamp = Some(Time(at(0)));
        let mut status = AIMServiceStatus {
            head: StatusHead::in_state(state),
            ..Default::default()
        };
        if let Some(reason) = runtime_reason {
            set(
                &mut status.head.conditions,
                types::RUNTIME_READY,
                &Cond::no(reason, "x"),
                None,
                at(0),
            );
        }
        if let Some(secs) = ready_for {
            status.startup = Some(StartupStatus {
                phases: vec![StartupPhase {
                    name: "ContainersReady".into(),
                    started: Some(Time(at(0))),
                    finished: Some(Time(at(secs))),
                    ..Default::default()
                }],
                time_to_ready: Some(format!("{secs}s")),
                slowest: None,
            });
        }
        s.status = Some(status);
        s
    }

    fn cache(done: i64, failed: i32) -> ModelCache {
        let mut mc = crate::fixtures::model_cache();
        mc.metadata.uid = Some("uid-mc".into());
        mc.status = Some(ModelCacheStatus {
            head: StatusHead::in_state(ResourceState::Progressing),
            download: Some(DownloadStatus {
                job: Some("j".into()),
                downloaded_bytes: Some(done),
                failed_attempts: failed,
                ..Default::default()
            }),
            ..Default::default()
        });
        mc
    }

    fn text(fleet: &FleetMetrics) -> String {
        let mut registry = Registry::default();
        fleet.register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out
    }

    #[test]
    fn the_fleet_is_counted_by_state_and_what_happens_between_scans_once() {
        let (index, mut writers) = Index::new();
        let put = |w: &mut kube::runtime::reflector::store::Writer<AIMService>, s: AIMService| {
            w.apply_watcher_event(&Event::Apply(s))
        };
        put(
            &mut writers.services,
            service("ok", ServiceState::Running, None, Some(40)),
        );
        put(
            &mut writers.services,
            service("wait", ServiceState::Pending, Some(reasons::UNSCHEDULABLE), None),
        );
        writers.model_caches.apply_watcher_event(&Event::Apply(cache(100, 0)));
        let fleet = FleetMetrics::default();
        // Two hours on: the waiting service is past any budget of an unknown size uncached (10 min + 64 GiB).
        fleet.scan(&index, at(7200));
        let first = text(&fleet);
        assert!(
            first.contains(r#"aim_services{namespace="team",state="Running"} 1"#),
            "{first}"
        );
        assert!(
            first.contains(r#"aim_services{namespace="team",state="Pending"} 1"#),
            "{first}"
        );
        assert!(
            first.contains(r#"aim_services_waiting_for_gpus{gpu_model="unknown"} 1"#),
            "{first}"
        );
        assert!(first.contains("aim_services_past_startup_budget 1"), "{first}");
        assert!(first.contains("aim_downloads_running 1"), "{first}");
        assert!(
            first.contains("aim_download_bytes_total 0"),
            "history is not news: {first}"
        );
        assert!(
            !first.contains("aim_service_start_phase_seconds_count"),
            "a start done before: {first}"
        );

        // Then: a download moves on and fails once, a new service completes its start.
        writers.model_caches.apply_watcher_event(&Event::Apply(cache(350, 1)));
        put(
            &mut writers.services,
            service("new", ServiceState::Running, None, Some(12)),
        );
        fleet.scan(&index, at(7210));
        let second = text(&fleet);
        assert!(second.contains("aim_download_bytes_total 250"), "{second}");
        assert!(
            second.contains(r#"aim_download_failures_total{reason="Unknown"} 1"#),
            "{second}"
        );
        assert!(
            second.contains(r#"aim_service_start_phase_seconds_count{phase="ContainersReady"} 1"#),
            "{second}"
        );
        fleet.scan(&index, at(7220));
        assert!(
            text(&fleet).contains(r#"aim_service_start_phase_seconds_count{phase="ContainersReady"} 1"#),
            "counted once"
        );
        fleet.forget();
        assert!(
            !text(&fleet).contains("aim_services{"),
            "a replica that stops leading reports no fleet"
        );
    }
}
