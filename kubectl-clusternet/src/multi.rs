//! `kubectl clusternet get … --clusters=<names|ids|all>`: the same read in every named child,
//! through the hub, as one answer. Tables get a leading `CLUSTER` column; `-o json|yaml` give one
//! `List` whose items carry their cluster in annotations; other formats print each child's
//! output in turn. A child that fails (no tunnel, no credentials, an error) is named in a
//! `Warning:` line on stderr and the others still print; the exit code is non-zero only when no
//! child answered.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Result, bail};
use serde_json::Value;

use crate::args::{self, Args};
use crate::child::{self, Cluster};
use crate::connection::Parent;
use crate::kubectl::{self, Scratch};
use crate::proxy::{self, Route};
use crate::table;

/// Annotation with the name of the cluster an item was read from.
pub const CLUSTER_NAME_ANNOTATION: &str = "clusters.clusternet.io/cluster-name";
/// Annotation with the id of the cluster an item was read from.
pub const CLUSTER_ID_ANNOTATION: &str = "clusters.clusternet.io/cluster-id";

/// How long one child may take to answer.
const PER_CLUSTER_TIMEOUT: Duration = Duration::from_secs(60);

enum Format {
    Table { no_headers: bool },
    Objects { yaml: bool },
    Other,
}

struct Answer {
    cluster: Cluster,
    result: Result<(String, String)>,
}

/// The hub's message for a request to the cluster of `route`, when it refuses one.
async fn hub_says(client: &kube::Client, route: &Route) -> Option<String> {
    let Route::Child { headers, .. } = route else {
        return None;
    };
    let mut req = http::Request::get(route.upstream_path("/version"))
        .body(kube::client::Body::empty())
        .ok()?;
    for (name, value) in headers {
        req.headers_mut().append(name.clone(), value.clone());
    }
    let resp = tokio::time::timeout(Duration::from_secs(10), client.send(req))
        .await
        .ok()?
        .ok()?;
    if resp.status().is_success() {
        return None;
    }
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .ok()?
        .to_bytes();
    let status: Value = serde_json::from_slice(&body).ok()?;
    status["message"].as_str().map(String::from)
}

