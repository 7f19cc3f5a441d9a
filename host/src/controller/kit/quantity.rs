//! Sizes as Kubernetes writes them (`16Gi`, `8704Mi`, `20G`), read as bytes, and volume sizes with headroom.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

const GIB: u64 = 1 << 30;

/// Bytes of a quantity such as `16Gi`, `8704Mi`, `20G` or `1073741824`.
pub(crate) fn bytes(q: &Quantity) -> Option<u64> {
    let s = q.0.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor: f64 = match suffix {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => GIB as f64,
        "Ti" => (GIB as f64) * 1024.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        _ => return None,
    };
    let value = number * factor;
    (value.is_finite() && value >= 0.0 && value < u64::MAX as f64).then(|| value.ceil() as u64)
}

/// Volume size for a model of `model_bytes`: `headroom_percent` more, rounded up to whole GiB.
pub(crate) fn volume_size(model_bytes: u64, headroom_percent: u64) -> Quantity {
    let with_headroom = model_bytes.saturating_mul(100 + headroom_percent) / 100;
    Quantity(format!("{}Gi", with_headroom.div_ceil(GIB).max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_read_in_bytes() {
        assert_eq!(bytes(&Quantity("16Gi".into())), Some(16 * GIB));
        assert_eq!(bytes(&Quantity("8704Mi".into())), Some(8704 << 20));
        assert_eq!(bytes(&Quantity("20G".into())), Some(20_000_000_000));
        assert_eq!(bytes(&Quantity("1.5Gi".into())), Some(3 * GIB / 2));
        assert_eq!(bytes(&Quantity("12parsecs".into())), None);
        assert_eq!(
            bytes(&Quantity("99999999999999999999Ti".into())),
            None,
            "too large is unknown, not a wrap"
        );
    }

    #[test]
    fn volumes_get_headroom_rounded_up_to_whole_gib() {
        assert_eq!(volume_size(15 * GIB, 10).0, "17Gi");
        assert_eq!(volume_size(10 * GIB, 0).0, "10Gi");
        assert_eq!(volume_size(1, 10).0, "1Gi");
    }
}
