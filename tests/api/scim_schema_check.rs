//! A validator of SCIM documents against schema definitions in the form RFC 7643 §7
//! gives them (what `/Schemas` serves), and a comparison of such definitions with
//! reference ones. Nothing here knows User, Group or any other resource type: the
//! validator learns them from the served `/Schemas` and `/ResourceTypes`, so a new
//! resource type needs no change here.
//!
//! Reference definitions are written in a compact notation, one attribute a line,
//! sub-attributes indented by two spaces, characteristics that differ from the RFC 7643
//! §2.2 defaults after the type: `multi`, `required`, `caseExact`, `mut=…`, `ret=…`,
//! `uniq=…`, `refs=A,B`.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// RFC 7643 §3.1: the attributes every resource may have besides its schemas'.
const COMMON: &str = "
id string caseExact mut=readOnly ret=always uniq=server
externalId string caseExact
meta complex mut=readOnly
  resourceType string caseExact mut=readOnly
  created dateTime mut=readOnly
  lastModified dateTime mut=readOnly
  location reference mut=readOnly refs=uri
  version string caseExact mut=readOnly
";

/// RFC 7644 §3.4.2 (`Resources` holds resources, each checked against its own schemas).
const LIST_RESPONSE_ATTRS: &str = "
totalResults integer required
Resources complex multi
startIndex integer
itemsPerPage integer
";

/// RFC 7644 §3.12.
const ERROR_ATTRS: &str = "
status string required
scimType string
detail string
";

/// RFC 7644 §3.12, Table 9.
const SCIM_TYPES: &[&str] = &[
    "invalidFilter",
    "tooMany",
    "uniqueness",
    "mutability",
    "invalidSyntax",
    "invalidPath",
    "noTarget",
    "invalidValue",
    "invalidVers",
    "sensitive",
];

/// Attribute definitions (RFC 7643 §7 JSON) from the compact notation.
pub fn definitions(text: &str) -> Vec<Value> {
    let mut stack: Vec<(usize, Vec<Value>)> = vec![(0, Vec::new())];
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let depth = (line.len() - line.trim_start().len()) / 2 + 1;
        while stack.len() > depth {
            close(&mut stack);
        }
        let mut words = line.split_whitespace();
        let name = words.next().unwrap();
        let ty = words.next().unwrap_or_else(|| panic!("{line}: no type"));
        let mut attr = json!({
            "name": name, "type": ty, "multiValued": false, "required": false,
            "caseExact": false, "mutability": "readWrite", "returned": "default",
            "uniqueness": "none",
        });
        for word in words {
            match word.split_once('=') {
                None if word == "multi" => attr["multiValued"] = json!(true),
                None if word == "required" => attr["required"] = json!(true),
                None if word == "caseExact" => attr["caseExact"] = json!(true),
                Some(("mut", v)) => attr["mutability"] = json!(v),
                Some(("ret", v)) => attr["returned"] = json!(v),
                Some(("uniq", v)) => attr["uniqueness"] = json!(v),
                Some(("refs", v)) => {
                    attr["referenceTypes"] = json!(v.split(',').collect::<Vec<_>>())
                }
                _ => panic!("{line}: unknown characteristic {word}"),
            }
        }
        stack.last_mut().unwrap().1.push(attr);
        stack.push((depth, Vec::new()));
    }
    while stack.len() > 1 {
        close(&mut stack);
    }
    stack.pop().unwrap().1
}

/// Ends the sub-attribute list on top of the stack, giving it to its attribute.
fn close(stack: &mut Vec<(usize, Vec<Value>)>) {
    let (_, subs) = stack.pop().unwrap();
    if !subs.is_empty() {
        let parent = stack.last_mut().unwrap().1.last_mut().unwrap();
        parent["subAttributes"] = Value::Array(subs);
    }
}

/// A characteristic of a definition, with the RFC 7643 §2.2 default when absent.
fn characteristic(def: &Value, name: &str) -> Value {
    if let Some(value) = def.get(name) {
        return value.clone();
    }
    match name {
        "multiValued" | "required" | "caseExact" => json!(false),
        "mutability" => json!("readWrite"),
        "returned" => json!("default"),
        "uniqueness" => json!("none"),
        "type" => json!("string"),
        "referenceTypes" | "subAttributes" => json!([]),
        _ => Value::Null,
    }
}

