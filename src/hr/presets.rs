//! What a verified HR webhook means: each vendor's payload turned into terminations,
//! cancellations and rehires of employees.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use super::config::{HrSource, Mapping, Preset, ValueRule};
use super::signature::parse_timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Termination,
    /// A termination announced without a date, to take effect when a later event says
    /// so (Gusto's `employee.terminated` before `termination_effective`).
    Notice,
    Cancellation,
    Rehire,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Termination => "termination",
            Self::Notice => "notice",
            Self::Cancellation => "cancellation",
            Self::Rehire => "rehire",
        }
    }
}

/// One employee's change, as the HR system reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub kind: Kind,
    pub employee_id: Option<String>,
    pub email: Option<String>,
    /// When it takes effect; None means now.
    pub effective_at: Option<DateTime<Utc>>,
}

/// The meaning of a webhook.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// A set-up handshake (HiBob's ping, Gusto's verification token): answer 200,
    /// store nothing.
    Handshake(&'static str),
    /// Employee changes (possibly none: an event that does not concern offboarding).
    Events {
        /// The provider's event id, when the payload has one.
        event_id: Option<String>,
        entries: Vec<Entry>,
        /// Entries of a batch that made no sense, with why; the others still apply.
        skipped: Vec<String>,
    },
}

/// Parses a verified body. `message_id` is the id the signature scheme carried.
pub fn parse(source: &HrSource, body: &[u8], message_id: Option<String>) -> Result<Parsed, String> {
    if source.preset == Preset::Rippling {
        return Ok(rippling(body));
    }
    if source.preset == Preset::Hibob && is_hibob_ping(body) {
        return Ok(Parsed::Handshake("HiBob ping test"));
    }
    let doc: Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "body is not JSON: {}",
            crate::api::error::redact_serde_message(&e.to_string())
        )
    })?;
    match source.preset {
        Preset::Standard => standard(&doc, message_id),
        Preset::Bamboohr => Ok(bamboohr(&doc)),
        Preset::Hibob => Ok(hibob(&doc)),
        Preset::Gusto => Ok(gusto(&doc)),
        Preset::Deel => Ok(deel(&doc)),
        Preset::Personio => Ok(personio(&doc)),
        Preset::Custom => custom(&source.mapping, &doc, message_id),
        Preset::Rippling => unreachable!("handled above"),
    }
}

fn text(doc: &Value, pointer: &str) -> Option<String> {
    match doc.pointer(pointer)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn first_text(doc: &Value, pointers: &[&str]) -> Option<String> {
    pointers.iter().find_map(|p| text(doc, p))
}

/// A date or date-time; a bare date means the start of that day, UTC.
pub fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let day = |format: &str| {
        NaiveDate::parse_from_str(text, format)
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc())
    };
    let parsed = if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) {
        day("%Y%m%d")
    } else {
        parse_timestamp(text).or_else(|| day("%Y-%m-%d"))
    };
    parsed.filter(super::signature::plausible)
}

fn events(event_id: Option<String>, entries: Vec<Entry>) -> Parsed {
    Parsed::Events {
        event_id,
        entries,
        skipped: Vec::new(),
    }
}

fn entry(
    kind: Kind,
    employee_id: Option<String>,
    email: Option<String>,
    effective_at: Option<DateTime<Utc>>,
) -> Entry {
    Entry {
        kind,
        employee_id,
        email,
        effective_at,
    }
}

/// ownerbound's own format (DESIGN.md).
fn standard(doc: &Value, message_id: Option<String>) -> Result<Parsed, String> {
    let kind = match doc.get("type").and_then(Value::as_str) {
        Some("employee.terminated") => Kind::Termination,
        Some("employee.termination_cancelled") => Kind::Cancellation,
        Some("employee.rehired") => Kind::Rehire,
        Some(_) => return Ok(events(message_id, Vec::new())),
        None => return Err("missing \"type\"".into()),
    };
    let employee_id = text(doc, "/employee/id");
    let email = text(doc, "/employee/email");
    if employee_id.is_none() && email.is_none() {
        return Err("\"employee\" needs an id or an email".into());
    }
    let effective_at = match doc.get("effective_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(parse_date(s).ok_or("effective_at is not RFC 3339")?),
        Some(_) => return Err("effective_at must be a string".into()),
    };
    Ok(events(
        message_id,
        vec![entry(kind, employee_id, email, effective_at)],
    ))
}

