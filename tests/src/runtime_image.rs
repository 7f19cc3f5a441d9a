//! AIM model images for the real node and the demo: the runtime stand-in's base image (`scripts/runtime-image`,
//! `tests/runtime-sim`) with one `ENV AIM_ID=<org>/<model>` layer, as aim-build's `Dockerfile.aim` makes a
//! model's image from its base. Built with buildah in podman's store, from where the real node imports them.

use crate::pod_container::podman;
use std::path::Path;

/// The stand-in's base image, as `scripts/runtime-image` tags it.
pub fn base_image() -> String {
    let manifest = include_str!("../runtime-sim/Cargo.toml");
    let version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or("0.1.0");
    format!("localhost/aim-runtime-sim:{version}")
}

/// The tag of the AIM image of `model_id`: `localhost/aim-<org>-<model>:sim`, lower-case.
pub fn model_image_tag(model_id: &str) -> String {
    let slug: String = model_id
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("localhost/aim-{slug}:sim")
}

/// Builds (again: it is one layer) the AIM image of `model_id` on the base image, in `work`; returns its tag.
pub async fn model_image(model_id: &str, work: &Path) -> Result<String, String> {
    let base = base_image();
    let exists = podman()
        .args(["image", "exists", &base])
        .status()
        .await
        .is_ok_and(|s| s.success());
    if !exists {
        return Err(format!(
            "the AIM runtime stand-in's image {base} is not built here: run scripts/runtime-image (scripts/test runs it)"
        ));
    }
    let tag = model_image_tag(model_id);
    let dir = work.join(format!("image-{}", tag.replace(['/', ':'], "_")));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(
        dir.join("Containerfile"),
        format!("FROM {base}\nENV AIM_ID={model_id}\n"),
    )
    .map_err(|e| e.to_string())?;
    let mut buildah = tokio::process::Command::new("buildah");
    for (k, v) in podman().as_std().get_envs() {
        if let Some(v) = v {
            buildah.env(k, v);
        }
    }
    let out = buildah
        .args(["build", "--quiet", "--pull=never", "--layers=false", "-t", &tag, "-f"])
        .arg(dir.join("Containerfile"))
        .arg(&dir)
        .output()
        .await
        .map_err(|e| format!("buildah: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "buildah build of {tag} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_image_is_named_after_its_model() {
        assert_eq!(
            model_image_tag("meta-llama/Llama-3.1-8B-Instruct"),
            "localhost/aim-meta-llama-llama-3-1-8b-instruct:sim"
        );
        assert!(base_image().starts_with("localhost/aim-runtime-sim:"));
    }
}
