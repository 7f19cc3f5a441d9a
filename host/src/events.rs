//! Kubernetes Events the operator records: one reporter for all of them (the operator, and the replica that
//! recorded it), and notes cut to what the API server accepts.

use kube::Client;
use kube::runtime::events::{Recorder, Reporter};

/// Most an Event's note may hold (the API server's limit is 1 KiB).
const NOTE_LIMIT: usize = 1000;

/// A recorder reporting as `aim-operator`, from the replica named by `POD_NAME`.
pub(crate) fn recorder(client: Client) -> Recorder {
    let reporter = Reporter {
        controller: crate::labels::MANAGED_BY_VALUE.into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    Recorder::new(client, reporter)
}

/// An Event note: the whole message when it fits; otherwise cut at the last sentence or clause boundary that
/// fits, saying where the rest is, never mid-word.
pub(crate) fn note(message: &str) -> String {
    if message.len() <= NOTE_LIMIT {
        return message.to_string();
    }
    const MORE: &str = " … (the full message is in the object's conditions)";
    let mut end = NOTE_LIMIT - MORE.len();
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let head = &message[..end];
    let cut = head
        .rfind("; ")
        .or_else(|| head.rfind(". "))
        .or_else(|| head.rfind(", "))
        .or_else(|| head.rfind(' '))
        .unwrap_or(end);
    format!("{}{MORE}", head[..cut].trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_notes_are_cut_at_a_boundary_and_say_so() {
        let long = format!("{}; tail", "word ".repeat(300));
        let n = note(&long);
        assert!(n.len() <= NOTE_LIMIT, "{}", n.len());
        assert!(n.ends_with("(the full message is in the object's conditions)"), "{n}");
        assert!(!n.contains("wor …"), "never mid-word: {n}");
        assert_eq!(note("short"), "short");
    }
}
