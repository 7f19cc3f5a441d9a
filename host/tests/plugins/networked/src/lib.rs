//! A matcher that tries to open a network connection, so its component imports `wasi:sockets`: the host must
//! refuse it when loading, before it ever runs.

#![cfg(target_arch = "wasm32")]
#![allow(unsafe_code, missing_docs)]

wit_bindgen::generate!({ path: "../../../../wit", world: "matcher-policy" });

use aim::policy::types::PolicyError;
use exports::aim::policy::matcher::{Decision, Guest, MatchRequest, MatchResult};

struct Networked;

impl Guest for Networked {
    fn match_template(request: MatchRequest) -> Result<MatchResult, PolicyError> {
        let sent = std::net::TcpStream::connect("10.0.0.1:80").is_ok();
        Ok(MatchResult {
            decision: Decision::None,
            reason: format!("{} {sent}", request.model_id),
            verdicts: vec![],
        })
    }
}

export!(Networked);
