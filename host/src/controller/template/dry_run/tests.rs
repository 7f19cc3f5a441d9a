//! The dry run's output as an AIM image prints it: `json.dumps(…, indent=2)` on stdout, the runtime's log
//! lines (`%(asctime)s - %(name)s - %(levelname)s - %(message)s`) on stderr, both in the pod's log.

use super::*;

/// A found profile, exactly as the runtime prints it: the whole profile file as a dict (`null` for flags),
/// one model with its size.
const FOUND: &str = r#"[
  {
    "filename": "vllm-mi300x-fp8-tp1-latency.yaml",
    "profile": {
      "aim_id": "meta-llama/Llama-3.1-8B-Instruct",
      "model_id": "amd/Llama-3.1-8B-Instruct-FP8-KV",
      "metadata": {
        "engine": "vllm",
        "gpu": "MI300X",
        "gpu_count": 1,
        "manual_selection_only": false,
        "metric": "latency",
        "precision": "fp8",
        "type": "optimized"
      },
      "engine_args": {
        "async-scheduling": null,
        "distributed_executor_backend": "mp",
        "gpu-memory-utilization": 0.9,
        "max-num-seqs": 512,
        "tensor-parallel-size": 1
      },
      "env_vars": {
        "GPU_ARCHS": "gfx942",
        "VLLM_ROCM_USE_AITER": "1"
      }
    },
    "models": [
      {
        "name": "amd/Llama-3.1-8B-Instruct-FP8-KV",
        "source": "hf://amd/Llama-3.1-8B-Instruct-FP8-KV",
        "size_gb": 8.5
      }
    ]
  }
]"#;

/// The runtime's log lines around it (stderr, merged into the pod's log by the kubelet).
fn with_logs(stdout: &str) -> String {
    format!(
        "2026-12-05 10:00:01,123 - aim_runtime.profile_selector - INFO - Using GPU model from AIM_GPU_MODEL: MI300X\n\
         2026-12-05 10:00:01,200 - aim_runtime.profile_selector - INFO - Loading and validating all profiles...\n\
         [rank0]: a third-party line that starts with a bracket\n\
         {stdout}\n\
         2026-12-05 10:00:02,001 - aim_runtime.aim_runtime - INFO - Selected profile: /workspace/aim-runtime/profiles/x.yaml\n"
    )
}

#[test]
fn reads_the_profile_and_its_models_from_the_indented_array() {
    let Answer::Found(found) = parse(FOUND).unwrap() else {
        panic!("a profile was printed")
    };
    assert_eq!(
        found.profile,
        RuntimeProfile {
            id: "vllm-mi300x-fp8-tp1-latency".into(),
            gpu: Some("MI300X".into()),
            gpu_count: Some(1),
            precision: Some("fp8".into()),
            metric: Some("latency".into()),
            type_: Some("optimized".into()),
            engine: Some("vllm".into()),
        }
    );
    assert_eq!(
        found.sources,
        vec![ModelSource {
            source_uri: "hf://amd/Llama-3.1-8B-Instruct-FP8-KV".into(),
            size: Some(Quantity("8704Mi".into())),
            name: Some("amd/Llama-3.1-8B-Instruct-FP8-KV".into()),
        }]
    );
}

#[test]
fn finds_the_indented_array_among_log_lines() {
    let Answer::Found(found) = parse(&with_logs(FOUND)).unwrap() else {
        panic!("a profile was printed")
    };
    assert_eq!(found.profile.id, "vllm-mi300x-fp8-tp1-latency");
    assert_eq!(found.sources.len(), 1);
}

#[test]
fn a_nested_list_that_starts_a_line_is_not_taken_for_the_result() {
    // An indented dump puts a list of lists' inner lists at the start of lines: the outer array is the result.
    let nested = FOUND.replacen(
        "\"max-num-seqs\": 512,",
        "\"cudagraph-sizes\": [\n          [\n            1,\n            2\n          ]\n        ],",
        1,
    );
    let Answer::Found(found) = parse(&with_logs(&nested)).unwrap() else {
        panic!("a profile was printed")
    };
    assert_eq!(found.sources.len(), 1);
}

#[test]
fn an_unknown_size_is_no_size() {
    let unknown = FOUND.replace("\"size_gb\": 8.5", "\"size_gb\": null");
    let Answer::Found(found) = parse(&unknown).unwrap() else {
        panic!("a profile was printed")
    };
    assert_eq!(found.sources[0].size, None, "the cache asks the source");
}

#[test]
fn an_empty_list_is_no_profile_with_what_the_runtime_said() {
    let log = "2026-12-05 10:00:01,200 - aim_runtime.aim_runtime - WARNING - No compatible profile found or error \
               occurred: No compatible profile found for AIM meta-llama/Llama-3.1-8B-Instruct. Profile breakdown: 14 \
               gpu_mismatch, 2 precision_mismatch\n[]\n";
    assert_eq!(
        parse(log).unwrap(),
        Answer::NoProfile {
            said: Some(
                "No compatible profile found for AIM meta-llama/Llama-3.1-8B-Instruct. Profile breakdown: 14 \
                 gpu_mismatch, 2 precision_mismatch"
                    .into()
            )
        }
    );
    assert_eq!(parse("[]").unwrap(), Answer::NoProfile { said: None }, "logs silenced");
}

#[test]
fn says_what_is_wrong() {
    for (output, expected) in [
        ("", "printed nothing"),
        ("Traceback (most recent call last):", "holds no JSON list"),
        ("[2026-12-05] ERROR Configuration error", "holds no JSON list"),
        (
            "{\"filename\": \"x\"}",
            "expected a JSON list of profiles, got an object",
        ),
        ("[{\"models\": []}]", "profile 0 has no 'filename'"),
        ("[{\"filename\": \"p.yaml\"}]", "profile 'p.yaml' has no 'models' list"),
        ("[{\"filename\": \"p.yaml\", \"models\": []}]", "lists no models"),
        (
            "[{\"filename\": \"p.yaml\", \"models\": [{\"name\": \"m\"}]}]",
            "model 0 of profile 'p.yaml' has no 'source'",
        ),
        (
            "[{\"filename\": \"p.yaml\", \"models\": [{\"source\": \"ftp://x\"}]}]",
            "whose scheme is not hf:// (Hugging Face Hub, e.g. hf://meta-llama/Llama-3.1-8B-Instruct) or s3:// (S3-compatible storage",
        ),
        (
            "[{\"filename\": \"p.yaml\", \"models\": [{\"source\": \"hf://x\", \"size_gb\": -1}]}]",
            "invalid size_gb",
        ),
    ] {
        let err = parse(output).unwrap_err();
        assert!(err.contains(expected), "{output:?}: {err}");
    }
}
