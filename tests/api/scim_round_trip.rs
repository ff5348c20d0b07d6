//! Round trips, property-tested: for Users, Groups, Agents and AgenticApplications,
//! documents generated from the schemas ownerbound serves at `/Schemas` are created
//! (POST), replaced (PUT) and patched (PATCH add, replace and remove of whole
//! attributes, of sub-attributes, and of elements picked by a value filter). A valid
//! document is never refused, every writable attribute and sub-attribute reads back
//! as written, and nothing written earlier is left behind.
//!
//! The generators read the served schema: a writable attribute added there is
//! generated here without a change. References (a group's members, an agent's
//! owners, an application's agents) draw from resources created first. The
//! expectation is a small model of RFC 7644's semantics (`Model`), plus what
//! ownerbound documents on top: a missing `active` is true on creation and kept by a
//! PUT of a User, removing it deactivates a User; an agent's two handles follow each
//! other (see `fill_in_handles` in `src/scim/agents.rs`); an owner's `type` is filled
//! in when left out; at most one element is `primary`, the last one marked.
//!
//! `PROPTEST_CASES` sets the number of cases per resource type (default 32); a failure
//! is shrunk to a small document and printed.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::helpers::TestApp;
use crate::on_both_engines;

/// An attribute definition as `/Schemas` serves it (RFC 7643 §7).
#[derive(Debug, Clone)]
struct Def {
    name: String,
    ty: String,
    multi: bool,
    required: bool,
    case_exact: bool,
    unique: bool,
    mutability: String,
    canonical: Vec<String>,
    sub: Vec<Def>,
}

