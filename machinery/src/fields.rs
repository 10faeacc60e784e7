//! Field selectors: the `fieldSelector` query parameter.
//!
//! A port of `k8s.io/apimachinery/pkg/fields` `ParseSelector`: terms separated by `,` (a `\,`
//! is data), each `field=value`, `field==value` or `field!=value` split at the first operator,
//! values unescaped (`\\`, `\,`, `\=`; any other escape, a trailing `\` or an unescaped `,`/`=` in a
//! value is an error). Terms are sorted as strings, which decides which error kube-apiserver
//! reports first. Whitespace is not trimmed: `" metadata.name"` is a field name of its own.
//!
//! kube-apiserver then passes every term through the kind's field label conversion. For kinds
//! without their own (Deployments, ConfigMaps, ... and what the hub serves) that is
//! `runtime.DefaultMetaV1FieldSelectorConversion`: only `metadata.name` and `metadata.namespace`
//! are known — [`FieldSelector::restrict_to_metadata`] does that check with the same message.
//!
//! ```
//! use clusternet_apimachinery::fields::FieldSelector;
//! use serde_json::json;
//!
//! let selector = FieldSelector::parse("metadata.namespace=team-a,metadata.name!=web").unwrap();
//! selector.restrict_to_metadata().unwrap();
//! let object = json!({"metadata": {"name": "db", "namespace": "team-a"}});
//! assert!(selector.matches_object(&object));
//!
//! let err = FieldSelector::parse("spec.nodeName=n1").unwrap().restrict_to_metadata().unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     r#""spec.nodeName" is not a known field selector: only "metadata.name", "metadata.namespace""#
//! );
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde_json::Value;

use crate::gofmt;

/// A field selector operator. `==` parses to [`FieldOperator::Equals`], as in Go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldOperator {
    /// `field=value` or `field==value`
    Equals,
    /// `field!=value`
    NotEquals,
}

/// One `field=value` / `field!=value` term (`fields.Requirement`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldTerm {
    /// The field, e.g. `metadata.name`.
    pub field: String,
    /// The operator.
    pub operator: FieldOperator,
    /// The unescaped value.
    pub value: String,
}

impl FieldTerm {
    /// Whether the term holds for `fields` (a missing field has the value `""`).
    pub fn matches<F: Fields + ?Sized>(&self, fields: &F) -> bool {
        let actual = fields.field(&self.field).unwrap_or("");
        match self.operator {
            FieldOperator::Equals => actual == self.value,
            FieldOperator::NotEquals => actual != self.value,
        }
    }
}

impl fmt::Display for FieldTerm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.operator {
            FieldOperator::Equals => "=",
            FieldOperator::NotEquals => "!=",
        };
        write!(f, "{}{op}{}", self.field, escape_value(&self.value))
    }
}

/// The values of an object's selectable fields.
pub trait Fields {
    /// The value of `field`, if the object has it.
    fn field(&self, field: &str) -> Option<&str>;
}

impl Fields for BTreeMap<String, String> {
    fn field(&self, field: &str) -> Option<&str> {
        self.get(field).map(String::as_str)
    }
}

impl<S: std::hash::BuildHasher> Fields for HashMap<String, String, S> {
    fn field(&self, field: &str) -> Option<&str> {
        self.get(field).map(String::as_str)
    }
}

impl Fields for [(&str, &str)] {
    fn field(&self, field: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == field).map(|(_, v)| *v)
    }
}

/// The `metadata.name` and `metadata.namespace` of a JSON object (`generic.ObjectMetaFieldsSet`).
pub struct ObjectMetaFields<'a>(pub &'a Value);

impl Fields for ObjectMetaFields<'_> {
    fn field(&self, field: &str) -> Option<&str> {
        let pointer = match field {
            "metadata.name" => "/metadata/name",
            "metadata.namespace" => "/metadata/namespace",
            _ => return None,
        };
        self.0.pointer(pointer).and_then(Value::as_str)
    }
}

/// A field selector that could not be parsed or is not supported; `Display` is kube-apiserver's
/// message for the 400 Status.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FieldSelectorError(String);

