use super::*;
use crate::fixtures;
use rstest::rstest;

fn spec(yaml: Value) -> AIMServiceSpec {
    let mut base = json!({ "aimModelId": "m" });
    base.as_object_mut().unwrap().extend(yaml.as_object().unwrap().clone());
    serde_json::from_value(base).unwrap()
}

fn cluster(prometheus: Option<&str>) -> ClusterScaling {
    ClusterScaling {
        prometheus: prometheus.map(str::to_string),
        wake: None,
    }
}

fn profile(scaling: Value) -> TemplateProfile {
    let mut p = fixtures::profile();
    p.scaling = serde_json::from_value(scaling).unwrap();
    p
}

#[rstest]
#[case::nothing_set_is_one_replica(json!({}), json!({}), Ok((1, 1, "none")))]
#[case::a_fixed_count(json!({ "replicas": 3 }), json!({}), Ok((3, 3, "none")))]
#[case::the_fixed_count_wins_over_the_templates_scaling(json!({ "replicas": 2 }), json!({ "minReplicas": 1, "maxReplicas": 4 }), Ok((2, 2, "none")))]
#[case::bounds_alone_scale_on_cpu(json!({ "maxReplicas": 4 }), json!({}), Ok((1, 4, "hpa")))]
#[case::the_templates_bounds_and_the_services_max(json!({ "maxReplicas": 8 }), json!({ "minReplicas": 2, "maxReplicas": 4 }), Ok((2, 8, "hpa")))]
#[case::request_metrics_go_to_keda(json!({ "minReplicas": 0, "maxReplicas": 4, "autoScaling": { "metric": "waitingRequests", "target": 2 } }), json!({}), Ok((0, 4, "keda")))]
#[case::scale_to_zero_on_the_templates_cpu_metric(json!({ "minReplicas": 0, "maxReplicas": 4 }), json!({ "autoScaling": { "metric": "cpu", "target": 70 } }), Err("the template scales on cpu"))]
#[case::scale_to_zero_without_a_metric(json!({ "minReplicas": 0 }), json!({}), Err("without autoScaling it scales on cpu"))]
#[case::bounds_crossed_across_objects(json!({ "minReplicas": 6 }), json!({ "maxReplicas": 4 }), Err("minReplicas 6 (the service's) is more than maxReplicas 4 (the template's)"))]
#[case::request_metric_without_prometheus(json!({ "maxReplicas": 2, "autoScaling": { "metric": "runningRequests", "target": 8 } }), json!({}), Err("no server is named"))]
fn replicas_follow_the_service_over_its_template(
    #[case] service: Value,
    #[case] template: Value,
    #[case] expected: Result<(i32, i32, &str), &str>,
) {
    let prometheus = if service.pointer("/autoScaling/metric") == Some(&json!("runningRequests")) {
        None
    } else {
        Some("http://prometheus:9090")
    };
    let decided = decide(&spec(service), &profile(template), &cluster(prometheus));
    match (decided, expected) {
        (Ok(r), Ok((min, max, class))) => assert_eq!((r.bounds().0, r.bounds().1, r.class()), (min, max, class)),
        (Err(why), Err(part)) => assert!(why.contains(part), "{why}"),
        (other, expected) => panic!("{other:?}, expected {expected:?}"),
    }
}

#[test]
fn a_fixed_count_pins_kserve_to_it_without_an_autoscaler() {
    let mut predictor = json!({});
    let class = render(&Replicas::Fixed(3), &mut predictor, "team-a", "chat");
    assert_eq!(predictor, json!({ "minReplicas": 3, "maxReplicas": 3 }));
    assert_eq!(class, "none");
}

#[test]
fn cpu_scaling_renders_an_hpa_resource_metric() {
    let mut predictor = json!({});
    let replicas = decide(
        &spec(json!({ "minReplicas": 1, "maxReplicas": 4 })),
        &profile(json!({})),
        &ClusterScaling::default(),
    )
    .unwrap();
    let class = render(&replicas, &mut predictor, "team-a", "chat");
    assert_eq!(
        predictor,
        json!({
            "minReplicas": 1, "maxReplicas": 4,
            "autoScaling": { "metrics": [{ "type": "Resource", "resource": {
                "name": "cpu", "target": { "type": "Utilization", "averageUtilization": 80 } } }] },
        })
    );
    assert_eq!(class, "hpa");
}

