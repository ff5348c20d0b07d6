//! The SCIM filter language (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2), parsed by
//! recursive descent into an AST.
//!
//! Accepted beyond the RFC, because identity providers send it: operators, keywords
//! and attribute names in any case; Entra ID's `emails[type eq "work"].value eq "x"`
//! (read as `emails[type eq "work" and value eq "x"]`); unquoted values
//! (`externalId eq jyoung`).

use std::fmt;

/// Longest filter or path accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 4096;
/// Deepest nesting of parentheses and `not` accepted (the parser recurses).
const MAX_DEPTH: usize = 32;

/// An attribute path: optional schema URN, attribute, optional sub-attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "co" => Self::Co,
            "sw" => Self::Sw,
            "ew" => Self::Ew,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }
}

/// A comparison value.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    String(String),
    Bool(bool),
    Number(serde_json::Number),
    Null,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: FilterValue,
    },
    Present(AttrPath),
    Not(Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    /// `attr[filter]`: some value of the multi-valued `attr` matches `filter`, whose
    /// paths are sub-attributes of `attr`.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

/// A PATCH target: `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
}

/// Why a filter or path does not parse; says where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses a filter expression.
pub fn parse_filter(text: &str) -> Result<Filter, ParseError> {
    let mut p = Parser::new(text)?;
    let filter = p.or_expr(0, false)?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.error("unexpected text"));
    }
    Ok(filter)
}

