//! Translation of SCIM filters into SQL conditions over indexed columns, identical on
//! both engines. Users are rows of `people` (alias `p`), groups rows of `scim_groups`
//! (alias `g`), pushed agents rows of `agents` (alias `a`), agentic applications rows
//! of `agentic_applications` (alias `ap`). Filtering is supported on the attributes
//! identity providers match and page on; any other attribute is an `invalidFilter`
//! error, never a table scan in memory.

use chrono::{DateTime, Utc};

use super::error::ScimError;
use super::filter::{AttrPath, CompareOp, Filter, FilterValue};
use super::schema::{ResourceSchema, AGENT, APPLICATION, ENTERPRISE_SCHEMA, GROUP, USER};
use crate::domain::case_key;
use crate::store::people::escape_like;
use crate::store::{SqlPart, SqlValue};

/// How a column compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Case-exact text.
    Exact,
    /// Case-insensitive text stored case-folded by the application (`*_key`).
    Folded,
    /// Short ASCII vocabularies (`emails.type`: "work", "home") compared through SQL
    /// `lower()`, which folds ASCII alike on both engines.
    Lower,
    Bool,
    Time,
}

/// A filterable attribute: a column, or a column of a related table reached through
/// `EXISTS (SELECT 1 FROM {from} WHERE {join} AND …)`.
#[derive(Debug, Clone, Copy)]
struct Column {
    expr: &'static str,
    kind: Kind,
    related: Option<Related>,
}

/// A related table, reached as `{outer} IN (SELECT {inner} FROM {from} WHERE …)`: a
/// semi-join both engines drive from the related table's index, where a correlated
/// `EXISTS` would make them scan every person.
#[derive(Debug, Clone, Copy)]
struct Related {
    outer: &'static str,
    inner: &'static str,
    from: &'static str,
}

const EMAILS: Related = Related {
    outer: "p.id",
    inner: "e.person_id",
    from: "person_emails e",
};
const MEMBERS: Related = Related {
    outer: "g.id",
    inner: "m.group_id",
    from: "scim_group_members m",
};
const OWNERS: Related = Related {
    outer: "a.id",
    inner: "o.agent_id",
    from: "agent_owners o",
};

const APPLICATION_URLS: Related = Related {
    outer: "ap.id",
    inner: "u.application_id",
    from: "agentic_application_urls u",
};
const APPLICATION_AGENTS: Related = Related {
    outer: "ap.id",
    inner: "l.application_id",
    from: "agentic_application_agents l",
};

impl Related {
    fn open(&self) -> String {
        format!(
            "{} IN (SELECT {} FROM {} WHERE ",
            self.outer, self.inner, self.from
        )
    }
}

const fn col(expr: &'static str, kind: Kind) -> Column {
    Column {
        expr,
        kind,
        related: None,
    }
}

const fn rel(expr: &'static str, kind: Kind, related: Related) -> Column {
    Column {
        expr,
        kind,
        related: Some(related),
    }
}

/// The resource a filter is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    User,
    Group,
    /// Agents pushed over SCIM (alias `a`).
    Agent,
    /// Agentic applications (alias `ap`).
    Application,
}

