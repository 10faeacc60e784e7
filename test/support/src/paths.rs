//! Where things live: the workspace root, `_output/`, the Go-built binaries and the
//! cargo-built ones.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    // This crate lives at <root>/test/support.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `<root>/_output`, where builds, local clusters and test scratch space go.
pub fn output_dir() -> PathBuf {
    workspace_root().join("_output")
}

/// The directory of the Go-built binaries (`controlplane`, and `kubectl` linking to it).
/// `CLUSTERNET_BIN_DIR` overrides it.
pub fn go_bin_dir() -> PathBuf {
    std::env::var_os("CLUSTERNET_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| output_dir().join("bin"))
}

fn existing(path: PathBuf, hint: &str) -> Result<PathBuf> {
    if path.is_file() {
        Ok(path)
    } else {
        bail!("{} not found; {hint}", path.display())
    }
}

/// The control-plane program built by `make controlplane`.
pub fn controlplane_bin() -> Result<PathBuf> {
    existing(
        go_bin_dir().join("controlplane"),
        "build it with `make controlplane` (make test and make up do this)",
    )
}

/// KWOK built by `make kwok` (simulated nodes for clusters that run workloads).
pub fn kwok_bin() -> Result<PathBuf> {
    existing(
        go_bin_dir().join("kwok"),
        "build it with `make kwok` (make test and make up do this)",
    )
}

/// Helm's CLI built by `make helm` (packages, indexes and pushes the chart fixtures).
pub fn helm_bin() -> Result<PathBuf> {
    existing(
        go_bin_dir().join("helm"),
        "build it with `make helm` (make test and make up do this)",
    )
}

/// The OCI registry (distribution) built by `make registry` (serves charts as OCI artifacts).
pub fn registry_bin() -> Result<PathBuf> {
    existing(
        go_bin_dir().join("registry"),
        "build it with `make registry` (make test and make up do this)",
    )
}

/// kubectl of the same Kubernetes version as the control planes.
pub fn kubectl_bin() -> Result<PathBuf> {
    existing(
        go_bin_dir().join("kubectl"),
        "build it with `make controlplane` (make test and make up do this)",
    )
}

/// A binary of this workspace built by cargo (`cargo build --bins`), e.g. `clusternet-hub`.
/// Looks in `CARGO_TARGET_DIR` (or `<root>/target`) under the profile this code was built with.
pub fn cargo_bin(name: &str) -> Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let path = target.join(profile).join(name);
    existing(
        path,
        "build the workspace binaries with `cargo build --bins` (make test does this)",
    )
    .with_context(|| format!("locating binary {name}"))
}

/// A fresh scratch directory under `_output/tmp`, removed on drop unless kept.
pub fn scratch_dir(prefix: &str) -> Result<tempfile::TempDir> {
    let base = output_dir().join("tmp");
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    tempfile::Builder::new()
        .prefix(&format!("{prefix}-"))
        .tempdir_in(&base)
        .context("creating scratch directory")
}