/// Parses a PATCH `path`.
pub fn parse_path(text: &str) -> Result<PatchPath, ParseError> {
    let mut p = Parser::new(text)?;
    p.skip_ws();
    let mut attr = p.attr_path()?;
    let mut filter = None;
    if p.eat('[') {
        if attr.sub.is_some() {
            return Err(p.error("a value filter applies to an attribute, not a sub-attribute"));
        }
        filter = Some(p.or_expr(0, true)?);
        p.skip_ws();
        if !p.eat(']') {
            return Err(p.error("expected ']'"));
        }
        if p.eat('.') {
            attr.sub = Some(p.name()?);
        }
    }
    p.skip_ws();
    if !p.at_end() {
        return Err(p.error("unexpected text"));
    }
    Ok(PatchPath { attr, filter })
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Result<Self, ParseError> {
        if text.len() > MAX_FILTER_LEN {
            return Err(ParseError(format!("longer than {MAX_FILTER_LEN} bytes")));
        }
        Ok(Self { text, pos: 0 })
    }

    fn error(&self, what: &str) -> ParseError {
        ParseError(format!("{what} at position {}", self.pos + 1))
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// Consumes `word` (case-insensitive) when it stands as a whole word here.
    fn eat_keyword(&mut self, word: &str) -> bool {
        let rest = self.rest();
        let matches = rest.len() >= word.len()
            && rest.is_char_boundary(word.len())
            && rest[..word.len()].eq_ignore_ascii_case(word)
            && !rest[word.len()..]
                .chars()
                .next()
                .is_some_and(|c| is_name_char(c) || c == '"');
        if matches {
            self.pos += word.len();
        }
        matches
    }

    fn or_expr(&mut self, depth: usize, in_brackets: bool) -> Result<Filter, ParseError> {
        let mut left = self.and_expr(depth, in_brackets)?;
        loop {
            let save = self.pos;
            self.skip_ws();
            if save != self.pos && self.eat_keyword("or") {
                self.require_ws()?;
                let right = self.and_expr(depth, in_brackets)?;
                left = Filter::Or(Box::new(left), Box::new(right));
            } else {
                self.pos = save;
                return Ok(left);
            }
        }
    }

    fn and_expr(&mut self, depth: usize, in_brackets: bool) -> Result<Filter, ParseError> {
        let mut left = self.unary(depth, in_brackets)?;
        loop {
            let save = self.pos;
            self.skip_ws();
            if save != self.pos && self.eat_keyword("and") {
                self.require_ws()?;
                let right = self.unary(depth, in_brackets)?;
                left = Filter::And(Box::new(left), Box::new(right));
            } else {
                self.pos = save;
                return Ok(left);
            }
        }
    }

    fn require_ws(&mut self) -> Result<(), ParseError> {
        let before = self.pos;
        self.skip_ws();
        if before == self.pos && self.peek() != Some('(') {
            return Err(self.error("expected a space"));
        }
        Ok(())
    }

    fn unary(&mut self, depth: usize, in_brackets: bool) -> Result<Filter, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.error("filter nested too deeply"));
        }
        self.skip_ws();
        if self.eat_keyword("not") {
            self.skip_ws();
            if !self.eat('(') {
                return Err(self.error("expected '(' after not"));
            }
            let inner = self.or_expr(depth + 1, in_brackets)?;
            self.skip_ws();
            if !self.eat(')') {
                return Err(self.error("expected ')'"));
            }
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.eat('(') {
            let inner = self.or_expr(depth + 1, in_brackets)?;
            self.skip_ws();
            if !self.eat(')') {
                return Err(self.error("expected ')'"));
            }
            return Ok(inner);
        }
        self.attr_expr(depth, in_brackets)
    }

    fn attr_expr(&mut self, depth: usize, in_brackets: bool) -> Result<Filter, ParseError> {
        let path = self.attr_path()?;
        if self.eat('[') {
            if in_brackets {
                return Err(self.error("value filters cannot be nested"));
            }
            if path.sub.is_some() {
                return Err(
                    self.error("a value filter applies to an attribute, not a sub-attribute")
                );
            }
            let mut inner = self.or_expr(depth + 1, true)?;
            self.skip_ws();
            if !self.eat(']') {
                return Err(self.error("expected ']'"));
            }
            // Entra ID: `emails[type eq "work"].value eq "x"`.
            if self.eat('.') {
                let sub = self.name()?;
                let rel = AttrPath {
                    urn: None,
                    name: sub,
                    sub: None,
                };
                let tail = self.comparison(rel)?;
                inner = Filter::And(Box::new(inner), Box::new(tail));
            }
            return Ok(Filter::ValuePath {
                path,
                filter: Box::new(inner),
            });
        }
        self.comparison(path)
    }

    fn comparison(&mut self, path: AttrPath) -> Result<Filter, ParseError> {
        self.require_ws()?;
        let op_start = self.pos;
        let word = self.word();
        if word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::parse(word) else {
            self.pos = op_start;
            return Err(self.error("expected an operator (eq ne co sw ew gt ge lt le pr)"));
        };
        self.require_ws()?;
        let value = self.value()?;
        Ok(Filter::Compare { path, op, value })
    }

    /// A run of non-space characters that are not brackets or parentheses.
    fn word(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"') {
                break;
            }
            self.pos += c.len_utf8();
        }
        &self.text[start..self.pos]
    }

    fn value(&mut self) -> Result<FilterValue, ParseError> {
        if self.peek() == Some('"') {
            return self.quoted().map(FilterValue::String);
        }
        let start = self.pos;
        let word = self.word();
        if word.is_empty() {
            return Err(self.error("expected a value"));
        }
        if word.contains('\0') {
            return Err(self.error("NUL characters are not allowed"));
        }
        Ok(match word.to_ascii_lowercase().as_str() {
            "true" => FilterValue::Bool(true),
            "false" => FilterValue::Bool(false),
            "null" => FilterValue::Null,
            _ => match serde_json::from_str::<serde_json::Number>(word) {
                Ok(n) if word.starts_with(|c: char| c.is_ascii_digit() || c == '-') => {
                    FilterValue::Number(n)
                }
                _ => {
                    // Entra ID sends unquoted strings; take the word as it is.
                    let _ = start;
                    FilterValue::String(word.to_string())
                }
            },
        })
    }

    /// A JSON string literal.
    fn quoted(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut escaped = false;
        while let Some(c) = self.peek() {
            self.pos += c.len_utf8();
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                let value: String = serde_json::from_str(&self.text[start..self.pos])
                    .map_err(|_| self.error("invalid string literal"))?;
                if value.contains('\0') {
                    return Err(self.error("NUL characters are not allowed"));
                }
                return Ok(value);
            }
        }
        Err(self.error("unterminated string"))
    }

    /// An attribute name (no dots, no colons).
    fn name(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$') {
                self.pos += 1;
            } else {
                break;
            }
        }
        if start == self.pos
            || !self.text[start..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '$')
        {
            return Err(self.error("expected an attribute name"));
        }
        Ok(self.text[start..self.pos].to_string())
    }

    /// `[URN ":"] name ["." sub]`.
    fn attr_path(&mut self) -> Result<AttrPath, ParseError> {
        self.skip_ws();
        let start = self.pos;
        while let Some(c) = self.peek() {
            if is_name_char(c) || c == ':' || c == '.' {
                self.pos += 1;
            } else {
                break;
            }
        }
        let raw = &self.text[start..self.pos];
        if raw.is_empty() {
            return Err(self.error("expected an attribute path"));
        }
        let (urn, local) = if raw.len() > 4 && raw[..4].eq_ignore_ascii_case("urn:") {
            match raw.rfind(':') {
                Some(i) if i > 4 => (Some(raw[..i].to_string()), &raw[i + 1..]),
                _ => return Err(self.error("malformed schema URN")),
            }
        } else {
            (None, raw)
        };
        if local.contains(':') {
            return Err(self.error("unexpected ':' in attribute path"));
        }
        let mut parts = local.splitn(2, '.');
        let name = parts.next().unwrap_or_default().to_string();
        let sub = parts.next().map(str::to_string);
        let valid = |s: &str| {
            !s.is_empty()
                && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '$')
                && s.chars().all(is_name_char)
        };
        if !valid(&name) || sub.as_deref().is_some_and(|s| !valid(s)) {
            // A URN with nothing after it (`urn:…:User`) names a whole extension.
            if urn.is_some() && local.is_empty() {
                return Err(self.error("expected an attribute after the schema URN"));
            }
            return Err(self.error("malformed attribute path"));
        }
        Ok(AttrPath { urn, name, sub })
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(name: &str) -> AttrPath {
        AttrPath {
            urn: None,
            name: name.into(),
            sub: None,
        }
    }

    fn eq(name: &str, value: &str) -> Filter {
        Filter::Compare {
            path: attr(name),
            op: CompareOp::Eq,
            value: FilterValue::String(value.into()),
        }
    }

    #[test]
    fn parses_the_rfc_examples() {
        for text in [
            r#"userName Eq "john""#,
            r#"name.familyName co "O'Malley""#,
            r#"userName sw "J""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            r#"title pr"#,
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            r#"title pr and userType eq "Employee""#,
            r#"title pr or userType eq "Intern""#,
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
        ] {
            parse_filter(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let f = parse_filter(r#"a eq "1" or b eq "2" and c eq "3""#).unwrap();
        assert_eq!(
            f,
            Filter::Or(
                Box::new(eq("a", "1")),
                Box::new(Filter::And(Box::new(eq("b", "2")), Box::new(eq("c", "3"))))
            )
        );
    }

    #[test]
    fn entra_value_path_with_trailing_sub_attribute_becomes_one_value_filter() {
        let f = parse_filter(r#"emails[type eq "work"].value eq "ada@example.com""#).unwrap();
        assert_eq!(
            f,
            Filter::ValuePath {
                path: attr("emails"),
                filter: Box::new(Filter::And(
                    Box::new(eq("type", "work")),
                    Box::new(eq("value", "ada@example.com"))
                )),
            }
        );
    }

    #[test]
    fn unquoted_values_booleans_numbers_and_urns() {
        assert_eq!(
            parse_filter("externalId eq jyoung").unwrap(),
            eq("externalId", "jyoung")
        );
        assert_eq!(
            parse_filter("active EQ False").unwrap(),
            Filter::Compare {
                path: attr("active"),
                op: CompareOp::Eq,
                value: FilterValue::Bool(false)
            }
        );
        let Filter::Compare { path, value, .. } = parse_filter(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq 42",
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(
            path.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(path.name, "employeeNumber");
        assert!(matches!(value, FilterValue::Number(_)));
    }

    #[test]
    fn bad_filters_are_errors_not_panics() {
        for text in [
            "",
            "userName",
            "userName eq",
            r#"userName zz "x""#,
            r#"userName eq "unterminated"#,
            r#"(userName eq "x""#,
            r#"emails[type eq "work""#,
            r#"emails[type[value eq "x"] eq "y"]"#,
            r#"userName eq "x" and"#,
            r#"not userName eq "x""#,
            "é eq 1",
            "urn: eq 1",
            r#"userName eq "x" garbage"#,
        ] {
            assert!(parse_filter(text).is_err(), "{text:?} parsed");
        }
        let deep = format!("{}a pr{}", "(".repeat(100), ")".repeat(100));
        assert!(parse_filter(&deep).is_err());
        assert!(parse_filter(&"a".repeat(MAX_FILTER_LEN + 1)).is_err());
    }

    #[test]
    fn patch_paths() {
        let p = parse_path(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(p.attr.name, "emails");
        assert_eq!(p.attr.sub.as_deref(), Some("value"));
        assert_eq!(p.filter, Some(eq("type", "work")));
        let p = parse_path("name.familyName").unwrap();
        assert_eq!(
            (p.attr.name.as_str(), p.attr.sub.as_deref()),
            ("name", Some("familyName"))
        );
        let p = parse_path(r#"members[value eq "2819c223"]"#).unwrap();
        assert_eq!(p.filter, Some(eq("value", "2819c223")));
        let p = parse_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager")
            .unwrap();
        assert_eq!(p.attr.name, "manager");
        assert!(parse_path(r#"emails[type eq "work""#).is_err());
        assert!(parse_path("emails..value").is_err());
    }
}
