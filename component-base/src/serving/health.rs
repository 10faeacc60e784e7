//! `/healthz`, `/livez`, `/readyz` as kube-apiserver serves them: `ok` when every check passes,
//! `?verbose` for the per-check list, `/<endpoint>/<check>` for one check, `?exclude=<check>`
//! to skip some. They need no credentials (kubelet probes).

use std::sync::Arc;

use bytes::Bytes;

/// A named check.
#[derive(Clone)]
pub struct Check {
    name: String,
    run: Arc<dyn Fn() -> Result<(), String> + Send + Sync>,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check").field("name", &self.name).finish()
    }
}

impl Check {
    /// A check named `name`.
    pub fn new(
        name: impl Into<String>,
        run: impl Fn() -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            run: Arc::new(run),
        }
    }
}

/// The checks of the three endpoints.
#[derive(Clone, Debug, Default)]
pub struct Health {
    /// Liveness: the process can serve at all.
    pub live: Vec<Check>,
    /// Readiness: the process can serve correctly (configuration loaded, caches synced).
    pub ready: Vec<Check>,
}

impl Health {
    /// Only the `ping` check, which passes while the process serves (the components').
    pub fn ping() -> Self {
        Self {
            live: vec![Check::new("ping", || Ok(()))],
            ready: Vec::new(),
        }
    }

    /// Answers `path` (`/healthz`, `/livez`, `/readyz`, optionally `/<check>`) with its query;
    /// None if `path` is not a health endpoint. Returns (HTTP status, body).
    pub fn answer(&self, path: &str, query: Option<&str>) -> Option<(u16, Bytes)> {
        let trimmed = path.trim_end_matches('/');
        let (endpoint, single) = match trimmed.trim_start_matches('/').split_once('/') {
            Some((e, c)) => (e, Some(c)),
            None => (trimmed.trim_start_matches('/'), None),
        };
        let checks: Vec<&Check> = match endpoint {
            // healthz is the old union of both.
            "healthz" => self.live.iter().chain(self.ready.iter()).collect(),
            "livez" => self.live.iter().collect(),
            "readyz" => self.live.iter().chain(self.ready.iter()).collect(),
            _ => return None,
        };
        if let Some(name) = single {
            let check = checks.iter().find(|c| c.name == name)?;
            return Some(match (check.run)() {
                Ok(()) => (200, Bytes::from_static(b"ok")),
                Err(why) => (500, Bytes::from(format!("internal server error: {why}"))),
            });
        }
        let mut verbose = false;
        let mut excluded = Vec::new();
        for (k, v) in super::query_pairs(query.unwrap_or("")) {
            match k.as_str() {
                "verbose" => verbose = !matches!(v.as_str(), "false" | "0"),
                "exclude" => excluded.push(v),
                _ => {}
            }
        }
        let mut lines = String::new();
        let mut failed = false;
        for check in checks {
            if excluded.contains(&check.name) {
                lines.push_str(&format!("[+]{} excluded: ok\n", check.name));
                continue;
            }
            match (check.run)() {
                Ok(()) => lines.push_str(&format!("[+]{} ok\n", check.name)),
                Err(why) => {
                    failed = true;
                    tracing::info!(check = %check.name, reason = %why, "{endpoint} check failed");
                    // kube-apiserver withholds reasons from unauthenticated callers.
                    lines.push_str(&format!("[-]{} failed: reason withheld\n", check.name));
                }
            }
        }
        Some(if failed {
            (
                500,
                Bytes::from(format!("{lines}{endpoint} check failed\n")),
            )
        } else if verbose {
            (
                200,
                Bytes::from(format!("{lines}{endpoint} check passed\n")),
            )
        } else {
            (200, Bytes::from_static(b"ok"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn health(ready: Arc<AtomicBool>) -> Health {
        Health {
            live: vec![Check::new("ping", || Ok(()))],
            ready: vec![Check::new("authentication-config", move || {
                if ready.load(Ordering::SeqCst) {
                    Ok(())
                } else {
                    Err("not loaded".into())
                }
            })],
        }
    }

    #[test]
    fn endpoints_checks_and_verbose() {
        let flag = Arc::new(AtomicBool::new(false));
        let h = health(flag.clone());
        assert_eq!(
            h.answer("/livez", None).unwrap(),
            (200, Bytes::from_static(b"ok"))
        );
        let (code, body) = h.answer("/readyz", Some("verbose")).unwrap();
        assert_eq!(code, 500);
        assert_eq!(
            body,
            "[+]ping ok\n[-]authentication-config failed: reason withheld\nreadyz check failed\n"
        );
        assert_eq!(h.answer("/readyz/ping", None).unwrap().0, 200);
        assert_eq!(
            h.answer("/readyz/authentication-config", None).unwrap().0,
            500
        );
        assert_eq!(
            h.answer("/readyz", Some("exclude=authentication-config"))
                .unwrap()
                .0,
            200
        );
        flag.store(true, Ordering::SeqCst);
        let (code, body) = h.answer("/healthz", Some("verbose=1")).unwrap();
        assert_eq!(code, 200);
        assert!(body.ends_with(b"healthz check passed\n"));
        assert!(h.answer("/readyz/nope", None).is_none());
        assert!(h.answer("/metrics", None).is_none());
    }
}
