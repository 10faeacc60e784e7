//! Label key and value validation with kube-apiserver's exact messages.
//!
//! Ports of `k8s.io/apimachinery/pkg/api/validate/content` (`IsLabelKey`, `IsLabelValue`,
//! `IsDNS1123Subdomain`) and the rendering of `field.Error`/`field.ErrorList` that label selector
//! errors go through. The regular expressions are matched by hand; the messages quote them
//! verbatim, including Go's doubled spaces in "(e.g. 'MyName',  or 'my.name', ...".
//!
//! ```
//! use clusternet_apimachinery::validation::{is_label_key, is_label_value};
//!
//! assert!(is_label_key("example.com/team").is_empty());
//! assert_eq!(is_label_key("/a"), vec!["prefix part must be non-empty".to_string()]);
//! assert!(is_label_value("").is_empty());
//! assert!(!is_label_value("-x").is_empty());
//! ```

use std::fmt;

use crate::gofmt;

const LABEL_KEY_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_KEY_ERR_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";

/// Maximum length of a label value and of the name part of a label key.
pub const LABEL_VALUE_MAX_LENGTH: usize = 63;
const LABEL_KEY_MAX_LENGTH: usize = 63;
/// Maximum length of a DNS-1123 subdomain (a label key prefix).
pub const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;

/// `content.RegexError`.
fn regex_error(msg: &str, re: &str, examples: &[&str]) -> String {
    let mut out = msg.to_string();
    if examples.is_empty() {
        out.push_str(" (regex used for validation is '");
        out.push_str(re);
        out.push_str("')");
        return out;
    }
    out.push_str(" (e.g. ");
    for (i, ex) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push('\'');
        out.push_str(ex);
        out.push_str("', ");
    }
    out.push_str("regex used for validation is '");
    out.push_str(re);
    out.push_str("')");
    out
}

fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} bytes")
}

const EMPTY_ERROR: &str = "must be non-empty";

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// `^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`
fn matches_label_key_fmt(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&first), Some(&last)) => {
            is_alnum(first)
                && is_alnum(last)
                && b.iter()
                    .all(|&c| is_alnum(c) || c == b'-' || c == b'_' || c == b'.')
        }
        _ => false,
    }
}

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
fn matches_dns1123_subdomain_fmt(s: &str) -> bool {
    s.split('.').all(|label| {
        let b = label.as_bytes();
        let ok = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        match (b.first(), b.last()) {
            (Some(&first), Some(&last)) => {
                ok(first) && ok(last) && b.iter().all(|&c| ok(c) || c == b'-')
            }
            _ => false,
        }
    })
}

