//! The hub's request path under arbitrary input, for the fuzz target in `apiserver/fuzz` and for
//! a stable unit test that replays seeds and pseudo-random mutations in `make test`.
//!
//! The input is read as an HTTP request (`METHOD PATH?QUERY` line, header lines, blank line,
//! body); inputs that are not even syntactically HTTP are dropped (hyper rejects them before
//! the stack). The whole stack runs in-process — request-info, timeouts, authentication with a
//! real front-proxy configuration, the router, discovery, OpenAPI, health, metrics, the group
//! handlers — with authorization limited to `system:masters`. A 500 means a handler panicked
//! (the panic layer turns panics into 500s) or hit an internal error: that is a finding.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use http::{Request, StatusCode};
use tokio::sync::watch;
use tower::ServiceExt;

use crate::authn::{AuthConfig, Authenticator, Overrides, PeerCertificates};
use crate::body;
use crate::discovery::Registry;
use crate::health::{Check, Health};
use crate::metrics::Metrics;
use crate::openapi::OpenApi;
use crate::router::{GroupHandler, Hub, router};
use crate::stack::{self, HubService, Limits};
use crate::{proxies, shadow};

struct Harness {
    runtime: tokio::runtime::Runtime,
    service: HubService,
    front_proxy: PeerCertificates,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        // Clients spawn their worker tasks when built: build everything inside the runtime.
        let _guard = runtime.enter();
        // A front-proxy CA and a client cert of it, as the aggregator has.
        let ca_key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let mut ca_params =
            rcgen::CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| panic!("{e}"));
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_pem = ca_params
            .self_signed(&ca_key)
            .unwrap_or_else(|e| panic!("{e}"))
            .pem();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let mut params =
            rcgen::CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| panic!("{e}"));
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "front-proxy-client");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params
            .signed_by(&key, &issuer)
            .unwrap_or_else(|e| panic!("{e}"));
        let front_proxy = PeerCertificates(Arc::new(vec![cert.der().clone()]));

        let data: BTreeMap<String, String> = [
            ("requestheader-client-ca-file".to_string(), ca_pem),
            (
                "requestheader-allowed-names".to_string(),
                "[\"front-proxy-client\"]".to_string(),
            ),
        ]
        .into_iter()
        .collect();
        let config =
            AuthConfig::from_data(&data, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
        let (_, rx) = watch::channel(Some(Arc::new(config)));
        let authenticator = Authenticator::new(rx, None);

        let groups = vec![proxies::api_group_version(), shadow::api_group_version()];
        let openapi = OpenApi::default();
        openapi
            .rebuild_builtin(&groups)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut handlers: HashMap<String, Arc<dyn GroupHandler>> = HashMap::new();
        handlers.insert(
            proxies::GROUP.into(),
            Arc::new(proxies::Proxies::new(
                true,
                proxies::connections::ChildConnections::none(),
            )),
        );
        // The shadow group with no mirrored resources: its requests stop at "not found"
        // without needing a parent.
        let parent = kube::Client::new(
            tower::service_fn(|_req: http::Request<kube::client::Body>| async {
                Err::<http::Response<kube::client::Body>, std::io::Error>(std::io::Error::other(
                    "no parent in the fuzz harness",
                ))
            }),
            "default",
        );
        handlers.insert(
            shadow::GROUP.into(),
            Arc::new(shadow::Shadow::new(
                parent,
                "clusternet-reserved".into(),
                shadow::Resources::default(),
            )),
        );
        let metrics = Metrics::new().unwrap_or_else(|e| panic!("{e}"));
        let hub = Arc::new(Hub {
            discovery: Registry::new(groups),
            health: Health {
                live: vec![Check::new("ping", || Ok(()))],
                ready: vec![],
            },
            metrics: metrics.clone(),
            openapi,
            groups: handlers,
        });
        let service = stack::build(router(hub), authenticator, None, metrics, Limits::default());
        Harness {
            runtime,
            service,
            front_proxy,
        }
    })
}

/// Parses `data` as an HTTP request; None if it is not syntactically one.
fn parse(data: &[u8]) -> Option<(Request<body::Body>, bool)> {
    let text = std::str::from_utf8(data).ok()?;
    let (head, body_text) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let first = lines.next()?;
    let (method, target) = first.split_once(' ')?;
    let mut builder = Request::builder().method(method).uri(target);
    // A line "peer: none" drops the front-proxy certificate.
    let mut with_cert = true;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        if name.eq_ignore_ascii_case("peer") && value.trim() == "none" {
            with_cert = false;
            continue;
        }
        builder = builder.header(name.trim(), value.trim());
    }
    let request = builder
        .body(body::full(body_text.as_bytes().to_vec()))
        .ok()?;
    Some((request, with_cert))
}

