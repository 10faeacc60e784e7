//! `crdgen [DIR]`: writes every Clusternet CRD as YAML into DIR (default `deploy/crds`), one
//! file per CRD, named like Go Clusternet's `manifests/crds/` (`<group>_<plural>.yaml`).
//!
//! Files in DIR that were written by crdgen (they start with its header) but no longer
//! correspond to a CRD are removed, so that DIR always mirrors the types. Other files are left
//! alone.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let dir = args
        .next()
        .map_or_else(|| PathBuf::from("deploy/crds"), PathBuf::from);
    if args.next().is_some() {
        eprintln!("usage: crdgen [DIR]   (default DIR: deploy/crds)");
        return ExitCode::from(2);
    }
    match run(&dir) {
        Ok(count) => {
            println!("wrote {count} CRDs to {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("crdgen: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(dir: &std::path::Path) -> Result<usize, Box<dyn std::error::Error>> {
    let files = clusternet_apis::crd_files()?;
    std::fs::create_dir_all(dir).map_err(|err| format!("creating {}: {err}", dir.display()))?;

    let wanted: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    for entry in
        std::fs::read_dir(dir).map_err(|err| format!("reading {}: {err}", dir.display()))?
    {
        let path = entry?.path();
        let stale = path.extension().is_some_and(|ext| ext == "yaml")
            && path
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| !wanted.contains(&name))
            && std::fs::read_to_string(&path)
                .is_ok_and(|text| text.starts_with(clusternet_apis::crd::GENERATED_HEADER));
        if stale {
            std::fs::remove_file(&path)
                .map_err(|err| format!("removing {}: {err}", path.display()))?;
        }
    }

    for (name, crd) in &files {
        let path = dir.join(name);
        let yaml = clusternet_apis::to_yaml(crd)?;
        std::fs::write(&path, yaml).map_err(|err| format!("writing {}: {err}", path.display()))?;
    }
    Ok(files.len())
}
