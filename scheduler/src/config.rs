//! `--config`: Go Clusternet's `SchedulerConfiguration` (`pkg/scheduler/apis`), read from a
//! YAML or JSON file, defaulted, validated and turned into one [`Framework`] per profile as
//! Go's `options.loadConfigFromFile`, `SetDefaultsSchedulerConfiguration`,
//! `ValidateSchedulerConfiguration` and `frameworkruntime.NewFramework` do.
//!
//! The file, as Go decodes it (gopkg.in/yaml.v3, not strict):
//!
//! ```yaml
//! apiVersion: …                        # not checked (Go ignores it)
//! kind: SchedulerConfiguration         # not checked (Go ignores it)
//! percentageOfClustersToScore: 0       # Go reads only `percentageofclusterstoscore`; both honoured
//! percentageOfClustersToTolerate: 10   # likewise `percentageofclusterstotolerate`
//! profiles:
//!   - schedulerName: default
//!     plugins:
//!       filter: {disabled: [{name: TaintToleration}]}    # or [{name: "*"}]
//!       score: {enabled: [{name: TaintToleration, weight: 5}]}
//!     pluginConfig: [{name: TaintToleration, args: {}}]  # no in-tree plugin takes args
//! ```
//!
//! Where Go and this reader differ, this one says so at start-up instead of staying silent:
//! a key Go's decoder ignores (unknown, misspelt, `leaderElection`, `clientConnection`) is
//! ignored here too, with a warning naming it; everything Go rejects (a value of the wrong
//! type, an unknown plugin, a plugin at an extension point it does not implement, a score
//! plugin without weight, no bind plugin, duplicate profiles) is a start-up error naming the
//! field or plugin. The camelCase percentage keys, which Go's decoder silently drops (its
//! fields carry only `json` tags), are honoured.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

use serde_json::Value;

use crate::algorithm::names;

/// Go's `DefaultPercentageOfClustersToScore`: adaptive.
pub const DEFAULT_PERCENTAGE_OF_CLUSTERS_TO_SCORE: i32 = 0;
/// Go's `DefaultPercentageOfClustersToTolerate`.
pub const DEFAULT_PERCENTAGE_OF_CLUSTERS_TO_TOLERATE: i32 = 10;
/// `scheduler.DefaultSchedulerName`.
pub const DEFAULT_SCHEDULER_NAME: &str = "default";

/// The extension points of Clusternet's scheduling framework, in the order Go's
/// `getExtensionPoints` checks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExtensionPoint {
    /// `preFilter`.
    PreFilter,
    /// `filter`.
    Filter,
    /// `postFilter`.
    PostFilter,
    /// `reserve`.
    Reserve,
    /// `prePredict`.
    PrePredict,
    /// `predict`.
    Predict,
    /// `preScore`.
    PreScore,
    /// `score`.
    Score,
    /// `preAssign`.
    PreAssign,
    /// `assign`.
    Assign,
    /// `preBind`.
    PreBind,
    /// `bind`.
    Bind,
    /// `postBind`.
    PostBind,
    /// `permit`.
    Permit,
}

impl ExtensionPoint {
    /// All of them, in Go's order.
    pub const ALL: [ExtensionPoint; 14] = [
        Self::PreFilter,
        Self::Filter,
        Self::PostFilter,
        Self::Reserve,
        Self::PrePredict,
        Self::Predict,
        Self::PreScore,
        Self::Score,
        Self::PreAssign,
        Self::Assign,
        Self::PreBind,
        Self::Bind,
        Self::PostBind,
        Self::Permit,
    ];

    /// The key under `plugins:`.
    pub fn key(self) -> &'static str {
        match self {
            Self::PreFilter => "preFilter",
            Self::Filter => "filter",
            Self::PostFilter => "postFilter",
            Self::Reserve => "reserve",
            Self::PrePredict => "prePredict",
            Self::Predict => "predict",
            Self::PreScore => "preScore",
            Self::Score => "score",
            Self::PreAssign => "preAssign",
            Self::Assign => "assign",
            Self::PreBind => "preBind",
            Self::Bind => "bind",
            Self::PostBind => "postBind",
            Self::Permit => "permit",
        }
    }

    /// The Go interface a plugin implements to run here (Go's error messages name it).
    pub fn plugin_type(self) -> &'static str {
        match self {
            Self::PreFilter => "PreFilterPlugin",
            Self::Filter => "FilterPlugin",
            Self::PostFilter => "PostFilterPlugin",
            Self::Reserve => "ReservePlugin",
            Self::PrePredict => "PrePredictPlugin",
            Self::Predict => "PredictPlugin",
            Self::PreScore => "PreScorePlugin",
            Self::Score => "ScorePlugin",
            Self::PreAssign => "PreAssignPlugin",
            Self::Assign => "AssignPlugin",
            Self::PreBind => "PreBindPlugin",
            Self::Bind => "BindPlugin",
            Self::PostBind => "PostBindPlugin",
            Self::Permit => "PermitPlugin",
        }
    }

    fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.key() == key)
    }
}

