//! The YAML examples of the product overview (`fixtures/seed/aim-overview.md`, a copy of the user's own
//! description), extracted in document order so tests and the demo apply exactly what the document shows.

/// The overview document.
pub const OVERVIEW: &str = include_str!("../fixtures/seed/aim-overview.md");

/// One fenced ```yaml block of the overview.
#[derive(Debug, Clone)]
pub struct SeedExample {
    /// 1-based position among the YAML blocks.
    pub index: usize,
    /// The YAML as written in the document (may hold several `---`-separated objects).
    pub yaml: String,
}

impl SeedExample {
    /// True for the example that writes `spec.modelId` on an `AIMService`, a slip in the document: the field is
    /// `spec.aimModelId`.
    pub fn is_service_with_model_id_slip(&self) -> bool {
        self.documents().any(is_service_with_model_id)
    }

    /// The example with the `spec.modelId` slip of its `AIMService` corrected to `spec.aimModelId`.
    pub fn corrected(&self) -> String {
        self.documents()
            .map(|doc| {
                if is_service_with_model_id(doc) {
                    doc.replace("\n  modelId:", "\n  aimModelId:")
                } else {
                    doc.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n---\n")
    }

    fn documents(&self) -> impl Iterator<Item = &str> {
        self.yaml.split("\n---\n")
    }

    /// The namespaces the example writes to.
    pub fn namespaces(&self) -> Vec<String> {
        let mut found: Vec<String> = self
            .yaml
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("namespace: "))
            .map(|ns| ns.split('#').next().unwrap_or_default().trim().to_string())
            .filter(|ns| !ns.is_empty())
            .collect();
        found.sort();
        found.dedup();
        found
    }
}

/// Every ```yaml block of the overview, in order. Blocks nested in list items are indented like their fence;
/// that indentation is removed.
pub fn seed_examples() -> Vec<SeedExample> {
    let mut examples = Vec::new();
    // The open block: its fence's indentation and the YAML so far.
    let mut open: Option<(usize, String)> = None;
    for line in OVERVIEW.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match &mut open {
            None if trimmed.starts_with("```yaml") => open = Some((indent, String::new())),
            Some(_) if trimmed.starts_with("```") => {
                let (_, yaml) = open.take().unwrap_or_default();
                examples.push(SeedExample {
                    index: examples.len() + 1,
                    yaml,
                });
            }
            Some((fence_indent, body)) => {
                body.push_str(line.get((*fence_indent).min(indent)..).unwrap_or_default());
                body.push('\n');
            }
            None => {}
        }
    }
    examples
}

fn is_service_with_model_id(doc: &str) -> bool {
    doc.contains("kind: AIMService\n") && doc.contains("\n  modelId:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_every_yaml_block_of_the_overview() {
        let fences = OVERVIEW
            .lines()
            .filter(|l| l.trim_start().starts_with("```yaml"))
            .count();
        let examples = seed_examples();
        assert_eq!(examples.len(), fences);
        assert!(
            examples.len() >= 9,
            "the overview has at least nine YAML examples, found {}",
            examples.len()
        );
        for e in &examples {
            assert!(
                e.yaml.starts_with("apiVersion: aim.silogen.ai/v1alpha1"),
                "example {} is cut: {}",
                e.index,
                e.yaml
            );
        }
    }

    #[test]
    fn exactly_one_example_has_the_model_id_slip_and_its_correction_fixes_it() {
        let slips: Vec<_> = seed_examples()
            .into_iter()
            .filter(SeedExample::is_service_with_model_id_slip)
            .collect();
        assert_eq!(slips.len(), 1);
        let fixed = slips[0].corrected();
        assert!(fixed.contains("\n  aimModelId: meta/llama-3-8b"));
        assert!(!fixed.contains("\n  modelId:"));
    }
}
