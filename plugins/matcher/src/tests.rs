//! The default matcher's rules, one test each.

use crate::policy::*;

const MODEL: &str = "meta/llama-3-8b";
const GIB: u64 = 1 << 30;

fn candidate(name: &str, scope: Scope, precision: Precision, gpus: u32, gpu: &str) -> Candidate {
    Candidate {
        name: name.into(),
        scope,
        params: Params {
            metric: Some(Metric::Latency),
            precision: Some(precision),
            gpu: Some(Gpu {
                model: gpu.into(),
                count: gpus,
            }),
        },
        state: State::Available,
        source_sizes: vec![Some(16 * GIB)],
    }
}

fn request(wanted: Params, candidates: Vec<Candidate>) -> Request {
    Request {
        model_id: MODEL.into(),
        wanted,
        candidates,
        inventory: None,
    }
}

fn wants_precision(p: Precision) -> Params {
    Params {
        precision: Some(p),
        ..Params::default()
    }
}

#[test]
fn every_candidate_gets_exactly_one_verdict_with_a_reason() {
    let out = match_template(&request(
        Params::default(),
        vec![
            candidate("a", Scope::Cluster, Precision::Fp8, 1, "MI300X"),
            candidate("b", Scope::Cluster, Precision::Fp16, 1, "MI300X"),
        ],
    ));
    assert_eq!(out.verdicts.iter().map(|v| v.candidate).collect::<Vec<_>>(), vec![0, 1]);
    assert!(out.verdicts.iter().all(|v| !v.reason.is_empty()));
}

#[test]
fn templates_that_are_not_ready_are_rejected() {
    let mut pending = candidate("pending", Scope::Namespace, Precision::Fp8, 1, "MI300X");
    pending.state = State::Pending;
    let out = match_template(&request(Params::default(), vec![pending]));
    assert_eq!(out.decision, Decision::None);
    assert!(
        out.verdicts[0].reason.contains("not ready (status Pending)"),
        "{}",
        out.verdicts[0].reason
    );
}

#[test]
fn a_different_wanted_value_rejects_and_an_exact_one_wins_over_an_open_one() {
    let mut open = candidate("open", Scope::Cluster, Precision::Fp8, 1, "MI300X");
    open.params.precision = None;
    let out = match_template(&request(
        wants_precision(Precision::Bf16),
        vec![
            candidate("fp8", Scope::Cluster, Precision::Fp8, 1, "MI300X"),
            open,
            candidate("bf16", Scope::Cluster, Precision::Bf16, 1, "MI300X"),
        ],
    ));
    assert!(
        out.verdicts[0]
            .reason
            .contains("precision is fp8, the service wants bf16")
    );
    assert!(
        out.verdicts[1].accepted
            && out.verdicts[1]
                .reason
                .contains("leaves 1 of the overrides to the runtime")
    );
    assert_eq!(out.decision, Decision::Use(2));
    assert!(out.verdicts[2].reason.contains("exact match"));
}

#[test]
fn namespace_templates_are_preferred_over_cluster_templates() {
    let out = match_template(&request(
        Params::default(),
        vec![
            candidate("cluster", Scope::Cluster, Precision::Fp8, 1, "MI300X"),
            candidate("zz-ns", Scope::Namespace, Precision::Fp8, 1, "MI300X"),
        ],
    ));
    assert_eq!(out.decision, Decision::Use(1));
    assert!(
        out.reason.contains("chose namespace template 'zz-ns'"),
        "{}",
        out.reason
    );
    assert!(out.verdicts[0].reason.contains("ranked below 'zz-ns'"));
}

#[test]
fn weights_that_do_not_fit_the_gpus_memory_are_rejected() {
    let mut big = candidate("big", Scope::Cluster, Precision::Fp16, 1, "MI300X");
    big.source_sizes = vec![Some(140 * GIB), Some(60 * GIB)];
    let mut fits = candidate("fits", Scope::Cluster, Precision::Fp16, 2, "MI300X");
    fits.source_sizes = big.source_sizes.clone();
    let out = match_template(&request(Params::default(), vec![big, fits]));
    assert!(!out.verdicts[0].accepted);
    assert!(
        out.verdicts[0]
            .reason
            .contains("need 200.0 GiB, more than the 172.8 GiB usable on 1 × MI300X"),
        "{}",
        out.verdicts[0].reason
    );
    assert_eq!(out.decision, Decision::Use(1));
}

#[test]
fn mi325x_holds_what_mi300x_cannot() {
    let mut on_300 = candidate("on-300", Scope::Cluster, Precision::Fp16, 1, "MI300X");
    on_300.source_sizes = vec![Some(200 * GIB)];
    let mut on_325 = candidate("on-325", Scope::Cluster, Precision::Fp16, 1, "mi325x");
    on_325.source_sizes = vec![Some(200 * GIB)];
    let out = match_template(&request(Params::default(), vec![on_300, on_325]));
    assert_eq!(out.decision, Decision::Use(1));
    assert!(
        out.verdicts[1]
            .reason
            .contains("fit in 230.4 GiB usable on 1 × MI325X (256 GiB HBM3E each)"),
        "{}",
        out.verdicts[1].reason
    );
}