impl Resource {
    fn schema(self) -> &'static ResourceSchema {
        match self {
            Self::User => &USER,
            Self::Group => &GROUP,
            Self::Agent => &AGENT,
            Self::Application => &APPLICATION,
        }
    }

    /// The column of `attr[.sub]`, with `sub` folded in lower case.
    fn column(self, attr: &str, sub: Option<&str>) -> Option<Column> {
        use Kind::*;
        Some(match (self, attr, sub) {
            (_, "id", None) => col(self.alias("id"), Exact),
            (_, "externalid", None) => col(self.alias("external_id"), Exact),
            (_, "meta", Some("created")) => col(self.alias("created_at"), Time),
            (_, "meta", Some("lastmodified")) => col(self.alias("updated_at"), Time),
            (Self::User, "username", None) => col("p.user_name_key", Folded),
            (Self::User | Self::Group, "displayname", None) => {
                col(self.alias("display_name_key"), Folded)
            }
            (Self::User, "name", Some("givenname")) => col("p.given_name_key", Folded),
            (Self::User, "name", Some("familyname")) => col("p.family_name_key", Folded),
            (Self::User, "active", None) => col("p.active", Bool),
            (Self::User, "emails", None | Some("value")) => rel("e.value_key", Folded, EMAILS),
            (Self::User, "emails", Some("type")) => rel("e.type", Lower, EMAILS),
            (Self::User, "emails", Some("primary")) => rel("e.is_primary", Bool, EMAILS),
            (Self::User, "employeenumber", None) => col("p.employee_number", Exact),
            (Self::User, "manager", None | Some("value")) => col("p.manager_id", Exact),
            (Self::Group, "members", None | Some("value")) => rel("m.person_id", Exact, MEMBERS),
            (Self::Agent, "name", None) => col("a.name_key", Folded),
            (Self::Agent, "agentusername", None) => col("a.user_name_key", Folded),
            (Self::Agent, "active", None) => col("(a.status = 'active')", Bool),
            (Self::Agent, "owners", None | Some("value")) => {
                rel("COALESCE(o.person_id, o.group_id)", Exact, OWNERS)
            }
            (Self::Application, "name", None) => col("ap.name_key", Folded),
            (Self::Application, "active", None) => col("ap.active", Bool),
            (Self::Application, "applicationurls", None | Some("value")) => {
                rel("u.value_key", Folded, APPLICATION_URLS)
            }
            (Self::Application, "applicationurls", Some("type")) => {
                rel("u.type", Lower, APPLICATION_URLS)
            }
            (Self::Application, "applicationurls", Some("primary")) => {
                rel("u.is_primary", Bool, APPLICATION_URLS)
            }
            (Self::Application, "agents", None | Some("value")) => {
                rel("l.agent_id", Exact, APPLICATION_AGENTS)
            }
            (Self::Application, "agents", Some("type")) => rel("l.type", Lower, APPLICATION_AGENTS),
            _ => return None,
        })
    }

    fn alias(self, column: &'static str) -> &'static str {
        match (self, column) {
            (Self::User, "id") => "p.id",
            (Self::User, "external_id") => "p.external_id",
            (Self::User, "created_at") => "p.created_at",
            (Self::User, "updated_at") => "p.updated_at",
            (Self::User, "display_name_key") => "p.display_name_key",
            (Self::Group, "id") => "g.id",
            (Self::Group, "external_id") => "g.external_id",
            (Self::Group, "created_at") => "g.created_at",
            (Self::Group, "updated_at") => "g.updated_at",
            (Self::Group, "display_name_key") => "g.display_name_key",
            (Self::Agent, "id") => "a.id",
            (Self::Agent, "external_id") => "a.external_id",
            (Self::Agent, "created_at") => "a.created_at",
            (Self::Agent, "updated_at") => "a.updated_at",
            (Self::Application, "id") => "ap.id",
            (Self::Application, "external_id") => "ap.external_id",
            (Self::Application, "created_at") => "ap.created_at",
            (Self::Application, "updated_at") => "ap.updated_at",
            _ => unreachable!("no such column alias"),
        }
    }

    /// The multi-valued attribute a value filter (`emails[…]`) may apply to.
    fn related(self, attr: &str) -> Option<Related> {
        match (self, attr) {
            (Self::User, "emails") => Some(EMAILS),
            (Self::Group, "members") => Some(MEMBERS),
            (Self::Agent, "owners") => Some(OWNERS),
            (Self::Application, "applicationurls") => Some(APPLICATION_URLS),
            (Self::Application, "agents") => Some(APPLICATION_AGENTS),
            _ => None,
        }
    }

    /// Whether a filter term on this attribute can be translated (a ValuePath's
    /// attribute: whether it is a filterable multi-valued one).
    pub fn filterable(self, path: &AttrPath) -> bool {
        let Ok((attr, sub)) = self.normalise(path) else {
            return false;
        };
        self.column(&attr, sub.as_deref()).is_some() || self.related(&attr).is_some()
    }

    /// SQL for `sortBy`.
    pub fn sort_column(self, sort_by: &str) -> Result<&'static str, ScimError> {
        let path = super::filter::parse_path(sort_by)
            .map_err(|e| ScimError::invalid_value(format!("sortBy: {e}")))?
            .attr;
        let (attr, sub) = self.normalise(&path)?;
        let column = self
            .column(&attr, sub.as_deref())
            .filter(|c| c.related.is_none())
            .ok_or_else(|| ScimError::invalid_value(format!("cannot sort by {sort_by}")))?;
        Ok(column.expr)
    }

    /// Lower-cased attribute and sub-attribute names, with the schema URN checked and
    /// removed.
    fn normalise(self, path: &AttrPath) -> Result<(String, Option<String>), ScimError> {
        if let Some(urn) = &path.urn {
            let schema = self.schema();
            let known = urn.eq_ignore_ascii_case(schema.core) || schema.extension(urn).is_some();
            if !known {
                return Err(ScimError::invalid_filter(format!("unknown schema {urn}")));
            }
            if urn.eq_ignore_ascii_case(ENTERPRISE_SCHEMA)
                && !matches!(
                    path.name.to_ascii_lowercase().as_str(),
                    "employeenumber" | "manager"
                )
            {
                return Err(ScimError::invalid_filter(format!(
                    "filtering on {path} is not supported"
                )));
            }
        }
        Ok((
            path.name.to_ascii_lowercase(),
            path.sub.as_ref().map(|s| s.to_ascii_lowercase()),
        ))
    }
}

