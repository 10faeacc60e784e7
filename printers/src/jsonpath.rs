//! Kubernetes' JSONPath dialect (`k8s.io/client-go/util/jsonpath`), as used by CRD
//! `additionalPrinterColumns`.
//!
//! The parser is a port of client-go's: templates mix text with `{…}` actions; actions support
//! fields (`.a.b`, `['a.b']`, escaped `\.`), `@`/`$`, wildcards (`*`, `[*]`), recursive descent
//! (`..`), array indexes and slices (`[0]`, `[-1]`, `[1:3:2]`), unions (`[0,2]`, `['a','b']`),
//! filters (`[?(@.type=="Ready")]`, `[?(@.x)]`, `<`, `>`, `<=`, `>=`, `!=`) and literal
//! text/number/boolean nodes. Evaluation mirrors client-go with missing keys allowed (as the CRD
//! table convertor configures it): a missing field yields no result, `null` is Go's nil
//! interface, and comparisons follow `text/template`'s typing (integers never compare equal to
//! floats or strings).
//!
//! Not supported: the `range`/`end` iteration keywords (they evaluate to an error, which the CRD
//! convertor prints as an empty cell) and wildcards over objects iterate keys in sorted order
//! where Go's map order is random.
//!
//! ```
//! use clusternet_printers::jsonpath::JsonPath;
//! use serde_json::json;
//!
//! let path = JsonPath::parse(r#"{.status.conditions[?(@.type=="Ready")].status}"#).unwrap();
//! let obj = json!({"status": {"conditions": [
//!     {"type": "Synced", "status": "False"},
//!     {"type": "Ready", "status": "True"}]}});
//! let results = path.find_results(&obj).unwrap();
//! assert_eq!(results[0].len(), 1);
//! assert_eq!(results[0][0].to_text(), "True");
//! ```

use serde_json::Value;

use crate::gofmt::{GoNumber, go_json, go_number, go_print_float};

/// A parsed JSONPath template.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonPath {
    root: Vec<Node>,
}

#[derive(Clone, Debug, PartialEq)]
enum Node {
    List(Vec<Node>),
    Text(String),
    Field(String),
    Identifier(String),
    Array([Param; 3]),
    Filter {
        left: Vec<Node>,
        right: Vec<Node>,
        op: String,
    },
    Int(i64),
    Float(f64),
    Bool(bool),
    Wildcard,
    Recursive,
    Union(Vec<Vec<Node>>),
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Param {
    value: i64,
    known: bool,
    derived: bool,
}

/// One value found by a JSONPath: a node of the input document or a literal of the template.
#[derive(Clone, Debug, PartialEq)]
pub enum PathValue<'a> {
    /// A value of the document (`null` stands for Go's nil interface).
    Json(&'a Value),
    /// A text literal.
    Text(String),
    /// An integer literal (Go `int`).
    Int(i64),
    /// A float literal.
    Float(f64),
    /// A boolean literal.
    Bool(bool),
}

impl PathValue<'_> {
    /// The value as `JSONPath.PrintResults` prints a single result: maps and arrays as JSON,
    /// scalars with `fmt.Sprint`, `null` as `<no value>`.
    pub fn to_text(&self) -> String {
        match self {
            PathValue::Json(v) => crate::gofmt::jsonpath_text(Some(v)),
            PathValue::Text(s) => s.clone(),
            PathValue::Int(i) => i.to_string(),
            PathValue::Float(f) => go_print_float(*f),
            PathValue::Bool(b) => b.to_string(),
        }
    }
}

/// A JSONPath parse or evaluation error (client-go's message).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PathError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, PathError> {
    Err(PathError(msg.into()))
}

impl JsonPath {
    /// Parses a template such as `{.metadata.name}` (the CRD convertor wraps a column's
    /// `jsonPath` in braces).
    pub fn parse(text: &str) -> Result<Self, PathError> {
        Ok(JsonPath { root: parse(text)? })
    }

    /// `FindResults` with missing keys allowed: one result list per top-level template node.
    pub fn find_results<'a>(&self, data: &'a Value) -> Result<Vec<Vec<PathValue<'a>>>, PathError> {
        let mut full = Vec::new();
        for node in &self.root {
            full.push(walk(vec![PathValue::Json(data)], node)?);
        }
        Ok(full)
    }
}

