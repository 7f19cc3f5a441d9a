//! The alert rules and dashboards as shipped: the rules pass `promtool check rules` and their unit tests
//! (`promtool test rules`, each alert firing and not firing), the Helm chart's copies are the files
//! `deploy/monitoring` ships, every dashboard panel has a query, and the chart renders both. The dashboards'
//! queries against a real Prometheus scraping a real operator and runtime are checked in `real_serving`.

use aim_tests::controlplane::binaries;
use std::path::PathBuf;
use std::process::Command;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn promtool(args: &[&str]) -> String {
    let bin = binaries::prometheus()
        .expect("Debian's prometheus package")
        .join("promtool");
    let out = Command::new(bin)
        .args(args)
        .current_dir(repo("deploy/monitoring"))
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

#[test]
fn the_alert_rules_are_valid_and_fire_when_they_should_and_only_then() {
    let checked = promtool(&["check", "rules", "aim-operator.rules.yaml"]);
    assert!(checked.contains("SUCCESS: 10 rules found"), "{checked}");
    let tested = promtool(&["test", "rules", "aim-operator.rules.test.yaml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
    // Every alert has a firing case in the tests and a runbook line in the README.
    let rules = std::fs::read_to_string(repo("deploy/monitoring/aim-operator.rules.yaml")).unwrap();
    let tests = std::fs::read_to_string(repo("deploy/monitoring/aim-operator.rules.test.yaml")).unwrap();
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    for alert in rules.lines().filter_map(|l| l.trim().strip_prefix("- alert: ")) {
        assert!(
            tests.contains(&format!(
                "alertname: {alert}\n        exp_alerts:\n          - exp_labels"
            )),
            "{alert} has no firing case"
        );
        assert!(
            readme.contains(&format!("`{alert}`")),
            "{alert} has no runbook line in the README"
        );
    }
}

#[test]
fn the_charts_copies_are_what_deploy_monitoring_ships_and_every_panel_has_a_query() {
    let files = [
        "aim-operator.rules.yaml",
        "dashboards/aim-operator.json",
        "dashboards/aim-fleet.json",
        "dashboards/aim-service.json",
    ];
    for file in files {
        let shipped = std::fs::read_to_string(repo(&format!("deploy/monitoring/{file}"))).unwrap();
        let copy = std::fs::read_to_string(repo(&format!("deploy/helm/aim-operator/files/{file}"))).unwrap();
        assert_eq!(
            copy, shipped,
            "deploy/helm/aim-operator/files/{file} differs: copy deploy/monitoring's"
        );
    }
    for dashboard in aim_tests::monitoring::dashboards() {
        assert!(!dashboard.panels.is_empty(), "{}", dashboard.uid);
        for (title, expr) in &dashboard.queries {
            assert!(!expr.trim().is_empty(), "{} / {title} has no query", dashboard.uid);
        }
    }
}

#[test]
fn deploy_monitoring_renders_the_rules_and_a_labelled_config_map_per_dashboard() {
    let kubectl = binaries::Binaries::ensure().expect("kubectl builds").kubectl;
    let out = Command::new(kubectl)
        .args(["kustomize", &repo("deploy/monitoring").display().to_string()])
        .output()
        .expect("run kubectl kustomize");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let docs: Vec<serde_json::Value> = text
        .split("\n---\n")
        .map(|d| serde_saphyr::from_str(d).expect("YAML"))
        .collect();
    let names: Vec<&str> = docs.iter().filter_map(|d| d["metadata"]["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "aim-dashboard-fleet",
            "aim-dashboard-operator",
            "aim-dashboard-service",
            "aim-operator-alert-rules"
        ]
    );
    for d in docs.iter().filter(|d| {
        d["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("aim-dashboard-"))
    }) {
        assert_eq!(d["metadata"]["labels"]["grafana_dashboard"], "1", "{d}");
        assert_eq!(d["metadata"]["namespace"], "aim-system");
    }
}