/// `content.IsDNS1123Subdomain`: the error strings for an invalid lowercase RFC 1123 subdomain.
pub fn is_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    if !matches_dns1123_subdomain_fmt(value) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_ERR_MSG,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// `content.IsLabelKey`: the error strings for an invalid label key (empty if valid).
pub fn is_label_key(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push(format!("prefix part {EMPTY_ERROR}"));
            } else {
                for msg in is_dns1123_subdomain(prefix) {
                    errs.push(format!("prefix part {msg}"));
                }
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a valid label key {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(
                    LABEL_KEY_ERR_MSG,
                    LABEL_KEY_FMT,
                    &["MyName", "my.name", "123-abc"]
                )
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push(format!("name part {EMPTY_ERROR}"));
    } else if name.len() > LABEL_KEY_MAX_LENGTH {
        errs.push(format!("name part {}", max_len_error(LABEL_KEY_MAX_LENGTH)));
    }
    if !matches_label_key_fmt(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                LABEL_KEY_ERR_MSG,
                LABEL_KEY_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// `content.IsLabelValue`: the error strings for an invalid label value (empty if valid).
pub fn is_label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > LABEL_VALUE_MAX_LENGTH {
        errs.push(max_len_error(LABEL_VALUE_MAX_LENGTH));
    }
    if !value.is_empty() && !matches_label_key_fmt(value) {
        errs.push(regex_error(
            LABEL_VALUE_ERR_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// The bad value of a [`FieldError`], rendered as `field.Error.ErrorBody` renders it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BadValue {
    /// A string, printed with `%q`.
    String(String),
    /// A list of strings, printed as JSON.
    Strings(Vec<String>),
}

/// A `field.Error` of type `FieldValueInvalid`: `<path>: Invalid value: <value>: <detail>`.
///
/// `path` is the already rendered field path; kube-apiserver prints `<nil>` for a missing one,
/// which label selector parsing does (`<nil>: Invalid value: "-a": ...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The rendered field path, e.g. `values[0][app]`.
    pub path: String,
    /// The rejected value.
    pub value: BadValue,
    /// Why it was rejected.
    pub detail: String,
}

impl FieldError {
    /// An `Invalid value` error for `path`.
    pub fn invalid(path: impl Into<String>, value: BadValue, detail: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            value,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = match &self.value {
            BadValue::String(s) => gofmt::quote(s),
            BadValue::Strings(v) => gofmt::json_strings(v),
        };
        write!(f, "{}: Invalid value: {value}", self.path)?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// `field.ErrorList.ToAggregate().Error()`: one error is printed as is, several as
/// `[e1, e2]`, duplicates once.
pub fn aggregate(errors: &[FieldError]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for e in errors {
        let msg = e.to_string();
        if !seen.contains(&msg) {
            seen.push(msg);
        }
    }
    match seen.len() {
        0 => String::new(),
        1 => seen.remove(0),
        _ => format!("[{}]", seen.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys() {
        for ok in [
            "a",
            "a.b/c",
            "example.com/MyName",
            "a_b",
            "1",
            &"a".repeat(63),
        ] {
            assert!(is_label_key(ok).is_empty(), "{ok}");
        }
        assert_eq!(
            is_label_key(&"a".repeat(64)),
            vec!["name part must be no more than 63 bytes"]
        );
        assert_eq!(
            is_label_key("example.com/"),
            vec![
                "name part must be non-empty".to_string(),
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')".to_string()
            ]
        );
        assert_eq!(is_label_key("A/b").len(), 1);
        assert!(is_label_key("a/b/c")[0].starts_with("a valid label key must consist"));
        assert_eq!(
            is_label_key(&format!("{}/b", "a".repeat(254))),
            vec!["prefix part must be no more than 253 bytes"]
        );
    }

    #[test]
    fn label_values() {
        for ok in ["", "a", "a-b_c.d", "0", &"b".repeat(63)] {
            assert!(is_label_value(ok).is_empty(), "{ok}");
        }
        for bad in ["-a", "a-", "we@b", "wéb", "+1"] {
            assert_eq!(is_label_value(bad).len(), 1, "{bad}");
        }
        assert_eq!(
            is_label_value(&"b".repeat(64)),
            vec!["must be no more than 63 bytes"]
        );
    }

    #[test]
    fn dns_subdomain() {
        assert!(is_dns1123_subdomain("example.com").is_empty());
        assert!(!is_dns1123_subdomain("Example.com").is_empty());
        assert!(!is_dns1123_subdomain("a..b").is_empty());
        assert!(!is_dns1123_subdomain("-a").is_empty());
    }

    #[test]
    fn field_errors_render_like_go() {
        let e = FieldError::invalid("<nil>", BadValue::String("-a".into()), "bad");
        assert_eq!(e.to_string(), r#"<nil>: Invalid value: "-a": bad"#);
        let e = FieldError::invalid("values", BadValue::Strings(vec![]), "empty");
        assert_eq!(e.to_string(), "values: Invalid value: []: empty");
        assert_eq!(aggregate(&[e.clone(), e.clone()]), e.to_string());
        let f = FieldError::invalid("key", BadValue::String("x".into()), "");
        assert_eq!(aggregate(&[e.clone(), f.clone()]), format!("[{e}, {f}]"));
    }
}