impl Def {
    fn of(served: &Value) -> Self {
        let text = |k: &str| served[k].as_str().unwrap_or_default().to_string();
        Self {
            name: text("name"),
            ty: text("type"),
            multi: served["multiValued"] == true,
            required: served["required"] == true,
            case_exact: served["caseExact"] == true,
            unique: served["uniqueness"] == "server",
            mutability: text("mutability"),
            canonical: served["canonicalValues"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            sub: served["subAttributes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(Def::of)
                .collect(),
        }
    }

    /// What a client may write.
    fn writable(&self) -> bool {
        self.mutability != "readOnly"
    }

    fn returned(&self) -> bool {
        self.mutability != "writeOnly"
    }

    fn sub_named(&self, name: &str) -> Option<&Def> {
        self.sub.iter().find(|s| s.name == name)
    }

    fn is_complex(&self) -> bool {
        self.ty == "complex"
    }
}

/// An attribute of a resource type: in the core schema (`urn` None) or an extension.
#[derive(Debug, Clone)]
struct Field {
    urn: Option<String>,
    def: Def,
}

impl Field {
    /// The PATCH path naming it.
    fn path(&self) -> String {
        match &self.urn {
            Some(urn) => format!("{urn}:{}", self.def.name),
            None => self.def.name.clone(),
        }
    }
}

/// A resource type as discovery describes it.
#[derive(Debug, Clone)]
struct Resource {
    name: String,
    endpoint: String,
    core: String,
    fields: Vec<Field>,
}

/// Resources created first, for references to point at.
#[derive(Debug, Clone)]
struct Pool {
    users: Vec<String>,
    groups: Vec<String>,
    agents: Vec<String>,
}

/// The multi-valued references: elements are one per `value`, and the rest of each
/// element describes what `value` names.
const REFERENCE_LISTS: &[&str] = &["Group.members", "Agent.owners", "AgenticApplication.agents"];

fn is_reference_list(resource: &str, def: &Def) -> bool {
    REFERENCE_LISTS.contains(&format!("{resource}.{}", def.name).as_str())
}

/// Text with no control characters and no whitespace at either end.
fn text() -> BoxedStrategy<String> {
    proptest::string::string_regex(r"[^\s\p{C}]([^\p{C}]{0,10}[^\s\p{C}])?")
        .unwrap()
        .boxed()
}

fn value_of(resource: &str, def: &Def, pool: &Pool) -> BoxedStrategy<Value> {
    if is_reference_list(resource, def) {
        return references(resource, pool);
    }
    let one = single_value(resource, def, pool);
    if def.multi {
        let primary = def.sub_named("primary").is_some();
        return prop::collection::vec(one, 1..=3)
            .prop_map(move |mut items| {
                if primary {
                    keep_one_primary(&mut items);
                }
                Value::Array(items)
            })
            .boxed();
    }
    one
}

fn single_value(resource: &str, def: &Def, pool: &Pool) -> BoxedStrategy<Value> {
    match def.ty.as_str() {
        "string" if def.canonical.is_empty() => text().prop_map(Value::String).boxed(),
        "string" => prop_oneof![
            prop::sample::select(def.canonical.clone()).prop_map(Value::String),
            text().prop_map(Value::String),
        ]
        .boxed(),
        "boolean" => any::<bool>().prop_map(Value::Bool).boxed(),
        "reference" => "https://example\\.com/[a-z0-9]{1,8}"
            .prop_map(Value::String)
            .boxed(),
        "binary" => prop::collection::vec(any::<u8>(), 1..24)
            .prop_map(|bytes| json!(base64::engine::general_purpose::STANDARD.encode(bytes)))
            .boxed(),
        "complex" => object_of(resource, &def.sub, pool),
        other => panic!("no generator for {} of type {other}", def.name),
    }
}

/// An object of some of the writable `subs` (the required ones always), never empty.
fn object_of(resource: &str, subs: &[Def], pool: &Pool) -> BoxedStrategy<Value> {
    let parts: Vec<BoxedStrategy<Option<(String, Value)>>> = subs
        .iter()
        .filter(|s| s.writable())
        .map(|s| {
            let name = s.name.clone();
            let value = value_of(resource, s, pool).prop_map(move |v| (name.clone(), v));
            if s.required {
                value.prop_map(Some).boxed()
            } else {
                prop::option::weighted(0.6, value).boxed()
            }
        })
        .collect();
    parts
        .prop_map(|parts| Value::Object(parts.into_iter().flatten().collect()))
        .prop_filter("an element says something", |v| {
            v.as_object().is_some_and(|o| !o.is_empty())
        })
        .boxed()
}

/// Members, owners or an application's agents: resources of the pool, each once.
fn references(resource: &str, pool: &Pool) -> BoxedStrategy<Value> {
    match resource {
        "Group" => prop::sample::subsequence(pool.users.clone(), 1..=pool.users.len())
            .prop_map(|ids| Value::Array(ids.into_iter().map(|id| json!({"value": id})).collect()))
            .boxed(),
        "Agent" => {
            let owners: Vec<(String, &str)> = pool
                .users
                .iter()
                .map(|u| (u.clone(), "User"))
                .chain(pool.groups.iter().map(|g| (g.clone(), "Group")))
                .collect();
            let most = owners.len();
            (
                prop::sample::subsequence(owners, 1..=most),
                prop::collection::vec(any::<bool>(), most),
            )
                .prop_map(|(owners, say_type)| {
                    let owners = owners.into_iter().zip(say_type).map(|((id, kind), say)| {
                        if say {
                            json!({"value": id, "type": kind})
                        } else {
                            json!({"value": id})
                        }
                    });
                    Value::Array(owners.collect())
                })
                .boxed()
        }
        "AgenticApplication" => {
            let most = pool.agents.len();
            let kind = prop::option::of(prop_oneof![
                prop::sample::select(vec!["owned", "authorized", "guest"]).prop_map(String::from),
                text(),
            ]);
            (
                prop::sample::subsequence(pool.agents.clone(), 1..=most),
                prop::collection::vec(kind, most),
            )
                .prop_map(|(ids, kinds)| {
                    let agents = ids.into_iter().zip(kinds).map(|(id, kind)| match kind {
                        Some(kind) => json!({"value": id, "type": kind}),
                        None => json!({"value": id}),
                    });
                    Value::Array(agents.collect())
                })
                .boxed()
        }
        other => panic!("no references for {other}"),
    }
}

/// A whole document: some of the writable attributes (the required ones always).
fn document(resource: &Resource, pool: &Pool) -> BoxedStrategy<Map<String, Value>> {
    let parts: Vec<BoxedStrategy<Option<(Field, Value)>>> = resource
        .fields
        .iter()
        .filter(|f| f.def.writable())
        .map(|f| {
            let field = f.clone();
            let value =
                value_of(&resource.name, &f.def, pool).prop_map(move |v| (field.clone(), v));
            if f.def.required {
                value.prop_map(Some).boxed()
            } else {
                prop::option::weighted(0.6, value).boxed()
            }
        })
        .collect();
    parts
        .prop_map(|parts| {
            let mut doc = Map::new();
            for (field, value) in parts.into_iter().flatten() {
                put(&mut doc, &field, Some(value));
            }
            doc
        })
        .boxed()
}

/// One PATCH operation, before the model it applies to is known: an element is
/// picked by position among those present then.
#[derive(Debug, Clone)]
enum Step {
    Add(Field, Value),
    Replace(Field, Value),
    Remove(Field),
    SetSub(Field, Def, Value),
    RemoveSub(Field, Def),
    RemoveElement(Field, usize),
    SetElementSub(Field, usize, Def, Value),
}

fn steps(resource: &Resource, pool: &Pool) -> BoxedStrategy<Vec<Step>> {
    let name = resource.name.as_str();
    let mut choices: Vec<BoxedStrategy<Step>> = Vec::new();
    // Immutable attributes are set once, on creation.
    for field in resource
        .fields
        .iter()
        .filter(|f| f.def.mutability == "readWrite")
    {
        let value = value_of(name, &field.def, pool);
        let f = field.clone();
        choices.push(
            value
                .clone()
                .prop_map(move |v| Step::Add(f.clone(), v))
                .boxed(),
        );
        let f = field.clone();
        choices.push(value.prop_map(move |v| Step::Replace(f.clone(), v)).boxed());
        if !field.def.required {
            choices.push(Just(Step::Remove(field.clone())).boxed());
        }
        if !field.def.is_complex() {
            continue;
        }
        let reference_list = is_reference_list(name, &field.def);
        for sub in field.def.sub.iter().filter(|s| s.writable()) {
            let (f, s) = (field.clone(), sub.clone());
            let value = value_of(name, sub, pool);
            if !field.def.multi {
                choices.push(
                    value
                        .prop_map(move |v| Step::SetSub(f.clone(), s.clone(), v))
                        .boxed(),
                );
                if !sub.required {
                    choices.push(Just(Step::RemoveSub(field.clone(), sub.clone())).boxed());
                }
            } else if !reference_list || sub.name == "type" && name == "AgenticApplication" {
                // What a reference's value names, and so an owner's type, is chosen
                // with the element; an application's agent's type is the client's.
                choices.push(
                    (any::<usize>(), value)
                        .prop_map(move |(at, v)| Step::SetElementSub(f.clone(), at, s.clone(), v))
                        .boxed(),
                );
            }
        }
        if field.def.multi && field.def.sub_named("value").is_some() {
            let f = field.clone();
            choices.push(
                any::<usize>()
                    .prop_map(move |at| Step::RemoveElement(f.clone(), at))
                    .boxed(),
            );
        }
    }
    prop::collection::vec(Union::new(choices), 1..6).boxed()
}

/// The value of a field in a document, or None.
fn get<'a>(doc: &'a Map<String, Value>, field: &Field) -> Option<&'a Value> {
    match &field.urn {
        Some(urn) => doc.get(urn)?.get(&field.def.name),
        None => doc.get(&field.def.name),
    }
}

