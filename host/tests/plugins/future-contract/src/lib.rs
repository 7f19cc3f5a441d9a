//! A matcher built against `aim:policy@0.2.0`, a contract version the host does not support.

#![cfg(target_arch = "wasm32")]
#![allow(unsafe_code, missing_docs)]

wit_bindgen::generate!({ path: "wit", world: "matcher-policy" });

struct Future;

impl exports::aim::policy::matcher::Guest for Future {
    fn match_template(model_id: String) -> String {
        model_id
    }
}

export!(Future);
