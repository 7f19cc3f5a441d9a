//! `aim-operator run` as a process on the local cluster, as the `aim-operator` ServiceAccount with `deploy/base`'s
//! RBAC (the Lease included): two replicas, exactly one leads; both serve /healthz and /readyz; the leader's
//! /metrics carries reconcile and plugin figures; on SIGTERM the leader stops cleanly and hands the Lease over at
//! once.

use aim_tests::{test_env, wait};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn operator_binary() -> std::path::PathBuf {
    // target/<profile>/deps/<this test> → target/<profile>/aim-operator (built with the workspace).
    let exe = std::env::current_exe().expect("test executable");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("aim-operator")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Replica {
    child: Child,
    port: u16,
}

impl Replica {
    fn start(kubeconfig: &std::path::Path, identity: &str) -> Replica {
        let port = free_port();
        let child = Command::new(operator_binary())
            .args([
                "run",
                "--namespace",
                "aim-system",
                "--identity",
                identity,
                "--log-format",
                "json",
            ])
            .arg(format!("--http-addr=127.0.0.1:{port}"))
            .env("KUBECONFIG", kubeconfig)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aim-operator run");
        Replica { child, port }
    }

    /// A plain HTTP/1.1 GET (no client tool needed): status code and body.
    async fn get(&self, path: &str) -> Option<(u16, String)> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await.ok()?;
        let (head, body) = response.split_once("\r\n\r\n")?;
        let code = head.split_whitespace().nth(1)?.parse().ok()?;
        let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
        Some((code, if chunked { dechunk(body) } else { body.to_string() }))
    }

    async fn leads(&self) -> bool {
        self.get("/metrics")
            .await
            .is_some_and(|(_, body)| body.lines().any(|l| l == "aim_leader 1"))
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the operator did not stop within 30s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The body of a chunked HTTP response.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn two_replicas_elect_one_leader_serve_health_and_metrics_and_hand_over_on_sigterm() {
    let env = test_env!();
    let identity = aim_tests::identity::operator_kubeconfig(
        env.kubectl_path(),
        env.kubeconfig(),
        &std::env::temp_dir().join(format!("aim-process-{}.kubeconfig", std::process::id())),
    )
    .await
    .expect("the operator's identity");
    let mut a = Replica::start(&identity, "replica-a");
    let mut b = Replica::start(&identity, "replica-b");
    for r in [&a, &b] {
        wait::until("readyz", || async {
            if r.get("/readyz").await.map(|(c, _)| c) == Some(200) {
                Ok(())
            } else {
                Err("not ready".into())
            }
        })
        .await;
        assert_eq!(r.get("/healthz").await, Some((200, "ok".into())));
    }
    let a_leads = wait::until("one leader", || async {
        match (a.leads().await, b.leads().await) {
            (true, false) => Ok(true),
            (false, true) => Ok(false),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let (leader, standby) = if a_leads { (&mut a, &mut b) } else { (&mut b, &mut a) };
    // Work for the leader: a template with inline sources becomes Available only if the process reconciles.
    let ns = env.namespace("process").await;
    let template = "apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMServiceTemplate\nmetadata:\n  name: t\nspec:\n  modelId: m/process\n  modelSources:\n  - sourceUri: hf://org/process\n    size: 1Gi\n";
    assert!(env.apply(template, Some(&ns)).await.success);
    wait::until("the leader to reconcile the template", || async {
        let out = env
            .kubectl(&[
                "get",
                "aimservicetemplate",
                "t",
                "-n",
                &ns,
                "-o",
                "jsonpath={.status.status}",
            ])
            .await
            .stdout;
        if out == "Available" { Ok(()) } else { Err(out) }
    })
    .await;
    let metrics = wait::until("reconcile metrics", || async {
        let (_, body) = leader.get("/metrics").await.ok_or("no metrics")?;
        if body.contains("aim_reconcile_total{controller=") {
            Ok(body)
        } else {
            Err("no reconciles yet".to_string())
        }
    })
    .await;
    for series in [
        "aim_policy_calls_total{policy=\"matcher\"}",
        "aim_policy_plugin_info{policy=\"router\",plugin=\"builtin:router\"",
        "aim_policy_reloads_total{policy=\"merger\",result=\"refused\"}",
    ] {
        assert!(metrics.contains(series), "metrics lack {series}:\n{metrics}");
    }
    assert!(!standby.leads().await);

    let status = leader.terminate();
    assert!(status.success(), "graceful shutdown exits 0: {status}");
    let start = Instant::now();
    wait::until("the standby to take over", || async {
        if standby.leads().await {
            Ok(())
        } else {
            Err("still standby".into())
        }
    })
    .await;
    println!("handover took {:?} after the leader exited", start.elapsed());
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "the released lease should not have to expire"
    );
    assert!(standby.terminate().success());
}