/// BambooHR: field-based batches (`employees[]` with `fields`) and event-based
/// `employee.deleted`. An event-based `employee.updated` names changed fields but not
/// their values, so it cannot say "terminated" and is ignored.
fn bamboohr(doc: &Value) -> Parsed {
    if let Some(employees) = doc.get("employees").and_then(Value::as_array) {
        let entries = employees
            .iter()
            .filter_map(|employee| {
                let id = text(employee, "/id");
                let deleted = employee
                    .get("action")
                    .and_then(Value::as_str)
                    .is_some_and(|a| a.eq_ignore_ascii_case("deleted"));
                // Field keys are aliases ("employmentStatus") or display names
                // ("Employment Status"): compare letters and digits only, any case.
                let norm = |s: &str| {
                    s.chars()
                        .filter(char::is_ascii_alphanumeric)
                        .collect::<String>()
                        .to_ascii_lowercase()
                };
                let field = |names: &[&str]| -> Option<String> {
                    let fields = employee.get("fields")?.as_object()?;
                    fields.iter().find_map(|(key, value)| {
                        names
                            .iter()
                            .any(|n| norm(key) == norm(n))
                            .then(|| {
                                value
                                    .get("value")
                                    .and_then(Value::as_str)
                                    .or(value.as_str())
                                    .map(str::to_string)
                            })
                            .flatten()
                    })
                };
                let inactive =
                    field(&["status"]).is_some_and(|s| s.eq_ignore_ascii_case("inactive"));
                let terminated = field(&["employmentHistoryStatus", "employmentStatus"])
                    .is_some_and(|s| s.eq_ignore_ascii_case("terminated"));
                let effective = field(&["terminationDate"]).and_then(|d| parse_date(&d));
                (deleted || inactive || terminated).then(|| {
                    entry(
                        Kind::Termination,
                        id.clone(),
                        field(&["workEmail", "email"]),
                        effective,
                    )
                })
            })
            .collect();
        return events(None, entries);
    }
    match doc.get("type").and_then(Value::as_str) {
        Some("employee.deleted") => events(
            None,
            vec![entry(
                Kind::Termination,
                text(doc, "/data/employeeId"),
                None,
                None,
            )],
        ),
        _ => events(None, Vec::new()),
    }
}

/// HiBob v2.
/// HiBob's set-up ping: the bare text `Ping test`, or a JSON object whose `text` or
/// `type` is exactly that.
fn is_hibob_ping(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    let text = text.trim().trim_matches('"');
    if text.eq_ignore_ascii_case("ping test") {
        return true;
    }
    serde_json::from_slice::<Value>(body)
        .ok()
        .is_some_and(|doc| {
            ["text", "type"].iter().any(|k| {
                doc.get(*k)
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.eq_ignore_ascii_case("ping test"))
            })
        })
}

fn hibob(doc: &Value) -> Parsed {
    let kind = doc.get("type").and_then(Value::as_str).unwrap_or_default();
    let terminating = [
        "employee.left",
        "employee.inactivated",
        "employee.access.revoked.immediately",
        "employee.deleted",
    ];
    if !terminating.contains(&kind) {
        return events(None, Vec::new());
    }
    events(
        None,
        vec![entry(
            Kind::Termination,
            text(doc, "/data/employeeId"),
            None,
            None,
        )],
    )
}

