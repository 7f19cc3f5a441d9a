//! A matcher that misbehaves on request: the request's `model-id` picks the misbehaviour, so one component
//! covers every runtime attack the host must survive. Any other model ID gets a well-formed answer.
//!
//! `loop`: spins forever. `memory-bomb`: allocates until the cap. `trap`: executes `unreachable`. `panic`:
//! panics. `recursion`: recurses without end. `huge-output`: returns a 2 MiB reason (under the memory cap, over the output cap). `bad-index`: chooses a
//! candidate that does not exist. `missing-verdicts`: judges no candidate. `log-flood`: prints a million lines.
//! `snoop`: reports what it can see of files, environment, clock and randomness. `slow-<n>`: burns CPU for
//! about n ms, then answers.

#![cfg(target_arch = "wasm32")]
#![allow(unsafe_code, missing_docs)]

wit_bindgen::generate!({ path: "../../../../wit", world: "matcher-policy" });

use aim::policy::types::PolicyError;
use exports::aim::policy::matcher::{Decision, Guest, MatchRequest, MatchResult, Verdict};

struct Hostile;

fn honest(request: &MatchRequest, reason: String) -> MatchResult {
    MatchResult {
        decision: if request.candidates.is_empty() {
            Decision::None
        } else {
            Decision::UseCandidate(0)
        },
        reason,
        verdicts: (0..request.candidates.len() as u32)
            .map(|i| Verdict {
                candidate: i,
                accepted: true,
                score: 0,
                reason: "hostile fixture".into(),
            })
            .collect(),
    }
}

#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    std::hint::black_box(recurse(depth + 1)) + 1
}

impl Guest for Hostile {
    fn match_template(request: MatchRequest) -> Result<MatchResult, PolicyError> {
        match request.model_id.as_str() {
            "loop" => loop {
                std::hint::black_box(());
            },
            "memory-bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "trap" => core::arch::wasm32::unreachable(),
            "panic" => panic!("the hostile plugin panics on purpose"),
            "recursion" => Ok(honest(&request, recurse(0).to_string())),
            "huge-output" => Ok(honest(&request, "x".repeat(2 << 20))),
            "bad-index" => {
                let mut answer = honest(&request, "chose a candidate that is not there".into());
                answer.decision = Decision::UseCandidate(request.candidates.len() as u32 + 7);
                Ok(answer)
            }
            "missing-verdicts" => {
                let mut answer = honest(&request, "judged nobody".into());
                answer.verdicts.clear();
                Ok(answer)
            }
            "log-flood" => {
                for i in 0..1_000_000 {
                    println!("log line {i} of a plugin that will not stop talking");
                }
                Ok(honest(&request, "flooded".into()))
            }
            "snoop" => {
                let file = std::fs::read_to_string("/etc/passwd")
                    .map(|s| s.len().to_string())
                    .unwrap_or_else(|e| format!("error: {e}"));
                let dir = std::fs::read_dir("/")
                    .map(|d| d.count().to_string())
                    .unwrap_or_else(|e| format!("error: {e}"));
                let env = std::env::vars().count();
                let clock = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(u64::MAX);
                let mut random = [0u8; 8];
                let _ = getrandom_fill(&mut random);
                Ok(honest(
                    &request,
                    format!("file={file};dir={dir};env={env};clock={clock};random={random:?}"),
                ))
            }
            slow if slow.starts_with("slow-") => {
                let ms: u64 = slow[5..].parse().unwrap_or(10);
                // Roughly calibrated busy work: the host's deadline is measured in wall time.
                let mut x = 0u64;
                for i in 0..ms * 300_000 {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
                }
                Ok(honest(&request, format!("slow {x}")))
            }
            _ => Ok(honest(&request, "well-behaved answer".into())),
        }
    }
}

/// Randomness through WASI's `random` interface, as std's HashMap seeding would get it.
fn getrandom_fill(buf: &mut [u8]) -> Result<(), ()> {
    let bytes = wasi_random();
    for (i, b) in buf.iter_mut().enumerate() {
        *b = bytes.get(i).copied().unwrap_or(0);
    }
    Ok(())
}

fn wasi_random() -> Vec<u8> {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    // RandomState seeds itself from WASI random; two hashers' outputs reveal whether the seed is fixed.
    let mut h = RandomState::new().build_hasher();
    h.write_u8(0);
    h.finish().to_le_bytes().to_vec()
}

export!(Hostile);