/// Runs the read; returns the exit code.
pub async fn run(parent: &Parent, a: &Args, selector: &str) -> Result<i32> {
    if args::flag_set(&a.rest, "watch", Some("w")) || args::flag_set(&a.rest, "watch-only", None) {
        bail!("--clusters cannot be combined with --watch: watch one cluster with --cluster-id");
    }
    let all = child::list(&parent.client).await?;
    let clusters: Vec<Cluster> = if selector == "all" {
        all.iter()
            .map(|m| child::find(&all, m.spec.cluster_id.as_str()))
            .collect::<Result<_>>()?
    } else {
        selector
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| child::find(&all, s.trim()))
            .collect::<Result<_>>()?
    };
    if clusters.is_empty() {
        bail!("no clusters selected by --clusters={selector}");
    }
    if a.clusternet.child_kubeconfig.is_some() && clusters.len() > 1 {
        bail!(
            "--child-kubeconfig holds the credentials of one cluster; --clusters names {}",
            clusters.len()
        );
    }
    let output = args::flag_value(&a.rest, "output", Some("o"));
    let format = match output.as_deref() {
        None | Some("wide") => Format::Table {
            no_headers: args::flag_set(&a.rest, "no-headers", None),
        },
        Some("json") => Format::Objects { yaml: false },
        Some("yaml") => Format::Objects { yaml: true },
        Some(_) => Format::Other,
    };
    let mut rest = a.rest.clone();
    match format {
        Format::Table { .. } => rest = args::without_flag(&rest, "no-headers", None, false),
        Format::Objects { .. } => {
            rest = args::without_flag(&rest, "output", Some("o"), true);
            rest.push("--output=json".into());
        }
        Format::Other => {}
    }

    // Credentials per cluster; one that has none is a warning, not the end.
    let mut routes = Vec::new();
    let mut answers = Vec::new();
    for (i, cluster) in clusters.iter().enumerate() {
        let route = async {
            let creds = child::credentials(&parent.client, cluster, &a.clusternet).await?;
            let headers = child::impersonation_headers(&child::extras(&creds, &a.clusternet))?;
            anyhow::Ok(Route::Child {
                cluster_id: cluster.id.clone(),
                headers,
            })
        }
        .await;
        match route {
            Ok(route) => routes.push((format!("/clusters/{i}"), route)),
            Err(err) => answers.push(Answer {
                cluster: cluster.clone(),
                result: Err(err),
            }),
        }
    }
    let endpoint = proxy::start(parent.client.clone(), routes.clone()).await?;
    let scratch = Scratch::new()?;
    let mut runs = Vec::new();
    for (prefix, _) in &routes {
        let i: usize = prefix.trim_start_matches("/clusters/").parse()?;
        let kubeconfig = scratch.kubeconfig(
            &format!("cluster-{i}.kubeconfig"),
            &endpoint,
            prefix,
            &parent.config.default_namespace,
        )?;
        let mut cmd = kubectl::command(&kubeconfig, &scratch, &rest);
        cmd.stdin(Stdio::null()).kill_on_drop(true);
        let cluster = clusters[i].clone();
        runs.push(async move {
            let result = match tokio::time::timeout(PER_CLUSTER_TIMEOUT, cmd.output()).await {
                Err(_) => Err(anyhow::anyhow!("no answer within {PER_CLUSTER_TIMEOUT:?}")),
                Ok(Err(err)) => Err(anyhow::anyhow!("running kubectl: {err}")),
                Ok(Ok(out)) => {
                    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
                    if out.status.success() {
                        Ok((stdout, stderr))
                    } else {
                        Err(anyhow::anyhow!("{}", stderr.trim()))
                    }
                }
            };
            Answer { cluster, result }
        });
    }
    answers.extend(futures::future::join_all(runs).await);
    // kubectl says little when discovery fails ("the server is currently unable to handle the
    // request"); the hub says why (e.g. the cluster's agent is disconnected).
    for answer in &mut answers {
        let Err(err) = &answer.result else {
            continue;
        };
        let route = clusters
            .iter()
            .position(|c| c.id == answer.cluster.id)
            .and_then(|i| routes.iter().find(|(p, _)| *p == format!("/clusters/{i}")))
            .map(|(_, r)| r.clone());
        let last = format!("{err:#}")
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .to_string();
        let why = match route {
            Some(route) => hub_says(&parent.client, &route).await,
            None => None,
        };
        answer.result = Err(anyhow::anyhow!(
            "{}",
            why.map(|w| format!("{last} ({w})")).unwrap_or(last)
        ));
    }
    answers.sort_by_key(|a| clusters.iter().position(|c| c.id == a.cluster.id));

    let mut ok = 0;
    let mut tables = Vec::new();
    let mut items = Vec::new();
    for answer in &answers {
        let (stdout, stderr) = match &answer.result {
            Ok(out) => out,
            Err(err) => {
                let text = format!("{err:#}").replace('\n', " ");
                eprintln!(
                    "Warning: cluster {:?} ({}): {text}",
                    answer.cluster.name, answer.cluster.id
                );
                continue;
            }
        };
        ok += 1;
        for line in stderr.lines() {
            if !line.starts_with("No resources found") && !line.trim().is_empty() {
                eprintln!("{line}");
            }
        }
        match format {
            Format::Table { .. } => {
                tables.push((answer.cluster.name.clone(), table::parse(stdout)))
            }
            Format::Objects { .. } => {
                let value: Value = serde_json::from_str(stdout)?;
                let objects = match value.get("items").and_then(Value::as_array) {
                    Some(list) if value["kind"].as_str().is_some_and(|k| k.ends_with("List")) => {
                        list.clone()
                    }
                    _ => vec![value],
                };
                for mut object in objects {
                    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                        let annotations = meta
                            .entry("annotations")
                            .or_insert_with(|| Value::Object(Default::default()));
                        if let Some(annotations) = annotations.as_object_mut() {
                            annotations.insert(
                                CLUSTER_NAME_ANNOTATION.into(),
                                answer.cluster.name.clone().into(),
                            );
                            annotations.insert(
                                CLUSTER_ID_ANNOTATION.into(),
                                answer.cluster.id.clone().into(),
                            );
                        }
                    }
                    items.push(object);
                }
            }
            Format::Other => print!("{stdout}"),
        }
    }
    match format {
        Format::Table { no_headers } => {
            let header = tables.iter().find_map(|(_, rows)| rows.first().cloned());
            let mut rows = Vec::new();
            if let Some(header) = header {
                if !no_headers {
                    rows.push(
                        std::iter::once("CLUSTER".to_string())
                            .chain(header)
                            .collect(),
                    );
                }
                for (cluster, table) in &tables {
                    for row in table.iter().skip(1) {
                        rows.push(
                            std::iter::once(cluster.clone())
                                .chain(row.iter().cloned())
                                .collect(),
                        );
                    }
                }
            }
            if rows.len() <= usize::from(!no_headers) {
                if ok > 0 {
                    eprintln!("No resources found");
                }
            } else {
                print!("{}", table::render(&rows));
            }
        }
        Format::Objects { yaml } => {
            let list = serde_json::json!({
                "apiVersion": "v1",
                "items": items,
                "kind": "List",
                "metadata": {"resourceVersion": ""},
            });
            if yaml {
                print!("{}", serde_saphyr::to_string(&list)?);
            } else {
                let mut out = Vec::new();
                let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
                let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
                serde::Serialize::serialize(&list, &mut ser)?;
                println!("{}", String::from_utf8_lossy(&out));
            }
        }
        Format::Other => {}
    }
    Ok(if ok == 0 { 1 } else { 0 })
}