/// Gusto. `employee.terminated` arrives when the termination is *entered*, possibly
/// weeks before the last day, and carries no date: it is kept as a pending notice.
/// `employee.termination_effective` (the day after the last day) deactivates;
/// cancellation and rehire cancel what is still pending.
fn gusto(doc: &Value) -> Parsed {
    if doc.get("verification_token").is_some() {
        return Parsed::Handshake("Gusto verification token");
    }
    let event_id = text(doc, "/uuid");
    let employee = first_text(doc, &["/entity_uuid", "/resource_uuid"]);
    let kind = match doc.get("event_type").and_then(Value::as_str) {
        Some("employee.terminated") => Kind::Notice,
        Some("employee.termination_effective" | "employee.terminated_effective") => {
            Kind::Termination
        }
        Some("employee.termination_cancelled") => Kind::Cancellation,
        Some("employee.rehired" | "employee.rehire") => Kind::Rehire,
        _ => return events(event_id, Vec::new()),
    };
    events(event_id, vec![entry(kind, employee, None, None)])
}

/// Deel: `contract.terminated`.
fn deel(doc: &Value) -> Parsed {
    let event_id = text(doc, "/data/meta/tracking_id");
    let kind = first_text(doc, &["/data/meta/event_type", "/type"]).unwrap_or_default();
    if kind != "contract.terminated" {
        return events(event_id, Vec::new());
    }
    let resource = doc
        .pointer("/data/resource")
        .cloned()
        .unwrap_or(Value::Null);
    let employee = first_text(
        &resource,
        &[
            "/worker/id",
            "/employee/id",
            "/worker_id",
            "/employee_id",
            "/id",
        ],
    );
    let email = first_text(&resource, &["/worker/email", "/employee/email", "/email"]);
    let effective = first_text(
        &resource,
        &["/termination_date", "/end_date", "/terminated_at"],
    )
    .and_then(|d| parse_date(&d));
    events(
        event_id,
        vec![entry(Kind::Termination, employee, email, effective)],
    )
}

/// Personio: `employment.terminated` fires on the termination date.
fn personio(doc: &Value) -> Parsed {
    if doc.get("event_name").and_then(Value::as_str) != Some("employment.terminated") {
        return events(None, Vec::new());
    }
    let employee = first_text(
        doc,
        &[
            "/payload/person_id",
            "/payload/employee_id",
            "/payload/person/id",
            "/payload/id",
        ],
    );
    let effective = text(doc, "/occurred_at").and_then(|d| parse_date(&d));
    events(
        None,
        vec![entry(Kind::Termination, employee, None, effective)],
    )
}

/// Rippling: a form-encoded body with `event_name` and `id`.
fn rippling(body: &[u8]) -> Parsed {
    let mut event = None;
    let mut id = None;
    for (key, value) in url::form_urlencoded::parse(body) {
        match key.as_ref() {
            "event_name" => event = Some(value.into_owned()),
            "id" => id = Some(value.into_owned()),
            _ => {}
        }
    }
    match event.as_deref() {
        Some("employee.terminated" | "employee.deleted") => {
            events(None, vec![entry(Kind::Termination, id, None, None)])
        }
        _ => events(None, Vec::new()),
    }
}

