//! `POST /.search` from the root (RFC 7644 §3.4.3): one search over every resource
//! type, Users, then Groups, then Agents, then AgenticApplications.
//!
//! Design, as RFC 7644 has it and strict clients expect:
//! - A filter applies to each resource type in turn. An attribute a resource type does
//!   not define has no value there, so a comparison on it is false (and its `not` true)
//!   exactly as for a defined attribute without a value: `userName eq "x"` finds only
//!   users, `members pr` only groups. An attribute no resource type defines is an
//!   `invalidFilter` error, as it is at `/Users`.
//! - Paging runs across the concatenation, Users first, each type in its own stable
//!   order: `totalResults` counts both, and `startIndex`/`count` cut one window from
//!   it, so a client paging by `startIndex` sees every resource once.
//! - `sortBy` is refused (`invalidValue`): one order across resource types would need
//!   values compared outside the database, and sorting one type after the other would
//!   silently not be what the client asked for. Sort at `/Users/.search` or
//!   `/Groups/.search`.
//! - `attributes`/`excludedAttributes` apply to each resource with its own schema.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::error::ScimError;
use super::filter::{AttrPath, CompareOp, Filter, FilterValue};
use super::list::{list_response, ListParams, SearchRequest};
use super::schema::{Namespace, ResourceSchema, AGENT, APPLICATION, GROUP, USER};
use super::sql::Resource;
use super::{agents, applications, groups, resource, respond, users, ScimJson};
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/.search").route(web::post().to(search)));
}

async fn search(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ScimJson<SearchRequest>,
) -> Result<HttpResponse, ScimError> {
    let request = body.0.checked()?;
    if request
        .sort_by
        .as_deref()
        .is_some_and(|s| !s.trim().is_empty())
    {
        return Err(ScimError::invalid_value(
            "sortBy is not supported when searching from the root; sort at /Users/.search or /Groups/.search",
        ));
    }
    // Parsed and checked once (filter syntax, paging), then narrowed for each type.
    let params = request.validate(Resource::User)?;
    if let Some(filter) = &params.filter {
        if let Some(path) = first_path(filter, &|p| !TYPES.iter().any(|(s, _)| defines(s, p))) {
            return Err(ScimError::invalid_filter(format!(
                "no resource type has the attribute {path}"
            )));
        }
        if let Some(path) = first_path(filter, &|p| {
            !TYPES.iter().any(|(s, r)| can_filter(s, *r, p))
        }) {
            return Err(ScimError::invalid_filter(format!(
                "filtering on {path} is not supported"
            )));
        }
    }
    // A type may define an attribute it cannot be filtered on (a User's complex
    // `name`, an Agent's `agentType`): from the root such a term is false for that type
    // rather than failing the search for the others.
    let for_filterable = |schema: &'static ResourceSchema,
                          resource: Resource,
                          start_index: i64,
                          count: i64| ListParams {
        filter: params
            .filter
            .as_ref()
            .map(|f| narrow_to(f, &|p| can_filter(schema, resource, p))),
        start_index,
        count,
        ..params.clone()
    };
    let offset = params.offset();
    let (user_total, mut resources) = users::users_page(
        &state,
        &req,
        &for_filterable(&USER, Resource::User, offset + 1, params.count),
    )
    .await?;
    let taken = resources.len() as i64;
    let group_offset = (offset - user_total).max(0);
    let (group_total, more) = groups::groups_page(
        &state,
        &req,
        &for_filterable(
            &GROUP,
            Resource::Group,
            group_offset + 1,
            params.count - taken,
        ),
    )
    .await?;
    resources.extend(more);
    let taken = resources.len() as i64;
    let agent_offset = (offset - user_total - group_total).max(0);
    let (agent_total, more) = agents::agents_page(
        &state,
        &req,
        &for_filterable(
            &AGENT,
            Resource::Agent,
            agent_offset + 1,
            params.count - taken,
        ),
    )
    .await?;
    resources.extend(more);
    let taken = resources.len() as i64;
    let application_offset = (offset - user_total - group_total - agent_total).max(0);
    let (application_total, more) = applications::applications_page(
        &state,
        &req,
        &for_filterable(
            &APPLICATION,
            Resource::Application,
            application_offset + 1,
            params.count - taken,
        ),
    )
    .await?;
    resources.extend(more);
    Ok(respond(
        StatusCode::OK,
        &list_response(
            user_total + group_total + agent_total + application_total,
            params.start_index,
            resources,
        ),
    ))
}

