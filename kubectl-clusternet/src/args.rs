//! The command line, split three ways: the flags that choose the parent and the user's
//! credentials (read here, as kubectl reads them, and not passed on: kubectl talks to the
//! plugin's loopback endpoint instead), Clusternet's own flags (those of Go's
//! `kubectl-clusternet` and this plugin's additions), and everything else, which goes to kubectl
//! unchanged and in order.

use anyhow::{Result, bail};

/// Flags that select the parent API server and the credentials for it (kubectl's
/// `genericclioptions.ConfigFlags`, without `--namespace`, `--as*`, `--cache-dir` and
/// `--request-timeout`, which kubectl applies itself).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Connection {
    /// `--kubeconfig`.
    pub kubeconfig: Option<String>,
    /// `--context`.
    pub context: Option<String>,
    /// `--cluster`.
    pub cluster: Option<String>,
    /// `--user`.
    pub user: Option<String>,
    /// `--server`, `-s`.
    pub server: Option<String>,
    /// `--token`.
    pub token: Option<String>,
    /// `--certificate-authority`.
    pub certificate_authority: Option<String>,
    /// `--client-certificate`.
    pub client_certificate: Option<String>,
    /// `--client-key`.
    pub client_key: Option<String>,
    /// `--tls-server-name`.
    pub tls_server_name: Option<String>,
    /// `--insecure-skip-tls-verify`.
    pub insecure_skip_tls_verify: bool,
    /// `--username` (basic auth).
    pub username: Option<String>,
    /// `--password` (basic auth).
    pub password: Option<String>,
}

/// Clusternet's flags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Clusternet {
    /// `--cluster-id`: talk to that child through the hub, without rewriting.
    pub cluster_id: Option<String>,
    /// `--child-kubeconfig`: the child's credentials for `--cluster-id`.
    pub child_kubeconfig: Option<String>,
    /// `--clusternet-as`: the user to impersonate in the child.
    pub as_user: Option<String>,
    /// `--clusternet-as-uid`.
    pub as_uid: Option<String>,
    /// `--clusternet-as-group` (repeatable).
    pub as_groups: Vec<String>,
    /// `--clusters`: `get` across children (names or ids, comma-separated, or `all`).
    pub clusters: Option<String>,
}

/// The parsed command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args {
    /// Parent connection flags.
    pub connection: Connection,
    /// Clusternet's flags.
    pub clusternet: Clusternet,
    /// What goes to kubectl, in order.
    pub rest: Vec<String>,
    /// The subcommand (`get`, `apply`, …, or this plugin's own), if any.
    pub command: Option<String>,
    /// `-h`/`--help` appeared before any subcommand.
    pub help: bool,
}

enum Kind {
    Value,
    Bool,
}

/// kubectl's global flags that take a value, so that the word after them is not taken for
/// the subcommand (`kubectl clusternet -n demo get deploy`).
const KUBECTL_VALUE_FLAGS: &[&str] = &[
    "namespace",
    "n",
    "as",
    "as-group",
    "as-uid",
    "cache-dir",
    "request-timeout",
    "v",
    "vmodule",
    "log-file",
    "log-file-max-size",
    "log-flush-frequency",
    "log-dir",
    "stderrthreshold",
    "profile",
    "profile-output",
    "kuberc",
    "warnings-as-errors",
];

fn own_flag(name: &str) -> Option<Kind> {
    Some(match name {
        "kubeconfig"
        | "context"
        | "cluster"
        | "user"
        | "server"
        | "s"
        | "token"
        | "certificate-authority"
        | "client-certificate"
        | "client-key"
        | "tls-server-name"
        | "username"
        | "password"
        | "cluster-id"
        | "child-kubeconfig"
        | "clusternet-as"
        | "clusternet-as-uid"
        | "clusternet-as-group"
        | "clusters" => Kind::Value,
        "insecure-skip-tls-verify" => Kind::Bool,
        _ => return None,
    })
}

/// `--name=value`, `--name value`, `-s value`, `-s=value`: the flag's name (with `_`
/// normalised to `-`, as kubectl does) and an inline value.
fn split_flag(arg: &str) -> Option<(String, Option<String>)> {
    let body = arg.strip_prefix("--").or_else(|| {
        arg.strip_prefix('-')
            .filter(|b| b.len() == 1 || b.contains('='))
    })?;
    if body.is_empty() {
        return None;
    }
    let (name, value) = match body.split_once('=') {
        Some((n, v)) => (n, Some(v.to_string())),
        None => (body, None),
    };
    Some((name.replace('_', "-"), value))
}