// ---------------------------------------------------------------------------------------------
// Parser (client-go util/jsonpath/parser.go)

struct Parser<'a> {
    input: &'a str,
    pos: usize,
    start: usize,
    width: usize,
}

const EOF: Option<char> = None;

fn parse(text: &str) -> Result<Vec<Node>, PathError> {
    let mut p = Parser {
        input: text,
        pos: 0,
        start: 0,
        width: 0,
    };
    let mut root = Vec::new();
    loop {
        if p.rest().starts_with('{') {
            if p.pos > p.start {
                root.push(Node::Text(p.consume()));
            }
            p.pos += 1;
            p.consume();
            let mut list = Vec::new();
            p.parse_inside_action(&mut list)?;
            root.push(Node::List(list));
            continue;
        }
        if p.next() == EOF {
            break;
        }
    }
    if p.pos > p.start {
        root.push(Node::Text(p.consume()));
    }
    Ok(root)
}

/// `parseAction`: parses `{text}` and returns the action's node list.
fn parse_action(text: &str) -> Result<Vec<Node>, PathError> {
    let mut root = parse(&format!("{{{text}}}"))?;
    match root.drain(..).next() {
        Some(Node::List(nodes)) => Ok(nodes),
        _ => err("invalid action"),
    }
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        self.input.get(self.pos..).unwrap_or("")
    }

    fn consume(&mut self) -> String {
        let v = self
            .input
            .get(self.start..self.pos)
            .unwrap_or("")
            .to_string();
        self.start = self.pos;
        v
    }

    fn next(&mut self) -> Option<char> {
        match self.rest().chars().next() {
            None => {
                self.width = 0;
                None
            }
            Some(c) => {
                self.width = c.len_utf8();
                self.pos += self.width;
                Some(c)
            }
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.rest().chars().next()
    }

    fn backup(&mut self) {
        self.pos -= self.width;
    }

    /// The byte before the last consumed character (`p.input[p.pos-2]`).
    fn byte_before_last(&self) -> Option<u8> {
        self.pos
            .checked_sub(2)
            .and_then(|i| self.input.as_bytes().get(i).copied())
    }

    fn parse_inside_action(&mut self, cur: &mut Vec<Node>) -> Result<(), PathError> {
        loop {
            if self.rest().starts_with('}') {
                self.pos += 1;
                self.consume();
                return Ok(());
            }
            if self.rest().starts_with("[?(") {
                self.parse_filter(cur)?;
                continue;
            }
            if self.rest().starts_with("..") {
                self.parse_recursive(cur)?;
                continue;
            }
            match self.next() {
                None | Some('\r' | '\n') => return err("unclosed action"),
                Some(' ' | '@' | '$') => {
                    self.consume();
                }
                Some('[') => self.parse_array(cur)?,
                Some(q @ ('"' | '\'')) => self.parse_quote(cur, q)?,
                Some('.') => self.parse_field(cur),
                Some(c) if c == '+' || c == '-' || c.is_numeric() => {
                    self.backup();
                    self.parse_number(cur)?;
                }
                Some(c) if is_alphanumeric(c) => {
                    self.backup();
                    self.parse_identifier(cur)?;
                }
                Some(c) => {
                    return err(format!(
                        "unrecognized character in action: U+{:04X} '{c}'",
                        c as u32
                    ));
                }
            }
        }
    }

    fn parse_identifier(&mut self, cur: &mut Vec<Node>) -> Result<(), PathError> {
        loop {
            let r = self.next();
            if is_terminator(r) {
                if r.is_some() {
                    self.backup();
                }
                break;
            }
        }
        let value = self.consume();
        match value.as_str() {
            "true" => cur.push(Node::Bool(true)),
            "false" => cur.push(Node::Bool(false)),
            _ => cur.push(Node::Identifier(value)),
        }
        Ok(())
    }

    fn parse_recursive(&mut self, cur: &mut Vec<Node>) -> Result<(), PathError> {
        if matches!(cur.last(), Some(Node::Recursive)) {
            return err("invalid multiple recursive descent");
        }
        self.pos += 2;
        self.consume();
        cur.push(Node::Recursive);
        if self.peek().is_some_and(is_alphanumeric) {
            self.parse_field(cur);
        }
        Ok(())
    }

    fn parse_number(&mut self, cur: &mut Vec<Node>) -> Result<(), PathError> {
        if matches!(self.peek(), Some('+' | '-')) {
            self.next();
        }
        loop {
            match self.next() {
                Some(c) if c == '.' || c.is_numeric() => {}
                None => break,
                Some(_) => {
                    self.backup();
                    break;
                }
            }
        }
        let value = self.consume();
        if let Ok(i) = value.parse::<i64>() {
            cur.push(Node::Int(i));
            return Ok(());
        }
        if let Ok(f) = value.parse::<f64>() {
            cur.push(Node::Float(f));
            return Ok(());
        }
        err(format!("cannot parse number {value}"))
    }

    fn parse_array(&mut self, cur: &mut Vec<Node>) -> Result<(), PathError> {
        loop {
            match self.next() {
                None | Some('\n') => return err("unterminated array"),
                Some(']') => break,
                _ => {}
            }
        }
        let consumed = self.consume();
        let mut text = consumed
            .get(1..consumed.len() - 1)
            .unwrap_or("")
            .to_string();
        if text == "*" {
            text = ":".to_string();
        }
        let parts: Vec<&str> = text.split(',').collect();
        if parts.len() > 1 {
            let mut union = Vec::new();
            for part in parts {
                union.push(parse_action(&format!("[{}]", part.trim_matches(' ')))?);
            }
            cur.push(Node::Union(union));
            return Ok(());
        }
        // dict key: '…'
        if text.len() >= 2
            && text.starts_with('\'')
            && text.ends_with('\'')
            && !text[1..text.len() - 1].contains('\'')
        {
            let nodes = parse_action(&format!(".{}", &text[1..text.len() - 1]))?;
            cur.extend(nodes);
            return Ok(());
        }
        // slice operator: (-?\d*)(:-?\d*)?(:-?\d*)?
        let Some(groups) = slice_groups(&text) else {
            return err(format!("invalid array index {text}"));
        };
        let mut params = [Param::default(); 3];
        for idx in 0..3 {
            let mut v = groups[idx].as_str();
            if !v.is_empty() {
                if idx > 0 {
                    v = &v[1..];
                }
                if idx > 0 && v.is_empty() {
                    params[idx].known = false;
                } else {
                    params[idx].known = true;
                    params[idx].value = match v.parse::<i64>() {
                        Ok(n) => n,
                        Err(_) => return err(format!("array index {v} is not a number")),
                    };
                }
            } else if idx == 1 {
                params[idx].known = true;
                params[idx].value = params[0].value.saturating_add(1);
                params[idx].derived = true;
            } else {
                params[idx].known = false;
                params[idx].value = 0;
            }
        }
        cur.push(Node::Array(params));
        Ok(())
    }

    fn parse_filter(&mut self, cur: &mut Vec<Node>) -> Result<(), PathError> {
        self.pos += 3;
        self.consume();
        let mut begin = false;
        let mut end = false;
        let mut pair = '\0';
        loop {
            match self.next() {
                None | Some('\n') => return err("unterminated filter"),
                Some(r @ ('"' | '\'')) => {
                    if !begin {
                        begin = true;
                        pair = r;
                        continue;
                    }
                    if self.byte_before_last() != Some(b'\\') && r == pair {
                        end = true;
                    }
                }
                Some(')') if begin == end => break,
                _ => {}
            }
        }
        if self.next() != Some(']') {
            return err("unclosed array expect ]");
        }
        let consumed = self.consume();
        let text = consumed
            .get(..consumed.len().saturating_sub(2))
            .unwrap_or("");
        match split_filter(text) {
            None => {
                let left = parse_action(text)?;
                cur.push(Node::Filter {
                    left,
                    right: Vec::new(),
                    op: "exists".to_string(),
                });
            }
            Some((l, op, r)) => {
                let left = parse_action(l)?;
                let right = parse_action(r)?;
                cur.push(Node::Filter {
                    left,
                    right,
                    op: op.to_string(),
                });
            }
        }
        Ok(())
    }

    fn parse_quote(&mut self, cur: &mut Vec<Node>, end: char) -> Result<(), PathError> {
        loop {
            match self.next() {
                None | Some('\n') => return err("unterminated quoted string"),
                Some(c) if c == end && self.byte_before_last() != Some(b'\\') => break,
                _ => {}
            }
        }
        let value = self.consume();
        match unquote_extend(&value) {
            Some(s) => {
                cur.push(Node::Text(s));
                Ok(())
            }
            None => err(format!("unquote string {value} error invalid syntax")),
        }
    }

    fn parse_field(&mut self, cur: &mut Vec<Node>) {
        self.consume();
        loop {
            let r = self.next();
            if r == Some('\\') {
                self.next();
            } else if is_terminator(r) {
                if r.is_some() {
                    self.backup();
                }
                break;
            }
        }
        let value = self.consume();
        if value == "*" {
            cur.push(Node::Wildcard);
        } else {
            cur.push(Node::Field(value.replace('\\', "")));
        }
    }
}