fn attrs_of(def: &Value, key: &str) -> Vec<Value> {
    def[key].as_array().cloned().unwrap_or_default()
}

/// Whether `attrs` define the characteristics of an attribute (RFC 7643 §7).
fn is_attribute_definition(attrs: &[Value]) -> bool {
    ["name", "type", "multiValued", "mutability"]
        .iter()
        .all(|n| attrs.iter().any(|a| a["name"] == *n))
}

/// Validates documents against the schemas and resource types a server serves.
pub struct Validator {
    /// Schema definitions by id.
    schemas: Map<String, Value>,
    resource_types: Vec<Value>,
    common: Vec<Value>,
}

impl Validator {
    /// From the bodies of `GET /Schemas` and `GET /ResourceTypes`.
    pub fn new(schemas: &Value, resource_types: &Value) -> Self {
        let schemas = schemas["Resources"]
            .as_array()
            .expect("a ListResponse of schemas")
            .iter()
            .map(|s| (s["id"].as_str().unwrap().to_string(), s.clone()))
            .collect();
        Self {
            schemas,
            resource_types: resource_types["Resources"].as_array().unwrap().clone(),
            common: definitions(COMMON),
        }
    }

    /// The ids of the served schemas.
    pub fn schema_ids(&self) -> impl Iterator<Item = &String> {
        self.schemas.keys()
    }

    pub fn resource_types(&self) -> &[Value] {
        &self.resource_types
    }