fn put(doc: &mut Map<String, Value>, field: &Field, value: Option<Value>) {
    let container = match &field.urn {
        Some(urn) => doc
            .entry(urn.clone())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .unwrap(),
        None => doc,
    };
    match value {
        Some(v) => container.insert(field.def.name.clone(), v),
        None => container.remove(&field.def.name),
    };
    if let Some(urn) = &field.urn {
        if doc[urn].as_object().is_some_and(Map::is_empty) {
            doc.remove(urn);
        }
    }
}

/// At most one element may be primary: the last one marked wins (RFC 7643 §2.4).
fn keep_one_primary(items: &mut [Value]) {
    let marked = |i: &Value| i.get("primary") == Some(&Value::Bool(true));
    if let Some(last) = items.iter().rposition(marked) {
        for (i, item) in items.iter_mut().enumerate() {
            if i != last && marked(item) {
                item["primary"] = json!(false);
            }
        }
    }
}

fn value_eq(a: &Value, b: &Value, case_exact: bool) -> bool {
    match (a.as_str(), b.as_str()) {
        (Some(a), Some(b)) if !case_exact => a.to_lowercase() == b.to_lowercase(),
        _ => a == b,
    }
}

/// What the resource must read back as: RFC 7644's semantics, applied to what was
/// written.
struct Model<'a> {
    resource: &'a Resource,
    pool: &'a Pool,
}