/// The in-tree registry (`plugins.NewInTreeRegistry`) and the extension points each plugin
/// implements.
pub const REGISTRY: [(&str, &[ExtensionPoint]); 5] = [
    (names::DEFAULT_BINDER, &[ExtensionPoint::Bind]),
    (
        names::TAINT_TOLERATION,
        &[ExtensionPoint::Filter, ExtensionPoint::Score],
    ),
    (names::STATIC_ASSIGNER, &[ExtensionPoint::Assign]),
    (
        names::DYNAMIC_ASSIGNER,
        &[ExtensionPoint::PreAssign, ExtensionPoint::Assign],
    ),
    (names::PREDICTOR, &[ExtensionPoint::Predict]),
];

/// A plugin and (score plugins) its weight.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plugin {
    /// `name`.
    pub name: String,
    /// `weight`.
    pub weight: i32,
}

impl Plugin {
    fn named(name: &str, weight: i32) -> Self {
        Self {
            name: name.into(),
            weight,
        }
    }
}

/// `enabled` / `disabled` of one extension point.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PluginSet {
    /// Plugins run in addition to (or, when re-listed, instead of) the defaults, after them.
    pub enabled: Vec<Plugin>,
    /// Default plugins not to run; `*` disables them all.
    pub disabled: Vec<Plugin>,
}

/// `plugins`: a [`PluginSet`] per extension point (absent = empty).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plugins(pub BTreeMap<ExtensionPoint, PluginSet>);

impl Plugins {
    /// The set of `point` (empty when absent).
    pub fn set(&self, point: ExtensionPoint) -> PluginSet {
        self.0.get(&point).cloned().unwrap_or_default()
    }

    /// Go's `getDefaultPlugins`.
    pub fn defaults() -> Self {
        use ExtensionPoint::*;
        let enabled = |plugins: Vec<Plugin>| PluginSet {
            enabled: plugins,
            disabled: Vec::new(),
        };
        Self(BTreeMap::from([
            (
                Filter,
                enabled(vec![Plugin::named(names::TAINT_TOLERATION, 0)]),
            ),
            (Predict, enabled(vec![Plugin::named(names::PREDICTOR, 0)])),
            (
                Score,
                enabled(vec![Plugin::named(
                    names::TAINT_TOLERATION,
                    crate::algorithm::TAINT_TOLERATION_WEIGHT as i32,
                )]),
            ),
            (
                PreAssign,
                enabled(vec![Plugin::named(names::DYNAMIC_ASSIGNER, 0)]),
            ),
            (
                Assign,
                enabled(vec![
                    Plugin::named(names::STATIC_ASSIGNER, 0),
                    Plugin::named(names::DYNAMIC_ASSIGNER, 0),
                ]),
            ),
            (Bind, enabled(vec![Plugin::named(names::DEFAULT_BINDER, 0)])),
        ]))
    }
}

/// `pluginConfig[]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PluginConfig {
    /// `name`.
    pub name: String,
    /// `args`, as written.
    pub args: Option<Value>,
}

/// `profiles[]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SchedulerProfile {
    /// `schedulerName`: Subscriptions with this `spec.schedulerName` are scheduled here.
    pub scheduler_name: String,
    /// `plugins` (`None`: the defaults).
    pub plugins: Option<Plugins>,
    /// `pluginConfig`.
    pub plugin_config: Vec<PluginConfig>,
}

/// Go Clusternet's `SchedulerConfiguration`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SchedulerConfiguration {
    /// `profiles`.
    pub profiles: Vec<SchedulerProfile>,
    /// `percentageOfClustersToScore`.
    pub percentage_of_clusters_to_score: Option<i32>,
    /// `percentageOfClustersToTolerate`.
    pub percentage_of_clusters_to_tolerate: Option<i32>,
}

/// A file that cannot be used: every problem found, each naming its field or plugin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct ConfigError(pub Vec<String>);

/// A decoded file and what it contained that is ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The configuration (not yet defaulted).
    pub config: SchedulerConfiguration,
    /// One line per ignored or differently-read key.
    pub warnings: Vec<String>,
}

