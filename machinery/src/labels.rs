//! Label selectors: the `labelSelector` query parameter and `metav1.LabelSelector`.
//!
//! A port of `k8s.io/apimachinery/pkg/labels` `Parse`: the same lexer (bytes; `=`, `!`, `(`, `)`,
//! `,`, `>`, `<` are symbols; space, tab, CR and LF separate), the same recursive-descent parser,
//! the same validation of keys and values, and error messages worded exactly as kube-apiserver
//! returns them in a 400 `BadRequest` Status (kubectl prints them after "Unable to find ... that
//! match label selector ...").
//!
//! ```text
//! <selector-syntax>         ::= <requirement> | <requirement> "," <selector-syntax>
//! <requirement>             ::= [!] KEY [ <set-based-restriction> | <exact-match-restriction> ]
//! <set-based-restriction>   ::= "" | <inclusion-exclusion> <value-set>
//! <inclusion-exclusion>     ::= "in" | "notin"
//! <value-set>               ::= "(" <values> ")"
//! <values>                  ::= VALUE | VALUE "," <values>
//! <exact-match-restriction> ::= ["="|"=="|"!="|">"|"<"] VALUE
//! ```
//!
//! Requirements are sorted by key (stably), values of a parsed requirement are sorted and
//! de-duplicated, and [`Selector`]'s `Display` is `labels.Selector.String()`, so a parsed selector
//! prints back to a string that parses to the same selector.
//!
//! How the hub filters a list:
//!
//! ```
//! use clusternet_apimachinery::labels::Selector;
//! use serde_json::json;
//!
//! let selector = Selector::parse("app in (web,db),!canary,version>2").unwrap();
//! let object = json!({"metadata": {"name": "a", "labels": {"app": "web", "version": "3"}}});
//! assert!(selector.matches_object(&object));
//! assert_eq!(selector.to_string(), "app in (db,web),!canary,version>2");
//!
//! let err = Selector::parse("app in (web").unwrap_err();
//! assert_eq!(err.to_string(), "unable to parse requirement: found '', expected: ',' or ')'");
//! ```
//!
//! A `metav1.LabelSelector` (for instance a Deployment's `spec.selector`) converts with
//! [`Selector::from_label_selector`], which is `metav1.LabelSelectorAsSelector`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::Value;

use crate::validation::{BadValue, FieldError, aggregate, is_label_key, is_label_value};

/// A label selector operator (`selection.Operator`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `key`
    Exists,
    /// `!key`
    DoesNotExist,
    /// `key=value`
    Equals,
    /// `key==value`
    DoubleEquals,
    /// `key!=value`
    NotEquals,
    /// `key in (v1,v2)`
    In,
    /// `key notin (v1,v2)`
    NotIn,
    /// `key>n` (integers)
    GreaterThan,
    /// `key<n` (integers)
    LessThan,
}

impl Operator {
    /// The `selection.Operator` string (`in`, `notin`, `=`, `==`, `!=`, `gt`, `lt`, `exists`, `!`).
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Exists => "exists",
            Operator::DoesNotExist => "!",
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => "in",
            Operator::NotIn => "notin",
            Operator::GreaterThan => "gt",
            Operator::LessThan => "lt",
        }
    }
}

/// Anything that holds labels: maps of strings, or a JSON object of strings.
pub trait Labels {
    /// The value of label `key`, if set.
    fn label(&self, key: &str) -> Option<&str>;
}

impl Labels for BTreeMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl<S: std::hash::BuildHasher> Labels for HashMap<String, String, S> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl Labels for [(&str, &str)] {
    fn label(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

/// A JSON object such as `metadata.labels`; members that are not strings are not labels.
impl Labels for serde_json::Map<String, Value> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }
}

/// No labels at all (an object without `metadata.labels`).
struct NoLabels;

impl Labels for NoLabels {
    fn label(&self, _key: &str) -> Option<&str> {
        None
    }
}

/// A selector that could not be parsed or built; `Display` is kube-apiserver's message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(String);

impl SelectorError {
    /// The message, as kube-apiserver puts it into the 400 Status.
    pub fn message(&self) -> &str {
        &self.0
    }
}