impl Model<'_> {
    fn field(&self, name: &str) -> Option<&Field> {
        self.resource
            .fields
            .iter()
            .find(|f| f.urn.is_none() && f.def.name == name)
    }

    /// A POST (`before` None) or PUT of `written`.
    fn written(
        &self,
        before: Option<&Map<String, Value>>,
        written: &Map<String, Value>,
    ) -> Map<String, Value> {
        let mut doc = written.clone();
        if let Some(active) = self.field("active").map(|f| f.def.name.clone()) {
            let kept = match (self.resource.name.as_str(), before) {
                ("User" | "Agent", Some(before)) => before["active"].clone(),
                _ => json!(true),
            };
            doc.entry(active).or_insert(kept);
        }
        if let (Some(before), Some(subject)) = (before, self.field("subject")) {
            if let Some(kept) = get(before, subject).cloned() {
                put(&mut doc, &subject.clone(), Some(kept));
            }
        }
        self.settle(&Map::new(), &mut doc);
        doc
    }

    /// What ownerbound fills in whatever the operation: the other handle of an
    /// agent, an owner's type, one element per reference.
    fn settle(&self, before: &Map<String, Value>, doc: &mut Map<String, Value>) {
        for field in &self.resource.fields {
            if !is_reference_list(&self.resource.name, &field.def) {
                continue;
            }
            let Some(Value::Array(items)) = get(doc, field).cloned() else {
                continue;
            };
            let mut one_each: Vec<Value> = Vec::new();
            for item in items {
                match one_each.iter_mut().find(|i| i["value"] == item["value"]) {
                    Some(kept) => kept
                        .as_object_mut()
                        .unwrap()
                        .extend(item.as_object().unwrap().clone()),
                    None => one_each.push(item),
                }
            }
            if self.resource.name == "Agent" {
                for owner in &mut one_each {
                    let kind = if self.pool.groups.iter().any(|g| owner["value"] == *g) {
                        "Group"
                    } else {
                        "User"
                    };
                    owner["type"] = json!(kind);
                }
            }
            put(doc, field, Some(Value::Array(one_each)));
        }
        if self.resource.name == "Agent" {
            let read = |d: &Map<String, Value>, k: &str| d.get(k).cloned();
            let (name, handle) = (read(doc, "name"), read(doc, "agentUserName"));
            let mirrored =
                !before.is_empty() && read(before, "name") == read(before, "agentUserName");
            let changed = |k: &str, v: &Option<Value>| v.is_some() && *v != read(before, k);
            let (name, handle) = match (name, handle) {
                (Some(n), Some(h)) if mirrored => match (
                    changed("name", &Some(n.clone())),
                    changed("agentUserName", &Some(h.clone())),
                ) {
                    (true, false) => (n.clone(), n),
                    (false, true) => (h.clone(), h),
                    _ => (n, h),
                },
                (Some(n), Some(h)) => (n, h),
                (Some(v), None) | (None, Some(v)) => (v.clone(), v),
                (None, None) => unreachable!("name is required"),
            };
            doc.insert("name".into(), name);
            doc.insert("agentUserName".into(), handle);
        }
    }

    /// A PATCH: the operations to send and the document they lead to. A step that
    /// picks an element where there is none is left out.
    fn patched(
        &self,
        before: &Map<String, Value>,
        steps: &[Step],
    ) -> (Vec<Value>, Map<String, Value>) {
        let mut doc = before.clone();
        let mut operations = Vec::new();
        for step in steps {
            let operation = match step {
                Step::Add(field, value) => {
                    let merged = match (field.def.multi, field.def.is_complex(), get(&doc, field)) {
                        (true, _, Some(Value::Array(items))) => {
                            let mut items = items.clone();
                            for new in value.as_array().unwrap() {
                                match items.iter_mut().find(|i| same_element(i, new)) {
                                    Some(old) => old
                                        .as_object_mut()
                                        .unwrap()
                                        .extend(new.as_object().unwrap().clone()),
                                    None => items.push(new.clone()),
                                }
                            }
                            keep_one_primary(&mut items);
                            Value::Array(items)
                        }
                        (false, true, Some(Value::Object(old))) => {
                            let mut old = old.clone();
                            old.extend(value.as_object().unwrap().clone());
                            Value::Object(old)
                        }
                        _ => value.clone(),
                    };
                    put(&mut doc, field, Some(merged));
                    json!({"op": "add", "path": field.path(), "value": value})
                }
                Step::Replace(field, value) => {
                    let replaced = match (field.def.multi, field.def.is_complex(), get(&doc, field))
                    {
                        // RFC 7644 §3.5.2.3: sub-attributes not given stay.
                        (false, true, Some(Value::Object(old))) => {
                            let mut old = old.clone();
                            old.extend(value.as_object().unwrap().clone());
                            Value::Object(old)
                        }
                        _ => value.clone(),
                    };
                    put(&mut doc, field, Some(replaced));
                    json!({"op": "replace", "path": field.path(), "value": value})
                }
                Step::Remove(field) => {
                    // Removing a User's or an Agent's `active` deactivates, and an
                    // AgenticApplication's takes the default (documented in /Schemas).
                    let left = match (self.resource.name.as_str(), field.def.name.as_str()) {
                        ("User" | "Agent", "active") => Some(json!(false)),
                        (_, "active") => Some(json!(true)),
                        _ => None,
                    };
                    put(&mut doc, field, left);
                    json!({"op": "remove", "path": field.path()})
                }
                Step::SetSub(field, sub, value) => {
                    let mut object = get(&doc, field)
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default();
                    object.insert(sub.name.clone(), value.clone());
                    put(&mut doc, field, Some(Value::Object(object)));
                    json!({"op": "replace", "path": format!("{}.{}", field.path(), sub.name), "value": value})
                }
                Step::RemoveSub(field, sub) => {
                    if let Some(Value::Object(object)) = get(&doc, field).cloned() {
                        let mut object = object;
                        object.remove(&sub.name);
                        put(
                            &mut doc,
                            field,
                            (!object.is_empty()).then_some(Value::Object(object)),
                        );
                    }
                    json!({"op": "remove", "path": format!("{}.{}", field.path(), sub.name)})
                }
                Step::RemoveElement(field, at) | Step::SetElementSub(field, at, _, _) => {
                    let Some(Value::Array(items)) = get(&doc, field).cloned() else {
                        continue;
                    };
                    let Some(picked) = items[at % items.len()].get("value").cloned() else {
                        continue;
                    };
                    let case_exact = field.def.sub_named("value").unwrap().case_exact;
                    let matches = |i: &Value| {
                        i.get("value")
                            .is_some_and(|v| value_eq(v, &picked, case_exact))
                    };
                    let filter = format!("{}[value eq {}]", field.path(), picked);
                    match step {
                        Step::SetElementSub(_, _, sub, value) => {
                            let mut items = items;
                            for item in items.iter_mut().filter(|i| matches(i)) {
                                item[&sub.name] = value.clone();
                            }
                            keep_one_primary(&mut items);
                            put(&mut doc, field, Some(Value::Array(items)));
                            json!({"op": "replace", "path": format!("{filter}.{}", sub.name), "value": value})
                        }
                        _ => {
                            let left: Vec<Value> =
                                items.into_iter().filter(|i| !matches(i)).collect();
                            put(
                                &mut doc,
                                field,
                                (!left.is_empty()).then_some(Value::Array(left)),
                            );
                            json!({"op": "remove", "path": filter})
                        }
                    }
                }
            };
            operations.push(operation);
        }
        self.settle(before, &mut doc);
        (operations, doc)
    }
}

