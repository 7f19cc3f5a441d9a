//! Leader faults with `aim-operator run` as two processes (the `aim-operator` ServiceAccount, `deploy/base`'s
//! RBAC), in a test binary of its own: a SIGKILLed leader cannot give the Lease up, and the standby takes over
//! within the lease duration and finishes the rollout; a leader paused (SIGSTOP) past its lease wakes up to find
//! a successor, and none of its writes lands after the takeover (its write fence, `runtime/fence.rs`), as the
//! API server's audit log shows (each replica names itself in its User-Agent).

use aim_operator::process::leader::LEASE_DURATION;
use aim_tests::replica::Replica;
use aim_tests::scenario::*;
use aim_tests::{TestEnv, test_env, wait};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use nix::sys::signal::Signal;
use std::path::Path;
use std::time::{Duration, Instant};

const SERVICES: usize = 8;

/// Held by each test that runs operator replicas: they all contend for the one Lease in `aim-system`, so two such
/// tests at once would measure each other's replicas.
static REPLICAS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn replica(kubeconfig: &Path, identity: &str, log: &Path) -> Replica {
    Replica::start(
        kubeconfig,
        &[
            "--namespace",
            "aim-system",
            "--identity",
            identity,
            "--log-format",
            "json",
        ],
        &[],
        Some(log),
    )
}

/// A directory for the replicas' logs, and a kubeconfig of the `aim-operator` ServiceAccount in it.
async fn operator_identity(env: &TestEnv) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let identity =
        aim_tests::identity::operator_kubeconfig(env.kubectl_path(), env.kubeconfig(), &dir.path().join("sa"))
            .await
            .expect("the operator's identity");
    (dir, identity)
}

async fn leader_of(env: &TestEnv) -> Option<(String, k8s_openapi::jiff::Timestamp)> {
    let leases: Api<Lease> = Api::namespaced(env.client().await, "aim-system");
    let spec = leases.get_opt("aim-operator").await.ok()??.spec?;
    Some((spec.holder_identity?, spec.acquire_time?.0))
}

