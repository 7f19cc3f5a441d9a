//! Table tests of whom a change wakes: objects in the index, one change, the wake-ups out. No API server.

use super::*;
use crate::api::TemplateScope;
use crate::api::{
    AIMImageSpec, AIMServiceSpec, AIMServiceStatus, AIMServiceTemplateSpec, AIMTemplateCacheSpec,
    AIMTemplateCacheStatus, Credentials, ModelCacheSpec, ModelSource, ResolvedTemplate, ResourceState, TemplateProfile,
    TemplateStatus,
};
use crate::controller::kit::conditions::{Cond, reasons, set, types};
use crate::index::{Changed, Writers};
use crate::labels::Component;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::watcher::Event;
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedReceiver;

struct Fixture {
    index: Arc<Index>,
    writers: Writers,
    queues: Queues,
    services: UnboundedReceiver<ObjectRef<AIMService>>,
    templates: UnboundedReceiver<ObjectRef<AIMServiceTemplate>>,
    cluster_templates: UnboundedReceiver<ObjectRef<AIMClusterServiceTemplate>>,
    template_caches: UnboundedReceiver<ObjectRef<AIMTemplateCache>>,
    model_caches: UnboundedReceiver<ObjectRef<ModelCache>>,
    images: UnboundedReceiver<ObjectRef<AIMImage>>,
}

fn fixture() -> Fixture {
    let (index, writers) = Index::new();
    let (queues, r) = Queues::new();
    Fixture {
        index,
        writers,
        queues,
        services: r.services,
        templates: r.templates,
        cluster_templates: r.cluster_templates,
        template_caches: r.template_caches,
        model_caches: r.model_caches,
        images: r.images,
    }
}

fn drain<K: Resource<DynamicType = ()>>(rx: &mut UnboundedReceiver<ObjectRef<K>>) -> BTreeSet<String> {
    let mut woken = BTreeSet::new();
    while let Ok(r) = rx.try_recv() {
        woken.insert(match r.namespace {
            Some(ns) => format!("{ns}/{}", r.name),
            None => r.name,
        });
    }
    woken
}

fn set_of(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn service(ns: &str, name: &str, model: &str, resolved: Option<(&str, bool)>, cache: bool) -> AIMService {
    let mut s = AIMService::new(
        name,
        AIMServiceSpec {
            cache_model: cache,
            ..crate::fixtures::service_spec(model)
        },
    );
    s.metadata.namespace = Some(ns.into());
    s.metadata.uid = Some(format!("uid-{name}"));
    if let Some((template, derived)) = resolved {
        let mut status = AIMServiceStatus {
            resolved_template: Some(ResolvedTemplate {
                name: template.into(),
                scope: if derived || template.starts_with("ns-") {
                    TemplateScope::Namespace
                } else {
                    TemplateScope::Cluster
                },
                derived,
            }),
            ..Default::default()
        };
        set(
            &mut status.head.conditions,
            types::RESOLVED,
            &Cond::yes(reasons::RESOLVED, "t"),
            None,
            Timestamp::now(),
        );
        s.status = Some(status);
    }
    s
}

fn profile(model: &str, sources: &[&str]) -> TemplateProfile {
    TemplateProfile {
        model_id: model.into(),
        model_files: None,
        parameters: Default::default(),
        credentials: Default::default(),
        model_sources: Some(
            sources
                .iter()
                .map(|s| ModelSource {
                    source_uri: s.to_string(),
                    size: None,
                    name: None,
                })
                .collect(),
        ),
        pod: Default::default(),
        scaling: Default::default(),
    }
}

fn template(ns: &str, name: &str, model: &str, sources: &[&str]) -> AIMServiceTemplate {
    let mut t = AIMServiceTemplate::new(
        name,
        AIMServiceTemplateSpec {
            profile: profile(model, sources),
            caching: None,
        },
    );
    t.metadata.namespace = Some(ns.into());
    t.status = Some(TemplateStatus {
        model_sources: profile(model, sources).model_sources.unwrap(),
        ..Default::default()
    });
    t
}

fn cluster_template(name: &str, model: &str) -> AIMClusterServiceTemplate {
    AIMClusterServiceTemplate::new(
        name,
        crate::api::AIMClusterServiceTemplateSpec {
            profile: profile(model, &["hf://org/m"]),
        },
    )
}

fn image(name: &str, model: &str) -> AIMImage {
    AIMImage::new(
        name,
        AIMImageSpec {
            model_id: model.into(),
            image: "reg/x:1".into(),
            default_service_template: None,
        },
    )
}

fn template_cache(ns: &str, name: &str, template_ref: &str, state: Option<ResourceState>) -> AIMTemplateCache {
    let mut tc = AIMTemplateCache::new(
        name,
        AIMTemplateCacheSpec {
            template_ref: template_ref.into(),
            model_files: None,
            storage_class_name: None,
            credentials: Credentials::default(),
        },
    );
    tc.metadata.namespace = Some(ns.into());
    tc.status = state.map(|s| AIMTemplateCacheStatus {
        head: crate::api::StatusHead::in_state(s),
        ..Default::default()
    });
    tc
}

fn model_cache(ns: &str, name: &str, uri: &str) -> ModelCache {
    let mut mc = ModelCache::new(
        name,
        ModelCacheSpec {
            source_uri: uri.into(),
            model_files: None,
            storage_class_name: None,
            size: None,
            credentials: Credentials::default(),
        },
    );
    mc.metadata.namespace = Some(ns.into());
    mc
}

fn put<K>(writer: &mut kube::runtime::reflector::store::Writer<K>, obj: K)
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    writer.apply_watcher_event(&Event::Apply(obj));
}

