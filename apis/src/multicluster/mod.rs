//! The `multicluster.x-k8s.io` API group (Kubernetes Multi-Cluster Services API), as shipped with
//! Clusternet.

pub mod v1alpha1;

/// The API group name.
pub const GROUP_NAME: &str = "multicluster.x-k8s.io";

/// The name of the Service (and of its EndpointSlices' `kubernetes.io/service-name`) that
/// stands for the multi-cluster service `namespace/name` on the parent: Clusternet's
/// `utils.DerivedName`, `derived-<namespace>-<first 10 of lower(base32hex(sha256(name)))>`.
pub fn derived_name(namespace: &str, name: &str) -> String {
    use sha2::Digest;
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    let digest = sha2::Sha256::digest(name.as_bytes());
    let mut out = String::with_capacity(10);
    let (mut bits, mut acc) = (0u32, 0u32);
    for byte in digest.iter() {
        acc = (acc << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 && out.len() < 10 {
            bits -= 5;
            out.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
        if out.len() == 10 {
            break;
        }
    }
    format!("derived-{namespace}-{out}")
}

/// A copy of `slice` (address type, endpoints, ports) as `namespace/name` with `labels`: how
/// exported, merged and east-west EndpointSlices are made from one another.
pub fn slice_copy(
    slice: &k8s_openapi::api::discovery::v1::EndpointSlice,
    name: String,
    namespace: &str,
    labels: std::collections::BTreeMap<String, String>,
) -> k8s_openapi::api::discovery::v1::EndpointSlice {
    k8s_openapi::api::discovery::v1::EndpointSlice {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name),
            namespace: Some(namespace.to_string()),
            labels: Some(labels),
            ..Default::default()
        },
        address_type: slice.address_type.clone(),
        endpoints: slice.endpoints.clone(),
        ports: slice.ports.clone(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn derived_names_are_clusternets() {
        // Values of Go's base32.HexEncoding over sha256, computed independently.
        assert_eq!(
            super::derived_name("baz", "nginx-svc"),
            "derived-baz-kl7j74ep4o"
        );
        assert_eq!(
            super::derived_name("baz", "my-nginx-svc"),
            "derived-baz-tc8hmv632j"
        );
    }
}
