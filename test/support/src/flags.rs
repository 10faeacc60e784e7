//! Checks that a binary's clap parser accepts a list of Go flags (`*/tests/go_flags.rs`).

use clap::Parser;

/// Parses `base` plus each `--name=value` of `flags` alone, then all of them in one command
/// line; panics listing every flag refused.
pub fn assert_every_flag_parses<P: Parser>(base: &[&str], flags: &[(&str, &str)]) {
    let line = |extra: &mut dyn Iterator<Item = String>| -> Vec<String> {
        base.iter().map(|s| s.to_string()).chain(extra).collect()
    };
    let refused: Vec<String> = flags
        .iter()
        .filter_map(|(name, value)| {
            let arg = format!("--{name}={value}");
            P::try_parse_from(line(&mut std::iter::once(arg.clone())))
                .err()
                .map(|err| format!("{arg}: {err}"))
        })
        .collect();
    assert!(refused.is_empty(), "refused:\n{}", refused.join("\n"));
    let all = P::try_parse_from(line(&mut flags.iter().map(|(n, v)| format!("--{n}={v}"))));
    if let Err(err) = all {
        panic!("all flags at once: {err}");
    }
}