/// Whether a resource type defines the attribute a filter path names.
fn defines(schema: &ResourceSchema, path: &AttrPath) -> bool {
    let namespace = match &path.urn {
        None => Namespace::Core,
        Some(urn) if urn.eq_ignore_ascii_case(schema.core) => Namespace::Core,
        Some(urn) => match schema.extension(urn) {
            Some((urn, _)) => Namespace::Extension(urn),
            None => return false,
        },
    };
    schema.attr_in(namespace, &path.name).is_some()
}

/// The resource types searched from the root, in order.
const TYPES: &[(&ResourceSchema, Resource)] = &[
    (&USER, Resource::User),
    (&GROUP, Resource::Group),
    (&AGENT, Resource::Agent),
    (&APPLICATION, Resource::Application),
];

/// Whether a type defines the attribute and its SQL can filter on it.
fn can_filter(schema: &ResourceSchema, resource: Resource, path: &AttrPath) -> bool {
    defines(schema, path) && resource.filterable(path)
}

/// The first attribute path of a filter for which `bad` holds.
fn first_path(filter: &Filter, bad: &dyn Fn(&AttrPath) -> bool) -> Option<String> {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => first_path(a, bad).or_else(|| first_path(b, bad)),
        Filter::Not(inner) => first_path(inner, bad),
        Filter::Present(path) | Filter::Compare { path, .. } | Filter::ValuePath { path, .. } => {
            bad(path).then(|| path.to_string())
        }
    }
}

/// The filter for one resource type: terms on paths `keep` refuses (attributes it does
/// not define or cannot filter on) become a term that is false for every resource
/// (`id eq null`: every resource has an id), so they behave as terms on a missing value.
fn narrow_to(filter: &Filter, keep: &dyn Fn(&AttrPath) -> bool) -> Filter {
    let never = || Filter::Compare {
        path: AttrPath {
            urn: None,
            name: "id".into(),
            sub: None,
        },
        op: CompareOp::Eq,
        value: FilterValue::Null,
    };
    match filter {
        Filter::And(a, b) => {
            Filter::And(Box::new(narrow_to(a, keep)), Box::new(narrow_to(b, keep)))
        }
        Filter::Or(a, b) => Filter::Or(Box::new(narrow_to(a, keep)), Box::new(narrow_to(b, keep))),
        Filter::Not(inner) => Filter::Not(Box::new(narrow_to(inner, keep))),
        Filter::Present(path) | Filter::Compare { path, .. } | Filter::ValuePath { path, .. } => {
            if keep(path) {
                filter.clone()
            } else {
                never()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::parse_filter;

    fn narrow(filter: &Filter, schema: &ResourceSchema) -> Filter {
        narrow_to(filter, &|path| defines(schema, path))
    }

    #[test]
    fn terms_on_attributes_a_type_lacks_become_false_there() {
        let filter = parse_filter("userName eq \"x\" or members pr").unwrap();
        let never = "id eq null";
        assert_eq!(
            narrow(&filter, &GROUP),
            parse_filter(&format!("{never} or members pr")).unwrap()
        );
        assert_eq!(
            narrow(&filter, &USER),
            parse_filter(&format!("userName eq \"x\" or {never}")).unwrap()
        );
        let enterprise = parse_filter(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq \"7\"",
        )
        .unwrap();
        assert_eq!(narrow(&enterprise, &GROUP), parse_filter(never).unwrap());
        assert_eq!(narrow(&enterprise, &USER), enterprise);
    }

    #[test]
    fn an_attribute_no_type_defines_or_can_filter_on_is_found() {
        let undefined = |p: &AttrPath| !TYPES.iter().any(|(s, _)| defines(s, p));
        let filter = parse_filter("displayName eq \"x\" and (nonsense pr or userName pr)").unwrap();
        assert_eq!(first_path(&filter, &undefined).as_deref(), Some("nonsense"));
        let fine = parse_filter("displayName eq \"x\" and members[value eq \"1\"]").unwrap();
        assert_eq!(first_path(&fine, &undefined), None);
        let unfilterable = |p: &AttrPath| !TYPES.iter().any(|(s, r)| can_filter(s, *r, p));
        let filter = parse_filter("name eq \"x\" or agentType eq \"y\"").unwrap();
        assert_eq!(
            first_path(&filter, &unfilterable).as_deref(),
            Some("agentType")
        );
    }
}