    /// Checks a response body; `full` when it is a whole representation (required
    /// attributes must be there), false after `attributes`/`excludedAttributes`.
    /// Returns what is wrong, as `what.path: problem` lines.
    pub fn check(&self, what: &str, doc: &Value, full: bool) -> Vec<String> {
        let mut out = Vec::new();
        match doc["schemas"].as_array().map(Vec::as_slice) {
            Some([only]) if only == LIST_RESPONSE => {
                let Some(object) = doc.as_object() else {
                    return vec![format!("{what}: not an object")];
                };
                let message = object
                    .iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "Resources" | "schemas"));
                self.check_object(
                    what,
                    message,
                    &definitions(LIST_RESPONSE_ATTRS),
                    true,
                    &mut out,
                );
                match &doc["Resources"] {
                    Value::Array(items) => {
                        for (i, item) in items.iter().enumerate() {
                            self.check_resource(
                                &format!("{what}.Resources[{i}]"),
                                item,
                                full,
                                &mut out,
                            );
                        }
                    }
                    Value::Null if doc["totalResults"] == 0 => {}
                    _ => out.push(format!("{what}.Resources: missing or not an array")),
                }
            }
            Some([only]) if only == ERROR => {
                let message = doc
                    .as_object()
                    .unwrap()
                    .iter()
                    .filter(|(k, _)| *k != "schemas");
                self.check_object(what, message, &definitions(ERROR_ATTRS), true, &mut out);
                if let Some(scim_type) = doc.get("scimType").and_then(Value::as_str) {
                    if !SCIM_TYPES.contains(&scim_type) {
                        out.push(format!(
                            "{what}.scimType: {scim_type} is not an RFC 7644 scimType"
                        ));
                    }
                }
            }
            _ => self.check_resource(what, doc, full, &mut out),
        }
        out
    }

    fn check_resource(&self, what: &str, doc: &Value, full: bool, out: &mut Vec<String>) {
        let Some(object) = doc.as_object() else {
            return out.push(format!("{what}: not an object"));
        };
        let Some(listed) = doc["schemas"].as_array() else {
            return out.push(format!("{what}.schemas: missing"));
        };
        let listed: Vec<&str> = listed.iter().filter_map(Value::as_str).collect();
        if listed.is_empty() || listed.len() != listed.iter().collect::<HashSet<_>>().len() {
            out.push(format!("{what}.schemas: empty, not strings, or repeated"));
        }
        let declared_extensions: HashSet<String> = self
            .resource_types
            .iter()
            .flat_map(|t| attrs_of(t, "schemaExtensions"))
            .filter_map(|e| e["schema"].as_str().map(str::to_string))
            .collect();
        let mut core = Vec::new();
        let mut extensions = Vec::new();
        for urn in &listed {
            if !self.schemas.contains_key(*urn) {
                out.push(format!("{what}.schemas: {urn} is not a served schema"));
            } else if declared_extensions.contains(*urn) || object.contains_key(*urn) {
                extensions.push(*urn);
            } else {
                core.push(*urn);
            }
        }
        let [core] = core.as_slice() else {
            return out.push(format!(
                "{what}.schemas: {} core schemas in {listed:?}",
                core.len()
            ));
        };
        let core_def = &self.schemas[*core];
        let resource_type = self
            .resource_types
            .iter()
            .find(|t| Some(t["name"].as_str().unwrap()) == doc["meta"]["resourceType"].as_str());
        if let Some(resource_type) = resource_type {
            if resource_type["schema"] != *core {
                out.push(format!(
                    "{what}.schemas: core {core} is not {}",
                    resource_type["schema"]
                ));
            }
            let allowed = attrs_of(resource_type, "schemaExtensions");
            for urn in &extensions {
                if !allowed.iter().any(|e| e["schema"] == *urn) {
                    out.push(format!(
                        "{what}.schemas: {urn} is no extension of {}",
                        resource_type["name"]
                    ));
                }
            }
            for required in allowed.iter().filter(|e| e["required"] == true) {
                if !extensions.iter().any(|u| required["schema"] == *u) {
                    out.push(format!(
                        "{what}.schemas: required extension {} missing",
                        required["schema"]
                    ));
                }
            }
            if !object.contains_key("id") {
                out.push(format!("{what}.id: missing (returned always)"));
            }
        }
        let mut own: Vec<Value> = attrs_of(core_def, "attributes");
        let defined: HashSet<String> = own
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_string())
            .collect();
        own.extend(
            self.common
                .iter()
                .filter(|c| !defined.contains(c["name"].as_str().unwrap()))
                .cloned(),
        );
        let top = object.iter().filter(|(k, _)| {
            if *k == "schemas" {
                return false;
            }
            if k.starts_with("urn:") && !own.iter().any(|a| a["name"] == **k) {
                let urn = k.as_str();
                if !extensions.contains(&urn) {
                    out.push(format!("{what}.{urn}: extension not listed in schemas"));
                }
                return false;
            }
            true
        });
        let top: Vec<(&String, &Value)> = top.collect();
        self.check_object(what, top.into_iter(), &own, full, out);
        for urn in extensions {
            match object.get(urn) {
                Some(Value::Object(inner)) => {
                    let attrs = attrs_of(&self.schemas[urn], "attributes");
                    self.check_object(&format!("{what}.{urn}"), inner.iter(), &attrs, full, out);
                }
                Some(_) => out.push(format!("{what}.{urn}: not an object")),
                None => {}
            }
        }
    }

    /// Checks the members of an object against attribute definitions.
    fn check_object<'a>(
        &self,
        what: &str,
        members: impl Iterator<Item = (&'a String, &'a Value)>,
        attrs: &[Value],
        full: bool,
        out: &mut Vec<String>,
    ) {
        let mut seen = HashSet::new();
        for (key, value) in members {
            if key == "subAttributes"
                && is_attribute_definition(attrs)
                && !attrs.iter().any(|a| a["name"] == "subAttributes")
            {
                // RFC 7643 §7 defines sub-attributes as attributes, recursively; its
                // §8.7.2 representation stops a level short of what the Schema schema
                // needs to describe itself.
                seen.insert(key.as_str());
                let def = json!({"name": key, "type": "complex", "multiValued": true, "subAttributes": attrs});
                self.check_value(&format!("{what}.{key}"), &def, value, full, out);
                continue;
            }
            let Some(def) = attrs.iter().find(|a| a["name"] == **key) else {
                match attrs
                    .iter()
                    .find(|a| a["name"].as_str().unwrap().eq_ignore_ascii_case(key))
                {
                    Some(def) => out.push(format!(
                        "{what}.{key}: spelled {} in its schema",
                        def["name"]
                    )),
                    None => out.push(format!("{what}.{key}: not defined")),
                }
                continue;
            };
            seen.insert(key.as_str());
            self.check_value(&format!("{what}.{key}"), def, value, full, out);
        }
        if full {
            // An empty list counts as given: it is how a required multi-valued attribute
            // with no values is served (strict clients look for the key).
            for required in attrs.iter().filter(|a| a["required"] == true) {
                let name = required["name"].as_str().unwrap();
                if !seen.contains(name) {
                    out.push(format!("{what}.{name}: required but missing"));
                }
            }
        }
    }

    fn check_value(
        &self,
        path: &str,
        def: &Value,
        value: &Value,
        full: bool,
        out: &mut Vec<String>,
    ) {
        if value.is_null() {
            return out.push(format!(
                "{path}: null (an unassigned attribute is left out)"
            ));
        }
        if characteristic(def, "returned") == "never" {
            return out.push(format!("{path}: present, but returned never"));
        }
        match (characteristic(def, "multiValued") == true, value) {
            (true, Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    self.check_single(&format!("{path}[{i}]"), def, item, full, out);
                }
            }
            (true, _) => out.push(format!("{path}: multi-valued, but not an array")),
            (false, Value::Array(_)) => out.push(format!("{path}: single-valued, but an array")),
            (false, single) => self.check_single(path, def, single, full, out),
        }
    }

    fn check_single(
        &self,
        path: &str,
        def: &Value,
        value: &Value,
        full: bool,
        out: &mut Vec<String>,
    ) {
        let ty = characteristic(def, "type");
        let ok = match (ty.as_str().unwrap(), value) {
            ("string", Value::String(_)) => true,
            ("boolean", Value::Bool(_)) => true,
            ("integer", Value::Number(n)) => n.is_i64() || n.is_u64(),
            ("decimal", Value::Number(_)) => true,
            ("dateTime", Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
            ("binary", Value::String(s)) => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.decode(s).is_ok()
            }
            ("reference", Value::String(s)) => self.reference_ok(def, s),
            ("complex", Value::Object(inner)) => {
                let subs = attrs_of(def, "subAttributes");
                self.check_object(path, inner.iter(), &subs, full, out);
                true
            }
            _ => false,
        };
        if !ok {
            out.push(format!("{path}: {value} is not a valid {ty}"));
        }
    }

    /// A reference to resource types is a URL of one of their resources; `external`
    /// an absolute URL; `uri` any URI.
    fn reference_ok(&self, def: &Value, text: &str) -> bool {
        let types = attrs_of(def, "referenceTypes");
        let absolute = url::Url::parse(text).is_ok();
        types.iter().any(|t| match t.as_str().unwrap() {
            "uri" => !text.is_empty(),
            "external" => absolute,
            resource => self
                .resource_types
                .iter()
                .filter(|r| r["name"] == resource)
                .any(|r| {
                    absolute && text.contains(&format!("{}/", r["endpoint"].as_str().unwrap()))
                }),
        })
    }
}

