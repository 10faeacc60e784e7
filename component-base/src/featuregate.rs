//! `--feature-gates=A=true,B=false`, with Clusternet's gate names. Every gate is known up front
//! with its default (all Clusternet gates are alpha and default to off); an unknown name is an
//! error, as in Kubernetes, so a typo does not silently change nothing.
//!
//! ```
//! use clusternet_component_base::FeatureGates;
//! let gates = FeatureGates::parse("SocketConnection=true,ShadowAPI=true").unwrap();
//! assert!(gates.enabled("SocketConnection"));
//! assert!(!gates.enabled("AppPusher"));
//! assert!(FeatureGates::parse("Nope=true").is_err());
//! ```

use std::collections::BTreeMap;

/// Clusternet's feature gates and their defaults (`pkg/features/features.go`).
pub const KNOWN_GATES: [(&str, bool); 12] = [
    ("SocketConnection", false),
    ("AppPusher", false),
    ("Deployer", false),
    ("ShadowAPI", false),
    ("FeedInUseProtection", false),
    ("Recovery", false),
    ("FeedInventory", false),
    ("Predictor", false),
    ("MultiClusterService", false),
    ("FailOver", false),
    ("FeasibleClustersToleration", false),
    ("ClusterInit", false),
];

/// The effective gates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureGates(BTreeMap<String, bool>);

/// A malformed or unknown gate.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid --feature-gates: {0}")]
pub struct FeatureGateError(String);

impl Default for FeatureGates {
    fn default() -> Self {
        Self(
            KNOWN_GATES
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
        )
    }
}

impl FeatureGates {
    /// Parses `A=true,B=false` over the defaults.
    pub fn parse(spec: &str) -> Result<Self, FeatureGateError> {
        let mut gates = Self::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| FeatureGateError(format!("missing bool value for {item}")))?;
            let name = name.trim();
            let value: bool = value.trim().parse().map_err(|_| {
                FeatureGateError(format!(
                    "invalid value of {name}={value}, must be true or false"
                ))
            })?;
            if !gates.0.contains_key(name) {
                return Err(FeatureGateError(format!(
                    "unrecognized feature gate: {name}"
                )));
            }
            gates.0.insert(name.to_string(), value);
        }
        Ok(gates)
    }

    /// Whether `name` is on (unknown names are off).
    pub fn enabled(&self, name: &str) -> bool {
        self.0.get(name).copied().unwrap_or(false)
    }

    /// Turns a gate on or off (tests, programmatic defaults of a binary).
    pub fn set(&mut self, name: &str, value: bool) {
        self.0.insert(name.to_string(), value);
    }
}

impl std::str::FromStr for FeatureGates {
    type Err = FeatureGateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_clear() {
        assert_eq!(
            FeatureGates::parse("SocketConnection")
                .unwrap_err()
                .to_string(),
            "invalid --feature-gates: missing bool value for SocketConnection"
        );
        assert!(FeatureGates::parse("SocketConnection=yes").is_err());
        assert!(FeatureGates::parse("").unwrap() == FeatureGates::default());
    }
}