fn is_terminator(r: Option<char>) -> bool {
    match r {
        None => true,
        Some(c) => matches!(
            c,
            ' ' | '\t' | '\r' | '\n' | '.' | ',' | '[' | ']' | '$' | '@' | '{' | '}'
        ),
    }
}

fn is_alphanumeric(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

/// Matches `^(-?[\d]*)(:-?[\d]*)?(:-?[\d]*)?$`, returning the three groups (empty if unmatched).
fn slice_groups(text: &str) -> Option<[String; 3]> {
    fn signed_digits(s: &str) -> usize {
        let b = s.as_bytes();
        let mut n = 0;
        if b.first() == Some(&b'-') {
            n = 1;
        }
        while n < b.len() && b[n].is_ascii_digit() {
            n += 1;
        }
        n
    }
    let mut rest = text;
    let n = signed_digits(rest);
    let g1 = rest[..n].to_string();
    rest = &rest[n..];
    let mut groups = [g1, String::new(), String::new()];
    for g in groups.iter_mut().skip(1) {
        if let Some(after) = rest.strip_prefix(':') {
            let n = signed_digits(after);
            *g = format!(":{}", &after[..n]);
            rest = &after[n..];
        }
    }
    if rest.is_empty() { Some(groups) } else { None }
}

/// Matches `^([^!<>=]+)([!<>=]+)(.+?)$`.
fn split_filter(text: &str) -> Option<(&str, &str, &str)> {
    let is_op = |c: char| matches!(c, '!' | '<' | '>' | '=');
    let op_start = text.find(is_op)?;
    if op_start == 0 {
        return None;
    }
    let after = &text[op_start..];
    let mut op_len = after.find(|c: char| !is_op(c)).unwrap_or(after.len());
    if op_len == after.len() {
        // The right side needs at least one character: give one back from the operator.
        if op_len < 2 {
            return None;
        }
        op_len -= 1;
    }
    Some((&text[..op_start], &after[..op_len], &after[op_len..]))
}

/// `UnquoteExtend`: Go string unquoting that also accepts single quotes.
fn unquote_extend(s: &str) -> Option<String> {
    let quote = s.chars().next()?;
    if s.len() < 2 || !s.ends_with(quote) || !(quote == '"' || quote == '\'') {
        return None;
    }
    let inner = &s[1..s.len() - 1];
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == quote {
            return None;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next()?;
        match e {
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '\\' => out.push('\\'),
            '\'' | '"' => {
                if e != quote {
                    return None;
                }
                out.push(e);
            }
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = (0..n).filter_map(|_| chars.next()).collect();
                if hex.len() != n {
                    return None;
                }
                let v = u32::from_str_radix(&hex, 16).ok()?;
                out.push(char::from_u32(v)?);
            }
            '0'..='7' => {
                let mut v = e.to_digit(8)?;
                for _ in 0..2 {
                    v = v * 8 + chars.next()?.to_digit(8)?;
                }
                out.push(char::from_u32(v).filter(|_| v <= 255)?);
            }
            _ => return None,
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Evaluation (client-go util/jsonpath/jsonpath.go, AllowMissingKeys(true))

type Vals<'a> = Vec<PathValue<'a>>;

fn walk<'a>(input: Vals<'a>, node: &Node) -> Result<Vals<'a>, PathError> {
    match node {
        Node::List(nodes) => eval_list(input, nodes),
        Node::Text(t) => Ok(vec![PathValue::Text(t.clone())]),
        Node::Field(f) => Ok(eval_field(&input, f)),
        Node::Array(params) => eval_array(&input, params),
        Node::Filter { left, right, op } => eval_filter(&input, left, right, op),
        Node::Int(n) => Ok(input.iter().map(|_| PathValue::Int(*n)).collect()),
        Node::Float(f) => Ok(input.iter().map(|_| PathValue::Float(*f)).collect()),
        Node::Bool(b) => Ok(input.iter().map(|_| PathValue::Bool(*b)).collect()),
        Node::Wildcard => Ok(input.iter().flat_map(children).collect()),
        Node::Recursive => Ok(eval_recursive(&input)),
        Node::Union(lists) => {
            let mut out = Vec::new();
            for l in lists {
                out.extend(eval_list(input.clone(), l)?);
            }
            Ok(out)
        }
        Node::Identifier(name) => match name.as_str() {
            "range" | "end" => err(format!("the {name} keyword is not supported")),
            _ => err(format!("unrecognized identifier {name}")),
        },
    }
}

fn eval_list<'a>(input: Vals<'a>, nodes: &[Node]) -> Result<Vals<'a>, PathError> {
    let mut cur = input;
    for n in nodes {
        cur = walk(cur, n)?;
    }
    Ok(cur)
}