#[derive(Default)]
struct Decoder {
    errors: Vec<String>,
    warnings: Vec<String>,
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "sequence",
        Value::Object(_) => "mapping",
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 40 {
        let mut cut = 37;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}...", &s[..cut])
    } else {
        s
    }
}

impl Decoder {
    fn type_error(&mut self, path: &str, v: &Value, into: &str) {
        self.errors.push(format!(
            "{path}: cannot unmarshal {} {} into {into}",
            kind_of(v),
            short(v)
        ));
    }

    fn unknown(&mut self, path: &str) {
        self.warnings.push(format!(
            "{path}: unknown field, ignored (Go Clusternet's decoder ignores it too)"
        ));
    }

    /// A mapping (null = empty), or a type error.
    fn mapping<'a>(
        &mut self,
        path: &str,
        v: &'a Value,
        into: &str,
    ) -> Option<&'a serde_json::Map<String, Value>> {
        match v {
            Value::Object(m) => Some(m),
            Value::Null => None,
            other => {
                self.type_error(path, other, into);
                None
            }
        }
    }

    fn sequence<'a>(&mut self, path: &str, v: &'a Value, into: &str) -> &'a [Value] {
        match v {
            Value::Array(a) => a,
            Value::Null => &[],
            other => {
                self.type_error(path, other, into);
                &[]
            }
        }
    }

    /// yaml.v3 decodes any scalar into a string field; null is "".
    fn string(&mut self, path: &str, v: &Value) -> String {
        match v {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            other => {
                self.type_error(path, other, "string");
                String::new()
            }
        }
    }

    /// An int32 (an integral number in range); null is `None`.
    fn int32(&mut self, path: &str, v: &Value) -> Option<i32> {
        let n = match v {
            Value::Null => return None,
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
            _ => None,
        };
        match n.and_then(|n| i32::try_from(n).ok()) {
            Some(n) => Some(n),
            None => {
                self.type_error(path, v, "int32");
                None
            }
        }
    }

    fn config(&mut self, v: &Value) -> SchedulerConfiguration {
        let mut config = SchedulerConfiguration::default();
        let Some(top) = self.mapping("(top level)", v, "SchedulerConfiguration") else {
            return config;
        };
        let mut score = (None, None);
        let mut tolerate = (None, None);
        for (key, value) in top {
            match key.as_str() {
                // TypeMeta: standard, not checked by Go (its decoder reads only `typemeta`).
                "apiVersion" | "kind" => {
                    self.string(key, value);
                }
                "typemeta" => {
                    if let Some(m) = self.mapping(key, value, "TypeMeta") {
                        for (k, v) in m {
                            let path = format!("typemeta.{k}");
                            match k.as_str() {
                                "kind" | "apiversion" => {
                                    self.string(&path, v);
                                }
                                _ => self.unknown(&path),
                            }
                        }
                    }
                }
                "profiles" => {
                    for (i, p) in self
                        .sequence(key, value, "[]SchedulerProfile")
                        .iter()
                        .enumerate()
                    {
                        let profile = self.profile(&format!("profiles[{i}]"), p);
                        config.profiles.push(profile);
                    }
                }
                "percentageofclusterstoscore" => score.0 = Some(self.int32(key, value)),
                "percentageOfClustersToScore" => score.1 = Some(self.int32(key, value)),
                "percentageofclusterstotolerate" => tolerate.0 = Some(self.int32(key, value)),
                "percentageOfClustersToTolerate" => tolerate.1 = Some(self.int32(key, value)),
                "leaderElection" | "clientConnection" => self.warnings.push(format!(
                    "{key}: not a field of Clusternet's SchedulerConfiguration, ignored as Go \
                     Clusternet ignores it; use the --leader-elect*/--kubeconfig flags"
                )),
                _ => self.unknown(key),
            }
        }
        for ((go, camel), name, field) in [
            (
                score,
                "percentageOfClustersToScore",
                &mut config.percentage_of_clusters_to_score,
            ),
            (
                tolerate,
                "percentageOfClustersToTolerate",
                &mut config.percentage_of_clusters_to_tolerate,
            ),
        ] {
            let lower = name.to_lowercase();
            match (go, camel) {
                (Some(g), Some(_)) => {
                    self.warnings.push(format!(
                        "{name}: both {lower} and {name} are set; {lower} (the key Go \
                         Clusternet reads) wins"
                    ));
                    *field = g;
                }
                (Some(g), None) => *field = g,
                (None, Some(c)) => {
                    self.warnings.push(format!(
                        "{name}: honoured; note that Go Clusternet's decoder reads only \
                         {lower} and ignores this spelling"
                    ));
                    *field = c;
                }
                (None, None) => {}
            }
        }
        config
    }

    fn profile(&mut self, path: &str, v: &Value) -> SchedulerProfile {
        let mut profile = SchedulerProfile::default();
        let Some(m) = self.mapping(path, v, "SchedulerProfile") else {
            return profile;
        };
        for (key, value) in m {
            let here = format!("{path}.{key}");
            match key.as_str() {
                "schedulerName" => profile.scheduler_name = self.string(&here, value),
                "plugins" => {
                    profile.plugins = self
                        .mapping(&here, value, "Plugins")
                        .map(|m| self.plugins(&here, m));
                }
                "pluginConfig" => {
                    for (i, c) in self
                        .sequence(&here, value, "[]PluginConfig")
                        .iter()
                        .enumerate()
                    {
                        let cpath = format!("{here}[{i}]");
                        let mut config = PluginConfig::default();
                        if let Some(m) = self.mapping(&cpath, c, "PluginConfig") {
                            for (k, v) in m {
                                match k.as_str() {
                                    "name" => {
                                        config.name = self.string(&format!("{cpath}.name"), v)
                                    }
                                    "args" => config.args = (!v.is_null()).then(|| v.clone()),
                                    _ => self.unknown(&format!("{cpath}.{k}")),
                                }
                            }
                        }
                        profile.plugin_config.push(config);
                    }
                }
                _ => self.unknown(&here),
            }
        }
        profile
    }

    fn plugins(&mut self, path: &str, m: &serde_json::Map<String, Value>) -> Plugins {
        let mut plugins = Plugins::default();
        for (key, value) in m {
            let here = format!("{path}.{key}");
            let Some(point) = ExtensionPoint::from_key(key) else {
                self.unknown(&here);
                continue;
            };
            let mut set = PluginSet::default();
            if let Some(m) = self.mapping(&here, value, "PluginSet") {
                for (k, v) in m {
                    let lpath = format!("{here}.{k}");
                    let list = match k.as_str() {
                        "enabled" => &mut set.enabled,
                        "disabled" => &mut set.disabled,
                        _ => {
                            self.unknown(&lpath);
                            continue;
                        }
                    };
                    for (i, p) in self.sequence(&lpath, v, "[]Plugin").iter().enumerate() {
                        let ppath = format!("{lpath}[{i}]");
                        let mut plugin = Plugin::default();
                        if let Some(m) = self.mapping(&ppath, p, "Plugin") {
                            for (pk, pv) in m {
                                match pk.as_str() {
                                    "name" => {
                                        plugin.name = self.string(&format!("{ppath}.name"), pv)
                                    }
                                    "weight" => {
                                        plugin.weight = self
                                            .int32(&format!("{ppath}.weight"), pv)
                                            .unwrap_or_default()
                                    }
                                    _ => self.unknown(&format!("{ppath}.{pk}")),
                                }
                            }
                        }
                        list.push(plugin);
                    }
                }
            }
            plugins.0.insert(point, set);
        }
        plugins
    }
}

