//! Property-style tests: random valid label and field selectors print to strings that parse back
//! to the same selector, with the same matches; random whitespace does not change the parse.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use clusternet_apimachinery::fields::{FieldOperator, FieldSelector};
use clusternet_apimachinery::labels::{Operator, Requirement, Selector};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SEEDS: u64 = 64;
const PER_SEED: usize = 64;

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?` of 1..=max bytes.
fn name_part(rng: &mut StdRng, max: usize) -> String {
    const ALNUM: &[u8] = b"abcxyzABCXYZ0189";
    const INNER: &[u8] = b"abcXYZ09-_.";
    let len = rng.random_range(1..=max);
    (0..len)
        .map(|i| {
            let set = if i == 0 || i == len - 1 { ALNUM } else { INNER };
            *pick(rng, set) as char
        })
        .collect()
}

fn dns_label(rng: &mut StdRng) -> String {
    const ALNUM: &[u8] = b"abz019";
    let len = rng.random_range(1..=6);
    (0..len)
        .map(|i| {
            if i > 0 && i < len - 1 && rng.random_bool(0.2) {
                '-'
            } else {
                *pick(rng, ALNUM) as char
            }
        })
        .collect()
}

fn label_key(rng: &mut StdRng) -> String {
    match rng.random_range(0..6) {
        0 => pick(rng, &["in", "notin", "app", "a"]).to_string(),
        1 => format!(
            "{}.{}/{}",
            dns_label(rng),
            dns_label(rng),
            name_part(rng, 12)
        ),
        2 => name_part(rng, 63),
        _ => name_part(rng, 8),
    }
}

fn label_value(rng: &mut StdRng) -> String {
    match rng.random_range(0..6) {
        0 => String::new(),
        1 => pick(rng, &["in", "notin", "web", "0", "10"]).to_string(),
        2 => name_part(rng, 63),
        _ => name_part(rng, 6),
    }
}

fn requirement(rng: &mut StdRng) -> Requirement {
    let key = label_key(rng);
    let op = *pick(
        rng,
        &[
            Operator::Exists,
            Operator::DoesNotExist,
            Operator::Equals,
            Operator::DoubleEquals,
            Operator::NotEquals,
            Operator::In,
            Operator::NotIn,
            Operator::GreaterThan,
            Operator::LessThan,
        ],
    );
    let values = match op {
        Operator::Exists | Operator::DoesNotExist => vec![],
        Operator::GreaterThan | Operator::LessThan => {
            vec![rng.random_range(0..1000u32).to_string()]
        }
        Operator::In | Operator::NotIn => {
            let mut values: Vec<String> = Vec::new();
            for _ in 0..rng.random_range(1..5) {
                let v = label_value(rng);
                if !values.contains(&v) {
                    values.push(v);
                }
            }
            values
        }
        _ => vec![label_value(rng)],
    };
    match Requirement::new(key.clone(), op, values.clone()) {
        Ok(r) => r,
        Err(e) => panic!("generated an invalid requirement {key:?} {op:?} {values:?}: {e}"),
    }
}

fn labels(rng: &mut StdRng, keys: &[String]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for k in keys {
        if !rng.random_bool(0.6) {
            continue;
        }
        let v = if rng.random_bool(0.3) {
            rng.random_range(0..1000u32).to_string()
        } else {
            label_value(rng)
        };
        out.insert(k.clone(), v);
    }
    out
}

/// Inserts random whitespace around commas, parentheses and spaces of a printed selector
/// (whitespace inside `!=` or `==` would split the operator).
fn respace(rng: &mut StdRng, s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let around = matches!(c, ',' | '(' | ')' | ' ');
        if around && rng.random_bool(0.5) {
            out.push(*pick(rng, &[' ', '\t', '\n', '\r']));
        }
        out.push(c);
        if around && rng.random_bool(0.5) {
            out.push(*pick(rng, &[' ', '\t']));
        }
    }
    out
}

#[test]
fn random_label_selectors_round_trip() {
    for seed in 0..SEEDS {
        let mut rng = StdRng::seed_from_u64(seed);
        for _ in 0..PER_SEED {
            let requirements: Vec<Requirement> = (0..rng.random_range(0..6))
                .map(|_| requirement(&mut rng))
                .collect();
            let keys: Vec<String> = requirements.iter().map(|r| r.key().to_string()).collect();
            let generated = Selector::from_requirements(requirements);
            let printed = generated.to_string();
            let parsed = Selector::parse(&printed)
                .unwrap_or_else(|e| panic!("seed {seed}: {printed:?} does not parse: {e}"));
            assert_eq!(parsed.to_string(), printed, "seed {seed}");
            assert_eq!(Selector::parse(&parsed.to_string()).as_ref(), Ok(&parsed));
            let spaced = respace(&mut rng, &printed);
            assert_eq!(
                Selector::parse(&spaced).as_ref(),
                Ok(&parsed),
                "seed {seed}: {spaced:?}"
            );
            for _ in 0..8 {
                let l = labels(&mut rng, &keys);
                assert_eq!(
                    generated.matches(&l),
                    parsed.matches(&l),
                    "seed {seed}: {printed:?} on {l:?}"
                );
            }
        }
    }
}

#[test]
fn random_field_selectors_round_trip() {
    const CHARS: &[char] = &['a', 'b', '.', '-', ',', '=', '\\', '!', ' ', 'é'];
    for seed in 0..SEEDS {
        let mut rng = StdRng::seed_from_u64(1000 + seed);
        for _ in 0..PER_SEED {
            let n = rng.random_range(0..4);
            let mut terms = Vec::new();
            for _ in 0..n {
                let field = *pick(&mut rng, &["metadata.name", "metadata.namespace", "spec.x"]);
                let value: String = (0..rng.random_range(0..6))
                    .map(|_| *pick(&mut rng, CHARS))
                    .collect();
                let op = if rng.random_bool(0.5) { "=" } else { "!=" };
                terms.push(format!(
                    "{field}{op}{}",
                    clusternet_apimachinery::fields::escape_value(&value)
                ));
            }
            let text = terms.join(",");
            let parsed = FieldSelector::parse(&text)
                .unwrap_or_else(|e| panic!("seed {seed}: {text:?}: {e}"));
            assert_eq!(parsed.terms().len(), n);
            assert_eq!(
                FieldSelector::parse(&parsed.to_string()).as_ref(),
                Ok(&parsed)
            );
            for t in parsed.terms() {
                assert!(matches!(
                    t.operator,
                    FieldOperator::Equals | FieldOperator::NotEquals
                ));
            }
        }
    }
}