/// Whether a value is Go's nil interface (`template.Indirect` reports nil).
fn is_nil(v: &PathValue<'_>) -> bool {
    matches!(v, PathValue::Json(Value::Null))
}

fn eval_field<'a>(input: &[PathValue<'a>], field: &str) -> Vals<'a> {
    let mut out = Vec::new();
    for v in input {
        if let PathValue::Json(Value::Object(m)) = v
            && let Some(found) = m.get(field)
        {
            out.push(PathValue::Json(found));
        }
    }
    out
}

fn eval_array<'a>(
    input: &[PathValue<'a>],
    node_params: &[Param; 3],
) -> Result<Vals<'a>, PathError> {
    let mut result = Vec::new();
    for v in input {
        if is_nil(v) {
            continue;
        }
        let PathValue::Json(Value::Array(items)) = v else {
            return err("value is not array or slice");
        };
        let mut params = *node_params;
        let len = items.len() as i64;
        if !params[0].known {
            params[0].value = 0;
        }
        if params[0].value < 0 {
            params[0].value = params[0].value.saturating_add(len);
        }
        if !params[1].known {
            params[1].value = len;
        }
        if params[1].value < 0 || (params[1].value == 0 && params[1].derived) {
            params[1].value = params[1].value.saturating_add(len);
        }
        if params[1].value != params[0].value {
            if params[0].value >= len || params[0].value < 0 {
                return err(format!(
                    "array index out of bounds: index {}, length {len}",
                    params[0].value
                ));
            }
            if params[1].value > len || params[1].value < 0 {
                return err(format!(
                    "array index out of bounds: index {}, length {len}",
                    params[1].value.saturating_sub(1)
                ));
            }
            if params[0].value > params[1].value {
                return err(format!(
                    "starting index {} is greater than ending index {}",
                    params[0].value, params[1].value
                ));
            }
        } else {
            return Ok(result);
        }
        let slice = &items[params[0].value as usize..params[1].value as usize];
        let step = if params[2].known {
            if params[2].value <= 0 {
                return err("step must be > 0");
            }
            params[2].value as usize
        } else {
            1
        };
        result.extend(slice.iter().step_by(step).map(PathValue::Json));
    }
    Ok(result)
}

