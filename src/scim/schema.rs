//! The SCIM schemas ownerbound supports (RFC 7643 §4, §8.7): definitions used to
//! canonicalise attribute names, check and coerce values, enforce mutability, and
//! describe themselves at `/Schemas`.

use serde_json::{json, Map, Value};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The AI agent resource of draft-abbey-scim-agent-extension, whose URN
/// draft-wzdk-scim-agent-resource shares (compared case-insensitively: a twin draft
/// writes it `…:2.0:agent`).
pub const AGENT_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Agent";
/// The agentic application resource of draft-abbey-scim-agent-extension §5.2.
pub const APPLICATION_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:AgenticApplication";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// The schema of schema definitions (RFC 7643 §7).
pub const SCHEMA_DEFINITION: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    DateTime,
    Reference,
    Complex,
    Integer,
    Decimal,
    Binary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Default,
    Never,
}

/// One attribute definition.
#[derive(Debug, Clone, Copy)]
pub struct Attr {
    pub name: &'static str,
    pub ty: AttrType,
    pub multi: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub unique: bool,
    /// For references: what they may point to (RFC 7643 §7 `referenceTypes`).
    pub reference_types: &'static [&'static str],
    pub sub: &'static [Attr],
    /// Values clients are expected to use (RFC 7643 §7 `canonicalValues`); where
    /// ownerbound relies on one, it refuses the others (see the attribute's
    /// description).
    pub canonical_values: &'static [&'static str],
    /// What `/Schemas` says of it, where ownerbound's behaviour needs saying; the
    /// name otherwise.
    pub description: Option<&'static str>,
}