/// Decodes a SchedulerConfiguration written in YAML or JSON (an empty file is the default
/// configuration, as for Go).
pub fn decode(text: &str) -> Result<Decoded, ConfigError> {
    let value: Value = if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        Value::Null
    } else {
        serde_saphyr::from_str(text).map_err(|e| ConfigError(vec![format!("yaml: {e}")]))?
    };
    let mut decoder = Decoder::default();
    let config = decoder.config(&value);
    if !decoder.errors.is_empty() {
        return Err(ConfigError(decoder.errors));
    }
    Ok(Decoded {
        config,
        warnings: decoder.warnings,
    })
}

/// Go's `mergePluginSet`: the defaults minus the disabled (all of them with `*`), a default
/// re-listed in `enabled` replaced in place, then the other enabled ones in their order.
pub fn merge_plugin_set(defaults: &PluginSet, custom: &PluginSet) -> PluginSet {
    let disabled: HashSet<&str> = custom.disabled.iter().map(|p| p.name.as_str()).collect();
    // The last of repeated custom entries is the one that replaces (Go's map).
    let mut custom_index: HashMap<&str, usize> = HashMap::new();
    for (i, p) in custom.enabled.iter().enumerate() {
        custom_index.insert(p.name.as_str(), i);
    }
    let mut replaced = BTreeSet::new();
    let mut enabled = Vec::new();
    if !disabled.contains("*") {
        for plugin in &defaults.enabled {
            if disabled.contains(plugin.name.as_str()) {
                continue;
            }
            match custom_index.get(plugin.name.as_str()) {
                Some(&i) => {
                    replaced.insert(i);
                    enabled.push(custom.enabled[i].clone());
                }
                None => enabled.push(plugin.clone()),
            }
        }
    }
    for (i, plugin) in custom.enabled.iter().enumerate() {
        if !replaced.contains(&i) {
            enabled.push(plugin.clone());
        }
    }
    PluginSet {
        enabled,
        disabled: Vec::new(),
    }
}