fn parse_bool(name: &str, value: &str) -> Result<bool> {
    match value {
        "true" | "1" | "t" | "T" | "TRUE" | "True" => Ok(true),
        "false" | "0" | "f" | "F" | "FALSE" | "False" => Ok(false),
        _ => bail!(
            "invalid argument {value:?} for \"--{name}\" flag: strconv.ParseBool: parsing {value:?}: invalid syntax"
        ),
    }
}

/// Parses `args` (without the program name).
pub fn parse(args: &[String]) -> Result<Args> {
    let mut out = Args::default();
    let mut i = 0;
    // Whether the previous word of `rest` was a kubectl flag waiting for its value.
    let mut pending_value = false;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            out.rest.extend(args[i - 1..].iter().cloned());
            break;
        }
        let Some((name, inline)) = split_flag(arg) else {
            if !pending_value && out.command.is_none() && !arg.starts_with('-') {
                out.command = Some(arg.clone());
            }
            pending_value = false;
            out.rest.push(arg.clone());
            continue;
        };
        pending_value = false;
        let Some(kind) = own_flag(&name) else {
            if out.command.is_none() && (name == "help" || name == "h") {
                out.help = true;
            }
            if inline.is_none() && KUBECTL_VALUE_FLAGS.contains(&name.as_str()) {
                pending_value = true;
            }
            out.rest.push(arg.clone());
            continue;
        };
        let value = match (kind, inline) {
            (Kind::Bool, None) => "true".to_string(),
            (_, Some(v)) => v,
            (Kind::Value, None) => {
                let Some(v) = args.get(i) else {
                    bail!("flag needs an argument: --{name}");
                };
                i += 1;
                v.clone()
            }
        };
        let c = &mut out.connection;
        let k = &mut out.clusternet;
        match name.as_str() {
            "kubeconfig" => c.kubeconfig = Some(value),
            "context" => c.context = Some(value),
            "cluster" => c.cluster = Some(value),
            "user" => c.user = Some(value),
            "server" | "s" => c.server = Some(value),
            "token" => c.token = Some(value),
            "certificate-authority" => c.certificate_authority = Some(value),
            "client-certificate" => c.client_certificate = Some(value),
            "client-key" => c.client_key = Some(value),
            "tls-server-name" => c.tls_server_name = Some(value),
            "username" => c.username = Some(value),
            "password" => c.password = Some(value),
            "insecure-skip-tls-verify" => c.insecure_skip_tls_verify = parse_bool(&name, &value)?,
            "cluster-id" => k.cluster_id = Some(value),
            "child-kubeconfig" => k.child_kubeconfig = Some(value),
            "clusternet-as" => k.as_user = Some(value),
            "clusternet-as-uid" => k.as_uid = Some(value),
            "clusternet-as-group" => k.as_groups.push(value),
            "clusters" => k.clusters = Some(value),
            _ => unreachable!("own_flag lists {name}"),
        }
    }
    // Empty values mean "not set", as in Go's `len(o.clusterID) != 0`.
    let k = &mut out.clusternet;
    for v in [
        &mut k.cluster_id,
        &mut k.child_kubeconfig,
        &mut k.as_user,
        &mut k.as_uid,
    ] {
        if v.as_deref() == Some("") {
            *v = None;
        }
    }
    Ok(out)
}

/// The words of `rest` that are not flags or kubectl global flags' values (the command first).
pub fn positionals(rest: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut iter = rest.iter().take_while(|a| *a != "--");
    while let Some(arg) = iter.next() {
        match split_flag(arg) {
            Some((name, None)) if KUBECTL_VALUE_FLAGS.contains(&name.as_str()) => {
                iter.next();
            }
            Some(_) => {}
            None if arg.starts_with('-') => {}
            None => out.push(arg.clone()),
        }
    }
    out
}

/// The value of kubectl flag `long`/`short` in `rest` (the last one wins), if given.
pub fn flag_value(rest: &[String], long: &str, short: Option<&str>) -> Option<String> {
    let mut found = None;
    let mut iter = rest.iter().take_while(|a| *a != "--");
    while let Some(arg) = iter.next() {
        let Some((name, inline)) = split_flag(arg) else {
            continue;
        };
        if name == long || Some(name.as_str()) == short {
            found = match inline {
                Some(v) => Some(v),
                None => iter.next().cloned(),
            };
        }
    }
    found
}