impl Attr {
    const fn new(name: &'static str, ty: AttrType) -> Self {
        Self {
            name,
            ty,
            multi: false,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            unique: false,
            reference_types: &[],
            sub: &[],
            canonical_values: &[],
            description: None,
        }
    }
    /// What `/Schemas` says of the attribute.
    pub(crate) const fn describe(mut self, text: &'static str) -> Self {
        self.description = Some(text);
        self
    }
    /// Values clients are expected to use (RFC 7643 §7 `canonicalValues`).
    const fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical_values = values;
        self
    }
    pub(crate) const fn string(name: &'static str) -> Self {
        Self::new(name, AttrType::String)
    }
    pub(crate) const fn boolean(name: &'static str) -> Self {
        Self::new(name, AttrType::Boolean)
    }
    pub(crate) const fn integer(name: &'static str) -> Self {
        Self::new(name, AttrType::Integer)
    }
    /// A reference to one of `to` (RFC 7643 §7 `referenceTypes`: resource type names,
    /// `external` or `uri`).
    pub(crate) const fn reference(name: &'static str, to: &'static [&'static str]) -> Self {
        let mut a = Self::new(name, AttrType::Reference);
        a.reference_types = to;
        a
    }
    const fn date_time(name: &'static str) -> Self {
        Self::new(name, AttrType::DateTime)
    }
    const fn binary(name: &'static str) -> Self {
        Self::new(name, AttrType::Binary)
    }
    pub(crate) const fn complex(name: &'static str, sub: &'static [Attr]) -> Self {
        let mut a = Self::new(name, AttrType::Complex);
        a.sub = sub;
        a
    }
    pub(crate) const fn multi(mut self) -> Self {
        self.multi = true;
        self
    }
    pub(crate) const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub(crate) const fn exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    const fn unique(mut self) -> Self {
        self.unique = true;
        self
    }
    pub(crate) const fn read_only(mut self) -> Self {
        self.mutability = Mutability::ReadOnly;
        self
    }
    const fn immutable(mut self) -> Self {
        self.mutability = Mutability::Immutable;
        self
    }
    const fn write_only(mut self) -> Self {
        self.mutability = Mutability::WriteOnly;
        self.returned = Returned::Never;
        self
    }
    const fn always(mut self) -> Self {
        self.returned = Returned::Always;
        self
    }

    /// The sub-attribute with this name, case-insensitively.
    pub fn sub_attr(&self, name: &str) -> Option<&'static Attr> {
        self.sub.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

const MULTI_VALUE_SUB: &[Attr] = &[
    Attr::string("value"),
    Attr::string("display"),
    Attr::string("type"),
    Attr::boolean("primary"),
];

/// `photos`: the value is a URL (RFC 7643 §4.1.2).
const PHOTO_SUB: &[Attr] = &[
    Attr::reference("value", &["external"]),
    Attr::string("display"),
    Attr::string("type"),
    Attr::boolean("primary"),
];

/// `x509Certificates`: the value is a DER certificate, base64 (RFC 7643 §4.1.2).
const CERTIFICATE_SUB: &[Attr] = &[
    Attr::binary("value"),
    Attr::string("display"),
    Attr::string("type"),
    Attr::boolean("primary"),
];

const NAME_SUB: &[Attr] = &[
    Attr::string("formatted"),
    Attr::string("familyName"),
    Attr::string("givenName"),
    Attr::string("middleName"),
    Attr::string("honorificPrefix"),
    Attr::string("honorificSuffix"),
];

const ADDRESS_SUB: &[Attr] = &[
    Attr::string("formatted"),
    Attr::string("streetAddress"),
    Attr::string("locality"),
    Attr::string("region"),
    Attr::string("postalCode"),
    Attr::string("country"),
    Attr::string("type"),
    Attr::boolean("primary"),
];

const GROUP_REF_SUB: &[Attr] = &[
    Attr::string("value").read_only(),
    Attr::reference("$ref", &["User", "Group"]).read_only(),
    Attr::string("display").read_only(),
    Attr::string("type").read_only(),
];

/// Core User attributes (RFC 7643 §4.1), without the common ones.
pub const USER_ATTRS: &[Attr] = &[
    Attr::string("userName").required().unique(),
    Attr::complex("name", NAME_SUB),
    Attr::string("displayName"),
    Attr::string("nickName"),
    Attr::reference("profileUrl", &["external"]),
    Attr::string("title"),
    Attr::string("userType"),
    Attr::string("preferredLanguage"),
    Attr::string("locale"),
    Attr::string("timezone"),
    Attr::boolean("active").describe(
        "Whether the person is active. Removing it (PATCH remove) deactivates the user: \
         removing never reactivates, and a departure is never undone by a missing value.",
    ),
    Attr::string("password").write_only(),
    Attr::complex("emails", MULTI_VALUE_SUB).multi(),
    Attr::complex("phoneNumbers", MULTI_VALUE_SUB).multi(),
    Attr::complex("ims", MULTI_VALUE_SUB).multi(),
    Attr::complex("photos", PHOTO_SUB).multi(),
    Attr::complex("addresses", ADDRESS_SUB).multi(),
    Attr::complex("groups", GROUP_REF_SUB).multi().read_only(),
    Attr::complex("entitlements", MULTI_VALUE_SUB).multi(),
    Attr::complex("roles", MULTI_VALUE_SUB).multi(),
    Attr::complex("x509Certificates", CERTIFICATE_SUB).multi(),
];

const MANAGER_SUB: &[Attr] = &[
    Attr::string("value"),
    Attr::reference("$ref", &["User"]),
    Attr::string("displayName").read_only(),
];

/// Enterprise User extension (RFC 7643 §4.3).
pub const ENTERPRISE_ATTRS: &[Attr] = &[
    Attr::string("employeeNumber"),
    Attr::string("costCenter"),
    Attr::string("organization"),
    Attr::string("division"),
    Attr::string("department"),
    Attr::complex("manager", MANAGER_SUB),
];

/// `value` is required (RFC 7643 §4.2 lets service providers require it): a member
/// is a user of the directory, named by id. The rest describes that user, so
/// ownerbound fills it in and ignores what a client writes there.
const MEMBER_SUB: &[Attr] = &[
    Attr::string("value").immutable().required(),
    Attr::reference("$ref", &["User", "Group"])
        .read_only()
        .describe("The member's location, filled in by ownerbound"),
    Attr::string("display")
        .read_only()
        .describe("The member's display name, filled in by ownerbound"),
    Attr::string("type")
        .read_only()
        .canonical(&["User"])
        .describe("Always User: groups are not members"),
];

/// Core Group attributes (RFC 7643 §4.2).
pub const GROUP_ATTRS: &[Attr] = &[
    Attr::string("displayName").required().unique(),
    Attr::complex("members", MEMBER_SUB).multi().describe(
        "Users in the group. A member that names no existing User is refused (400 \
         invalidValue) and nothing changes: what the identity provider said is not dropped.",
    ),
];

/// An agent's owners: users or groups (draft-abbey §4, `owners`). The draft marks them
/// read-only, but identity providers must be able to write them, so they are
/// read-write here. A client writes `value` and may say `type` (draft-wzdk's owners
/// carry it); `$ref` and `display` describe what `value` names, so ownerbound fills
/// them in and ignores what a client writes there.
const OWNER_SUB: &[Attr] = &[
    Attr::string("value").required(),
    Attr::reference("$ref", &["User", "Group"])
        .read_only()
        .describe("The owner's location, filled in by ownerbound"),
    Attr::string("display")
        .read_only()
        .describe("The owner's display name, filled in by ownerbound"),
    Attr::string("type").canonical(&["User", "Group"]).describe(
        "User or Group. When given, it must be what value names (else 400 invalidValue); \
         when left out, ownerbound fills it in",
    ),
];

const AGENT_APPLICATION_SUB: &[Attr] = &[
    Attr::string("value").read_only(),
    Attr::reference("$ref", &["AgenticApplication"]).read_only(),
    Attr::string("display").read_only(),
];

/// Agent attributes of both drafts: draft-abbey's `name` and draft-wzdk's
/// `agentUserName` are kept as written, each unique among agents; one left out takes
/// the other's value.
pub const AGENT_ATTRS: &[Attr] = &[
    Attr::string("name").required().unique().describe(
        "draft-abbey's handle: unique among agents (case-insensitively); \
         agentUserName's value when only that is given",
    ),
    Attr::string("agentUserName").unique().describe(
        "draft-wzdk's handle: kept as written, unique among agents (case-insensitively); \
         name's value when only that is given",
    ),
    Attr::string("displayName"),
    Attr::string("description"),
    Attr::boolean("active").describe(
        "Whether the agent may act. Setting it false revokes the agent's credentials. \
         Removing it (PATCH remove) deactivates the agent, and a PUT that leaves it out \
         keeps it as it is: a missing value never reactivates.",
    ),
    Attr::string("agentType"),
    // The prose lets the client set it to an OIDC `sub`; it cannot change afterwards.
    Attr::string("subject").immutable(),
    Attr::complex("owners", OWNER_SUB).multi(),
    Attr::complex("entitlements", MULTI_VALUE_SUB).multi(),
    Attr::complex("roles", MULTI_VALUE_SUB).multi(),
    Attr::complex("x509Certificates", CERTIFICATE_SUB).multi(),
    Attr::complex("groups", GROUP_REF_SUB).multi().read_only(),
    Attr::complex("applications", AGENT_APPLICATION_SUB)
        .multi()
        .read_only(),
];

/// `applicationUrls` (draft-abbey §5.2.4): `type` is one of ssoEndpoint, loginPage,
/// api, homepage.
const APPLICATION_URL_SUB: &[Attr] = &[
    Attr::string("value"),
    Attr::string("type").canonical(&["ssoEndpoint", "loginPage", "api", "homepage"]),
    Attr::boolean("primary"),
    Attr::string("description"),
];

const OAUTH_CONFIGURATION_SUB: &[Attr] = &[
    Attr::string("clientId"),
    Attr::string("description"),
    Attr::string("audienceUri"),
    Attr::string("issuerUri"),
    Attr::string("redirectUri").multi(),
];

/// An application's agents: `value` names an agent pushed to `/Agents` (required, as
/// for an agent's owners); `type` is the client's, kept as written; `$ref` and
/// `display` describe the agent, so ownerbound fills them in.
const APPLICATION_AGENT_SUB: &[Attr] = &[
    Attr::string("value").required(),
    Attr::reference("$ref", &["Agent"])
        .read_only()
        .describe("The agent's location, filled in by ownerbound"),
    Attr::string("display")
        .read_only()
        .describe("The agent's name, filled in by ownerbound"),
    Attr::string("type").canonical(&["owned", "authorized", "guest"]),
];

const EXTERNAL_IDENTIFIER_SUB: &[Attr] = &[
    Attr::string("value"),
    Attr::string("type"),
    Attr::string("system"),
];

/// AgenticApplication attributes (draft-abbey §5.2.4). `lastAccessed` is read-only:
/// ownerbound does not see applications being used, so it never has a value here.
pub const APPLICATION_ATTRS: &[Attr] = &[
    Attr::string("name").required().unique(),
    Attr::string("displayName"),
    Attr::string("description"),
    Attr::boolean("active")
        .describe("Whether the application is in use; true when left out or removed"),
    Attr::complex("applicationUrls", APPLICATION_URL_SUB).multi(),
    Attr::date_time("lastAccessed").read_only(),
    Attr::complex("oAuthConfiguration", OAUTH_CONFIGURATION_SUB).multi(),
    Attr::complex("agents", APPLICATION_AGENT_SUB).multi(),
    Attr::complex("externalIdentifiers", EXTERNAL_IDENTIFIER_SUB).multi(),
];

/// Attributes every resource has (RFC 7643 §3.1).
pub const COMMON_ATTRS: &[Attr] = &[
    Attr::string("id").read_only().always().exact().unique(),
    Attr::string("externalId").exact(),
    Attr::complex("meta", &[]).read_only(),
];

/// A resource type: its core schema and its extensions.
#[derive(Debug, Clone, Copy)]
pub struct ResourceSchema {
    pub name: &'static str,
    pub endpoint: &'static str,
    pub core: &'static str,
    pub attrs: &'static [Attr],
    pub extensions: &'static [(&'static str, &'static [Attr])],
}

pub const USER: ResourceSchema = ResourceSchema {
    name: "User",
    endpoint: "/Users",
    core: USER_SCHEMA,
    attrs: USER_ATTRS,
    extensions: &[(ENTERPRISE_SCHEMA, ENTERPRISE_ATTRS)],
};

pub const GROUP: ResourceSchema = ResourceSchema {
    name: "Group",
    endpoint: "/Groups",
    core: GROUP_SCHEMA,
    attrs: GROUP_ATTRS,
    extensions: &[],
};

pub const AGENT: ResourceSchema = ResourceSchema {
    name: "Agent",
    endpoint: "/Agents",
    core: AGENT_SCHEMA,
    attrs: AGENT_ATTRS,
    extensions: &[],
};

pub const APPLICATION: ResourceSchema = ResourceSchema {
    name: "AgenticApplication",
    endpoint: "/AgenticApplications",
    core: APPLICATION_SCHEMA,
    attrs: APPLICATION_ATTRS,
    extensions: &[],
};

/// Where an attribute name points: the core schema or an extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    Core,
    Extension(&'static str),
}

impl ResourceSchema {
    /// A core or common attribute by name, case-insensitively.
    pub fn core_attr(&self, name: &str) -> Option<&'static Attr> {
        self.attrs
            .iter()
            .chain(COMMON_ATTRS.iter())
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The extension with this URN, case-insensitively.
    pub fn extension(&self, urn: &str) -> Option<(&'static str, &'static [Attr])> {
        self.extensions
            .iter()
            .copied()
            .find(|(id, _)| id.eq_ignore_ascii_case(urn))
    }

    /// Splits a possibly URN-qualified attribute path (`urn:…:User:name.givenName`)
    /// into namespace and the rest. None when the URN is not one of ours.
    pub fn split_urn<'a>(&self, path: &'a str) -> Option<(Namespace, &'a str)> {
        if !path
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
        {
            return Some((Namespace::Core, path));
        }
        let lower = path.to_ascii_lowercase();
        if lower.starts_with(&format!("{}:", self.core.to_ascii_lowercase())) {
            return Some((Namespace::Core, &path[self.core.len() + 1..]));
        }
        for (urn, _) in self.extensions {
            if lower == urn.to_ascii_lowercase() {
                return Some((Namespace::Extension(urn), ""));
            }
            if lower.starts_with(&format!("{}:", urn.to_ascii_lowercase())) {
                return Some((Namespace::Extension(urn), &path[urn.len() + 1..]));
            }
        }
        None
    }

    /// The attribute named `name` in a namespace. An unqualified name that is not a
    /// core attribute is looked up in the extensions: Entra ID patches `manager`
    /// without the enterprise URN. Returns the namespace it was found in.
    pub fn attr_in(&self, ns: Namespace, name: &str) -> Option<(Namespace, &'static Attr)> {
        let in_extension = |urn: &str| {
            self.extension(urn).and_then(|(urn, attrs)| {
                attrs
                    .iter()
                    .find(|a| a.name.eq_ignore_ascii_case(name))
                    .map(|a| (Namespace::Extension(urn), a))
            })
        };
        match ns {
            Namespace::Core => self
                .core_attr(name)
                .map(|a| (Namespace::Core, a))
                .or_else(|| {
                    self.extensions
                        .iter()
                        .find_map(|(urn, _)| in_extension(urn))
                }),
            Namespace::Extension(urn) => in_extension(urn),
        }
    }
}