/// Translates a filter into a SQL condition.
pub fn to_sql(resource: Resource, filter: &Filter) -> Result<Vec<SqlPart>, ScimError> {
    let mut out = Vec::new();
    translate(resource, filter, None, &mut out)?;
    Ok(out)
}

/// A condition that is always true, for unfiltered lists.
pub fn all() -> Vec<SqlPart> {
    vec![SqlPart::Sql("1 = 1".into())]
}

fn sql(out: &mut Vec<SqlPart>, text: &str) {
    out.push(SqlPart::Sql(text.to_string()));
}

/// `inside`: the related table of an enclosing value filter, whose sub-attributes the
/// paths then name.
fn translate(
    resource: Resource,
    filter: &Filter,
    inside: Option<(&str, Related)>,
    out: &mut Vec<SqlPart>,
) -> Result<(), ScimError> {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            let joiner = if matches!(filter, Filter::And(..)) {
                " AND "
            } else {
                " OR "
            };
            sql(out, "(");
            translate(resource, a, inside, out)?;
            sql(out, joiner);
            translate(resource, b, inside, out)?;
            sql(out, ")");
        }
        Filter::Not(inner) => {
            // A comparison with a missing value is unknown (NULL) in SQL; as a filter it is
            // false, so its negation must be true.
            sql(out, "NOT COALESCE((");
            translate(resource, inner, inside, out)?;
            sql(out, "), FALSE)");
        }
        Filter::ValuePath { path, filter } => {
            if inside.is_some() {
                return Err(ScimError::invalid_filter("value filters cannot be nested"));
            }
            let (attr, _) = resource.normalise(path)?;
            let related = resource.related(&attr).ok_or_else(|| {
                ScimError::invalid_filter(format!("filtering on {path} is not supported"))
            })?;
            sql(out, &related.open());
            sql(out, "(");
            translate(resource, filter, Some((attr.as_str(), related)), out)?;
            sql(out, "))");
        }
        Filter::Present(path) => {
            let column = column_for(resource, path, inside)?;
            wrap_related(column, inside, out, |out| {
                sql(out, &format!("{} IS NOT NULL", column.expr));
                if matches!(column.kind, Kind::Exact | Kind::Folded | Kind::Lower) {
                    sql(out, &format!(" AND {} <> ''", column.expr));
                }
                Ok(())
            })?;
        }
        Filter::Compare { path, op, value } => {
            let column = column_for(resource, path, inside)?;
            wrap_related(column, inside, out, |out| compare(column, *op, value, out))?;
        }
    }
    Ok(())
}

fn column_for(
    resource: Resource,
    path: &AttrPath,
    inside: Option<(&str, Related)>,
) -> Result<Column, ScimError> {
    let unsupported = || ScimError::invalid_filter(format!("filtering on {path} is not supported"));
    match inside {
        // Inside `emails[…]`, `type` means `emails.type`.
        Some((attr, _)) => {
            if path.urn.is_some() || path.sub.is_some() {
                return Err(ScimError::invalid_filter(format!(
                    "{path}: expected a sub-attribute of {attr}"
                )));
            }
            resource
                .column(attr, Some(&path.name.to_ascii_lowercase()))
                .ok_or_else(unsupported)
        }
        None => {
            let (attr, sub) = resource.normalise(path)?;
            resource
                .column(&attr, sub.as_deref())
                .ok_or_else(unsupported)
        }
    }
}