/// The PATCH engine's notion of one element: the same `value` (ASCII case aside),
/// and the same `type` when both say one.
fn same_element(a: &Value, b: &Value) -> bool {
    let value = match (
        a.get("value").and_then(Value::as_str),
        b.get("value").and_then(Value::as_str),
    ) {
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        _ => false,
    };
    let kind = match (a.get("type"), b.get("type")) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    };
    value && kind
}

/// Differences between what a resource should hold and what it holds, for every
/// writable attribute and sub-attribute.
fn differences(resource: &Resource, expected: &Map<String, Value>, got: &Value) -> Vec<String> {
    let got = got.as_object().cloned().unwrap_or_default();
    let mut out = Vec::new();
    for field in resource.fields.iter().filter(|f| f.def.writable()) {
        let path = field.path();
        compare(
            &path,
            &field.def,
            get(expected, field),
            get(&got, field),
            &mut out,
        );
    }
    out
}

fn compare(
    path: &str,
    def: &Def,
    expected: Option<&Value>,
    got: Option<&Value>,
    out: &mut Vec<String>,
) {
    if !def.returned() {
        if got.is_some() {
            out.push(format!("{path}: write-only, but returned"));
        }
        return;
    }
    match (expected, got) {
        (None, None) => {}
        (Some(e), None) => out.push(format!("{path}: wrote {e}, read nothing")),
        (None, Some(g)) => out.push(format!("{path}: wrote nothing, read {g}")),
        (Some(e), Some(g)) => {
            if !same(def, e, g) {
                out.push(format!("{path}: wrote {e}, read {g}"));
            }
        }
    }
}