/// A characteristic ownerbound serves stricter than the reference, and why.
pub struct Tightening {
    pub path: &'static str,
    pub characteristic: &'static str,
    pub served: Value,
    pub why: &'static str,
}

/// The characteristics compared.
const COMPARED: &[&str] = &[
    "type",
    "multiValued",
    "required",
    "caseExact",
    "mutability",
    "returned",
    "uniqueness",
];

/// Compares served attribute definitions with reference ones. A served attribute must
/// be defined by the reference with the same characteristics (a reference attribute
/// the server leaves out is fine); the only additions allowed are the RFC 7643 §2.4
/// sub-attributes of multi-valued attributes (`display`, immutable; `primary`, a
/// boolean; `type`, a string), and the only differences those in `tightened`.
pub fn compare_definitions(
    path: &str,
    served: &[Value],
    reference: &[Value],
    multi_valued_parent: bool,
    tightened: &[Tightening],
    out: &mut Vec<String>,
) {
    for attr in served {
        let name = attr["name"].as_str().unwrap_or("?");
        let here = format!("{path}.{name}");
        let expected = match reference.iter().find(|r| r["name"] == name) {
            Some(r) => r.clone(),
            None => match (multi_valued_parent, name) {
                (true, "display") => {
                    json!({"name": name, "type": "string", "mutability": "immutable"})
                }
                (true, "primary") => {
                    json!({"name": name, "type": "boolean", "mutability": attr["mutability"]})
                }
                (true, "type") => {
                    json!({"name": name, "type": "string", "mutability": attr["mutability"]})
                }
                _ => {
                    out.push(format!("{here}: not defined by the reference"));
                    continue;
                }
            },
        };
        for key in COMPARED {
            let (got, want) = (characteristic(attr, key), characteristic(&expected, key));
            if got == want {
                continue;
            }
            let allowed = tightened.iter().any(|t| {
                t.path == here && t.characteristic == *key && t.served == got && !t.why.is_empty()
            });
            if !allowed {
                out.push(format!("{here}.{key}: served {got}, reference {want}"));
            }
        }
        if characteristic(attr, "type") == "reference" {
            let set = |d: &Value| -> HashSet<String> {
                attrs_of(d, "referenceTypes")
                    .iter()
                    .map(|t| t.as_str().unwrap().to_string())
                    .collect()
            };
            if set(attr) != set(&expected) {
                out.push(format!(
                    "{here}.referenceTypes: served {}, reference {}",
                    characteristic(attr, "referenceTypes"),
                    characteristic(&expected, "referenceTypes")
                ));
            }
        }
        compare_definitions(
            &here,
            &attrs_of(attr, "subAttributes"),
            &attrs_of(&expected, "subAttributes"),
            characteristic(attr, "multiValued") == true,
            tightened,
            out,
        );
    }
}