impl FieldSelectorError {
    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

/// A field selector: the AND of its terms. The empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

impl FieldSelector {
    /// `fields.Everything()`.
    pub fn everything() -> Self {
        FieldSelector::default()
    }

    /// `fields.ParseSelector`.
    pub fn parse(selector: &str) -> Result<Self, FieldSelectorError> {
        let mut parts = split_terms(selector);
        parts.sort_unstable();
        let mut terms = Vec::new();
        for part in parts {
            if part.is_empty() {
                continue;
            }
            let Some((lhs, op, rhs)) = split_term(part) else {
                return Err(FieldSelectorError(format!(
                    "invalid selector: '{selector}'; can't understand '{part}'"
                )));
            };
            let value = unescape_value(rhs)?;
            // ParseSelector runs the identity Transform, which turns a term with neither field
            // nor value ("=", "==", "!=") into Everything.
            if lhs.is_empty() && value.is_empty() {
                continue;
            }
            terms.push(FieldTerm {
                field: lhs.to_string(),
                operator: op,
                value,
            });
        }
        Ok(FieldSelector { terms })
    }

    /// A selector of one `field=value` term (`fields.OneTermEqualSelector`).
    pub fn one_term_equal(field: impl Into<String>, value: impl Into<String>) -> Self {
        FieldSelector {
            terms: vec![FieldTerm {
                field: field.into(),
                operator: FieldOperator::Equals,
                value: value.into(),
            }],
        }
    }

    /// The terms, in parse (sorted) order.
    pub fn terms(&self) -> &[FieldTerm] {
        &self.terms
    }

    /// `Selector.Empty()`.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// `runtime.DefaultMetaV1FieldSelectorConversion` applied to every term: an error for the
    /// first field other than `metadata.name` or `metadata.namespace`.
    pub fn restrict_to_metadata(&self) -> Result<(), FieldSelectorError> {
        self.restrict_to(&["metadata.name", "metadata.namespace"])
            .map_err(|field| {
                FieldSelectorError(format!(
                    "{} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
                    gofmt::quote(field)
                ))
            })
    }

    /// The first field (in term order) that is not in `allowed`.
    pub fn restrict_to<'s>(&'s self, allowed: &[&str]) -> Result<(), &'s str> {
        match self
            .terms
            .iter()
            .find(|t| !allowed.contains(&t.field.as_str()))
        {
            Some(t) => Err(&t.field),
            None => Ok(()),
        }
    }

    /// `Selector.Matches`: all terms hold.
    pub fn matches<F: Fields + ?Sized>(&self, fields: &F) -> bool {
        self.terms.iter().all(|t| t.matches(fields))
    }

    /// Matches a JSON object's `metadata.name` and `metadata.namespace`.
    pub fn matches_object(&self, object: &Value) -> bool {
        self.matches(&ObjectMetaFields(object))
    }

    /// `Selector.RequiresExactMatch`: the value of the first `field=value` term for `field`.
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == field && t.operator == FieldOperator::Equals)
            .map(|t| t.value.as_str())
    }
}

/// `Selector.String()`: the terms joined by `,`, values escaped.
impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for FieldSelector {
    type Err = FieldSelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FieldSelector::parse(s)
    }
}

/// `fields.EscapeValue`: `\` → `\\`, `,` → `\,`, `=` → `\=`.
pub fn escape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `fields.UnescapeValue`.
pub fn unescape_value(s: &str) -> Result<String, FieldSelectorError> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                _ => {
                    return Err(FieldSelectorError(format!(
                        "invalid field selector: invalid escape sequence: \\{c}"
                    )));
                }
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => {
                // Go prints the rune with %v: its code point.
                return Err(FieldSelectorError(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                )));
            }
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err(FieldSelectorError(
            "invalid field selector: invalid escape sequence: \\".to_string(),
        ));
    }
    Ok(out)
}