/// Whether boolean kubectl flag `long`/`short` is set in `rest`.
pub fn flag_set(rest: &[String], long: &str, short: Option<&str>) -> bool {
    rest.iter().take_while(|a| *a != "--").any(|arg| {
        split_flag(arg).is_some_and(|(name, inline)| {
            (name == long || Some(name.as_str()) == short)
                && inline
                    .as_deref()
                    .is_none_or(|v| parse_bool(long, v).unwrap_or(false))
        })
    })
}

/// `rest` without kubectl flag `long`/`short` (and its value, when `takes_value`).
pub fn without_flag(
    rest: &[String],
    long: &str,
    short: Option<&str>,
    takes_value: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        let arg = &rest[i];
        i += 1;
        if arg == "--" {
            out.extend(rest[i - 1..].iter().cloned());
            break;
        }
        match split_flag(arg) {
            Some((name, inline)) if name == long || Some(name.as_str()) == short => {
                if takes_value && inline.is_none() {
                    i += 1;
                }
            }
            _ => out.push(arg.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Args {
        parse(
            &line
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>(),
        )
        .unwrap()
    }

    #[test]
    fn connection_flags_are_taken_the_rest_passes_in_order() {
        let a = p(
            "--context=prod -n demo get deploy my-nginx --kubeconfig /k -o wide --insecure-skip-tls-verify",
        );
        assert_eq!(a.connection.context.as_deref(), Some("prod"));
        assert_eq!(a.connection.kubeconfig.as_deref(), Some("/k"));
        assert!(a.connection.insecure_skip_tls_verify);
        assert_eq!(a.command.as_deref(), Some("get"));
        assert_eq!(
            a.rest,
            ["-n", "demo", "get", "deploy", "my-nginx", "-o", "wide"]
        );
    }

    #[test]
    fn clusternet_flags() {
        let a = p(
            "get ns --cluster-id abc --child-kubeconfig=/c --clusternet-as bob --clusternet-as-group g1 --clusternet-as-group=g2 --clusters all",
        );
        assert_eq!(a.clusternet.cluster_id.as_deref(), Some("abc"));
        assert_eq!(a.clusternet.child_kubeconfig.as_deref(), Some("/c"));
        assert_eq!(a.clusternet.as_user.as_deref(), Some("bob"));
        assert_eq!(a.clusternet.as_groups, ["g1", "g2"]);
        assert_eq!(a.clusternet.clusters.as_deref(), Some("all"));
        assert_eq!(a.rest, ["get", "ns"]);
    }

    #[test]
    fn after_double_dash_nothing_is_taken() {
        let a = p("exec -it pod --context c -- sh -c --token");
        assert_eq!(a.connection.context.as_deref(), Some("c"));
        assert_eq!(a.connection.token, None);
        assert_eq!(a.rest, ["exec", "-it", "pod", "--", "sh", "-c", "--token"]);
    }

    #[test]
    fn short_server_and_underscores() {
        let a = p("-s https://x:6443 --child_kubeconfig /c --cluster_id i version");
        assert_eq!(a.connection.server.as_deref(), Some("https://x:6443"));
        assert_eq!(a.clusternet.child_kubeconfig.as_deref(), Some("/c"));
        assert_eq!(a.command.as_deref(), Some("version"));
    }

    #[test]
    fn help_before_the_command() {
        assert!(p("--help").help);
        assert!(!p("get --help").help);
        assert_eq!(p("-h").command, None);
    }

    #[test]
    fn missing_value_is_an_error() {
        assert!(parse(&["get".into(), "--context".into()]).is_err());
        assert!(parse(&["--insecure-skip-tls-verify=maybe".into()]).is_err());
    }

    #[test]
    fn kubectl_flag_helpers() {
        let rest: Vec<String> = "get cm -o yaml -A --no-headers"
            .split(' ')
            .map(String::from)
            .collect();
        assert_eq!(
            flag_value(&rest, "output", Some("o")).as_deref(),
            Some("yaml")
        );
        assert!(flag_set(&rest, "all-namespaces", Some("A")));
        assert!(flag_set(&rest, "no-headers", None));
        assert_eq!(
            without_flag(&rest, "output", Some("o"), true),
            ["get", "cm", "-A", "--no-headers"]
        );
        let rest: Vec<String> = "kubeconfig --cache-dir /c child1 -n x"
            .split(' ')
            .map(String::from)
            .collect();
        assert_eq!(positionals(&rest), ["kubeconfig", "child1"]);
        let rest: Vec<String> = ["get", "cm", "--output=json"].map(String::from).to_vec();
        assert_eq!(
            flag_value(&rest, "output", Some("o")).as_deref(),
            Some("json")
        );
    }
}