/// The direct children of a container value (`evalWildcard`).
fn children<'a>(v: &PathValue<'a>) -> Vals<'a> {
    match v {
        PathValue::Json(Value::Object(m)) => m.values().map(PathValue::Json).collect(),
        PathValue::Json(Value::Array(a)) => a.iter().map(PathValue::Json).collect(),
        PathValue::Json(Value::String(s)) => {
            s.bytes().map(|b| PathValue::Int(i64::from(b))).collect()
        }
        PathValue::Text(s) => s.bytes().map(|b| PathValue::Int(i64::from(b))).collect(),
        _ => Vec::new(),
    }
}

fn eval_recursive<'a>(input: &[PathValue<'a>]) -> Vals<'a> {
    let mut result = Vec::new();
    for v in input {
        if is_nil(v) {
            continue;
        }
        let kids = children(v);
        if !kids.is_empty() {
            result.push(v.clone());
            result.extend(eval_recursive(&kids));
        }
    }
    result
}

fn eval_filter<'a>(
    input: &[PathValue<'a>],
    left: &[Node],
    right: &[Node],
    op: &str,
) -> Result<Vals<'a>, PathError> {
    let mut results = Vec::new();
    for v in input {
        let PathValue::Json(Value::Array(items)) = v else {
            return err("value is not array or slice and cannot be filtered");
        };
        for item in items {
            let temp = vec![PathValue::Json(item)];
            let lefts = eval_list(temp.clone(), left);
            if op == "exists" {
                if lefts.as_ref().is_ok_and(|l| !l.is_empty()) {
                    results.push(PathValue::Json(item));
                }
                continue;
            }
            let lefts = lefts?;
            match lefts.len() {
                0 => continue,
                1 => {}
                _ => return err("can only compare one element at a time"),
            }
            let rights = eval_list(temp, right)?;
            match rights.len() {
                0 => continue,
                1 => {}
                _ => return err("can only compare one element at a time"),
            }
            let (l, r) = (&lefts[0], &rights[0]);
            let pass = match op {
                "<" => less(l, r)?,
                ">" => !less_equal(l, r)?,
                "==" => equal(l, r)?,
                "!=" => !equal(l, r)?,
                "<=" => less_equal(l, r)?,
                ">=" => !less(l, r)?,
                other => return err(format!("unrecognized filter operator {other}")),
            };
            if pass {
                results.push(PathValue::Json(item));
            }
        }
    }
    Ok(results)
}