/// Puts a condition on a related table's column inside its semi-join, unless it already is.
fn wrap_related(
    column: Column,
    inside: Option<(&str, Related)>,
    out: &mut Vec<SqlPart>,
    condition: impl FnOnce(&mut Vec<SqlPart>) -> Result<(), ScimError>,
) -> Result<(), ScimError> {
    match (column.related, inside) {
        (Some(related), None) => {
            sql(out, &related.open());
            condition(out)?;
            sql(out, ")");
            Ok(())
        }
        _ => condition(out),
    }
}

fn compare(
    column: Column,
    op: CompareOp,
    value: &FilterValue,
    out: &mut Vec<SqlPart>,
) -> Result<(), ScimError> {
    let expr = match column.kind {
        Kind::Lower => format!("lower({})", column.expr),
        _ => column.expr.to_string(),
    };
    if let FilterValue::Null = value {
        return match op {
            CompareOp::Eq => {
                sql(out, &format!("{expr} IS NULL"));
                Ok(())
            }
            CompareOp::Ne => {
                sql(out, &format!("{expr} IS NOT NULL"));
                Ok(())
            }
            _ => Err(ScimError::invalid_filter(
                "null compares with eq or ne only",
            )),
        };
    }
    match column.kind {
        Kind::Bool => {
            let b = match value {
                FilterValue::Bool(b) => *b,
                FilterValue::String(s) if s.eq_ignore_ascii_case("true") => true,
                FilterValue::String(s) if s.eq_ignore_ascii_case("false") => false,
                _ => {
                    return Err(ScimError::invalid_filter(
                        "a boolean attribute compares with true or false",
                    ))
                }
            };
            let operator = match op {
                CompareOp::Eq => "=",
                CompareOp::Ne => "<>",
                _ => {
                    return Err(ScimError::invalid_filter(
                        "booleans compare with eq or ne only",
                    ))
                }
            };
            sql(out, &format!("{expr} {operator} "));
            out.push(SqlPart::Bind(SqlValue::Bool(b)));
        }
        Kind::Time => {
            let FilterValue::String(text) = value else {
                return Err(ScimError::invalid_filter(
                    "a dateTime attribute compares with a quoted date-time",
                ));
            };
            let at: DateTime<Utc> = DateTime::parse_from_rfc3339(text)
                .map_err(|_| {
                    ScimError::invalid_filter(format!("{text:?} is not an RFC 3339 date-time"))
                })?
                .with_timezone(&Utc);
            let operator = ordering_operator(op).ok_or_else(|| {
                ScimError::invalid_filter("dateTime attributes do not support co, sw or ew")
            })?;
            sql(out, &format!("{expr} {operator} "));
            out.push(SqlPart::Bind(SqlValue::Time(at)));
        }
        Kind::Exact | Kind::Folded | Kind::Lower => {
            let text = match value {
                FilterValue::String(s) => s.clone(),
                FilterValue::Number(n) => n.to_string(),
                FilterValue::Bool(b) => b.to_string(),
                FilterValue::Null => unreachable!("handled above"),
            };
            let text = match column.kind {
                Kind::Folded => case_key(&text),
                Kind::Lower => text.to_lowercase(),
                _ => text,
            };
            let like = |pattern: String, out: &mut Vec<SqlPart>| {
                sql(out, &format!("{expr} LIKE "));
                out.push(SqlPart::Bind(SqlValue::Text(pattern)));
                sql(out, " ESCAPE '\\'");
            };
            match op {
                CompareOp::Co => like(format!("%{}%", escape_like(&text)), out),
                CompareOp::Sw => like(format!("{}%", escape_like(&text)), out),
                CompareOp::Ew => like(format!("%{}", escape_like(&text)), out),
                CompareOp::Ne => {
                    sql(out, &format!("({expr} IS NULL OR {expr} <> "));
                    out.push(SqlPart::Bind(SqlValue::Text(text)));
                    sql(out, ")");
                }
                other => {
                    let operator = ordering_operator(other).expect("eq and orderings");
                    sql(out, &format!("{expr} {operator} "));
                    out.push(SqlPart::Bind(SqlValue::Text(text)));
                }
            }
        }
    }
    Ok(())
}

