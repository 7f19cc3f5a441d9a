use super::*;
use crate::controller::kit::conditions::{Cond, set};
use k8s_openapi::jiff::Timestamp;
use rstest::rstest;

/// `t` seconds after the service was created.
fn at(t: i64) -> Time {
    Time(Timestamp::from_second(1_700_000_000 + t).unwrap())
}

/// A status whose conditions turned as the list says: (type, reason, status, when).
fn status(state: ServiceState, turns: &[(&str, &'static str, bool, i64)]) -> AIMServiceStatus {
    let mut s = AIMServiceStatus {
        head: crate::api::StatusHead::in_state(state),
        ..Default::default()
    };
    for (type_, reason, ok, t) in turns {
        let cond = if *ok {
            Cond::yes(reason, "")
        } else {
            Cond::no(reason, "")
        };
        set(&mut s.head.conditions, type_, &cond, None, at(*t).0);
    }
    s
}

/// A cached, routed service that was resolved at 2 s, warm at 222 s, its runtime made at 223 s, its replica
/// placed at 225 s, started at 240 s and ready at 250 s, its route accepted at 226 s.
fn facts() -> StartFacts {
    StartFacts {
        created: Some(at(0)),
        caching: true,
        download: Some("1.0 GiB of 16.0 GiB (6%), 80.0 MiB/s, about 3m12s left".into()),
        runtime_created: Some(at(223)),
        pods: PodTimes {
            created: Some(at(223)),
            scheduled: Some(at(225)),
            started: Some(at(240)),
            ready: Some(at(250)),
        },
        route: Some((Some(at(224)), Some(at(226)))),
    }
}

fn running() -> AIMServiceStatus {
    status(
        ServiceState::Running,
        &[
            (types::RESOLVED, reasons::RESOLVED, true, 2),
            (types::CACHE_READY, reasons::CACHE_READY, true, 222),
            (types::READY, reasons::READY, true, 252),
        ],
    )
}

#[test]
fn a_complete_start_names_every_phase_its_time_to_ready_and_its_slowest_phase() {
    let record = record(&running(), &facts());
    let summary: Vec<(&str, Option<&str>)> = record
        .phases
        .iter()
        .map(|p| (p.name.as_str(), p.duration.as_deref()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("Resolved", Some("2s")),
            ("CacheWarm", Some("3m40s")),
            ("RuntimeCreated", Some("1s")),
            ("PodsScheduled", Some("2s")),
            ("ImagePulled", Some("15s")),
            ("ContainersReady", Some("10s")),
            ("RouteAccepted", Some("2s")),
        ]
    );
    assert!(
        record.phases.iter().all(|p| p.detail.is_none()),
        "finished phases say no more"
    );
    assert_eq!(record.time_to_ready.as_deref(), Some("4m12s"));
    assert_eq!(record.slowest.as_deref(), Some("3m40s downloading the model"));
    assert_eq!(
        ready_message(Some(&record)).as_deref(),
        Some("serving; ready in 4m12s; 3m40s downloading the model")
    );
}

#[test]
fn a_start_under_way_shows_the_download_and_no_time_to_ready() {
    let warming = status(
        ServiceState::Starting,
        &[
            (types::RESOLVED, reasons::RESOLVED, true, 2),
            (types::CACHE_READY, reasons::CACHE_WARMING, false, 2),
            (types::READY, reasons::CACHE_WARMING, false, 2),
        ],
    );
    let f = StartFacts {
        runtime_created: None,
        pods: PodTimes::default(),
        route: Some((None, None)),
        ..facts()
    };
    let record = record(&warming, &f);
    assert_eq!(record.phases.len(), 2, "{:?}", record.phases);
    let cache = &record.phases[1];
    assert_eq!((cache.name.as_str(), cache.finished.as_ref()), ("CacheWarm", None));
    assert_eq!(cache.detail, f.download);
    assert_eq!((&record.time_to_ready, &record.slowest), (&None, &None));
    assert_eq!(ready_message(Some(&record)), None);
}

#[test]
fn without_caching_or_routing_the_runtime_follows_the_resolution() {
    let f = StartFacts {
        caching: false,
        download: None,
        route: None,
        ..facts()
    };
    let record = record(&running(), &f);
    let names: Vec<&str> = record.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Resolved",
            "RuntimeCreated",
            "PodsScheduled",
            "ImagePulled",
            "ContainersReady"
        ]
    );
    assert_eq!(
        record.phases[1].duration.as_deref(),
        Some("3m41s"),
        "from resolved (2 s) to made (223 s)"
    );
    assert_eq!(
        record.slowest.as_deref(),
        Some("3m41s waiting for the template and creating the runtime")
    );
}

#[rstest]
#[case::a_new_service_records(None, true, true)]
#[case::an_open_record_is_refreshed(Some(None), false, true)]
#[case::a_complete_record_stays(Some(Some("1m0s")), false, false)]
#[case::a_service_from_before_the_record_gets_none(None, false, false)]
fn which_record_the_next_status_holds(#[case] current: Option<Option<&str>>, #[case] new: bool, #[case] fresh: bool) {
    let current = AIMServiceStatus {
        startup: current.map(|ttr| StartupStatus {
            time_to_ready: ttr.map(String::from),
            ..Default::default()
        }),
        ..Default::default()
    };
    let made = StartupStatus {
        slowest: Some("fresh".into()),
        ..Default::default()
    };
    let next = next_record(&current, || made.clone(), new);
    assert_eq!(next.as_ref() == Some(&made), fresh, "{next:?}");
    if !fresh {
        assert_eq!(next, current.startup);
    }
}

#[rstest]
#[case(35, "35s")]
#[case(252, "4m12s")]
#[case(3720, "1h2m")]
fn durations_read_like_kubectl_ages(#[case] secs: i64, #[case] text: &str) {
    assert_eq!(duration(secs), text);
}

#[test]
fn a_phase_never_ends_before_it_starts() {
    // The InferenceService made in the same plan that saw the cache warm: the API server stamps its creation a
    // second before the time the operator gave the condition (two clocks, each to the second).
    let mut f = facts();
    f.runtime_created = Some(at(221));
    let record = record(&running(), &f);
    let created = record.phases.iter().find(|p| p.name == "RuntimeCreated").unwrap();
    assert!(
        created.finished.as_ref().unwrap().0 >= created.started.as_ref().unwrap().0,
        "{created:?}"
    );
    assert_eq!(created.duration.as_deref(), Some("0s"));
}