/// Go's `SetDefaultsSchedulerConfiguration` (the percentages are resolved by [`Settings`]):
/// one profile when there is none, `default` as the name of a single unnamed profile, and
/// each profile's plugins merged into the defaults.
pub fn set_defaults(config: &mut SchedulerConfiguration) {
    if config.profiles.is_empty() {
        config.profiles.push(SchedulerProfile::default());
    }
    if config.profiles.len() == 1 && config.profiles[0].scheduler_name.is_empty() {
        config.profiles[0].scheduler_name = DEFAULT_SCHEDULER_NAME.into();
    }
    let defaults = Plugins::defaults();
    for profile in &mut config.profiles {
        let custom = profile.plugins.take().unwrap_or_default();
        let merged = ExtensionPoint::ALL
            .into_iter()
            .map(|point| {
                (
                    point,
                    merge_plugin_set(&defaults.set(point), &custom.set(point)),
                )
            })
            .filter(|(_, set)| !set.enabled.is_empty())
            .collect();
        profile.plugins = Some(Plugins(merged));
    }
}

/// Go's `ValidateSchedulerConfiguration`: profiles present, each named, names unique.
pub fn validate(config: &SchedulerConfiguration) -> Result<(), ConfigError> {
    let mut errors = Vec::new();
    if config.profiles.is_empty() {
        errors.push("profiles: Required value".to_string());
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, profile) in config.profiles.iter().enumerate() {
        if profile.scheduler_name.is_empty() {
            errors.push(format!("profiles[{i}].schedulerName: Required value"));
        }
        if let Some(first) = seen.get(profile.scheduler_name.as_str()) {
            errors.push(format!(
                "profiles[{i}].schedulerName: Duplicate value: \"profiles[{first}].schedulerName\""
            ));
        }
        seen.insert(&profile.scheduler_name, i);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigError(errors))
    }
}

/// An assign plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assigner {
    /// `StaticAssigner`.
    Static,
    /// `DynamicAssigner`.
    Dynamic,
}

/// The plugins one profile runs (Go's `frameworkImpl`), with what our scheduling cycle needs
/// of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framework {
    /// The profile's scheduler name.
    pub name: String,
    /// Filter `TaintToleration`.
    pub taint_filter: bool,
    /// Score `TaintToleration` and its weight.
    pub taint_score_weight: Option<i64>,
    /// Predict `Predictor`.
    pub predictor: bool,
    /// PreAssign `DynamicAssigner`.
    pub dynamic_pre_assign: bool,
    /// Assign plugins in order: the first that does not skip decides.
    pub assigners: Vec<Assigner>,
}

