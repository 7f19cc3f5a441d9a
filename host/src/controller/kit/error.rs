//! Reconcile errors: one variant per step that can fail (writing a child, deleting one, writing status), each
//! with what the operator was doing and its own metric label. They are retried with backoff; problems with the
//! user's objects are conditions, not errors. Reading cannot fail: reads come from the index.

/// A reconcile step failed and will be retried.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// Creating or updating a child object failed.
    #[error("failed to apply {what}: {source}")]
    Apply {
        /// Kind and name of the object.
        what: String,
        source: kube::Error,
    },
    /// Deleting an object failed.
    #[error("failed to delete {what}: {source}")]
    Delete {
        /// Kind and name of the object.
        what: String,
        source: kube::Error,
    },
    /// Writing an object's status failed.
    #[error("failed to write the status of {what}: {source}")]
    Status {
        /// Kind and name of the object.
        what: String,
        source: kube::Error,
    },
    /// An object lacks something the API server always sets (namespace, uid).
    #[error("{0}")]
    Invariant(String),
}

impl Error {
    /// The metric label for this error.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Error::Apply { .. } => "apply",
            Error::Delete { .. } => "delete",
            Error::Status { .. } => "status",
            Error::Invariant(_) => "invariant",
        }
    }

    /// The API server's status code, when it answered.
    pub(crate) fn code(&self) -> Option<u16> {
        match self {
            Error::Apply { source, .. } | Error::Delete { source, .. } | Error::Status { source, .. } => match source {
                kube::Error::Api(status) => Some(status.code),
                _ => None,
            },
            Error::Invariant(_) => None,
        }
    }

    /// True when the object's namespace is being deleted: nothing more can be created there, and nothing needs
    /// to be (everything in it goes with it).
    pub(crate) fn namespace_terminating(&self) -> bool {
        match self {
            Error::Apply { source, .. } => refused_in_terminating_namespace(source),
            _ => false,
        }
    }
}

/// True when the API server refused `error`'s request because the namespace is being deleted (it takes no new
/// content; everything in it goes with it).
pub(crate) fn refused_in_terminating_namespace(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 403 && status.message.contains("being terminated"))
}