/// Whether `got` holds what `expected` says, for the writable parts of `def`; the
/// elements of a multi-valued attribute in any order.
fn same(def: &Def, expected: &Value, got: &Value) -> bool {
    if def.multi {
        let (Some(expected), Some(got)) = (expected.as_array(), got.as_array()) else {
            return false;
        };
        let one = Def {
            multi: false,
            ..def.clone()
        };
        let mut left: Vec<&Value> = got.iter().collect();
        for e in expected {
            match left.iter().position(|g| same(&one, e, g)) {
                Some(i) => {
                    left.remove(i);
                }
                None => return false,
            }
        }
        return left.is_empty();
    }
    if def.is_complex() {
        let mut out = Vec::new();
        for sub in def.sub.iter().filter(|s| s.writable()) {
            compare(
                &sub.name,
                sub,
                expected.get(&sub.name),
                got.get(&sub.name),
                &mut out,
            );
        }
        return out.is_empty();
    }
    expected == got
}

/// Makes what must be unique among resources unique: server-unique attributes and
/// `externalId` get a suffix no other case has, after what was generated.
fn stamp(field: &Field, value: &mut Value) {
    static CASE: AtomicU64 = AtomicU64::new(0);
    let unique = field.urn.is_none() && (field.def.unique || field.def.name == "externalId");
    if let (true, Value::String(text)) = (unique, value) {
        text.push_str(&format!("~{}", CASE.fetch_add(1, Ordering::Relaxed)));
    }
}