impl Framework {
    /// The default profile under `name` (what runs without `--config`).
    pub fn default_profile(name: &str) -> Self {
        let mut config = SchedulerConfiguration {
            profiles: vec![SchedulerProfile {
                scheduler_name: name.into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        set_defaults(&mut config);
        let built = config.profiles.first().map(Self::build);
        match built {
            Some(Ok(framework)) => framework,
            // The defaults always build (a unit test holds it).
            _ => Self {
                name: name.into(),
                taint_filter: true,
                taint_score_weight: Some(crate::algorithm::TAINT_TOLERATION_WEIGHT),
                predictor: true,
                dynamic_pre_assign: true,
                assigners: vec![Assigner::Static, Assigner::Dynamic],
            },
        }
    }

    /// Go's `NewFramework` over a defaulted profile: every enabled plugin must exist and
    /// implement its extension point, once per point; score plugins need a weight; one bind
    /// plugin at least. Errors are Go's messages.
    pub fn build(profile: &SchedulerProfile) -> Result<Self, String> {
        let mut configured = HashSet::new();
        for c in &profile.plugin_config {
            if !configured.insert(c.name.as_str()) {
                return Err(format!("repeated config for plugin {}", c.name));
            }
        }
        let plugins = profile.plugins.clone().unwrap_or_default();
        for point in ExtensionPoint::ALL {
            let mut seen = HashSet::new();
            for plugin in plugins.set(point).enabled {
                let Some((_, points)) = REGISTRY.iter().find(|(n, _)| *n == plugin.name) else {
                    return Err(format!(
                        "{} {:?} does not exist",
                        point.plugin_type(),
                        plugin.name
                    ));
                };
                if !points.contains(&point) {
                    return Err(format!(
                        "plugin {:?} does not extend {} plugin",
                        plugin.name,
                        point.plugin_type()
                    ));
                }
                if !seen.insert(plugin.name.clone()) {
                    return Err(format!(
                        "plugin {:?} already registered as {:?}",
                        plugin.name,
                        point.plugin_type()
                    ));
                }
            }
        }
        let mut taint_score_weight = None;
        for plugin in plugins.set(ExtensionPoint::Score).enabled {
            if plugin.weight == 0 {
                return Err(format!(
                    "score plugin {:?} is not configured with weight",
                    plugin.name
                ));
            }
            taint_score_weight = Some(plugin.weight as i64);
        }
        if plugins.set(ExtensionPoint::Bind).enabled.is_empty() {
            return Err("at least one bind plugin is needed".into());
        }
        let has = |point, name: &str| plugins.set(point).enabled.iter().any(|p| p.name == name);
        Ok(Self {
            name: profile.scheduler_name.clone(),
            taint_filter: has(ExtensionPoint::Filter, names::TAINT_TOLERATION),
            taint_score_weight,
            predictor: has(ExtensionPoint::Predict, names::PREDICTOR),
            dynamic_pre_assign: has(ExtensionPoint::PreAssign, names::DYNAMIC_ASSIGNER),
            assigners: plugins
                .set(ExtensionPoint::Assign)
                .enabled
                .iter()
                .filter_map(|p| match p.name.as_str() {
                    names::STATIC_ASSIGNER => Some(Assigner::Static),
                    names::DYNAMIC_ASSIGNER => Some(Assigner::Dynamic),
                    _ => None,
                })
                .collect(),
        })
    }
}

/// What the scheduler runs with: a framework per scheduler name and the two percentages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Profiles by scheduler name.
    pub profiles: BTreeMap<String, Framework>,
    /// `percentageOfClustersToScore`.
    pub percentage_of_clusters_to_score: i32,
    /// `percentageOfClustersToTolerate`.
    pub percentage_of_clusters_to_tolerate: i64,
    /// Lines to log at start-up (ignored keys, differences from Go).
    pub warnings: Vec<String>,
}

impl Settings {
    /// No `--config`: the default profile named `scheduler_name`, the flags' percentages.
    pub fn from_flags(scheduler_name: &str, to_score: i32, to_tolerate: i64) -> Self {
        Self {
            profiles: BTreeMap::from([(
                scheduler_name.to_string(),
                Framework::default_profile(scheduler_name),
            )]),
            percentage_of_clusters_to_score: to_score,
            percentage_of_clusters_to_tolerate: to_tolerate,
            warnings: Vec::new(),
        }
    }

    /// A configuration file's text: decoded, defaulted, validated and built as Go does. A
    /// percentage the file leaves out is the flag's (whose default is Go's default).
    pub fn from_text(text: &str, to_score: i32, to_tolerate: i64) -> Result<Self, ConfigError> {
        let Decoded {
            mut config,
            warnings,
        } = decode(text)?;
        set_defaults(&mut config);
        validate(&config)?;
        let mut profiles = BTreeMap::new();
        for profile in &config.profiles {
            let framework = Framework::build(profile).map_err(|e| {
                ConfigError(vec![format!(
                    "creating profile for scheduler name {}: {e}",
                    profile.scheduler_name
                )])
            })?;
            profiles.insert(profile.scheduler_name.clone(), framework);
        }
        Ok(Self {
            profiles,
            percentage_of_clusters_to_score: config
                .percentage_of_clusters_to_score
                .unwrap_or(to_score),
            percentage_of_clusters_to_tolerate: config
                .percentage_of_clusters_to_tolerate
                .map_or(to_tolerate, i64::from),
            warnings,
        })
    }

    /// Reads `path` ([`Settings::from_text`]); errors name the file.
    pub fn from_file(path: &Path, to_score: i32, to_tolerate: i64) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading --config {}: {e}", path.display()))?;
        Self::from_text(&text, to_score, to_tolerate)
            .map_err(|e| anyhow::anyhow!("invalid --config {}: {e}", path.display()))
    }

    /// The framework for a Subscription's `spec.schedulerName` (empty = `default`), if this
    /// scheduler has that profile.
    pub fn framework(&self, scheduler_name: &str) -> Option<&Framework> {
        let name = if scheduler_name.is_empty() {
            DEFAULT_SCHEDULER_NAME
        } else {
            scheduler_name
        };
        self.profiles.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> Result<Settings, ConfigError> {
        Settings::from_text(text, 0, 10)
    }

    fn errors(text: &str) -> String {
        settings(text).unwrap_err().to_string()
    }

    #[test]
    fn no_file_and_empty_file_are_the_default_profile() {
        let flags = Settings::from_flags("default", 0, 10);
        let fw = &flags.profiles["default"];
        assert!(fw.taint_filter && fw.predictor && fw.dynamic_pre_assign);
        assert_eq!(fw.taint_score_weight, Some(3));
        assert_eq!(fw.assigners, vec![Assigner::Static, Assigner::Dynamic]);
        for text in [
            "",
            "# nothing\n",
            "{}",
            "---\n",
            "profiles: []\n",
            "profiles:\n",
        ] {
            assert_eq!(settings(text).unwrap(), flags, "{text:?}");
        }
        // An explicit default profile, in JSON.
        let json = r#"{"apiVersion": "scheduler.clusternet.io/v1alpha1", "kind": "SchedulerConfiguration",
            "profiles": [{"schedulerName": "default", "plugins": {}}]}"#;
        assert_eq!(settings(json).unwrap(), flags);
        assert_eq!(flags.framework(""), Some(fw));
        assert_eq!(flags.framework("other"), None);
    }

    #[test]
    fn disabling_and_reenabling_per_extension_point() {
        let s = settings(
            r#"
apiVersion: kubescheduler.config.k8s.io/v1beta3
kind: SchedulerConfiguration
profiles:
  - schedulerName: default
  - schedulerName: no-taints
    plugins:
      filter:
        disabled:
          - name: "*"
      score:
        disabled: [{name: TaintToleration}]
  - schedulerName: heavy-taints
    plugins:
      score:
        enabled: [{name: TaintToleration, weight: 7}]
      predict:
        disabled: [{name: Predictor}]
      assign:
        disabled: [{name: "*"}]
        enabled: [{name: DynamicAssigner}, {name: StaticAssigner}]
"#,
        )
        .unwrap();
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        assert_eq!(s.profiles.len(), 3);
        assert_eq!(s.profiles["default"], Framework::default_profile("default"));
        let nt = &s.profiles["no-taints"];
        assert!(!nt.taint_filter);
        assert_eq!(nt.taint_score_weight, None);
        assert!(nt.predictor);
        let ht = &s.profiles["heavy-taints"];
        assert!(ht.taint_filter);
        assert_eq!(ht.taint_score_weight, Some(7));
        assert!(!ht.predictor);
        assert_eq!(ht.assigners, vec![Assigner::Dynamic, Assigner::Static]);
    }

    #[test]
    fn merge_is_gos() {
        let d = PluginSet {
            enabled: vec![Plugin::named("A", 1), Plugin::named("B", 1)],
            disabled: vec![],
        };
        // Re-listing a default replaces it in place; others are appended.
        let c = PluginSet {
            enabled: vec![Plugin::named("C", 1), Plugin::named("A", 5)],
            disabled: vec![],
        };
        assert_eq!(
            merge_plugin_set(&d, &c).enabled,
            vec![
                Plugin::named("A", 5),
                Plugin::named("B", 1),
                Plugin::named("C", 1)
            ]
        );
        // Disabled then enabled: moved to the end.
        let c = PluginSet {
            enabled: vec![Plugin::named("A", 1)],
            disabled: vec![Plugin::named("A", 0)],
        };
        assert_eq!(
            merge_plugin_set(&d, &c).enabled,
            vec![Plugin::named("B", 1), Plugin::named("A", 1)]
        );
        let c = PluginSet {
            enabled: vec![],
            disabled: vec![Plugin::named("*", 0)],
        };
        assert!(merge_plugin_set(&d, &c).enabled.is_empty());
    }

    #[test]
    fn percentages_file_over_flags() {
        let s = Settings::from_text("percentageofclusterstoscore: 30\n", 5, 20).unwrap();
        assert_eq!(s.percentage_of_clusters_to_score, 30);
        assert_eq!(s.percentage_of_clusters_to_tolerate, 20, "flag kept");
        assert!(s.warnings.is_empty());
        let s = Settings::from_text(
            "percentageOfClustersToScore: 40\npercentageOfClustersToTolerate: 0\n",
            5,
            20,
        )
        .unwrap();
        assert_eq!(s.percentage_of_clusters_to_score, 40);
        assert_eq!(s.percentage_of_clusters_to_tolerate, 0);
        assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings);
        assert!(
            s.warnings[0].contains("percentageofclusterstoscore"),
            "{:?}",
            s.warnings
        );
        let s = Settings::from_text(
            "percentageOfClustersToScore: 40\npercentageofclusterstoscore: 50\n",
            5,
            20,
        )
        .unwrap();
        assert_eq!(s.percentage_of_clusters_to_score, 50);
    }