#[test]
fn mi355x_holds_what_mi325x_cannot() {
    let mut on_325 = candidate("on-325", Scope::Cluster, Precision::Fp16, 1, "MI325X");
    on_325.source_sizes = vec![Some(240 * GIB)];
    let mut on_355 = candidate("on-355", Scope::Cluster, Precision::Fp16, 1, "MI355X");
    on_355.source_sizes = vec![Some(240 * GIB)];
    let out = match_template(&request(Params::default(), vec![on_325, on_355]));
    assert_eq!(out.decision, Decision::Use(1));
    assert!(
        out.verdicts[1]
            .reason
            .contains("fit in 259.2 GiB usable on 1 × MI355X (288 GiB HBM3E each)"),
        "{}",
        out.verdicts[1].reason
    );
}

#[test]
fn gpus_missing_from_the_inventory_are_rejected() {
    let mut req = request(
        Params::default(),
        vec![
            candidate("325", Scope::Namespace, Precision::Fp8, 1, "MI325X"),
            candidate("300x8", Scope::Cluster, Precision::Fp8, 8, "MI300X"),
        ],
    );
    req.inventory = Some(vec![GpuPool {
        model: "MI300X".into(),
        nodes: 2,
        allocatable: 8,
        max_per_node: 4,
    }]);
    let out = match_template(&req);
    assert!(
        out.verdicts[0]
            .reason
            .contains("no node has MI325X GPUs (the cluster has 8 × MI300X on 2 nodes)"),
        "{}",
        out.verdicts[0].reason
    );
    assert!(
        out.verdicts[1]
            .reason
            .contains("needs 8 × MI300X on one node; the largest node has 4")
    );
    assert_eq!(out.decision, Decision::None);
}

#[test]
fn an_unknown_inventory_is_not_checked() {
    let out = match_template(&request(
        Params::default(),
        vec![candidate("325", Scope::Namespace, Precision::Fp8, 1, "MI325X")],
    ));
    assert_eq!(out.decision, Decision::Use(0));
}

#[test]
fn ties_are_broken_by_name_and_the_reason_says_so() {
    let forward = vec![
        candidate("beta", Scope::Cluster, Precision::Fp8, 1, "MI300X"),
        candidate("alpha", Scope::Cluster, Precision::Fp8, 1, "MI300X"),
    ];
    let mut backward = forward.clone();
    backward.reverse();
    let a = match_template(&request(Params::default(), forward));
    let b = match_template(&request(Params::default(), backward));
    assert_eq!(a.decision, Decision::Use(1));
    assert_eq!(b.decision, Decision::Use(0));
    assert!(
        a.reason.contains("tied with 'beta', broken by name (alphabetical)"),
        "{}",
        a.reason
    );
}

#[test]
fn fewer_gpus_win_when_everything_else_is_equal() {
    let out = match_template(&request(
        Params::default(),
        vec![
            candidate("a-four", Scope::Cluster, Precision::Fp8, 4, "MI300X"),
            candidate("b-one", Scope::Cluster, Precision::Fp8, 1, "MI300X"),
        ],
    ));
    assert_eq!(out.decision, Decision::Use(1));
}

#[test]
fn overrides_nothing_matches_ask_for_a_derived_template() {
    let wanted = Params {
        precision: Some(Precision::Bf16),
        gpu: Some(Gpu {
            model: "MI300X".into(),
            count: 2,
        }),
        ..Params::default()
    };
    let out = match_template(&request(
        wanted.clone(),
        vec![candidate("fp8", Scope::Cluster, Precision::Fp8, 1, "MI300X")],
    ));
    assert_eq!(out.decision, Decision::Derive(wanted));
    assert!(out.reason.contains("precision=bf16, gpu=2 × MI300X"), "{}", out.reason);
}

#[test]
fn overrides_for_gpus_the_cluster_lacks_derive_nothing() {
    let wanted = Params {
        gpu: Some(Gpu {
            model: "MI325X".into(),
            count: 1,
        }),
        ..Params::default()
    };
    let mut req = request(wanted, vec![]);
    req.inventory = Some(vec![GpuPool {
        model: "MI300X".into(),
        nodes: 1,
        allocatable: 8,
        max_per_node: 8,
    }]);
    let out = match_template(&req);
    assert_eq!(out.decision, Decision::None);
    assert!(out.reason.contains("no node has MI325X"), "{}", out.reason);
}

#[test]
fn no_templates_and_no_overrides_is_none_with_a_reason() {
    let out = match_template(&request(Params::default(), vec![]));
    assert_eq!(out.decision, Decision::None);
    assert_eq!(out.reason, "no template exists for model 'meta/llama-3-8b'");
}