fn change<K: Clone>(old: Option<&K>, new: Option<&K>) -> Change<K> {
    Change {
        old: old.cloned().map(Arc::new),
        new: new.cloned().map(Arc::new),
    }
}

#[test]
fn an_image_wakes_the_templates_and_services_of_its_model_and_no_others() {
    let mut f = fixture();
    put(&mut f.writers.services, service("a", "s1", "m/one", None, false));
    put(
        &mut f.writers.services,
        service("b", "s2", "m/one", Some(("t", false)), false),
    );
    put(&mut f.writers.services, service("a", "s3", "m/two", None, false));
    put(&mut f.writers.templates, template("a", "t1", "m/one", &[]));
    put(&mut f.writers.templates, template("a", "t2", "m/two", &[]));
    put(&mut f.writers.cluster_templates, cluster_template("c1", "m/one"));
    let img = image("img", "m/one");
    put(&mut f.writers.images, img.clone());
    f.queues.changed(&f.index, Changed::Images(&change(None, Some(&img))));
    assert_eq!(drain(&mut f.services), set_of(&["a/s1", "b/s2"]));
    assert_eq!(drain(&mut f.templates), set_of(&["a/t1"]));
    assert_eq!(drain(&mut f.cluster_templates), set_of(&["c1"]));
    assert_eq!(drain(&mut f.images), set_of(&["img"]));
}

#[test]
fn a_services_own_status_write_wakes_nothing_but_a_new_template_wakes_what_it_left() {
    let mut f = fixture();
    let before = service("a", "s", "m", Some(("base-ovr-x", true)), true);
    let mut status_only = before.clone();
    status_only.status.as_mut().unwrap().route_path = Some("/a/uid".into());
    f.queues
        .changed(&f.index, Changed::Services(&change(Some(&before), Some(&status_only))));
    assert!(
        drain(&mut f.services).is_empty(),
        "its own status write does not wake it"
    );
    assert!(drain(&mut f.templates).is_empty());

    put(
        &mut f.writers.template_caches,
        template_cache("a", "base-ovr-x", "base-ovr-x", None),
    );
    let moved = service("a", "s", "m", Some(("other", false)), true);
    f.queues
        .changed(&f.index, Changed::Services(&change(Some(&before), Some(&moved))));
    assert_eq!(
        drain(&mut f.templates),
        set_of(&["a/base-ovr-x"]),
        "the derived template it left learns it"
    );
    assert_eq!(
        drain(&mut f.template_caches),
        set_of(&["a/base-ovr-x"]),
        "so does the cache it used"
    );
    f.queues
        .changed(&f.index, Changed::Services(&change(Some(&moved), None)));
    assert_eq!(
        drain(&mut f.services),
        set_of(&["a/s"]),
        "a deletion is the object's own change"
    );
}

#[test]
fn a_template_cache_turning_available_wakes_exactly_the_services_waiting_for_it() {
    let mut f = fixture();
    put(
        &mut f.writers.services,
        service("a", "waits", "m", Some(("t", false)), true),
    );
    put(
        &mut f.writers.services,
        service("a", "no-cache", "m", Some(("t", false)), false),
    );
    put(
        &mut f.writers.services,
        service("a", "other-template", "m", Some(("u", false)), true),
    );
    put(
        &mut f.writers.services,
        service("b", "other-namespace", "m", Some(("t", false)), true),
    );
    let warming = template_cache("a", "t", "t", Some(ResourceState::Progressing));
    let warm = template_cache("a", "t", "t", Some(ResourceState::Available));
    f.queues
        .changed(&f.index, Changed::TemplateCaches(&change(Some(&warming), Some(&warm))));
    assert_eq!(drain(&mut f.services), set_of(&["a/waits"]));
    assert!(
        drain(&mut f.template_caches).is_empty(),
        "its own status change does not wake it"
    );
}