#[test]
fn a_request_metric_renders_a_prometheus_query_over_the_services_pods() {
    let mut predictor = json!({ "annotations": { "prometheus.io/port": "9000" } });
    let replicas = decide(
        &spec(
            json!({ "minReplicas": 0, "maxReplicas": 3, "autoScaling": { "metric": "runningRequests", "target": 8 } }),
        ),
        &profile(json!({})),
        &cluster(Some("http://prometheus.monitoring:9090")),
    )
    .unwrap();
    let class = render(&replicas, &mut predictor, "team-a", "chat");
    assert_eq!(
        predictor,
        json!({
            "annotations": { "prometheus.io/port": "9000" },
            "minReplicas": 0, "maxReplicas": 3,
            "autoScaling": { "metrics": [{ "type": "External", "external": {
                "metric": {
                    "backend": "prometheus",
                    "serverAddress": "http://prometheus.monitoring:9090",
                    "query": "sum(vllm:num_requests_running{namespace=\"team-a\",pod=~\"chat-predictor-.*\"})",
                },
                "target": { "type": "Value", "value": "8" },
            } }] },
        }),
        "the scrape annotations are every predictor's (build), not the autoscaler's"
    );
    assert_eq!(class, "keda");
}

#[test]
fn a_custom_query_is_used_as_written_and_the_services_server_wins() {
    let metric = AutoScaling {
        metric: ScalingMetric::Custom,
        target: 70,
        query: Some("avg(vllm:gpu_cache_usage_perc) * 100".into()),
        prometheus: Some("http://own:9090".into()),
        scale_down_delay_seconds: None,
        idle_seconds: None,
        wake_timeout_seconds: None,
    };
    let s = AIMServiceSpec {
        scaling: ScalingBounds {
            max_replicas: Some(2),
            auto_scaling: Some(metric),
            ..Default::default()
        },
        ..spec(json!({}))
    };
    let Replicas::Auto { prometheus, metric, .. } =
        decide(&s, &profile(json!({})), &cluster(Some("http://cluster:9090"))).unwrap()
    else {
        panic!("autoscaled")
    };
    assert_eq!(prometheus.as_deref(), Some("http://own:9090"));
    assert_eq!(query(&metric, "ns", "chat"), "avg(vllm:gpu_cache_usage_perc) * 100");
}

#[test]
fn scale_to_zero_wakes_through_the_add_on_where_the_cluster_holds_requests() {
    let zero = spec(
        json!({ "minReplicas": 0, "maxReplicas": 3, "autoScaling": { "metric": "waitingRequests", "target": 4 } }),
    );
    let one = spec(
        json!({ "minReplicas": 1, "maxReplicas": 3, "autoScaling": { "metric": "waitingRequests", "target": 4 } }),
    );
    let holding = ClusterScaling {
        prometheus: Some("http://prometheus:9090".into()),
        wake: Some(Default::default()),
    };
    let waking = decide(&zero, &profile(json!({})), &holding).unwrap();
    assert_eq!(
        waking.class(),
        "external",
        "its own ScaledObject scales it; KServe leaves the count alone"
    );
    let mut predictor = json!({});
    assert_eq!(render(&waking, &mut predictor, "team-a", "chat"), "external");
    assert_eq!(
        predictor,
        json!({ "minReplicas": 0, "maxReplicas": 3 }),
        "no KServe autoscaler"
    );
    // A floor of one never sleeps: KServe's ScaledObject, as before.
    assert_eq!(decide(&one, &profile(json!({})), &holding).unwrap().class(), "keda");
    // Without the add-on, scale to zero is KServe's ScaledObject (the waking request meets the gateway's 503).
    assert_eq!(
        decide(&zero, &profile(json!({})), &cluster(Some("http://p:9090")))
            .unwrap()
            .class(),
        "keda"
    );
}

#[test]
fn a_scale_down_delay_becomes_the_autoscalers_scale_down_window() {
    let s = spec(json!({ "maxReplicas": 3,
        "autoScaling": { "metric": "waitingRequests", "target": 4, "scaleDownDelaySeconds": 45 } }));
    let replicas = decide(&s, &profile(json!({})), &cluster(Some("http://p:9090"))).unwrap();
    let mut predictor = json!({});
    render(&replicas, &mut predictor, "team-a", "chat");
    assert_eq!(
        predictor["autoScaling"]["behavior"],
        json!({ "scaleDown": { "stabilizationWindowSeconds": 45 } })
    );
}
