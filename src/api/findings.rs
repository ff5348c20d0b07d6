//! `GET /api/v1/findings`: the risks of the weekly report, paged, with counts.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use crate::findings::{
    Catalogue, FindingCursor, FindingFilter, FindingKind, Findings, Period, Severity,
};
use crate::startup::AppState;

/// Paging of this list: findings are small, and a report page of 100 reads well.
pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;
/// Default period: the last week.
const DEFAULT_DAYS: i64 = 7;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/findings").route(web::get().to(list)));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Comma-separated kinds.
    kind: Option<String>,
    /// Comma-separated severities.
    severity: Option<String>,
    /// This severity and the more urgent ones.
    min_severity: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
    /// `false` skips the counts (they scan every credential: seconds at 100,000
    /// agents), for clients that only page.
    counts: Option<bool>,
}

fn parse_list<T: std::str::FromStr>(name: &str, raw: Option<&str>) -> Result<Vec<T>, ApiError>
where
    T::Err: std::fmt::Display,
{
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| v.parse::<T>().map_err(|e| ApiError::bad_param(name, e)))
        .collect()
}

fn parse_time(name: &str, raw: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    raw.map(|v| {
        DateTime::parse_from_rfc3339(v)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                ApiError::bad_param(name, "must be an RFC 3339 time, e.g. 2025-01-06T08:00:00Z")
            })
    })
    .transpose()
}

/// A validated list query.
struct ListRequest {
    filter: FindingFilter,
    period: Period,
    limit: u32,
    cursor: Option<FindingCursor>,
}

/// Validates the query, every parameter before anything is read.
fn parse_query(query: &ListQuery) -> Result<ListRequest, ApiError> {
    let kinds: Vec<FindingKind> = parse_list("kind", query.kind.as_deref())?;
    let mut severities: Vec<Severity> = parse_list("severity", query.severity.as_deref())?;
    if let Some(min) = &query.min_severity {
        let min: Severity = min
            .parse()
            .map_err(|e| ApiError::bad_param("min_severity", e))?;
        let allowed = min.at_least();
        severities = if severities.is_empty() {
            allowed
        } else {
            severities.retain(|s| allowed.contains(s));
            if severities.is_empty() {
                return Err(ApiError::bad_param(
                    "min_severity",
                    "excludes every severity given in severity",
                ));
            }
            severities
        };
    }
    let to = parse_time("to", query.to.as_deref())?.unwrap_or_else(crate::store::now);
    let from = parse_time("from", query.from.as_deref())?
        .unwrap_or(to - chrono::Duration::days(DEFAULT_DAYS));
    if from >= to {
        return Err(ApiError::bad_param("from", "must be before to"));
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_param(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let cursor = query
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(FindingCursor::parse)
        .transpose()
        .map_err(|e| ApiError::bad_param("cursor", e))?;
    Ok(ListRequest {
        filter: FindingFilter { kinds, severities },
        period: Period { from, to },
        limit,
        cursor,
    })
}

async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let ListRequest {
        filter,
        period,
        limit,
        cursor,
    } = parse_query(&query)?;
    // Validated at start-up; a failure here is a bug, answered as one.
    let catalogue = Catalogue::from_config(&state.settings.findings)
        .map_err(|e| ApiError::internal(&crate::config::ConfigError(e)))?;
    let findings = Findings::new(&state.store, &catalogue, period);
    let page = findings.page(&filter, cursor.as_ref(), limit).await?;
    let counts = match query.counts {
        Some(false) => None,
        _ => Some(findings.counts(&filter).await?),
    };
    Ok(HttpResponse::Ok().json(json!({
        "items": page.items,
        "next_cursor": page.next_cursor,
        "counts": counts,
        "period": period,
        "evaluated_at": findings.now(),
    })))
}