#[test]
fn a_model_cache_wakes_the_template_caches_that_hold_its_source_and_its_duplicates() {
    let mut f = fixture();
    put(&mut f.writers.templates, template("a", "t1", "m", &["hf://org/x"]));
    put(&mut f.writers.templates, template("a", "t2", "m", &["hf://org/y"]));
    put(&mut f.writers.template_caches, template_cache("a", "tc1", "t1", None));
    put(&mut f.writers.template_caches, template_cache("a", "tc2", "t2", None));
    let first = model_cache("a", "first", "hf://org/x");
    let mut second = model_cache("a", "second", "hf://org/x");
    second.metadata.uid = Some("2".into());
    put(&mut f.writers.model_caches, first.clone());
    put(&mut f.writers.model_caches, second);
    let mut ready = first.clone();
    ready.status = Some(Default::default());
    f.queues
        .changed(&f.index, Changed::ModelCaches(&change(Some(&first), Some(&ready))));
    assert_eq!(drain(&mut f.template_caches), set_of(&["a/tc1"]));
    assert_eq!(
        drain(&mut f.model_caches),
        set_of(&["a/second"]),
        "the duplicate may be unblocked"
    );
}

#[test]
fn a_cluster_template_wakes_services_that_run_it_or_have_none_yet() {
    let mut f = fixture();
    put(
        &mut f.writers.services,
        service("a", "runs-it", "m", Some(("c1", false)), false),
    );
    put(&mut f.writers.services, service("a", "unresolved", "m", None, false));
    put(
        &mut f.writers.services,
        service("a", "runs-another", "m", Some(("c2", false)), false),
    );
    put(&mut f.writers.services, service("a", "other-model", "n", None, false));
    let before = cluster_template("c1", "m");
    let mut after = before.clone();
    after.status = Some(TemplateStatus {
        head: crate::api::StatusHead::in_state(ResourceState::Available),
        ..Default::default()
    });
    f.queues.changed(
        &f.index,
        Changed::ClusterTemplates(&change(Some(&before), Some(&after))),
    );
    assert_eq!(drain(&mut f.services), set_of(&["a/runs-it", "a/unresolved"]));
}

#[test]
fn a_new_gpu_inventory_wakes_only_services_without_a_template() {
    let mut f = fixture();
    put(
        &mut f.writers.services,
        service("a", "settled", "m", Some(("c1", false)), false),
    );
    put(&mut f.writers.services, service("a", "unsettled", "m", None, false));
    f.queues.changed(
        &f.index,
        Changed::Nodes(&Change {
            old: None,
            new: Some(Arc::new(k8s_openapi::api::core::v1::Node::default())),
        }),
    );
    assert_eq!(drain(&mut f.services), set_of(&["a/unsettled"]));
}

#[test]
fn a_finished_job_wakes_its_owner() {
    use k8s_openapi::api::batch::v1::Job;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    let mut f = fixture();
    let mut job = Job::default();
    job.metadata.name = Some("weights-download-a0".into());
    job.metadata.namespace = Some("a".into());
    job.metadata.labels = Some(crate::labels::managed(Component::Download));
    job.metadata.owner_references = Some(vec![OwnerReference {
        kind: "ModelCache".into(),
        name: "weights".into(),
        ..Default::default()
    }]);
    f.queues.changed(&f.index, Changed::Jobs(&change(None, Some(&job))));
    assert_eq!(drain(&mut f.model_caches), set_of(&["a/weights"]));
}

/// What a change did to a service.
#[derive(Clone, Copy)]
enum Edit {
    Nothing,
    Status,
    Spec,
    Labels,
    Annotations,
}

fn edited(edit: Edit) -> Arc<AIMService> {
    let mut s = service("a", "s", "m/x", None, false);
    s.metadata.generation = Some(1);
    match edit {
        Edit::Nothing => {}
        Edit::Status => s.status = Some(Default::default()),
        Edit::Spec => s.metadata.generation = Some(2),
        Edit::Labels => s.metadata.labels = Some([("a".to_string(), "b".to_string())].into()),
        Edit::Annotations => s.metadata.annotations = Some([("a".to_string(), "b".to_string())].into()),
    }
    Arc::new(s)
}

/// Whether a change of an object wakes its own reconcile, as a table: what changed, in; woken or not, out.
#[rstest::rstest]
#[case::created(None, Some(Edit::Nothing), true)]
#[case::deleted(Some(Edit::Nothing), None, true)]
#[case::status_only(Some(Edit::Nothing), Some(Edit::Status), false)]
#[case::spec(Some(Edit::Nothing), Some(Edit::Spec), true)]
#[case::labels(Some(Edit::Nothing), Some(Edit::Labels), true)]
#[case::annotations(Some(Edit::Nothing), Some(Edit::Annotations), true)]
fn an_objects_own_change_wakes_it_unless_only_its_status_changed(
    #[case] before: Option<Edit>,
    #[case] after: Option<Edit>,
    #[case] woken: bool,
) {
    let mut f = fixture();
    let change = Change {
        old: before.map(edited),
        new: after.map(edited),
    };
    f.queues.changed(&f.index, Changed::Services(&change));
    assert_eq!(drain(&mut f.services).contains("a/s"), woken);
}
