//! Every read calls for its wake-up: a scenario of every kind runs with the operator recording, for each
//! reconcile, every object it read from the index; then, for each object read, the routing (`controller::wake`)
//! is handed that object's creation and its deletion, and must wake the reconcile that read it. A reconcile that
//! reads something whose change would not wake it is a missed wake-up: a user would see a stale status until
//! some unrelated change woke the object. (Its own object is not counted: its own status writes wake nothing.)
//!
//! In a test binary of its own: `AIMClusterConfig default` is cluster-wide.

use aim_operator::api::ServiceState;
use aim_operator::controller::wake::{Queues, Receivers};
use aim_operator::index::{AnyObject, OnChange};
use aim_tests::scenario::*;
use aim_tests::{operator, test_env};
use kube::runtime::reflector::ObjectRef;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

fn drain<K: kube::Resource<DynamicType = ()>>(
    kind: &str,
    rx: &mut UnboundedReceiver<ObjectRef<K>>,
    woken: &mut BTreeSet<String>,
) {
    while let Ok(r) = rx.try_recv() {
        woken.insert(format!("{kind} {}/{}", r.namespace.unwrap_or_default(), r.name));
    }
}

fn woken(r: &mut Receivers) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    drain("aimimages", &mut r.images, &mut set);
    drain("aimclusterconfigs", &mut r.configs, &mut set);
    drain("aimclusterservicetemplates", &mut r.cluster_templates, &mut set);
    drain("aimservicetemplates", &mut r.templates, &mut set);
    drain("aimtemplatecaches", &mut r.template_caches, &mut set);
    drain("modelcaches", &mut r.model_caches, &mut set);
    drain("aimservices", &mut r.services, &mut set);
    set
}

fn key(obj: &AnyObject) -> String {
    let (kind, ns, name) = obj.key();
    format!("{kind} {ns}/{name}")
}

#[tokio::test]
async fn a_change_of_anything_a_reconcile_read_wakes_that_reconcile() {
    let env = test_env!();
    let running = env.start_operator(operator::test_config());
    settled(env).await;
    running.context.reads.start();

    // Every kind: a catalog, a namespace template to discover, services of the four patterns with caching and
    // routing, a user's model cache and template cache, a gateway and the cluster config naming it.
    let _config = env.cleanup(&["aimclusterconfig", "default"]);
    let gw_ns = format!("gw-cover-{}", std::process::id());
    let _gw_ns = env.cleanup(&["namespace", &gw_ns]);
    assert!(env.kubectl(&["create", "namespace", &gw_ns]).await.success);
    assert!(
        env.apply(&aim_tests::gateway::gateway_yaml(&gw_ns, "public-gw"), None)
            .await
            .success
    );
    let config = format!(
        "{API}\nkind: AIMClusterConfig\nmetadata:\n  name: default\nspec:\n  routing:\n    gateway:\n      name: public-gw\n      namespace: {gw_ns}\n  cacheStorageClassName: local-rwx\n"
    );
    assert!(env.apply(&config, None).await.success);
    let ns = env.namespace("cover").await;
    let catalog = catalog(
        env,
        "cover",
        &[
            Profile {
                name: "one",
                precision: "fp8",
                gpus: 1,
                gpu: "MI300X",
            },
            Profile {
                name: "two",
                precision: "fp16",
                gpus: 2,
                gpu: "MI325X",
            },
        ],
        Some("one"),
    )
    .await;
    let model = &catalog.model;
    let objects = format!(
        "{API}\nkind: AIMServiceTemplate\nmetadata:\n  name: local\nspec:\n  modelId: {model}\n  metric: throughput\n  precision: fp8\n  gpuSelector: {{count: 1, model: MI300X}}\n  caching:\n    enabled: true\n---\n\
         {API}\nkind: ModelCache\nmetadata:\n  name: own\nspec:\n  sourceUri: hf://cover/own-{}\n  size: 1Gi\n---\n\
         {API}\nkind: AIMTemplateCache\nmetadata:\n  name: warm-two\nspec:\n  templateRef: {}\n---\n{}---\n{}---\n{}---\n{}",
        std::process::id(),
        catalog.template("two"),
        service("plain", model, "  cacheModel: true\n"),
        service("named", model, &format!("  templateRef: {}\n", catalog.template("two"))),
        service("overridden", model, "  overrides:\n    precision: bf16\n"),
        service(
            "both",
            model,
            &format!(
                "  templateRef: {}\n  overrides:\n    gpuSelector: {{count: 2, model: MI325X}}\n",
                catalog.template("two")
            )
        ),
    );
    let out = env.apply(&objects, Some(&ns)).await;
    assert!(out.success, "{}", out.stderr);
    for name in ["plain", "named", "overridden", "both"] {
        wait_for(env, &ns, name, "Running", |s| {
            (s.head.status == Some(ServiceState::Running))
                .then_some(())
                .ok_or_else(|| format!("{:?}", s.head.status))
        })
        .await;
    }
    // Each service once more, from the status it wrote: a start that settles within the settle window writes its
    // first status (which pins its template) in the same reconcile as `Running`, and that reconcile read the
    // candidates a matcher chose among, which the service no longer depends on (its own write wakes nothing,
    // so nothing else would show what it reads now). An annotation the operator passes on to nothing.
    for name in ["plain", "named", "overridden", "both"] {
        let touched = env
            .kubectl(&[
                "annotate",
                "aimservice",
                name,
                "-n",
                &ns,
                "--overwrite",
                "kubectl.kubernetes.io/wake-coverage=again",
            ])
            .await;
        assert!(touched.success, "{}", touched.stderr);
    }
    // A moment more for these, the caches and the discovery to settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let recorded = running.context.reads.take();
    let index = running.context.index.clone();
    println!("{} reconciles recorded", recorded.len());
    assert!(recorded.len() > 20, "the scenario reconciled too little to check");

    // What each object depends on now: what its latest reconcile read (an earlier one may have read what it no
    // longer needs, such as the candidates a matcher chose among before the service was resolved).
    let mut latest = std::collections::BTreeMap::new();
    for reconcile in &recorded {
        latest.insert(key(&reconcile.object), reconcile);
    }
    let mut checked = BTreeSet::new();
    let mut missed = BTreeSet::new();
    let mut kinds_read = BTreeSet::new();
    for reconcile in latest.values() {
        let me = key(&reconcile.object);
        for read in &reconcile.reads {
            let it = key(read);
            if it == me || !checked.insert((me.clone(), it.clone())) {
                continue;
            }
            kinds_read.insert(read.key().0);
            for (what, change) in [("creation", read.created()), ("deletion", read.deleted())] {
                let (queues, mut receivers) = Queues::new();
                queues.changed(&index, change.changed());
                if !woken(&mut receivers).contains(&me) {
                    missed.insert(format!(
                        "{} reconcile of {me} read {it}; its {what} does not wake it",
                        reconcile.controller
                    ));
                }
            }
        }
    }
    println!(
        "{} (reconcile, object read) pairs checked; kinds read: {kinds_read:?}",
        checked.len()
    );
    assert!(
        missed.is_empty(),
        "missed wake-ups:\n{}",
        missed.into_iter().collect::<Vec<_>>().join("\n")
    );
}