/// Runs one input through the hub's request path. Panics if the hub answered 500 (which the
/// fuzzer records as a crash).
pub fn request(data: &[u8]) {
    let Some((mut req, with_cert)) = parse(data) else {
        return;
    };
    let harness = harness();
    if with_cert {
        req.extensions_mut().insert(harness.front_proxy.clone());
    }
    let service = harness.service.clone();
    let status = harness.runtime.block_on(async move {
        let response = service
            .oneshot(req)
            .await
            .unwrap_or_else(|never| match never {});
        let status = response.status();
        // Drain the body: streaming bodies must not fail either.
        let _ = http_body_util::BodyExt::collect(response.into_body()).await;
        status
    });
    assert_ne!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "input {:?}",
        String::from_utf8_lossy(data)
    );
}

/// Seed inputs (also the fuzzer's initial corpus).
pub const SEEDS: &[&str] = &[
    "GET /apis\nx-remote-user: admin\nx-remote-group: system:masters\naccept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
    "GET /apis/proxies.clusternet.io/v1alpha1\nx-remote-user: admin\nx-remote-group: system:masters",
    "GET /apis/shadow/v1alpha1/namespaces/default/deployments?watch=1&labelSelector=a%3Db\nx-remote-user: admin\nx-remote-group: system:masters\naccept: application/json;as=Table;v=v1;g=meta.k8s.io",
    "POST /apis/proxies.clusternet.io/v1alpha1/sockets/c1/proxy/direct/api/v1/namespaces\nx-remote-user: clusternet\nx-remote-group: system:masters\nx-remote-extra-clusternet-token: abc\n\n{\"kind\":\"Namespace\"}",
    "GET /openapi/v3/apis/proxies.clusternet.io/v1alpha1?hash=00\nx-remote-user: admin\nx-remote-group: system:masters\nif-none-match: \"x\"",
    "GET /readyz?verbose&exclude=ping\npeer: none",
    "GET /metrics\nx-remote-user: admin\nx-remote-group: system:masters",
    "DELETE /apis/shadow/v1alpha1/namespaces/a/configmaps?fieldSelector=metadata.name%3D%3Dx\nx-remote-user: bob",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic PRNG (xorshift): the same mutations every run.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    const DICTIONARY: &[&str] = &[
        "/",
        "%",
        "%zz",
        "%2F",
        "..",
        "?",
        "&",
        "=",
        "watch=true",
        "namespaces/",
        "sockets/",
        "proxy/",
        "/status",
        "/scale",
        "as=Table",
        ";v=v1",
        ";g=meta.k8s.io",
        "\naccept: ",
        "\ncontent-type: application/json-patch+json",
        "\nx-remote-extra-",
        "\npeer: none",
        "{",
        "}",
        "[",
        "\"",
        "\u{0}",
        "\u{ffff}",
        "application/vnd.kubernetes.protobuf",
    ];

    fn mutate(seed: &str, rng: &mut XorShift) -> Vec<u8> {
        let mut bytes = seed.as_bytes().to_vec();
        for _ in 0..(1 + rng.next() % 4) {
            let at = (rng.next() as usize) % (bytes.len() + 1);
            match rng.next() % 4 {
                0 => {
                    let word = DICTIONARY[(rng.next() as usize) % DICTIONARY.len()];
                    bytes.splice(at..at, word.bytes());
                }
                1 if at < bytes.len() => {
                    let end = (at + 1 + (rng.next() as usize) % 8).min(bytes.len());
                    bytes.drain(at..end);
                }
                2 if at < bytes.len() => bytes[at] = (rng.next() % 128) as u8,
                _ => bytes.insert(at, (rng.next() % 256) as u8),
            }
        }
        bytes
    }

    #[test]
    fn seeds_and_mutations_never_get_a_500() {
        for seed in SEEDS {
            request(seed.as_bytes());
        }
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for i in 0..20_000 {
            let seed = SEEDS[i % SEEDS.len()];
            request(&mutate(seed, &mut rng));
        }
    }
}