/// One requirement of a selector (`labels.Requirement`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// `labels.NewRequirement`: validates the key, the number of values for the operator,
    /// integer values for `gt`/`lt`, and every value as a label value. Values keep their order.
    pub fn new(
        key: impl Into<String>,
        operator: Operator,
        values: Vec<String>,
    ) -> Result<Self, SelectorError> {
        let key = key.into();
        Self::build(key, operator, values, "").map_err(|errs| SelectorError(aggregate(&errs)))
    }

    /// `NewRequirement` with a field path prefix (empty for none), returning the field errors.
    fn build(
        key: String,
        operator: Operator,
        values: Vec<String>,
        path: &str,
    ) -> Result<Self, Vec<FieldError>> {
        let child = |name: &str| {
            if path.is_empty() {
                name.to_string()
            } else {
                format!("{path}.{name}")
            }
        };
        let mut errs = Vec::new();
        let key_errs = is_label_key(&key);
        if !key_errs.is_empty() {
            errs.push(FieldError::invalid(
                child("key"),
                BadValue::String(key.clone()),
                key_errs.join("; "),
            ));
        }
        let values_path = child("values");
        match operator {
            Operator::In | Operator::NotIn => {
                if values.is_empty() {
                    errs.push(FieldError::invalid(
                        values_path.clone(),
                        BadValue::Strings(values.clone()),
                        "for 'in', 'notin' operators, values set can't be empty",
                    ));
                }
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals => {
                if values.len() != 1 {
                    errs.push(FieldError::invalid(
                        values_path.clone(),
                        BadValue::Strings(values.clone()),
                        "exact-match compatibility requires one single value",
                    ));
                }
            }
            Operator::Exists | Operator::DoesNotExist => {
                if !values.is_empty() {
                    errs.push(FieldError::invalid(
                        values_path.clone(),
                        BadValue::Strings(values.clone()),
                        "values set must be empty for exists and does not exist",
                    ));
                }
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    errs.push(FieldError::invalid(
                        values_path.clone(),
                        BadValue::Strings(values.clone()),
                        "for 'Gt', 'Lt' operators, exactly one value is required",
                    ));
                }
                for (i, v) in values.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(FieldError::invalid(
                            format!("{values_path}[{i}]"),
                            BadValue::String(v.clone()),
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        ));
                    }
                }
            }
        }
        for (i, v) in values.iter().enumerate() {
            let value_errs = is_label_value(v);
            if !value_errs.is_empty() {
                errs.push(FieldError::invalid(
                    format!("{values_path}[{i}][{key}]"),
                    BadValue::String(v.clone()),
                    value_errs.join("; "),
                ));
            }
        }
        if errs.is_empty() {
            Ok(Requirement {
                key,
                operator,
                values,
            })
        } else {
            Err(errs)
        }
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values, in the order given (sorted and de-duplicated for parsed requirements).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// `Requirement.Matches`.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        let has = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                labels.label(&self.key).is_some_and(has)
            }
            Operator::NotIn | Operator::NotEquals => !labels.label(&self.key).is_some_and(has),
            Operator::Exists => labels.label(&self.key).is_some(),
            Operator::DoesNotExist => labels.label(&self.key).is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(actual) = labels.label(&self.key).and_then(|v| v.parse::<i64>().ok())
                else {
                    return false;
                };
                let [wanted] = self.values.as_slice() else {
                    return false;
                };
                let Ok(wanted) = wanted.parse::<i64>() else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    actual > wanted
                } else {
                    actual < wanted
                }
            }
        }
    }
}