/// The `/Schemas` representation of one schema.
pub fn schema_json(id: &str, name: &str, attrs: &[Attr], base_url: &str) -> Value {
    json!({
        "schemas": [SCHEMA_DEFINITION],
        "id": id,
        "name": name,
        "description": format!("{name} as supported by ownerbound"),
        "attributes": attrs.iter().map(attr_json).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base_url}/Schemas/{id}")},
    })
}

fn attr_json(a: &Attr) -> Value {
    let ty = match a.ty {
        AttrType::String => "string",
        AttrType::Boolean => "boolean",
        AttrType::DateTime => "dateTime",
        AttrType::Reference => "reference",
        AttrType::Complex => "complex",
        AttrType::Integer => "integer",
        AttrType::Decimal => "decimal",
        AttrType::Binary => "binary",
    };
    let mutability = match a.mutability {
        Mutability::ReadOnly => "readOnly",
        Mutability::ReadWrite => "readWrite",
        Mutability::Immutable => "immutable",
        Mutability::WriteOnly => "writeOnly",
    };
    let returned = match a.returned {
        Returned::Always => "always",
        Returned::Default => "default",
        Returned::Never => "never",
    };
    let mut out = Map::new();
    out.insert("name".into(), json!(a.name));
    out.insert("type".into(), json!(ty));
    out.insert("multiValued".into(), json!(a.multi));
    out.insert("description".into(), json!(a.description.unwrap_or(a.name)));
    out.insert("required".into(), json!(a.required));
    out.insert("caseExact".into(), json!(a.case_exact));
    out.insert("mutability".into(), json!(mutability));
    out.insert("returned".into(), json!(returned));
    out.insert(
        "uniqueness".into(),
        json!(if a.unique { "server" } else { "none" }),
    );
    if a.ty == AttrType::Reference {
        out.insert("referenceTypes".into(), json!(a.reference_types));
    }
    if !a.canonical_values.is_empty() {
        out.insert("canonicalValues".into(), json!(a.canonical_values));
    }
    if !a.sub.is_empty() {
        out.insert(
            "subAttributes".into(),
            Value::Array(a.sub.iter().map(attr_json).collect()),
        );
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urn_qualified_paths_split_into_namespace_and_attribute() {
        assert_eq!(
            USER.split_urn(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"
            ),
            Some((Namespace::Extension(ENTERPRISE_SCHEMA), "employeeNumber"))
        );
        assert_eq!(
            USER.split_urn("URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:name.givenName"),
            Some((Namespace::Core, "name.givenName"))
        );
        assert_eq!(
            USER.split_urn("userName"),
            Some((Namespace::Core, "userName"))
        );
        assert_eq!(USER.split_urn("urn:example:custom:attr"), None);
    }

    #[test]
    fn attribute_names_are_found_case_insensitively() {
        assert_eq!(USER.core_attr("USERNAME").unwrap().name, "userName");
        assert_eq!(
            USER.core_attr("emails")
                .unwrap()
                .sub_attr("VALUE")
                .unwrap()
                .name,
            "value"
        );
        assert!(USER.core_attr("nonsense").is_none());
    }
}
