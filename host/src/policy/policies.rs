//! The three policies as one shape. Each is a [`Policy`]: its kind, its request and answer, how an instance of
//! its plugin is called, what its answer must satisfy, its memo and the golden request of its load-time smoke
//! test. Calling ([`super::call::call`]), remembering and counting ([`super::engine::PolicyEngine::decide`]) and
//! smoke-testing ([`super::loader`]) are written once, for any policy: a fourth policy is one impl here, its
//! WIT world and one [`Pre`] variant.

use super::bindings::{
    GuestError, MatchRequest, MatchResult, MergeRequest, MergeResult, RoutingConfig, ServiceIdentity,
};
use super::kind::PolicyKind;
use super::limits::SandboxLimits;
use super::memo::Memo;
use super::plugin::Pre;
use super::sandbox::HostState;
use super::validate;
use std::fmt::Debug;
use wasmtime::Store;

/// Where a call failed in wasmtime, before the plugin could answer.
#[doc(hidden)]
pub enum Failed {
    /// Instantiating (the component's start code, for a Python plugin CPython's).
    Instantiate(wasmtime::Error),
    /// The exported function.
    Call(wasmtime::Error),
}

/// What the plugin's export returned, or where wasmtime stopped it.
#[doc(hidden)]
pub type Outcome<T> = Result<Result<T, GuestError>, Failed>;

/// One policy.
pub trait Policy: 'static {
    /// Its kind (and so its WIT interface and plugin file).
    const KIND: PolicyKind;
    /// What it is asked.
    type Request: Debug + Clone + Send + Sync + 'static;
    /// What it answers.
    type Answer: Clone + Send + 'static;

    /// Instantiates `pre` in `store` and calls the policy's export; `None` when `pre` is another policy's.
    #[doc(hidden)]
    fn run(pre: &Pre, store: &mut Store<HostState>, request: &Self::Request) -> Option<Outcome<Self::Answer>>;

    /// What an answer must satisfy (besides being well typed), in words when it does not.
    fn check(request: &Self::Request, answer: &Self::Answer, limits: &SandboxLimits) -> Result<(), String>;

    /// The engine's memo of this policy's decisions.
    fn memo(memos: &Memos) -> &Memo<Self::Answer>;

    /// The request a plugin of this policy must answer (well) to be installed.
    fn golden() -> Self::Request;
}

/// Chooses a service's template.
pub struct Matcher;
/// Applies a service's overrides to a template.
pub struct Merger;
/// Chooses a service's HTTP path.
pub struct Router;

/// The router's request: the service, and the gateway its route hangs off.
pub type RouteRequest = (ServiceIdentity, RoutingConfig);

impl Policy for Matcher {
    const KIND: PolicyKind = PolicyKind::Matcher;
    type Request = MatchRequest;
    type Answer = MatchResult;

    fn run(pre: &Pre, store: &mut Store<HostState>, request: &MatchRequest) -> Option<Outcome<MatchResult>> {
        let Pre::Matcher(pre) = pre else { return None };
        Some(pre.instantiate(&mut *store).map_err(Failed::Instantiate).and_then(|i| {
            i.aim_policy_matcher()
                .call_match_template(&mut *store, request)
                .map_err(Failed::Call)
        }))
    }

    fn check(request: &MatchRequest, answer: &MatchResult, limits: &SandboxLimits) -> Result<(), String> {
        let size = validate::match_result_size(answer);
        if size > limits.output_bytes {
            return Err(format!(
                "an answer of {size} bytes; the limit is {}",
                limits.output_bytes
            ));
        }
        validate::match_result(request, answer)
    }

    fn memo(memos: &Memos) -> &Memo<MatchResult> {
        &memos.matches
    }

    fn golden() -> MatchRequest {
        super::golden::golden_match_request()
    }
}

impl Policy for Merger {
    const KIND: PolicyKind = PolicyKind::Merger;
    type Request = MergeRequest;
    type Answer = MergeResult;

    fn run(pre: &Pre, store: &mut Store<HostState>, request: &MergeRequest) -> Option<Outcome<MergeResult>> {
        let Pre::Merger(pre) = pre else { return None };
        Some(pre.instantiate(&mut *store).map_err(Failed::Instantiate).and_then(|i| {
            i.aim_policy_merger()
                .call_merge(&mut *store, request)
                .map_err(Failed::Call)
        }))
    }

    fn check(_: &MergeRequest, answer: &MergeResult, _: &SandboxLimits) -> Result<(), String> {
        validate::merge_result(answer)
    }

    fn memo(memos: &Memos) -> &Memo<MergeResult> {
        &memos.merges
    }

    fn golden() -> MergeRequest {
        super::golden::golden_merge_request()
    }
}

impl Policy for Router {
    const KIND: PolicyKind = PolicyKind::Router;
    type Request = RouteRequest;
    type Answer = String;

    fn run(pre: &Pre, store: &mut Store<HostState>, (service, config): &RouteRequest) -> Option<Outcome<String>> {
        let Pre::Router(pre) = pre else { return None };
        Some(pre.instantiate(&mut *store).map_err(Failed::Instantiate).and_then(|i| {
            i.aim_policy_router()
                .call_route_path(&mut *store, service, config)
                .map_err(Failed::Call)
        }))
    }

    fn check(_: &RouteRequest, path: &String, _: &SandboxLimits) -> Result<(), String> {
        validate::route_path(path)
    }

    fn memo(memos: &Memos) -> &Memo<String> {
        &memos.routes
    }

    fn golden() -> RouteRequest {
        super::golden::golden_route_request()
    }
}

/// The memo of each policy's decisions.
#[derive(Debug, Default)]
pub struct Memos {
    matches: Memo<MatchResult>,
    merges: Memo<MergeResult>,
    routes: Memo<String>,
}

impl Memos {
    /// Forgets `kind`'s decisions (its plugin was swapped).
    pub fn clear(&self, kind: PolicyKind) {
        match kind {
            PolicyKind::Matcher => self.matches.clear(),
            PolicyKind::Merger => self.merges.clear(),
            PolicyKind::Router => self.routes.clear(),
        }
    }

    /// Decisions remembered per policy: (matcher, merger, router).
    pub fn sizes(&self) -> (usize, usize, usize) {
        (self.matches.len(), self.merges.len(), self.routes.len())
    }
}