/// `Requirement.String()`; values of `in`/`notin` (and several values in general) print sorted.
impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.operator {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
        };
        f.write_str(op)?;
        let set = matches!(self.operator, Operator::In | Operator::NotIn);
        if set {
            f.write_str("(")?;
        }
        if self.values.len() == 1 {
            f.write_str(&self.values[0])?;
        } else {
            let mut sorted: Vec<&str> = self.values.iter().map(String::as_str).collect();
            sorted.sort_unstable();
            f.write_str(&sorted.join(","))?;
        }
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A label selector: the AND of its requirements.
///
/// [`Selector::everything`] (also the result of parsing `""`) matches every object;
/// [`Selector::nothing`] (a missing `metav1.LabelSelector`) matches none. Both print as `""`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Selector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl Selector {
    /// `labels.Everything()`.
    pub fn everything() -> Self {
        Selector::default()
    }

    /// `labels.Nothing()`.
    pub fn nothing() -> Self {
        Selector {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// `labels.Parse`: the `labelSelector` query parameter.
    pub fn parse(selector: &str) -> Result<Self, SelectorError> {
        let mut parser = Parser::new(selector);
        let mut requirements = parser.parse().map_err(SelectorError)?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Selector {
            requirements,
            nothing: false,
        })
    }

    /// A selector of the given requirements (sorted by key, stably), like
    /// `labels.NewSelector().Add(...)`.
    pub fn from_requirements(mut requirements: Vec<Requirement>) -> Self {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Selector {
            requirements,
            nothing: false,
        }
    }

    /// `labels.SelectorFromSet`: `key=value` for every pair (no validation).
    pub fn from_set<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self::from_requirements(
            labels
                .into_iter()
                .map(|(k, v)| Requirement {
                    key: k.to_string(),
                    operator: Operator::Equals,
                    values: vec![v.to_string()],
                })
                .collect(),
        )
    }

    /// `metav1.LabelSelectorAsSelector`: `None` selects nothing, an empty selector selects
    /// everything; `matchLabels` become `=` requirements, `matchExpressions` `In`, `NotIn`,
    /// `Exists` or `DoesNotExist` ones. Errors are kube-apiserver's (`"Foo" is not a valid label
    /// selector operator`, or the requirement's validation error).
    pub fn from_label_selector(selector: Option<&LabelSelector>) -> Result<Self, SelectorError> {
        let Some(ls) = selector else {
            return Ok(Selector::nothing());
        };
        let match_labels = ls.match_labels.as_ref();
        let match_expressions = ls.match_expressions.as_deref().unwrap_or_default();
        if match_labels.is_none_or(BTreeMap::is_empty) && match_expressions.is_empty() {
            return Ok(Selector::everything());
        }
        let mut requirements = Vec::new();
        for (k, v) in match_labels.into_iter().flatten() {
            requirements.push(Requirement::new(
                k.clone(),
                Operator::Equals,
                vec![v.clone()],
            )?);
        }
        for expr in match_expressions {
            let op = match expr.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => {
                    return Err(SelectorError(format!(
                        "{} is not a valid label selector operator",
                        crate::gofmt::quote(other)
                    )));
                }
            };
            requirements.push(Requirement::new(
                expr.key.clone(),
                op,
                expr.values.clone().unwrap_or_default(),
            )?);
        }
        Ok(Self::from_requirements(requirements))
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// `Selector.Empty()`: true for [`Selector::everything`] (not for [`Selector::nothing`]).
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// True for [`Selector::nothing`].
    pub fn matches_nothing(&self) -> bool {
        self.nothing
    }

    /// `Selector.Matches`: all requirements hold.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Matches the `metadata.labels` of a JSON object (an object without labels has none).
    pub fn matches_object(&self, object: &Value) -> bool {
        match object
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
        {
            Some(labels) => self.matches(labels),
            None => self.matches(&NoLabels),
        }
    }

    /// `Selector.RequiresExactMatch`: the value `label` must have, if the selector pins it with
    /// `=`, `==` or a one-value `in`.
    pub fn requires_exact_match(&self, label: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == label)?;
        match (r.operator, r.values.as_slice()) {
            (Operator::Equals | Operator::DoubleEquals | Operator::In, [v]) => Some(v),
            _ => None,
        }
    }
}

/// `Selector.String()`: requirements joined by `,`.
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Selector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Selector::parse(s)
    }
}