/// A value as `text/template`'s `basicKind` classifies it.
enum Basic<'s> {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'s str),
}

fn basic<'s>(v: &'s PathValue<'_>) -> Result<Basic<'s>, PathError> {
    Ok(match v {
        PathValue::Json(Value::Bool(b)) | PathValue::Bool(b) => Basic::Bool(*b),
        PathValue::Json(Value::Number(n)) => match go_number(n) {
            GoNumber::Int(i) => Basic::Int(i),
            GoNumber::Float(f) => Basic::Float(f),
        },
        PathValue::Json(Value::String(s)) => Basic::Str(s),
        PathValue::Text(s) => Basic::Str(s),
        PathValue::Int(i) => Basic::Int(*i),
        PathValue::Float(f) => Basic::Float(*f),
        _ => return err("invalid type for comparison"),
    })
}

fn equal(a: &PathValue<'_>, b: &PathValue<'_>) -> Result<bool, PathError> {
    match (basic(a)?, basic(b)?) {
        (Basic::Bool(x), Basic::Bool(y)) => Ok(x == y),
        (Basic::Int(x), Basic::Int(y)) => Ok(x == y),
        (Basic::Float(x), Basic::Float(y)) => Ok(x == y),
        (Basic::Str(x), Basic::Str(y)) => Ok(x == y),
        _ => err("incompatible types for comparison"),
    }
}

fn less(a: &PathValue<'_>, b: &PathValue<'_>) -> Result<bool, PathError> {
    match (basic(a)?, basic(b)?) {
        (Basic::Bool(_), Basic::Bool(_)) => err("invalid type for comparison"),
        (Basic::Int(x), Basic::Int(y)) => Ok(x < y),
        (Basic::Float(x), Basic::Float(y)) => Ok(x < y),
        (Basic::Str(x), Basic::Str(y)) => Ok(x < y),
        _ => err("incompatible types for comparison"),
    }
}

fn less_equal(a: &PathValue<'_>, b: &PathValue<'_>) -> Result<bool, PathError> {
    if less(a, b)? {
        return Ok(true);
    }
    equal(a, b)
}

