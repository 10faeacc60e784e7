//! `--feature-gates=A=true,B=false`, with Clusternet's gates as an enum ([`Feature`]): code asks
//! `gates.enabled(Feature::SocketConnection)`, so a misspelt gate is a compile error, and a
//! misspelt name on the command line is a parse error, as in Kubernetes. Values parse as Go's
//! `strconv.ParseBool` (`1`, `t`, `T`, `TRUE`, `true`, `True` and the false spellings), and
//! `AllAlpha`/`AllBeta` set every alpha/beta gate not named explicitly, as
//! `k8s.io/component-base/featuregate` does.
//!
//! ```
//! use clusternet_component_base::featuregate::{Feature, FeatureGates};
//! let gates = FeatureGates::parse("SocketConnection=true,ShadowAPI=T").unwrap();
//! assert!(gates.enabled(Feature::SocketConnection));
//! assert!(gates.enabled(Feature::ShadowAPI));
//! assert!(!gates.enabled(Feature::AppPusher));
//! assert!(FeatureGates::parse("Nope=true").is_err());
//! ```

use std::collections::BTreeMap;

/// A release stage of a gate (`featuregate.prerelease`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Off by default, may change or go away.
    Alpha,
    /// Well tested.
    Beta,
}

macro_rules! features {
    ($($(#[$doc:meta])* $name:ident: $default:literal, $stage:ident;)*) => {
        /// Clusternet's feature gates (`pkg/features/features.go`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Feature {
            $($(#[$doc])* $name,)*
        }

        impl Feature {
            /// Every gate, in Go's order.
            pub const ALL: &'static [Feature] = &[$(Feature::$name,)*];

            /// The gate's name on the command line.
            pub fn name(self) -> &'static str {
                match self {
                    $(Feature::$name => stringify!($name),)*
                }
            }

            /// Its default.
            pub fn default_enabled(self) -> bool {
                match self {
                    $(Feature::$name => $default,)*
                }
            }

            /// Its release stage.
            pub fn stage(self) -> Stage {
                match self {
                    $(Feature::$name => Stage::$stage,)*
                }
            }
        }
    };
}

features! {
    /// The agent opens a websocket tunnel to the hub; the hub serves `sockets/{id}/proxy`.
    SocketConnection: false, Alpha;
    /// The hub (controller-manager) may deploy to a child through its tunnel (push mode).
    AppPusher: false, Alpha;
    /// The Subscription → Base → Description deployer.
    Deployer: false, Alpha;
    /// The `shadow/v1alpha1` API.
    ShadowAPI: false, Alpha;
    /// Feeds in use by a Subscription cannot be deleted.
    FeedInUseProtection: false, Alpha;
    /// Objects deleted or changed in a child are put back.
    Recovery: false, Alpha;
    /// FeedInventory (replica requirements) for the scheduler.
    FeedInventory: false, Alpha;
    /// The agent's predictor (per-cluster replica estimates).
    Predictor: false, Alpha;
    /// Multi-cluster services (ServiceExport/ServiceImport).
    MultiClusterService: false, Alpha;
    /// Rescheduling away from clusters that are lost.
    FailOver: false, Alpha;
    /// Scheduling tolerates feasible clusters beyond the requested ones.
    FeasibleClustersToleration: false, Alpha;
    /// Initialising clusters (ClusterInit base) when they join.
    ClusterInit: false, Alpha;
}

impl std::fmt::Display for Feature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A release stage of a gate Clusternet's binaries take from Kubernetes' libraries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExternalStage {
    /// Alpha (set by AllAlpha).
    Alpha,
    /// Beta (set by AllBeta).
    Beta,
    /// GA: setting it logs a warning.
    GA,
    /// Deprecated: setting it logs a warning.
    Deprecated,
}

/// The gates Go Clusternet's `--feature-gates` also knows (k8s.io/apiserver's and
/// component-base logging's, at Kubernetes 1.32 as Clusternet v0.18 links them): name,
/// default, stage, locked to its default. They are accepted and validated as Go does (a
/// locked gate cannot change), and change nothing here; [`FeatureGates::external`] lists the
/// ones given.
pub const EXTERNAL_GATES: &[(&str, bool, ExternalStage, bool)] = &[
    ("APIListChunking", true, ExternalStage::GA, true),
    ("APIResponseCompression", true, ExternalStage::Beta, false),
    ("APIServerIdentity", true, ExternalStage::Beta, false),
    ("APIServerTracing", true, ExternalStage::Beta, false),
    ("APIServingWithRoutine", false, ExternalStage::Alpha, false),
    (
        "AdmissionWebhookMatchConditions",
        true,
        ExternalStage::GA,
        true,
    ),
    ("AggregatedDiscoveryEndpoint", true, ExternalStage::GA, true),
    (
        "AllowUnsafeMalformedObjectDeletion",
        false,
        ExternalStage::Alpha,
        false,
    ),
    (
        "AnonymousAuthConfigurableEndpoints",
        true,
        ExternalStage::Beta,
        false,
    ),
    ("AuthorizeWithSelectors", true, ExternalStage::Beta, false),
    ("BtreeWatchCache", true, ExternalStage::Beta, false),
    ("CBORServingAndStorage", false, ExternalStage::Alpha, false),
    ("ComponentSLIs", true, ExternalStage::GA, true),
    (
        "ConcurrentWatchObjectDecode",
        false,
        ExternalStage::Beta,
        false,
    ),
    ("ConsistentListFromCache", true, ExternalStage::Beta, false),
    ("ContextualLogging", true, ExternalStage::Beta, false),
    (
        "CoordinatedLeaderElection",
        false,
        ExternalStage::Alpha,
        false,
    ),
    ("EfficientWatchResumption", true, ExternalStage::GA, true),
    ("KMSv1", false, ExternalStage::Deprecated, false),
    ("LoggingAlphaOptions", false, ExternalStage::Alpha, false),
    ("LoggingBetaOptions", true, ExternalStage::Beta, false),
    (
        "MutatingAdmissionPolicy",
        false,
        ExternalStage::Alpha,
        false,
    ),
    ("OpenAPIEnums", true, ExternalStage::Beta, false),
    ("RemainingItemCount", true, ExternalStage::GA, true),
    ("RemoteRequestHeaderUID", false, ExternalStage::Alpha, false),
    (
        "ResilientWatchCacheInitialization",
        true,
        ExternalStage::Beta,
        false,
    ),
    ("RetryGenerateName", true, ExternalStage::GA, true),
    ("SeparateCacheWatchRPC", true, ExternalStage::Beta, false),
    ("StorageVersionAPI", false, ExternalStage::Alpha, false),
    ("StorageVersionHash", true, ExternalStage::Beta, false),
    ("StrictCostEnforcementForVAP", true, ExternalStage::GA, true),
    (
        "StrictCostEnforcementForWebhooks",
        true,
        ExternalStage::GA,
        true,
    ),
    (
        "StructuredAuthenticationConfiguration",
        true,
        ExternalStage::Beta,
        false,
    ),
    (
        "StructuredAuthorizationConfiguration",
        true,
        ExternalStage::GA,
        true,
    ),
    (
        "UnauthenticatedHTTP2DOSMitigation",
        true,
        ExternalStage::Beta,
        false,
    ),
    ("WatchBookmark", true, ExternalStage::GA, true),
    (
        "WatchCacheInitializationPostStartHook",
        false,
        ExternalStage::Beta,
        false,
    ),
    (
        "WatchFromStorageWithoutResourceVersion",
        false,
        ExternalStage::Beta,
        false,
    ),
    ("WatchList", true, ExternalStage::Beta, false),
];

/// The effective gates.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FeatureGates {
    gates: BTreeMap<Feature, bool>,
    external: BTreeMap<&'static str, bool>,
}

/// A malformed or unknown gate.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid --feature-gates: {0}")]
pub struct FeatureGateError(String);

/// Go's `strconv.ParseBool`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

impl FeatureGates {
    /// Parses `A=true,B=false` over the defaults.
    pub fn parse(spec: &str) -> Result<Self, FeatureGateError> {
        let mut gates = Self::default();
        let mut explicit = BTreeMap::new();
        let mut external_explicit = BTreeMap::new();
        let mut all: Vec<(Stage, bool)> = Vec::new();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| FeatureGateError(format!("missing bool value for {item}")))?;
            let (name, value) = (name.trim(), value.trim());
            let value = parse_bool(value).ok_or_else(|| {
                FeatureGateError(format!(
                    "invalid value of {name}={value}, err: strconv.ParseBool: parsing {value:?}: invalid syntax"
                ))
            })?;
            match name {
                "AllAlpha" => all.push((Stage::Alpha, value)),
                "AllBeta" => all.push((Stage::Beta, value)),
                _ => {
                    if let Some(feature) = Feature::ALL.iter().find(|f| f.name() == name) {
                        explicit.insert(*feature, value);
                        continue;
                    }
                    let (known, default, _, locked) = EXTERNAL_GATES
                        .iter()
                        .find(|g| g.0 == name)
                        .copied()
                        .ok_or_else(|| {
                            FeatureGateError(format!("unrecognized feature gate: {name}"))
                        })?;
                    if locked && value != default {
                        return Err(FeatureGateError(format!(
                            "cannot set feature gate {known} to {value}, feature is locked to {default}"
                        )));
                    }
                    external_explicit.insert(known, value);
                }
            }
        }
        for (stage, value) in all {
            for f in Feature::ALL.iter().filter(|f| f.stage() == stage) {
                gates.gates.insert(*f, value);
            }
            let external = match stage {
                Stage::Alpha => ExternalStage::Alpha,
                Stage::Beta => ExternalStage::Beta,
            };
            for g in EXTERNAL_GATES.iter().filter(|g| g.2 == external && !g.3) {
                gates.external.insert(g.0, value);
            }
        }
        gates.gates.extend(explicit);
        gates.external.extend(external_explicit);
        Ok(gates)
    }

    /// Whether `feature` is on.
    pub fn enabled(&self, feature: Feature) -> bool {
        self.gates
            .get(&feature)
            .copied()
            .unwrap_or(feature.default_enabled())
    }

    /// Turns a gate on or off (tests, programmatic defaults of a binary).
    pub fn set(&mut self, feature: Feature, value: bool) {
        self.gates.insert(feature, value);
    }

    /// The Kubernetes library gates set (explicitly or by AllAlpha/AllBeta): they change
    /// nothing in these binaries.
    pub fn external(&self) -> impl Iterator<Item = (&'static str, bool)> + '_ {
        self.external.iter().map(|(k, v)| (*k, *v))
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
        assert_eq!(
            FeatureGates::parse("SocketConnection=yes")
                .unwrap_err()
                .to_string(),
            "invalid --feature-gates: invalid value of SocketConnection=yes, err: strconv.ParseBool: parsing \"yes\": invalid syntax"
        );
        assert_eq!(
            FeatureGates::parse("Socketconnection=true")
                .unwrap_err()
                .to_string(),
            "invalid --feature-gates: unrecognized feature gate: Socketconnection"
        );
        assert!(FeatureGates::parse("").unwrap() == FeatureGates::default());
    }

    #[test]
    fn go_bools_and_all_alpha() {
        for (spelling, want) in [("1", true), ("t", true), ("TRUE", true), ("0", false)] {
            let g = FeatureGates::parse(&format!("Deployer={spelling}")).unwrap();
            assert_eq!(g.enabled(Feature::Deployer), want, "{spelling}");
        }
        // AllAlpha sets every alpha gate not named, wherever it appears in the list.
        let g = FeatureGates::parse("Recovery=false,AllAlpha=true").unwrap();
        assert!(g.enabled(Feature::SocketConnection) && g.enabled(Feature::ClusterInit));
        assert!(!g.enabled(Feature::Recovery));
        let g = FeatureGates::parse("AllBeta=true").unwrap();
        assert!(!g.enabled(Feature::Deployer), "no Clusternet gate is beta");
        assert_eq!(Feature::ALL.len(), 12);
        // Go's binaries also take the k8s.io/apiserver and logging gates (53 with
        // AllAlpha/AllBeta); locked ones only at their default.
        assert_eq!(EXTERNAL_GATES.len() + Feature::ALL.len() + 2, 53);
        let g = FeatureGates::parse("APIResponseCompression=false,WatchBookmark=true").unwrap();
        assert_eq!(
            g.external().collect::<Vec<_>>(),
            [("APIResponseCompression", false), ("WatchBookmark", true)]
        );
        assert_eq!(
            FeatureGates::parse("WatchBookmark=false")
                .unwrap_err()
                .to_string(),
            "invalid --feature-gates: cannot set feature gate WatchBookmark to false, feature is locked to true"
        );
        assert!(
            FeatureGates::parse("WatchListClient=true").is_err(),
            "client-go's own gates are not in the set"
        );
        assert_eq!(
            Feature::FeasibleClustersToleration.to_string(),
            "FeasibleClustersToleration"
        );
    }
}