fn stamp_document(resource: &Resource, doc: &mut Map<String, Value>) {
    for field in &resource.fields {
        if let (None, Some(value)) = (&field.urn, doc.get_mut(&field.def.name)) {
            stamp(field, value);
        }
    }
}

fn stamp_steps(steps: &mut [Step]) {
    for step in steps {
        if let Step::Add(field, value) | Step::Replace(field, value) = step {
            stamp(field, value);
        }
    }
}

async fn served_resources(app: &TestApp, token: &str) -> Vec<Resource> {
    let (status, _, schemas) = app.scim(token, Method::GET, "/Schemas", None).await;
    assert_eq!(status, 200, "{schemas}");
    let (status, _, types) = app.scim(token, Method::GET, "/ResourceTypes", None).await;
    assert_eq!(status, 200, "{types}");
    let attributes = |id: &str| -> Vec<Def> {
        schemas["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("{id} not served"))["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(Def::of)
            .collect()
    };
    types["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let core = t["schema"].as_str().unwrap().to_string();
            let extensions: Vec<String> = t["schemaExtensions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| e["schema"].as_str().unwrap().to_string())
                .collect();
            // `externalId` is common to every resource (RFC 7643 §3.1), defined by
            // no schema.
            let external_id = Def {
                name: "externalId".into(),
                ty: "string".into(),
                multi: false,
                required: false,
                case_exact: true,
                unique: false,
                mutability: "readWrite".into(),
                canonical: Vec::new(),
                sub: Vec::new(),
            };
            let mut fields: Vec<Field> = std::iter::once(external_id)
                .chain(attributes(&core))
                .map(|def| Field { urn: None, def })
                .collect();
            for urn in &extensions {
                fields.extend(attributes(urn).into_iter().map(|def| Field {
                    urn: Some(urn.clone()),
                    def,
                }));
            }
            Resource {
                name: t["name"].as_str().unwrap().to_string(),
                endpoint: t["endpoint"].as_str().unwrap().to_string(),
                core,
                fields,
            }
        })
        .collect()
}

/// The body of a POST or PUT: the document and the schemas it uses.
fn body_of(resource: &Resource, doc: &Map<String, Value>) -> Value {
    let mut schemas = vec![json!(resource.core)];
    for field in &resource.fields {
        if let Some(urn) = &field.urn {
            if doc.contains_key(urn) && !schemas.contains(&json!(urn)) {
                schemas.push(json!(urn));
            }
        }
    }
    let mut body = doc.clone();
    body.insert("schemas".into(), Value::Array(schemas));
    Value::Object(body)
}

/// What a write answered and what a read answers afterwards must both hold
/// `expected`.
async fn holds(
    app: &TestApp,
    token: &str,
    resource: &Resource,
    request: &str,
    answer: &Value,
    expected: &Map<String, Value>,
) -> Result<(), String> {
    let location = format!(
        "{}/{}",
        resource.endpoint,
        answer["id"].as_str().unwrap_or("?")
    );
    let (status, _, read) = app.scim(token, Method::GET, &location, None).await;
    if status != 200 {
        return Err(format!("GET {location} after {request}: {status} {read}"));
    }
    for (what, body) in [("answer", answer), ("read", &read)] {
        let out = differences(resource, expected, body);
        if !out.is_empty() {
            return Err(format!("{request}, {what}:\n{}\n{body}", out.join("\n")));
        }
    }
    Ok(())
}

/// One case: create, replace, patch, each read back.
async fn round_trip(
    app: &TestApp,
    token: &str,
    model: &Model<'_>,
    (mut created, mut replaced, mut steps): (Map<String, Value>, Map<String, Value>, Vec<Step>),
) -> Result<(), String> {
    let resource = model.resource;
    stamp_document(resource, &mut created);
    let body = body_of(resource, &created);
    let (status, _, answer) = app
        .scim(token, Method::POST, &resource.endpoint, Some(&body))
        .await;
    if status != 201 {
        return Err(format!("POST {body}: {status} {answer}"));
    }
    let location = format!("{}/{}", resource.endpoint, answer["id"].as_str().unwrap());
    let expected = model.written(None, &created);
    holds(
        app,
        token,
        resource,
        &format!("POST {body}"),
        &answer,
        &expected,
    )
    .await?;

    stamp_document(resource, &mut replaced);
    // An immutable attribute is written again as it was.
    for field in resource
        .fields
        .iter()
        .filter(|f| f.def.mutability == "immutable")
    {
        if let Some(kept) = get(&created, field).cloned() {
            put(&mut replaced, field, Some(kept));
        }
    }
    let body = body_of(resource, &replaced);
    let (status, _, answer) = app.scim(token, Method::PUT, &location, Some(&body)).await;
    if status != 200 {
        return Err(format!("PUT {body}: {status} {answer}"));
    }
    let expected = model.written(Some(&expected), &replaced);
    holds(
        app,
        token,
        resource,
        &format!("PUT {body}"),
        &answer,
        &expected,
    )
    .await?;

    stamp_steps(&mut steps);
    let before = expected;
    let (operations, expected) = model.patched(&before, &steps);
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                      "Operations": operations});
    let (status, _, answer) = app.scim(token, Method::PATCH, &location, Some(&body)).await;
    if status != 200 {
        let before = Value::Object(before);
        return Err(format!("PATCH {body} onto {before}: {status} {answer}"));
    }
    holds(
        app,
        token,
        resource,
        &format!("PATCH {body}"),
        &answer,
        &expected,
    )
    .await
}

