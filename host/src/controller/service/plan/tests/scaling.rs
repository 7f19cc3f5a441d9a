//! The plan of a service whose replica count moves: autoscaled within bounds, scaling while it serves, asked
//! to scale in a way the cluster cannot, and replica counts that ride along with the writes a start makes.

use super::*;

fn autoscaled(deployed: (i32, usize), runtime: &str, pods: Vec<Arc<Pod>>) -> Plan {
    let i = isvc(runtime);
    let mut c = case(on_gpus(1));
    c.isvc = Some(&i);
    c.bounds = Some((1, 4));
    c.deployed = Some(deployed);
    c.was = Some(ServiceState::Running);
    c.pods = pods;
    run(c)
}

#[test]
fn an_autoscaled_service_renders_its_bounds_and_reports_its_replicas() {
    let p = autoscaled((2, 2), "True", vec![]);
    let isvc = p.isvc().unwrap();
    assert_eq!(
        isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"],
        "hpa"
    );
    assert_eq!(
        (
            &isvc["spec"]["predictor"]["minReplicas"],
            &isvc["spec"]["predictor"]["maxReplicas"]
        ),
        (&json!(1), &json!(4))
    );
    let replicas = p.status.replicas.clone().unwrap();
    assert_eq!(
        (replicas.summary.as_str(), replicas.autoscaler.as_str()),
        ("2/2 (1-4)", "hpa")
    );
    assert_cond(&p, types::RUNTIME_READY, "True", reasons::RUNTIME_READY);
}

#[rstest::rstest]
#[case::scaling_up_while_kserve_says_ready((3, 2), "True", false, "is scaling from 2 to 3 ready replicas")]
#[case::scaling_up_past_what_kserve_calls_available((4, 2), "False", false, "is scaling from 2 to 4 ready replicas")]
#[case::the_next_replica_waits_for_gpus((3, 2), "True", true, "the next replica waits: the scheduler placed no replica")]
fn a_service_that_scales_keeps_running_and_says_so(
    #[case] deployed: (i32, usize),
    #[case] runtime: &str,
    #[case] waiting: bool,
    #[case] says: &str,
) {
    let mut pods = vec![predictor_pod("a", true), predictor_pod("b", true)];
    if waiting {
        pods.push(predictor_pod("c", false));
    }
    let p = autoscaled(deployed, runtime, pods);
    assert_eq!(p.status.head.status, Some(ServiceState::Running));
    assert_cond(&p, types::RUNTIME_READY, "True", reasons::SCALING);
    let message = &conditions::get(&p.status.head.conditions, types::RUNTIME_READY)
        .unwrap()
        .message;
    assert!(message.contains(says), "{message}");
    assert_eq!(
        p.status.replicas.unwrap().summary,
        format!("2/{} (1-4)", deployed.0),
        "the count a person sees"
    );
}

#[test]
fn a_surge_or_the_last_moments_of_a_scale_down_are_not_more_replicas_than_wanted() {
    let p = autoscaled((1, 2), "True", vec![]);
    assert_cond(&p, types::RUNTIME_READY, "True", reasons::RUNTIME_READY);
    assert_eq!(p.status.replicas.unwrap().summary, "1/1 (1-4)");
}

#[test]
fn an_autoscaled_service_below_its_floor_is_not_called_scaling() {
    let p = autoscaled((2, 0), "False", vec![predictor_pod("a", false)]);
    assert_cond(&p, types::RUNTIME_READY, "False", reasons::UNSCHEDULABLE);
}

#[test]
fn a_scale_to_zero_on_the_templates_cpu_metric_fails_and_writes_nothing() {
    let mut resolution = on_gpus(1);
    if let Resolution::Resolved { template, .. } = &mut resolution {
        template.profile.scaling.max_replicas = Some(4);
    }
    let mut c = case(resolution);
    c.bounds = Some((0, 2));
    let p = run(c);
    assert!(
        p.isvc().is_none(),
        "nothing is written that KServe would run at one replica"
    );
    assert_cond(&p, types::RUNTIME_READY, "False", reasons::SCALING_UNSUPPORTED);
    assert_cond(&p, types::FAILURE, "True", reasons::SCALING_UNSUPPORTED);
    let message = &conditions::get(&p.status.head.conditions, types::FAILURE)
        .unwrap()
        .message;
    assert!(
        message.contains("minReplicas 0 (scale to zero) needs autoScaling on a request metric"),
        "{message}"
    );
    assert_eq!(p.status.head.status, Some(ServiceState::Failed));
}

#[test]
fn replica_counts_and_the_start_record_ride_along_with_writes_made_anyway() {
    // Starting: the InferenceService exists, KServe has not said it is ready, no replica is ready yet.
    let i = isvc("False");
    let mut c = case(on_gpus(1));
    c.isvc = Some(&i);
    c.deployed = Some((1, 0));
    let before = run(c).status;
    assert_eq!(before.replicas.as_ref().unwrap().summary, "0/1");
    assert!(before.startup.is_some(), "a new service's start is recorded");
    // Its replica turns ready before KServe says so: nothing a person reads changed, nothing is written.
    let mut c = case(on_gpus(1));
    c.isvc = Some(&i);
    c.deployed = Some((1, 1));
    c.previous = Some(before.clone());
    assert_eq!(run(c).status, before);
    // KServe says it is ready: the write that says Running carries the count.
    let ready = isvc("True");
    let mut c = case(on_gpus(1));
    c.isvc = Some(&ready);
    c.deployed = Some((1, 1));
    c.previous = Some(before);
    let after = run(c).status;
    assert_eq!(after.head.status, Some(ServiceState::Running));
    assert_eq!(after.replicas.unwrap().summary, "1/1");
}
