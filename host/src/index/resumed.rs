//! Telling the index's health when a watch has resumed: a tower layer on the operator's client that sees every
//! watch request the index's watches make, and reports to [`WatchHealth::resumed`] each one the API server
//! answered with success.
//!
//! Why a layer: kube's watcher reports the errors that break a watch, but not the moment a retried watch starts
//! again (it resumes silently from its last resourceVersion). A quiet kind (no changes, so no events) would then
//! look failing until something in it changed, which after an RBAC hiccup (the API server refusing watches with
//! 403 while its authorizer re-lists, as after an etcd restart) can be hours, leaving `/readyz` failing. The
//! API server authorizes a watch before it answers, so a 2xx answer to a watch request proves the watch runs.
//!
//! The index watches every kind cluster-wide, so a watch's path ends with the kind's plural: the name
//! [`WatchHealth`] knows it by.

use super::health::WatchHealth;
use futures::FutureExt;
use futures::future::BoxFuture;
use http::{Method, Request, Response};
use std::sync::Arc;
use std::task::{Context, Poll};

/// The layer: add it to the client the index's watches use (`ClientBuilder::with_layer`).
#[derive(Clone)]
pub struct ResumedLayer {
    health: Arc<WatchHealth>,
}

impl ResumedLayer {
    /// Reports resumed watches to `health`.
    pub fn new(health: Arc<WatchHealth>) -> Self {
        ResumedLayer { health }
    }
}

impl<S> tower::Layer<S> for ResumedLayer {
    type Service = ResumedService<S>;
    fn layer(&self, inner: S) -> ResumedService<S> {
        ResumedService {
            inner,
            health: self.health.clone(),
        }
    }
}

/// The service the layer makes.
#[derive(Clone)]
pub struct ResumedService<S> {
    inner: S,
    health: Arc<WatchHealth>,
}

/// The kind (its plural) a cluster-wide watch request is for, or `None` for any other request.
fn watched_kind<B>(request: &Request<B>) -> Option<String> {
    if request.method() != Method::GET {
        return None;
    }
    let uri = request.uri();
    let watching = uri
        .query()
        .is_some_and(|q| q.split('&').any(|pair| pair == "watch=true" || pair == "watch=1"));
    if !watching {
        return None;
    }
    uri.path()
        .rsplit('/')
        .next()
        .filter(|k| !k.is_empty())
        .map(str::to_string)
}

impl<S, B, R> tower::Service<Request<B>> for ResumedService<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<R>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let kind = watched_kind(&request);
        let answer = self.inner.call(request);
        let Some(kind) = kind else {
            return answer.boxed();
        };
        let health = self.health.clone();
        answer
            .map(move |result| {
                if let Ok(response) = &result
                    && response.status().is_success()
                {
                    health.resumed(&kind);
                }
                result
            })
            .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{Layer, Service, ServiceExt};

    fn get(uri: &str) -> Request<()> {
        Request::get(uri).body(()).unwrap()
    }

    #[test]
    fn only_watch_requests_name_a_kind() {
        assert_eq!(
            watched_kind(&get("/api/v1/events?fieldSelector=x&watch=true&resourceVersion=5")).as_deref(),
            Some("events")
        );
        assert_eq!(
            watched_kind(&get("/apis/serving.kserve.io/v1beta1/inferenceservices?watch=true")).as_deref(),
            Some("inferenceservices")
        );
        assert_eq!(watched_kind(&get("/api/v1/events?limit=500")), None, "a list");
        assert_eq!(watched_kind(&get("/api/v1/namespaces/a/pods/p")), None, "a get");
        let patch = Request::patch("/api/v1/pods?watch=true").body(()).unwrap();
        assert_eq!(watched_kind(&patch), None, "not a read");
    }

    /// A refused watch (403) is failing; the same watch answered with 200 on its retry is healthy again, though
    /// no event arrived on it.
    #[tokio::test]
    async fn a_watch_answered_with_success_clears_its_refusal() {
        let health = Arc::new(WatchHealth::new(&["events", "pods"]));
        health.synced("events");
        health.synced("pods");
        health.failed("events", &"403 Forbidden", false);
        assert!(!health.is_ready());

        let status = Arc::new(std::sync::Mutex::new(403u16));
        let answer = {
            let status = status.clone();
            tower::service_fn(move |_req: Request<()>| {
                let code = *status.lock().unwrap();
                async move { Ok::<_, std::convert::Infallible>(Response::builder().status(code).body(()).unwrap()) }
            })
        };
        let mut service = ResumedLayer::new(health.clone()).layer(answer);
        let watch = || get("/api/v1/events?watch=true&resourceVersion=7");
        service.ready().await.unwrap().call(watch()).await.unwrap();
        assert!(!health.is_ready(), "a refused retry changes nothing");

        *status.lock().unwrap() = 200;
        service
            .ready()
            .await
            .unwrap()
            .call(get("/api/v1/events?limit=1"))
            .await
            .unwrap();
        assert!(!health.is_ready(), "a list is not the watch resuming");
        service.ready().await.unwrap().call(watch()).await.unwrap();
        assert!(health.is_ready(), "{:?}", health.problems());
    }
}
