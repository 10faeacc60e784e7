//! 10,000 shadow objects on a real parent: created through the aggregation layer, listed in
//! pages and whole, watched from a list's resourceVersion and with `sendInitialEvents`.
//! Prints create rate, list latencies and the hub's resident memory (figures, not assertions).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clusternet_test_support::clusternet::{self, HubEnv};
use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use serde_json::{Value, json};

const OBJECTS: usize = 10_000;
const BASE: &str = "/apis/shadow/v1alpha1/namespaces/scale/configmaps";

fn rss_mib(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS")?;
    Ok(kib / 1024.0)
}

async fn get_json(client: &kube::Client, uri: &str) -> Result<Value> {
    let request = http::Request::get(uri).body(Vec::new())?;
    Ok(serde_json::from_str(&client.request_text(request).await?)?)
}

#[tokio::test]
async fn ten_thousand_shadow_objects_page_list_and_watch() -> Result<()> {
    let env = HubEnv::start("shadow-scale", true).await?;
    let parent = &env.parent;
    let pid = env.hub.process.pid;
    clusternet::wait_for_shadow_resource(
        parent,
        "configmaps.shadow",
        true,
        Duration::from_secs(60),
    )
    .await?;
    let client = parent.client().await?;
    let idle = rss_mib(pid)?;

    // Create through the parent (aggregator → hub → dry-run + Manifest), 32 at a time.
    let started = Instant::now();
    futures::stream::iter(0..OBJECTS)
        .map(|i| {
            let client = client.clone();
            async move {
                let body = json!({"apiVersion": "shadow/v1alpha1", "kind": "ConfigMap",
                    "metadata": {"name": format!("cm-{i:05}"), "namespace": "scale", "labels": {"bucket": (i % 10).to_string()}},
                    "data": {"index": i.to_string()}});
                let request = http::Request::post(BASE)
                    .header("content-type", "application/json")
                    .body(serde_json::to_vec(&body)?)?;
                client.request_text(request).await.with_context(|| format!("creating cm-{i:05}"))
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await?;
    let created = started.elapsed();
    let after_create = rss_mib(pid)?;
    eprintln!(
        "created {OBJECTS} shadow ConfigMaps through the parent in {created:?} ({:.0}/s)",
        OBJECTS as f64 / created.as_secs_f64()
    );

    // Paged list, as client-go's pager does: every name once, pages of at most 500.
    let mut names = HashSet::new();
    let mut pages = 0;
    let mut page_times = Vec::new();
    let mut next: Option<String> = None;
    let listed = Instant::now();
    loop {
        let uri = match &next {
            None => format!("{BASE}?limit=500"),
            Some(token) => format!("{BASE}?limit=500&continue={token}"),
        };
        let t = Instant::now();
        let page = get_json(&client, &uri).await?;
        page_times.push(t.elapsed());
        pages += 1;
        let items = page["items"].as_array().context("items")?;
        if items.len() > 500 {
            bail!("a page of {} items", items.len());
        }
        // A typed list, as kube-apiserver encodes one: the kind on the list, not on items.
        assert_eq!(page["kind"], "ConfigMapList");
        for item in items {
            assert!(item.get("kind").is_none(), "{item}");
            let name = item["metadata"]["name"]
                .as_str()
                .context("name")?
                .to_string();
            if !names.insert(name.clone()) {
                bail!("{name} listed twice");
            }
        }
        match page["metadata"]["continue"].as_str() {
            Some(token) if !token.is_empty() => next = Some(token.to_string()),
            _ => break,
        }
    }
    let paged = listed.elapsed();
    assert_eq!(names.len(), OBJECTS);
    assert_eq!(pages, OBJECTS / 500);
    page_times.sort();
    eprintln!(
        "paged list (limit=500): {pages} pages in {paged:?}; page p50 {:?}, max {:?}",
        page_times[page_times.len() / 2],
        page_times[page_times.len() - 1]
    );

    // kubectl's own chunked list (it pages with --chunk-size, 500 by default).
    let t = Instant::now();
    let out = parent
        .kubectl([
            "get",
            "configmaps.v1alpha1.shadow",
            "-n",
            "scale",
            "-o",
            "name",
        ])
        .await?;
    assert_eq!(out.lines().count(), OBJECTS);
    eprintln!(
        "kubectl get configmaps.v1alpha1.shadow -n scale -o name: {:?}",
        t.elapsed()
    );
    let t = Instant::now();
    let out = parent
        .kubectl([
            "get",
            "configmaps.v1alpha1.shadow",
            "-n",
            "scale",
            "-l",
            "bucket=3",
            "--no-headers",
        ])
        .await?;
    assert_eq!(out.lines().count(), OBJECTS / 10);
    eprintln!(
        "kubectl get … -l bucket=3 (1,000 of 10,000, server-side Table): {:?}",
        t.elapsed()
    );

    // Whole list, three times.
    let mut whole = Vec::new();
    let mut resource_version = String::new();
    for _ in 0..3 {
        let t = Instant::now();
        let list = get_json(&client, BASE).await?;
        whole.push(t.elapsed());
        assert_eq!(list["items"].as_array().map(Vec::len), Some(OBJECTS));
        resource_version = list["metadata"]["resourceVersion"]
            .as_str()
            .context("list resourceVersion")?
            .to_string();
    }
    whole.sort();
    let after_lists = rss_mib(pid)?;
    eprintln!("unpaged list of {OBJECTS}: {whole:?}");

    // A watch from the list's resourceVersion sees what happens next, and only that.
    let request = http::Request::get(format!(
        "{BASE}?watch=true&resourceVersion={resource_version}&allowWatchBookmarks=true"
    ))
    .body(Vec::new())?;
    let watch = client.request_stream(request).await?;
    let mut watch = std::pin::pin!(watch.lines());
    let changed = parent
        .kubectl([
            "label",
            "configmaps.v1alpha1.shadow",
            "-n",
            "scale",
            "cm-00042",
            "touched=yes",
        ])
        .await?;
    assert!(changed.contains("labeled"), "{changed}");
    let event = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let line = watch.next().await.context("watch ended")??;
            let event: Value = serde_json::from_str(&line)?;
            if event["type"] != "BOOKMARK" {
                return anyhow::Ok(event);
            }
        }
    })
    .await
    .context("no watch event within 20 s")??;
    assert_eq!(event["type"], "MODIFIED", "{event}");
    assert_eq!(event["object"]["metadata"]["name"], "cm-00042");
    assert_eq!(event["object"]["metadata"]["labels"]["touched"], "yes");

    // Watch-list (sendInitialEvents): every object as ADDED, then the bookmark that ends the
    // initial events — streamed by the parent, translated by the hub.
    let t = Instant::now();
    let request = http::Request::get(format!(
        "{BASE}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&labelSelector=bucket%3D7"
    ))
    .body(Vec::new())?;
    let lines = client.request_stream(request).await?;
    let mut lines = std::pin::pin!(lines.lines());
    let mut added = 0;
    let ended = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next().await {
            let line = line?;
            let event: Value = serde_json::from_str(&line)?;
            match event["type"].as_str() {
                Some("ADDED") => {
                    assert_eq!(event["object"]["kind"], "ConfigMap");
                    added += 1;
                }
                Some("BOOKMARK") => {
                    if event["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"]
                        == "true"
                    {
                        assert_eq!(event["object"]["kind"], "ConfigMap");
                        return anyhow::Ok(());
                    }
                }
                _ => bail!("unexpected event {event}"),
            }
        }
        bail!("watch ended before the initial-events-end bookmark")
    })
    .await
    .context("sendInitialEvents watch did not finish within 60 s")?;
    ended?;
    assert_eq!(added, OBJECTS / 10);
    eprintln!(
        "sendInitialEvents watch: {added} ADDED + initial-events-end bookmark in {:?}",
        t.elapsed()
    );
    eprintln!(
        "hub RSS: idle {idle:.1} MiB, after {OBJECTS} creates {after_create:.1} MiB, after the lists {after_lists:.1} MiB"
    );
    Ok(())
}