    #[test]
    fn unknown_keys_are_ignored_with_a_warning() {
        let s = settings(
            r#"
leaderElection: {leaderElect: true}
percentageOfClustersToScor: 3
profiles:
  - schedulerName: default
    plugin: {}
    plugins:
      filtr: {disabled: [{name: TaintToleration}]}
      filter: {enable: []}
"#,
        )
        .unwrap();
        let w = s.warnings.join("\n");
        for field in [
            "leaderElection",
            "percentageOfClustersToScor",
            "profiles[0].plugin:",
            "profiles[0].plugins.filtr",
            "profiles[0].plugins.filter.enable",
        ] {
            assert!(w.contains(field), "{field} in {w}");
        }
        assert_eq!(s.profiles["default"], Framework::default_profile("default"));
    }

    #[test]
    fn wrong_types_name_the_field() {
        let e = errors("profiles: 3\n");
        assert_eq!(
            e,
            "profiles: cannot unmarshal number 3 into []SchedulerProfile"
        );
        let e = errors(
            "percentageofclusterstoscore: \"50\"\nprofiles:\n- plugins:\n    score:\n      enabled:\n      - name: TaintToleration\n        weight: lots\n    filter: [TaintToleration]\n",
        );
        assert!(
            e.contains("percentageofclusterstoscore: cannot unmarshal string \"50\" into int32"),
            "{e}"
        );
        assert!(
            e.contains("profiles[0].plugins.score.enabled[0].weight: cannot unmarshal string \"lots\" into int32"),
            "{e}"
        );
        assert!(
            e.contains("profiles[0].plugins.filter: cannot unmarshal sequence"),
            "{e}"
        );
        assert!(errors("- a\n- b\n").contains("(top level): cannot unmarshal sequence"));
        assert!(errors("percentageofclusterstotolerate: 99999999999\n").contains("into int32"));
        assert!(errors("profiles: [\n").starts_with("yaml: "), "syntax");
        // Scalars decode into strings, as yaml.v3 does.
        let s = settings("profiles: [{schedulerName: 42}]\n").unwrap();
        assert!(s.profiles.contains_key("42"));
    }