fn ordering_operator(op: CompareOp) -> Option<&'static str> {
    Some(match op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "<>",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::parse_filter;

    fn render(resource: Resource, filter: &str) -> (String, Vec<SqlValue>) {
        let parts = to_sql(resource, &parse_filter(filter).unwrap()).unwrap();
        let mut text = String::new();
        let mut binds = Vec::new();
        for part in parts {
            match part {
                SqlPart::Sql(s) => text.push_str(&s),
                SqlPart::Bind(v) => {
                    text.push('?');
                    binds.push(v);
                }
            }
        }
        (text, binds)
    }

    #[test]
    fn user_name_eq_uses_the_folded_key_column() {
        let (text, binds) = render(Resource::User, r#"userName eq "Ada@Example.COM""#);
        assert_eq!(text, "p.user_name_key = ?");
        assert_eq!(binds, vec![SqlValue::Text("ada@example.com".into())]);
    }

    #[test]
    fn email_filters_become_semi_joins() {
        let (text, _) = render(
            Resource::User,
            r#"emails[type eq "work" and value co "@x"]"#,
        );
        assert_eq!(
            text,
            "p.id IN (SELECT e.person_id FROM person_emails e WHERE ((lower(e.type) = ? AND e.value_key LIKE ? ESCAPE '\\')))"
        );
        let (text, binds) = render(Resource::User, r#"emails.value eq "a@x.com""#);
        assert_eq!(
            text,
            "p.id IN (SELECT e.person_id FROM person_emails e WHERE e.value_key = ?)"
        );
        assert_eq!(binds.len(), 1);
    }

    #[test]
    fn booleans_times_and_logic() {
        let (text, binds) = render(
            Resource::User,
            r#"active eq "False" and not (meta.lastModified lt "2026-01-01T00:00:00Z" or externalId pr)"#,
        );
        assert_eq!(
            text,
            "(p.active = ? AND NOT COALESCE(((p.updated_at < ? OR p.external_id IS NOT NULL AND p.external_id <> '')), FALSE))"
        );
        assert_eq!(binds[0], SqlValue::Bool(false));
        assert!(matches!(binds[1], SqlValue::Time(_)));
    }

    #[test]
    fn like_wildcards_in_values_are_escaped() {
        let (_, binds) = render(Resource::User, r#"userName sw "a_b%""#);
        assert_eq!(binds, vec![SqlValue::Text("a\\_b\\%%".into())]);
    }

    #[test]
    fn unsupported_attributes_and_operators_are_invalid_filters() {
        for filter in [
            r#"title eq "x""#,
            r#"active co "t""#,
            r#"meta.created sw "2020""#,
            r#"urn:example:ext:1.0:User:foo eq "x""#,
            r#"phoneNumbers[type eq "work"]"#,
            r#"emails[foo eq "x"]"#,
        ] {
            let err = to_sql(Resource::User, &parse_filter(filter).unwrap()).unwrap_err();
            assert_eq!(err.scim_type, Some("invalidFilter"), "{filter}");
        }
    }

    #[test]
    fn application_url_and_agent_filters_become_semi_joins() {
        let (text, binds) = render(
            Resource::Application,
            r#"applicationUrls.value eq "HTTPS://Assistant.example.com" and agents[value eq "a1" and type eq "Owned"]"#,
        );
        assert_eq!(
            text,
            "(ap.id IN (SELECT u.application_id FROM agentic_application_urls u WHERE u.value_key = ?) AND \
             ap.id IN (SELECT l.application_id FROM agentic_application_agents l WHERE ((l.agent_id = ? AND lower(l.type) = ?))))"
        );
        assert_eq!(
            binds,
            vec![
                SqlValue::Text("https://assistant.example.com".into()),
                SqlValue::Text("a1".into()),
                SqlValue::Text("owned".into())
            ]
        );
        let (text, _) = render(Resource::Application, r#"name eq "x" and active eq true"#);
        assert_eq!(text, "(ap.name_key = ? AND ap.active = ?)");
        assert!(to_sql(
            Resource::Application,
            &parse_filter(r#"displayName eq "x""#).unwrap()
        )
        .is_err());
    }

    #[test]
    fn group_filters() {
        let (text, _) = render(
            Resource::Group,
            r#"displayName eq "Eng" and members eq "u1""#,
        );
        assert_eq!(
            text,
            "(g.display_name_key = ? AND g.id IN (SELECT m.group_id FROM scim_group_members m WHERE m.person_id = ?))"
        );
        assert_eq!(
            Resource::User.sort_column("userName").unwrap(),
            "p.user_name_key"
        );
        assert!(Resource::User.sort_column("emails").is_err());
    }
}
