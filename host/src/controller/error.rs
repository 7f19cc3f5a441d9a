//! Reconcile errors: API failures, with what the operator was doing. They are retried with backoff; problems
//! with the user's objects are conditions, not errors.

/// A reconcile failed and will be retried.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API call failed.
    #[error("failed to {action}: {source}")]
    Kube {
        /// What the operator was doing.
        action: String,
        /// The client error.
        source: kube::Error,
    },
    /// An object lacks something the API server always sets (namespace, uid).
    #[error("{0}")]
    Invariant(String),
}

impl Error {
    /// The metric label for this error.
    pub fn label(&self) -> &'static str {
        match self {
            Error::Kube { .. } => "kube",
            Error::Invariant(_) => "invariant",
        }
    }
}

/// Wraps a client error with what the operator was doing.
pub fn kube_err(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
    let action = action.into();
    move |source| Error::Kube { action, source }
}