    #[test]
    fn plugin_errors_are_gos() {
        let cases = [
            (
                "profiles: [{plugins: {filter: {enabled: [{name: ClusterAffinity}]}}}]",
                "creating profile for scheduler name default: FilterPlugin \"ClusterAffinity\" does not exist",
            ),
            (
                "profiles: [{plugins: {filter: {enabled: [{name: DefaultBinder}]}}}]",
                "creating profile for scheduler name default: plugin \"DefaultBinder\" does not extend FilterPlugin plugin",
            ),
            (
                "profiles: [{plugins: {preFilter: {enabled: [{name: TaintToleration}]}}}]",
                "creating profile for scheduler name default: plugin \"TaintToleration\" does not extend PreFilterPlugin plugin",
            ),
            (
                "profiles: [{plugins: {assign: {enabled: [{name: StaticAssigner}, {name: StaticAssigner}]}}}]",
                "creating profile for scheduler name default: plugin \"StaticAssigner\" already registered as \"AssignPlugin\"",
            ),
            (
                "profiles: [{plugins: {score: {enabled: [{name: TaintToleration}]}}}]",
                "creating profile for scheduler name default: score plugin \"TaintToleration\" is not configured with weight",
            ),
            (
                "profiles: [{plugins: {bind: {disabled: [{name: DefaultBinder}]}}}]",
                "creating profile for scheduler name default: at least one bind plugin is needed",
            ),
            (
                "profiles: [{pluginConfig: [{name: Predictor}, {name: Predictor, args: {x: 1}}]}]",
                "creating profile for scheduler name default: repeated config for plugin Predictor",
            ),
            (
                "profiles: [{schedulerName: a}, {}]",
                "profiles[1].schedulerName: Required value",
            ),
            (
                "profiles: [{schedulerName: a}, {schedulerName: a}]",
                "profiles[1].schedulerName: Duplicate value: \"profiles[0].schedulerName\"",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(errors(text), want, "{text}");
        }
        // Config for a plugin: accepted (no in-tree plugin takes args), as in Go.
        assert!(
            settings("profiles: [{pluginConfig: [{name: TaintToleration, args: {}}]}]").is_ok()
        );
    }
}