async fn wait_leads(env: &TestEnv, identity: &str, within: Duration) -> k8s_openapi::jiff::Timestamp {
    let start = Instant::now();
    loop {
        if let Some((holder, since)) = leader_of(env).await
            && holder == identity
        {
            return since;
        }
        assert!(
            start.elapsed() < within,
            "{identity} did not take the lease within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every service named `<prefix>-<i>` Running, with exactly one InferenceService and at most one HTTPRoute each.
async fn converged(env: &TestEnv, ns: &str, prefix: &str) {
    all_running(env, ns, prefix, SERVICES).await;
    for kind in ["inferenceservices", "httproutes"] {
        let out = env
            .kubectl(&[
                "get",
                kind,
                "-n",
                ns,
                "-o",
                "jsonpath={.items[*].metadata.labels.aim\\.silogen\\.ai/service}",
            ])
            .await;
        let mut owners: Vec<&str> = out
            .stdout
            .split_whitespace()
            .filter(|s| s.starts_with(prefix))
            .collect();
        owners.sort();
        let all = owners.len();
        owners.dedup();
        assert_eq!(all, owners.len(), "no service has two {kind}: {}", out.stdout);
        // Routes exist only where the cluster config names a gateway; InferenceServices always.
        if kind == "inferenceservices" {
            assert_eq!(all, SERVICES, "one {kind} per service: {}", out.stdout);
        }
    }
}

/// Successful writes (not to the Lease) the replica named `identity` made after `after`, from the audit log.
fn writes_after(audit: &Path, identity: &str, after: k8s_openapi::jiff::Timestamp) -> Vec<String> {
    let agent = format!("({identity})");
    std::fs::read_to_string(audit)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["userAgent"].as_str().is_some_and(|a| a.contains(&agent)))
        .filter(|e| matches!(e["verb"].as_str(), Some("create" | "update" | "patch" | "delete")))
        .filter(|e| e["objectRef"]["resource"] != "leases")
        .filter(|e| {
            e["responseStatus"]["code"]
                .as_u64()
                .is_some_and(|c| (200..300).contains(&c))
        })
        .filter(|e| {
            e["stageTimestamp"]
                .as_str()
                .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
                .is_some_and(|t| t > after)
        })
        .map(|e| format!("{} {} {}", e["stageTimestamp"], e["verb"], e["requestURI"]))
        .collect()
}

#[tokio::test]
async fn a_killed_leader_is_replaced_within_the_lease_and_a_paused_one_writes_nothing_after_its_successor() {
    let env = test_env!();
    let _one_at_a_time = REPLICAS.lock().await;
    let (dir, identity) = operator_identity(env).await;
    let catalog = single_template_catalog(env, "faults").await;
    let ns = env.namespace("leader-faults").await;

    // SIGKILL: the leader cannot release the Lease; the standby waits it out, then finishes the rollout.
    let mut a = replica(&identity, "fault-a", &dir.path().join("a.log"));
    wait_leads(env, "fault-a", Duration::from_secs(60)).await;
    let mut b = replica(&identity, "fault-b", &dir.path().join("b.log"));
    create_many(env, &ns, "kill", SERVICES, &catalog.model).await;
    a.signal(Signal::SIGKILL);
    let killed = Instant::now();
    assert!(a.exits_within(Duration::from_secs(5)).await.is_some());
    wait_leads(env, "fault-b", LEASE_DURATION + Duration::from_secs(10)).await;
    let handover = killed.elapsed();
    println!("handover after SIGKILL: {handover:.1?} (lease {LEASE_DURATION:?})");
    assert!(
        handover <= LEASE_DURATION + Duration::from_secs(4),
        "the standby took over {handover:?} after the kill; the lease is {LEASE_DURATION:?}"
    );
    converged(env, &ns, "kill").await;

    // SIGSTOP past the lease: a successor takes over; the paused leader, woken with work queued, writes nothing.
    // It is paused in the middle of a rollout, so it wakes with reconciles half done on a stale view: exactly
    // the writes that must not land once the successor leads.
    let mut c = replica(&identity, "fault-c", &dir.path().join("c.log"));
    create_many(env, &ns, "pause", SERVICES, &catalog.model).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.signal(Signal::SIGSTOP);
    let takeover = wait_leads(env, "fault-c", LEASE_DURATION + Duration::from_secs(10)).await;
    converged(env, &ns, "pause").await;
    b.signal(Signal::SIGCONT);
    let status = b.exits_within(Duration::from_secs(40)).await;
    assert!(
        status.is_some_and(|s| !s.success()),
        "the woken replica exits, having lost the lease: {status:?}"
    );
    let late = writes_after(&env.audit_log(), "fault-b", takeover);
    let refused = std::fs::read_to_string(dir.path().join("b.log"))
        .unwrap_or_default()
        .matches("write refused")
        .count();
    println!("the woken replica's writes refused by its fence: {refused}");

    assert!(
        late.is_empty(),
        "writes of the paused leader landed after the takeover at {takeover}:\n{}",
        late.join("\n")
    );
    c.terminate();
}

/// The mechanism under the test above, whose timing decides whether a woken leader has writes in flight: a
/// client behind a fence whose last renewal has lapsed cannot write (the request never leaves the process), yet
/// still reads, and still writes the Lease (how it renews or learns it lost).
#[tokio::test]
async fn a_client_behind_a_lapsed_fence_reads_and_renews_but_cannot_write() {
    use aim_operator::process::fence::{Fence, FenceLayer};
    use k8s_openapi::api::core::v1::ConfigMap;
    let env = test_env!();
    let ns = env.namespace("fence").await;
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(env.kubeconfig()).unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    let fence = Fence::closed();
    let client = kube::client::ClientBuilder::try_from(config)
        .unwrap()
        .with_layer(&FenceLayer::new(fence.clone(), "fence-test"))
        .build();
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let map = |name: &str| ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    fence.renewed(Instant::now(), LEASE_DURATION);
    maps.create(&Default::default(), &map("while-held"))
        .await
        .expect("a write while the lease is fresh");

    // The last renewal was sent longer ago than the lease minus the margin: as after a pause.
    fence.renewed(Instant::now() - LEASE_DURATION, LEASE_DURATION);
    let refused = maps.create(&Default::default(), &map("after-lapse")).await.unwrap_err();
    assert!(refused.to_string().contains("write refused"), "{refused}");
    let admin: Api<ConfigMap> = Api::namespaced(env.client().await, &ns);
    assert!(
        admin.get_opt("after-lapse").await.unwrap().is_none(),
        "the write never reached the API server"
    );
    assert!(maps.get("while-held").await.is_ok(), "reads pass");
    let leases: Api<Lease> = Api::namespaced(client, &ns);
    let lease = Lease {
        metadata: kube::api::ObjectMeta {
            name: Some("fence-test".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    leases
        .create(&Default::default(), &lease)
        .await
        .expect("the Lease passes the fence");
}

/// A restart with nothing changed is quiet: the successor finds the plugins the status lists (same digests), so
/// it keeps their `since` and writes nothing to the cluster config (nor anything else but its Lease, for objects
/// that had converged).
#[tokio::test]
async fn a_restart_with_the_same_plugins_keeps_their_since_and_writes_no_status() {
    use aim_operator::api::AIMClusterConfig;
    let env = test_env!();
    let _one_at_a_time = REPLICAS.lock().await;
    let (dir, identity) = operator_identity(env).await;
    let _config = env.cleanup(&["aimclusterconfig", "default"]);
    let config = "apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMClusterConfig\nmetadata:\n  name: default\nspec: {}\n";
    assert!(env.apply(config, None).await.success);
    let configs: Api<AIMClusterConfig> = Api::all(env.client().await);
    let listed = || async {
        let status = configs.get("default").await.ok().and_then(|c| c.status);
        status.map(|s| s.plugins).filter(|p| p.len() == 3)
    };

    let mut first = replica(&identity, "quiet-a", &dir.path().join("a.log"));
    wait_leads(env, "quiet-a", Duration::from_secs(60)).await;
    let before = wait::until("the plugins in the config's status", || async {
        listed().await.ok_or("not listed yet".to_string())
    })
    .await;
    first.terminate();
    assert!(first.exits_within(Duration::from_secs(20)).await.is_some());
    // `since` has a resolution of a second: a successor that rewrote it would write a later one.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let mut second = replica(&identity, "quiet-b", &dir.path().join("b.log"));
    let took = wait_leads(env, "quiet-b", Duration::from_secs(60)).await;
    // Long enough for its controllers to sync and reconcile the config.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = listed().await.expect("the plugins stay listed");
    let config_writes: Vec<String> = writes_after(&env.audit_log(), "quiet-b", took)
        .into_iter()
        .filter(|w| w.contains("aimclusterconfigs"))
        .collect();
    second.terminate();
    assert_eq!(after, before, "the same plugins, the same since");
    assert!(
        config_writes.is_empty(),
        "the successor rewrote the config's status:\n{}",
        config_writes.join("\n")
    );
}