/// Renders a map or array result like `PrintResults` does (JSON) — exposed for the CRD
/// convertor.
pub(crate) fn print_result(v: &PathValue<'_>) -> String {
    match v {
        PathValue::Json(j @ (Value::Object(_) | Value::Array(_))) => go_json(j),
        other => other.to_text(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn texts(path: &str, data: &Value) -> Result<Vec<Vec<String>>, PathError> {
        let p = JsonPath::parse(path)?;
        Ok(p.find_results(data)?
            .iter()
            .map(|r| r.iter().map(print_result).collect())
            .collect())
    }

    #[test]
    fn fields_and_arrays() {
        let d = json!({"a": {"b.c": 1, "list": [1, 2, 3, 4], "m": {"y": 2, "x": [1]}}, "n": null});
        assert_eq!(texts("{.a.list[1]}", &d).unwrap(), vec![vec!["2"]]);
        assert_eq!(texts("{.a.list[-1]}", &d).unwrap(), vec![vec!["4"]]);
        assert_eq!(texts("{.a.list[1:3]}", &d).unwrap(), vec![vec!["2", "3"]]);
        assert_eq!(texts("{.a.list[::2]}", &d).unwrap(), vec![vec!["1", "3"]]);
        assert_eq!(
            texts("{.a.list[*]}", &d).unwrap(),
            vec![vec!["1", "2", "3", "4"]]
        );
        // As in client-go, a bracketed key is re-parsed as a path: dots must be escaped.
        assert_eq!(
            texts("{.a['b.c']}", &d).unwrap(),
            vec![Vec::<String>::new()]
        );
        assert_eq!(texts(r"{.a['b\.c']}", &d).unwrap(), vec![vec!["1"]]);
        assert_eq!(texts(r"{.a.b\.c}", &d).unwrap(), vec![vec!["1"]]);
        assert_eq!(
            texts("{.a.m}", &d).unwrap(),
            vec![vec![r#"{"x":[1],"y":2}"#]]
        );
        assert_eq!(
            texts("{.missing.deep}", &d).unwrap(),
            vec![Vec::<String>::new()]
        );
        assert_eq!(texts("{.n}", &d).unwrap(), vec![vec!["<no value>"]]);
        assert_eq!(texts("{.a.list[0,2]}", &d).unwrap(), vec![vec!["1", "3"]]);
        assert_eq!(
            texts("x{.a.list[0]}y", &d).unwrap(),
            vec![vec!["x"], vec!["1"], vec!["y"]]
        );
        assert!(texts("{.a.list[9]}", &d).is_err());
        assert_eq!(texts("{..x}", &d).unwrap(), vec![vec!["[1]"]]);
    }

    #[test]
    fn filters() {
        let d = json!({"c": [
            {"type": "A", "status": "True", "n": 1},
            {"type": "B", "status": "False", "n": 2.5},
            {"type": "C", "n": 3}]});
        assert_eq!(
            texts(r#"{.c[?(@.type=="B")].status}"#, &d).unwrap(),
            vec![vec!["False"]]
        );
        assert_eq!(
            texts(r#"{.c[?(@.type!='B')].type}"#, &d).unwrap(),
            vec![vec!["A", "C"]]
        );
        assert_eq!(
            texts("{.c[?(@.status)].type}", &d).unwrap(),
            vec![vec!["A", "B"]]
        );
        // int vs float comparisons fail like text/template's.
        assert!(texts("{.c[?(@.n>1)].type}", &d).is_err());
        assert_eq!(
            texts(
                "{.c[?(@.n>=3.0)].type}",
                &json!({"c": [{"n": 3.5, "type": "x"}]})
            )
            .unwrap(),
            vec![vec!["x"]]
        );
    }

    #[test]
    fn parse_errors() {
        assert!(JsonPath::parse("{.a").is_err());
        assert!(JsonPath::parse("{.a[}").is_err());
        assert!(JsonPath::parse("{.a[x]}").is_err());
        assert!(JsonPath::parse("{#}").is_err());
    }

    #[test]
    fn filter_split() {
        assert_eq!(split_filter("@.a=='x'"), Some(("@.a", "==", "'x'")));
        assert_eq!(split_filter("@.a=="), Some(("@.a", "=", "=")));
        assert_eq!(split_filter("@.a"), None);
        assert_eq!(split_filter("==x"), None);
    }
}