/// A schema definition in the served form, for the validator's own tests.
pub fn schema(id: &str, attributes: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"], "id": id, "name": id,
           "attributes": definitions(attributes), "meta": {"resourceType": "Schema"}})
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORE: &str = "urn:example:core:2.0:Thing";
    const EXT: &str = "urn:example:extension:2.0:Thing";

    fn validator() -> Validator {
        let schemas = json!({"Resources": [
            schema(CORE, "
name string required
secret string mut=writeOnly ret=never
on boolean
count integer
at dateTime
blob binary
home reference refs=external
friend reference refs=Thing
tags complex multi
  value string
  primary boolean
"),
            schema(EXT, "
level integer
"),
        ]});
        let types = json!({"Resources": [{"name": "Thing", "endpoint": "/Things", "schema": CORE,
            "schemaExtensions": [{"schema": EXT, "required": false}]}]});
        Validator::new(&schemas, &types)
    }

    fn good() -> Value {
        json!({"schemas": [CORE, EXT], "id": "1", "name": "n", "on": true, "count": 3,
            "at": "2026-01-01T00:00:00.000Z", "blob": "AAEC", "home": "https://example.com/x",
            "friend": "https://sp.example.com/scim/v2/Things/2",
            "tags": [{"value": "a", "primary": true}], EXT: {"level": 2},
            "meta": {"resourceType": "Thing", "location": "https://sp.example.com/scim/v2/Things/1",
                     "created": "2026-01-01T00:00:00Z", "version": "W/\"1\""}})
    }

    #[test]
    fn a_valid_document_passes_the_validator() {
        assert_eq!(
            validator().check("doc", &good(), true),
            Vec::<String>::new()
        );
        let list = json!({"schemas": [LIST_RESPONSE], "totalResults": 1, "startIndex": 1,
            "itemsPerPage": 1, "Resources": [good()]});
        assert_eq!(validator().check("list", &list, true), Vec::<String>::new());
        let error =
            json!({"schemas": [ERROR], "status": "400", "scimType": "invalidValue", "detail": "d"});
        assert_eq!(
            validator().check("error", &error, true),
            Vec::<String>::new()
        );
    }

    #[test]
    fn the_validator_finds_every_kind_of_wrong_document() {
        let mut doc = good();
        let object = doc.as_object_mut().unwrap();
        object.insert("owner".into(), json!("x"));
        object.insert("on".into(), json!("true"));
        object.insert("count".into(), json!([1]));
        object.insert("tags".into(), json!({"value": "a"}));
        object.insert("secret".into(), json!("s"));
        object.insert("Name".into(), object["name"].clone());
        object.remove("name");
        object.insert("at".into(), json!("yesterday"));
        object.insert("blob".into(), json!("not base64!"));
        object.insert("home".into(), json!("/relative"));
        object.insert(
            "friend".into(),
            json!("https://sp.example.com/scim/v2/Others/2"),
        );
        object.insert("level".into(), json!(2));
        object["meta"]["version"] = Value::Null;
        object["meta"]["etag"] = json!("x");
        let mut found = validator().check("doc", &doc, true);
        found.sort();
        let mut expected = vec![
            "doc.Name: spelled \"name\" in its schema",
            "doc.at: \"yesterday\" is not a valid \"dateTime\"",
            "doc.blob: \"not base64!\" is not a valid \"binary\"",
            "doc.count: single-valued, but an array",
            "doc.friend: \"https://sp.example.com/scim/v2/Others/2\" is not a valid \"reference\"",
            "doc.home: \"/relative\" is not a valid \"reference\"",
            "doc.level: not defined",
            "doc.meta.etag: not defined",
            "doc.meta.version: null (an unassigned attribute is left out)",
            "doc.name: required but missing",
            "doc.on: \"true\" is not a valid \"boolean\"",
            "doc.owner: not defined",
            "doc.secret: present, but returned never",
            "doc.tags: multi-valued, but not an array",
        ];
        expected.sort();
        assert_eq!(found, expected);

        let unlisted = json!({"schemas": [CORE], "id": "1", "name": "n", EXT: {"level": 1},
            "meta": {"resourceType": "Thing"}});
        assert_eq!(
            validator().check("doc", &unlisted, true),
            [format!("doc.{EXT}: extension not listed in schemas")]
        );
        let unknown = json!({"schemas": ["urn:example:other"], "id": "1"});
        assert!(validator().check("doc", &unknown, true)[0].contains("not a served schema"));
        let error = json!({"schemas": [ERROR], "status": 400, "scimType": "nope"});
        let mut found = validator().check("error", &error, true);
        found.sort();
        assert_eq!(
            found,
            [
                "error.scimType: nope is not an RFC 7644 scimType",
                "error.status: 400 is not a valid \"string\""
            ]
        );
    }

    #[test]
    fn projected_documents_need_not_carry_required_attributes_but_always_their_id() {
        let projected = json!({"schemas": [CORE], "meta": {"resourceType": "Thing"}});
        assert_eq!(
            validator().check("doc", &projected, false),
            ["doc.id: missing (returned always)"]
        );
    }

    #[test]
    fn the_comparison_allows_omission_but_not_alteration() {
        let reference = definitions(
            "
a string
b string caseExact
c complex multi
  value string
",
        );
        let served = definitions(
            "
b string
c complex multi
  value string mut=readOnly
  display string mut=immutable
  primary boolean
x string
",
        );
        let mut out = Vec::new();
        compare_definitions("S", &served, &reference, false, &[], &mut out);
        assert_eq!(
            out,
            [
                "S.b.caseExact: served false, reference true",
                "S.c.value.mutability: served \"readOnly\", reference \"readWrite\"",
                "S.x: not defined by the reference",
            ]
        );
        let tightening = Tightening {
            path: "S.b",
            characteristic: "caseExact",
            served: json!(false),
            why: "test",
        };
        let mut out = Vec::new();
        compare_definitions(
            "S",
            &served[..1],
            &reference,
            false,
            &[tightening],
            &mut out,
        );
        assert!(out.is_empty(), "{out:?}");
    }
}