/// A custom mapping of JSON pointers.
fn custom(mapping: &Mapping, doc: &Value, message_id: Option<String>) -> Result<Parsed, String> {
    let event_id = mapping
        .event_id
        .as_deref()
        .and_then(|p| text(doc, p))
        .or(message_id);
    let items: Vec<&Value> = match &mapping.batch {
        Some(pointer) => doc
            .pointer(pointer)
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{pointer} is not an array"))?
            .iter()
            .collect(),
        None => vec![doc],
    };
    let matches = |item: &Value, rules: &[ValueRule]| {
        rules.iter().any(|rule| {
            let value = match &rule.pointer {
                Some(pointer) => text(item, pointer),
                // The event type: in the entry, or at the top of a batched document.
                None => mapping
                    .event_type
                    .as_deref()
                    .and_then(|p| text(item, p).or_else(|| text(doc, p))),
            };
            value.is_some_and(|v| rule.values.iter().any(|allowed| allowed == &v))
        })
    };
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let kind = if matches(item, &mapping.cancelled_if) {
            Kind::Cancellation
        } else if matches(item, &mapping.terminated_if) {
            Kind::Termination
        } else {
            continue;
        };
        let pointer = |p: &Option<String>| p.as_deref().and_then(|p| text(item, p));
        let effective_at = match pointer(&mapping.effective_date) {
            Some(d) => match parse_date(&d) {
                Some(at) => Some(at),
                None => {
                    skipped.push(format!("entry {index}: effective date is not a date"));
                    continue;
                }
            },
            None => None,
        };
        let employee_id = pointer(&mapping.employee_id);
        let email = pointer(&mapping.email);
        if employee_id.is_none() && email.is_none() {
            skipped.push(format!("entry {index}: neither employee id nor email"));
            continue;
        }
        entries.push(entry(kind, employee_id, email, effective_at));
    }
    if entries.is_empty() && !skipped.is_empty() {
        return Err(skipped.join("; "));
    }
    Ok(Parsed::Events {
        event_id,
        entries,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bamboohr_batch_fans_out_to_the_terminated_employees_only() {
        let doc = json!({"employees": [
            {"action": "Updated", "id": "101", "fields": {"status": {"value": "Inactive"}, "terminationDate": {"value": "2026-12-31"}}},
            {"action": "Updated", "id": "102", "fields": {"jobTitle": {"value": "CTO"}}},
            {"action": "Deleted", "id": "103", "fields": {}},
            {"action": "Updated", "id": "104", "fields": {"employmentHistoryStatus": {"value": "Terminated"}}}
        ]});
        let Parsed::Events { entries, .. } = bamboohr(&doc) else {
            panic!()
        };
        let ids: Vec<_> = entries
            .iter()
            .map(|e| e.employee_id.clone().unwrap())
            .collect();
        assert_eq!(ids, ["101", "103", "104"]);
        assert_eq!(entries[0].effective_at, parse_date("2026-12-31"));
    }

    #[test]
    fn dates_are_read_strictly() {
        assert_eq!(parse_date("20261231"), parse_date("2026-12-31"));
        assert_eq!(parse_date("1798761600"), parse_date("2027-01-01T00:00:00Z"));
        assert_eq!(
            parse_date("1798761600000"),
            parse_date("2027-01-01T00:00:00Z")
        );
        assert_eq!(
            parse_date("2026-11-28T10:00:00+0000"),
            parse_date("2026-11-28T10:00:00Z")
        );
        for bad in ["57970000000000", "12345", "31/12/2026", "99999-01-01", ""] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn rippling_form_body_and_hibob_ping() {
        let Parsed::Events { entries, .. } =
            rippling(b"event_name=employee.terminated&company_id=c1&id=emp-9")
        else {
            panic!()
        };
        assert_eq!(entries[0].employee_id.as_deref(), Some("emp-9"));
        assert!(is_hibob_ping(b"Ping test") && is_hibob_ping(br#"{"text":"Ping test"}"#));
        assert!(!is_hibob_ping(
            br#"{"type":"employee.left","data":{"note":"Ping test"}}"#
        ));
    }

    #[test]
    fn custom_mapping_with_batch_and_rules() {
        let mapping = Mapping {
            batch: Some("/changes".into()),
            event_id: Some("/delivery".into()),
            employee_id: Some("/worker".into()),
            effective_date: Some("/last_day".into()),
            terminated_if: vec![ValueRule {
                pointer: Some("/state".into()),
                values: vec!["gone".into()],
            }],
            cancelled_if: vec![ValueRule {
                pointer: Some("/state".into()),
                values: vec!["staying".into()],
            }],
            ..Mapping::default()
        };
        let doc = json!({"delivery": "d-1", "changes": [
            {"worker": "w1", "state": "gone", "last_day": "2026-01-02"},
            {"worker": "w2", "state": "staying"},
            {"worker": "w3", "state": "promoted"}
        ]});
        let Parsed::Events {
            event_id, entries, ..
        } = custom(&mapping, &doc, None).unwrap()
        else {
            panic!()
        };
        assert_eq!(event_id.as_deref(), Some("d-1"));
        assert_eq!(
            entries.iter().map(|e| e.kind).collect::<Vec<_>>(),
            [Kind::Termination, Kind::Cancellation]
        );
    }
}