// ----------------------------------------------------------------------------------------------
// Lexer and parser: a transliteration of labels/selector.go.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    Error,
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn string_to_token(s: &[u8]) -> Option<Token> {
    Some(match s {
        b")" => Token::ClosedPar,
        b"," => Token::Comma,
        b"!" => Token::DoesNotExist,
        b"==" => Token::DoubleEquals,
        b"=" => Token::Equals,
        b">" => Token::GreaterThan,
        b"in" => Token::In,
        b"<" => Token::LessThan,
        b"!=" => Token::NotEquals,
        b"notin" => Token::NotIn,
        b"(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(ch: u8) -> bool {
    matches!(ch, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special_symbol(ch: u8) -> bool {
    matches!(ch, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    /// Reads one byte; 0 at the end (and for a NUL byte, which therefore ends the input, as in
    /// Go).
    fn read(&mut self) -> u8 {
        match self.s.as_bytes().get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                b
            }
            None => 0,
        }
    }

    fn unread(&mut self) {
        self.pos = self.pos.saturating_sub(1);
    }

    fn scan_id_or_keyword(&mut self) -> (Token, String) {
        let start = self.pos;
        loop {
            let ch = self.read();
            if ch == 0 {
                // Go breaks without unreading: at the real end `read` did not advance, after a
                // NUL byte the position stays past it (lexing ends at the next read anyway).
                let end = if self.pos > start && self.s.as_bytes().get(self.pos - 1) == Some(&0) {
                    self.pos - 1
                } else {
                    self.pos
                };
                return self.id_or_keyword(start, end);
            }
            if is_special_symbol(ch) || is_whitespace(ch) {
                self.unread();
                return self.id_or_keyword(start, self.pos);
            }
        }
    }

    fn id_or_keyword(&self, start: usize, end: usize) -> (Token, String) {
        // Only ASCII bytes end an identifier, so both ends are character boundaries.
        let lit = self.s.get(start..end).unwrap_or_default();
        match string_to_token(lit.as_bytes()) {
            Some(tok) => (tok, lit.to_string()),
            None => (Token::Identifier, lit.to_string()),
        }
    }

    fn scan_special_symbol(&mut self) -> (Token, String) {
        let start = self.pos;
        let mut last: Option<(Token, usize)> = None;
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if is_special_symbol(ch) {
                let buf = &self.s.as_bytes()[start..self.pos];
                if let Some(tok) = string_to_token(buf) {
                    last = Some((tok, self.pos));
                } else if last.is_some() {
                    self.unread();
                    break;
                }
            } else {
                self.unread();
                break;
            }
        }
        match last {
            Some((tok, end)) => (tok, self.s.get(start..end).unwrap_or_default().to_string()),
            None => (
                Token::Error,
                format!(
                    "error expected: keyword found '{}'",
                    self.s.get(start..self.pos).unwrap_or_default()
                ),
            ),
        }
    }

    fn lex(&mut self) -> (Token, String) {
        let mut ch = self.read();
        while is_whitespace(ch) {
            ch = self.read();
        }
        if ch == 0 {
            return (Token::EndOfString, String::new());
        }
        self.unread();
        if is_special_symbol(ch) {
            self.scan_special_symbol()
        } else {
            self.scan_id_or_keyword()
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser {
    items: Vec<(Token, String)>,
    position: usize,
}

const BINARY_OPERATORS: &str = "in, notin, =, ==, !=, gt, lt";

impl Parser {
    fn new(selector: &str) -> Self {
        let mut lexer = Lexer {
            s: selector,
            pos: 0,
        };
        let mut items = Vec::new();
        loop {
            let (tok, lit) = lexer.lex();
            items.push((tok, lit));
            if tok == Token::EndOfString {
                break;
            }
        }
        Parser { items, position: 0 }
    }

    fn item(&self, i: usize, ctx: Context) -> (Token, String) {
        let (tok, lit) = self
            .items
            .get(i)
            .cloned()
            .unwrap_or((Token::EndOfString, String::new()));
        let tok = match (ctx, tok) {
            (Context::Values, Token::In | Token::NotIn) => Token::Identifier,
            _ => tok,
        };
        (tok, lit)
    }

    fn lookahead(&self, ctx: Context) -> (Token, String) {
        self.item(self.position, ctx)
    }

    fn consume(&mut self, ctx: Context) -> (Token, String) {
        let item = self.item(self.position, ctx);
        if self.position < self.items.len() {
            self.position += 1;
        }
        item
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut requirements = Vec::new();
        loop {
            let (tok, lit) = self.lookahead(Context::Values);
            match tok {
                Token::Identifier | Token::DoesNotExist => {
                    let r = self
                        .parse_requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    requirements.push(r);
                    let (t, l) = self.consume(Context::Values);
                    match t {
                        Token::EndOfString => return Ok(requirements),
                        Token::Comma => {
                            let (t2, l2) = self.lookahead(Context::Values);
                            if t2 != Token::Identifier && t2 != Token::DoesNotExist {
                                return Err(format!(
                                    "found '{l2}', expected: identifier after ','"
                                ));
                            }
                        }
                        _ => return Err(format!("found '{l}', expected: ',' or 'end of string'")),
                    }
                }
                Token::EndOfString => return Ok(requirements),
                _ => {
                    return Err(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    ));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, String> {
        let (key, operator) = self.parse_key_and_infer_operator()?;
        if let Some(op @ (Operator::Exists | Operator::DoesNotExist)) = operator {
            return Requirement::build(key, op, Vec::new(), "").map_err(|e| aggregate(&e));
        }
        let operator = self.parse_operator()?;
        let values = match operator {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        // `sets.String.List()`: sorted and de-duplicated.
        let mut values = values;
        values.sort();
        values.dedup();
        Requirement::build(key, operator, values, "").map_err(|e| aggregate(&e))
    }

    /// Returns the key and, when the requirement ends there, `Exists` (or `DoesNotExist` after
    /// `!`). `DoesNotExist` is returned even if an operator follows (an error later, as in Go).
    fn parse_key_and_infer_operator(&mut self) -> Result<(String, Option<Operator>), String> {
        let mut operator = None;
        let (mut tok, mut lit) = self.consume(Context::Values);
        if tok == Token::DoesNotExist {
            operator = Some(Operator::DoesNotExist);
            (tok, lit) = self.consume(Context::Values);
        }
        if tok != Token::Identifier {
            return Err(format!("found '{lit}', expected: identifier"));
        }
        let errs = is_label_key(&lit);
        if !errs.is_empty() {
            return Err(FieldError::invalid(
                "<nil>",
                BadValue::String(lit.clone()),
                errs.join("; "),
            )
            .to_string());
        }
        let (t, _) = self.lookahead(Context::Values);
        if (t == Token::EndOfString || t == Token::Comma) && operator.is_none() {
            operator = Some(Operator::Exists);
        }
        Ok((lit, operator))
    }

    fn parse_operator(&mut self) -> Result<Operator, String> {
        let (tok, lit) = self.consume(Context::KeyAndOperator);
        Ok(match tok {
            Token::In => Operator::In,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            _ => return Err(format!("found '{lit}', expected: {BINARY_OPERATORS}")),
        })
    }

    fn parse_values(&mut self) -> Result<Vec<String>, String> {
        let (tok, lit) = self.consume(Context::Values);
        if tok != Token::OpenPar {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (tok, lit) = self.lookahead(Context::Values);
        match tok {
            Token::Identifier | Token::Comma => {
                let s = self.parse_identifiers_list()?;
                let (tok, _) = self.consume(Context::Values);
                if tok != Token::ClosedPar {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                Ok(s)
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Ok(vec![String::new()])
            }
            _ => Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
    }

    fn parse_identifiers_list(&mut self) -> Result<Vec<String>, String> {
        let mut s: Vec<String> = Vec::new();
        let insert = |s: &mut Vec<String>, v: String| {
            if !s.contains(&v) {
                s.push(v);
            }
        };
        loop {
            let (tok, lit) = self.consume(Context::Values);
            match tok {
                Token::Identifier => {
                    insert(&mut s, lit);
                    let (tok2, lit2) = self.lookahead(Context::Values);
                    match tok2 {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(s),
                        _ => return Err(format!("found '{lit2}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    if s.is_empty() {
                        insert(&mut s, String::new());
                    }
                    let (tok2, _) = self.lookahead(Context::Values);
                    if tok2 == Token::ClosedPar {
                        insert(&mut s, String::new());
                        return Ok(s);
                    }
                    if tok2 == Token::Comma {
                        insert(&mut s, String::new());
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
    }

    fn parse_exact_value(&mut self) -> Result<Vec<String>, String> {
        let (tok, _) = self.lookahead(Context::Values);
        if tok == Token::EndOfString || tok == Token::Comma {
            return Ok(vec![String::new()]);
        }
        let (tok, lit) = self.consume(Context::Values);
        if tok == Token::Identifier {
            Ok(vec![lit])
        } else {
            Err(format!("found '{lit}', expected: identifier"))
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn err(s: &str) -> String {
        match Selector::parse(s) {
            Ok(sel) => panic!("{s:?} parsed as {sel}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn parses_all_operators() {
        let s = Selector::parse("x in (b,a,a),y notin (c),z,!w,v=1,u==2,t!=3,s>4,r<5").unwrap();
        let ops: Vec<_> = s
            .requirements()
            .iter()
            .map(|r| (r.key(), r.operator(), r.values().to_vec()))
            .collect();
        assert_eq!(
            ops,
            vec![
                ("r", Operator::LessThan, vec!["5".to_string()]),
                ("s", Operator::GreaterThan, vec!["4".to_string()]),
                ("t", Operator::NotEquals, vec!["3".to_string()]),
                ("u", Operator::DoubleEquals, vec!["2".to_string()]),
                ("v", Operator::Equals, vec!["1".to_string()]),
                ("w", Operator::DoesNotExist, vec![]),
                ("x", Operator::In, vec!["a".to_string(), "b".to_string()]),
                ("y", Operator::NotIn, vec!["c".to_string()]),
                ("z", Operator::Exists, vec![]),
            ]
        );
        assert_eq!(
            s.to_string(),
            "r<5,s>4,t!=3,u==2,v=1,!w,x in (a,b),y notin (c),z"
        );
    }

    #[test]
    fn empty_values_and_whitespace() {
        let s = Selector::parse(" a in ( , x ) , b = , c\t==\n").unwrap();
        assert_eq!(s.to_string(), "a in (,x),b=,c==");
        assert_eq!(Selector::parse("a in ()").unwrap().to_string(), "a in ()");
        assert_eq!(
            Selector::parse("a in (,)").unwrap().requirements()[0].values(),
            [""]
        );
        assert_eq!(
            Selector::parse("a in (x,,y)").unwrap().requirements()[0].values(),
            ["", "x", "y"]
        );
        assert!(Selector::parse("").unwrap().is_empty());
        assert!(Selector::parse("   ").unwrap().is_empty());
    }

    #[test]
    fn keywords_as_keys_and_values() {
        let s = Selector::parse("in in (in,notin),notin").unwrap();
        assert_eq!(s.to_string(), "in in (in,notin),notin");
        assert!(s.matches(&labels(&[("in", "notin"), ("notin", "")])));
    }

    #[test]
    fn nul_bytes_like_go() {
        // A NUL byte ends an identifier or symbol (and is consumed); where a token starts, it
        // ends the input. Checked against labels.Parse.
        assert_eq!(Selector::parse("a\0=b").unwrap().to_string(), "a=b");
        assert_eq!(Selector::parse("a=\0b").unwrap().to_string(), "a=b");
        assert_eq!(Selector::parse("a=b,\0c").unwrap().to_string(), "a=b,c");
        assert!(Selector::parse("\0a").unwrap().is_empty());
        assert!(Selector::parse("a, \0b").is_err());
    }

    #[test]
    fn error_messages() {
        assert_eq!(err("a=b=c"), "found '=', expected: ',' or 'end of string'");
        assert_eq!(
            err("=a"),
            "found '=', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(err("a,"), "found '', expected: identifier after ','");
        assert_eq!(
            err("a in b"),
            "unable to parse requirement: found 'b' expected: '('"
        );
        assert_eq!(
            err("a b"),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(
            err("!"),
            "unable to parse requirement: found '', expected: identifier"
        );
        assert_eq!(
            err("a in ((b))"),
            "unable to parse requirement: found '(', expected: ',', ')' or identifier"
        );
        assert_eq!(
            err("a in (b c)"),
            "unable to parse requirement: found 'c', expected: ',' or ')'"
        );
        assert_eq!(
            err("a in (b,=)"),
            "unable to parse requirement: found '=', expected: ',', or identifier"
        );
        assert_eq!(
            err("a>x"),
            "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
        assert!(err("a=-b").starts_with("unable to parse requirement: values[0][a]: Invalid value: \"-b\": a valid label must be"));
        assert!(err("-a").starts_with(
            "unable to parse requirement: <nil>: Invalid value: \"-a\": name part must consist"
        ));
    }

    #[test]
    fn several_validation_errors_aggregate() {
        // Both the integer check and the label value check fail.
        let e = err("a>-x");
        assert!(e.starts_with("unable to parse requirement: [values[0]: Invalid value: \"-x\": for 'Gt', 'Lt' operators, the value must be an integer, values[0][a]: Invalid value: \"-x\": a valid label"), "{e}");
        assert!(e.ends_with("')]"), "{e}");
    }

    #[test]
    fn matching() {
        let l = labels(&[("app", "web"), ("version", "10"), ("empty", "")]);
        let m = |s: &str| Selector::parse(s).unwrap().matches(&l);
        assert!(m("app=web"));
        assert!(m("app==web"));
        assert!(!m("app!=web"));
        assert!(m("missing!=x"));
        assert!(m("app in (db,web)"));
        assert!(!m("app notin (web)"));
        assert!(m("missing notin (web)"));
        assert!(m("app,!missing"));
        assert!(!m("missing"));
        assert!(m("version>9"));
        assert!(!m("version>10"));
        assert!(m("version<11"));
        assert!(!m("app>1"));
        assert!(!m("missing<1"));
        assert!(m("empty="));
        assert!(m("empty in ()"));
        assert!(!m("app in (),app"));
        assert!(m(""));
        assert!(!Selector::nothing().matches(&l));
    }

    #[test]
    fn matches_objects() {
        let s = Selector::parse("!app").unwrap();
        assert!(s.matches_object(&serde_json::json!({"metadata": {"name": "x"}})));
        assert!(!s.matches_object(&serde_json::json!({"metadata": {"labels": {"app": "1"}}})));
        // Non-string members are not labels.
        assert!(s.matches_object(&serde_json::json!({"metadata": {"labels": {"app": 1}}})));
    }

    #[test]
    fn exact_match() {
        let s = Selector::parse("a=1,b in (2),c in (3,4),d!=5").unwrap();
        assert_eq!(s.requires_exact_match("a"), Some("1"));
        assert_eq!(s.requires_exact_match("b"), Some("2"));
        assert_eq!(s.requires_exact_match("c"), None);
        assert_eq!(s.requires_exact_match("d"), None);
        assert_eq!(s.requires_exact_match("e"), None);
    }

    #[test]
    fn from_label_selector() {
        assert!(
            Selector::from_label_selector(None)
                .unwrap()
                .matches_nothing()
        );
        assert!(
            Selector::from_label_selector(Some(&LabelSelector::default()))
                .unwrap()
                .is_empty()
        );
        let ls = LabelSelector {
            match_labels: Some(
                [("app".to_string(), "web".to_string())]
                    .into_iter()
                    .collect(),
            ),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "In".into(),
                    values: Some(vec!["b".into(), "a".into()]),
                },
                LabelSelectorRequirement {
                    key: "canary".into(),
                    operator: "DoesNotExist".into(),
                    values: None,
                },
            ]),
        };
        let s = Selector::from_label_selector(Some(&ls)).unwrap();
        assert_eq!(s.to_string(), "app=web,!canary,tier in (a,b)");
        // Values keep their given order (String() sorts).
        assert_eq!(s.requirements()[2].values(), ["b", "a"]);

        let bad_op = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "a".into(),
                operator: "Foo".into(),
                values: None,
            }]),
            ..Default::default()
        };
        assert_eq!(
            Selector::from_label_selector(Some(&bad_op))
                .unwrap_err()
                .to_string(),
            r#""Foo" is not a valid label selector operator"#
        );
        let empty_in = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "a".into(),
                operator: "In".into(),
                values: Some(vec![]),
            }]),
            ..Default::default()
        };
        assert_eq!(
            Selector::from_label_selector(Some(&empty_in))
                .unwrap_err()
                .to_string(),
            "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty"
        );
        let exists_with_values = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "-a".into(),
                operator: "Exists".into(),
                values: Some(vec!["x".into()]),
            }]),
            ..Default::default()
        };
        let e = Selector::from_label_selector(Some(&exists_with_values))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("[key: Invalid value: \"-a\": name part must consist"),
            "{e}"
        );
        assert!(e.contains(", values: Invalid value: [\"x\"]: values set must be empty for exists and does not exist"), "{e}");
    }

    #[test]
    fn from_set() {
        let s = Selector::from_set([("b", "2"), ("a", "1")]);
        assert_eq!(s.to_string(), "a=1,b=2");
        assert!(s.matches(&[("a", "1"), ("b", "2"), ("c", "3")][..]));
    }
}