/// `splitTerms`: split at unescaped commas, keeping escapes.
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in selector.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&selector[start..i]);
            start = i + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// `splitTerm`: split at the first `!=`, `==` or `=`.
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, operator) in [
            ("!=", FieldOperator::NotEquals),
            ("==", FieldOperator::Equals),
            ("=", FieldOperator::Equals),
        ] {
            if let Some(rhs) = rest.strip_prefix(op) {
                return Some((&term[..i], operator, rhs));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn err(s: &str) -> String {
        match FieldSelector::parse(s) {
            Ok(sel) => panic!("{s:?} parsed as {sel}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn parses_and_prints() {
        let s = FieldSelector::parse("metadata.name==a,metadata.namespace!=b").unwrap();
        assert_eq!(s.to_string(), "metadata.name=a,metadata.namespace!=b");
        let s = FieldSelector::parse("b=2,,a=1,").unwrap();
        assert_eq!(s.to_string(), "a=1,b=2");
        let s = FieldSelector::parse(r"a=x\,y\=z\\").unwrap();
        assert_eq!(s.terms()[0].value, r"x,y=z\");
        assert_eq!(s.to_string(), r"a=x\,y\=z\\");
        assert!(FieldSelector::parse("").unwrap().is_empty());
        assert!(FieldSelector::parse(",").unwrap().is_empty());
        assert!(FieldSelector::parse("=,!=,==").unwrap().is_empty());
        assert_eq!(FieldSelector::parse("=x").unwrap().terms()[0].field, "");
        let s = FieldSelector::parse("a!==b");
        assert_eq!(
            s.unwrap_err().to_string(),
            "invalid field selector: unescaped character in value: 61"
        );
        let s = FieldSelector::parse(" a =  b").unwrap();
        assert_eq!(s.terms()[0].field, " a ");
        assert_eq!(s.terms()[0].value, "  b");
    }

    #[test]
    fn errors() {
        assert_eq!(err("a"), "invalid selector: 'a'; can't understand 'a'");
        assert_eq!(
            err("a=1,b"),
            "invalid selector: 'a=1,b'; can't understand 'b'"
        );
        assert_eq!(
            err("a>1"),
            "invalid selector: 'a>1'; can't understand 'a>1'"
        );
        assert_eq!(
            err("a=b=c"),
            "invalid field selector: unescaped character in value: 61"
        );
        assert_eq!(
            err(r"a=b\x"),
            r"invalid field selector: invalid escape sequence: \x"
        );
        assert_eq!(
            err(r"a=b\"),
            r"invalid field selector: invalid escape sequence: \"
        );
    }

    #[test]
    fn restrict_to_metadata_reports_first_sorted_term() {
        let s = FieldSelector::parse("z.x=1,metadata.name=a,b.y=2").unwrap();
        assert_eq!(
            s.restrict_to_metadata().unwrap_err().to_string(),
            r#""b.y" is not a known field selector: only "metadata.name", "metadata.namespace""#
        );
        let s = FieldSelector::parse("=x").unwrap();
        assert_eq!(
            s.restrict_to_metadata().unwrap_err().to_string(),
            r#""" is not a known field selector: only "metadata.name", "metadata.namespace""#
        );
        assert!(
            FieldSelector::parse("metadata.namespace=a,metadata.name!=b")
                .unwrap()
                .restrict_to_metadata()
                .is_ok()
        );
    }

    #[test]
    fn matching() {
        let obj = json!({"metadata": {"name": "w1", "namespace": "fa"}});
        let m = |s: &str| FieldSelector::parse(s).unwrap().matches_object(&obj);
        assert!(m(""));
        assert!(m("metadata.name=w1"));
        assert!(m("metadata.name==w1,metadata.namespace=fa"));
        assert!(!m("metadata.name!=w1"));
        assert!(!m("metadata.name="));
        assert!(m("metadata.name!="));
        let cluster_scoped = json!({"metadata": {"name": "n"}});
        assert!(
            FieldSelector::parse("metadata.namespace=")
                .unwrap()
                .matches_object(&cluster_scoped)
        );
        assert!(
            FieldSelector::parse("a=1")
                .unwrap()
                .matches(&[("a", "1")][..])
        );
    }

    #[test]
    fn exact_match() {
        let s = FieldSelector::parse("metadata.name!=x,metadata.name=y").unwrap();
        assert_eq!(s.requires_exact_match("metadata.name"), Some("y"));
        assert_eq!(s.requires_exact_match("metadata.namespace"), None);
        assert_eq!(
            FieldSelector::one_term_equal("metadata.name", "a,b").to_string(),
            r"metadata.name=a\,b"
        );
    }
}