async fn pool_of(app: &TestApp, token: &str) -> Pool {
    let create = |path: &'static str, body: Value| async move {
        let (status, _, created) = app.scim(token, Method::POST, path, Some(&body)).await;
        assert_eq!(status, 201, "{body}: {created}");
        created["id"].as_str().unwrap().to_string()
    };
    let mut users = Vec::new();
    for n in 0..3 {
        users.push(
            create(
                "/Users",
                json!({"userName": format!("pool-{n}@example.com")}),
            )
            .await,
        );
    }
    let mut groups = Vec::new();
    for (n, member) in users.iter().take(2).enumerate() {
        let body = json!({"displayName": format!("Pool {n}"), "members": [{"value": member}]});
        groups.push(create("/Groups", body).await);
    }
    let mut agents = Vec::new();
    for n in 0..3 {
        agents.push(
            create(
                "/Agents",
                json!({"name": format!("pool-agent-{n}"),
                                              "owners": [{"value": users[0]}]}),
            )
            .await,
        );
    }
    Pool {
        users,
        groups,
        agents,
    }
}

async fn every_written_value_reads_back_as_written(app: TestApp) {
    let token = app.scim_token().await;
    let resources = served_resources(&app, &token).await;
    let mut names: Vec<&str> = resources.iter().map(|r| r.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["Agent", "AgenticApplication", "Group", "User"]);
    let pool = pool_of(&app, &token).await;
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(32);
    let handle = tokio::runtime::Handle::current();
    for resource in &resources {
        let model = Model {
            resource,
            pool: &pool,
        };
        let strategy = (
            document(resource, &pool),
            document(resource, &pool),
            steps(resource, &pool),
        );
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let outcome = tokio::task::block_in_place(|| {
            runner.run(&strategy, |case| {
                handle
                    .block_on(round_trip(&app, &token, &model, case))
                    .map_err(TestCaseError::fail)
            })
        });
        if let Err(failure) = outcome {
            panic!("{}: {failure}", resource.name);
        }
    }
}

on_both_engines!(every_written_value_reads_back_as_written);
