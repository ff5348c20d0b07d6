//! AWS IAM access keys. Revoked with `UpdateAccessKey Status=Inactive`, which is
//! reversible: a key shared with an unrelated workflow can be switched back on while
//! its new owner is found. Proven dead by IAM's own listing: `ListAccessKeys` shows
//! the key `Inactive`, or IAM no longer knows it. The key's user, which both calls
//! need, comes from `GetAccessKeyLastUsed`.
//!
//! The credential is the key: `external_id` is its access key id. Calls use IAM's
//! Query API (a form POST with `Version=2010-05-08`), signed with SigV4 (service
//! `iam`, region `us-east-1` unless `region` says otherwise) by the `aws-sigv4` crate;
//! answers are XML. ownerbound's own key needs only `iam:GetAccessKeyLastUsed`,
//! `iam:UpdateAccessKey` and `iam:ListAccessKeys`.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::call_error::CallError;
use super::discovery::{Found, FoundOwner, Listing, ListingError, Pace};
use super::options::Options;
use super::{body, retry_after, without_url, Revocation, Target, Verdict};

pub struct AwsIam {
    endpoint: String,
    /// Where a call signed with a departed person's key is tried (`GetCallerIdentity`).
    sts_endpoint: String,
    region: String,
    access_key_id: String,
    secret_access_key: SecretString,
    /// How long a deactivated key is kept (reversible) before it is deleted.
    delete_after: std::time::Duration,
    /// The user tag naming the email of the person who owns the user's keys.
    owner_tag: String,
    /// The user tag naming the email of the person the user is.
    email_tag: String,
}

/// The AWS service a call goes to.
#[derive(Clone, Copy)]
enum Service {
    Iam,
    Sts,
}

/// Deactivated keys are deleted after this long unless `delete_after_seconds` says
/// otherwise: a week to switch a wrongly revoked shared key back on.
pub const DEFAULT_DELETE_AFTER: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// An answer of the Query API: its HTTP status and XML body.
struct Answer {
    status: u16,
    after: Option<std::time::Duration>,
    body: String,
}

impl Answer {
    /// IAM's error code (`NoSuchEntity`, `Throttling`, …), if the body is an error.
    fn error_code(&self) -> Option<String> {
        let error = quick_xml::de::from_str::<ErrorResponse>(&self.body).ok()?;
        error
            .error
            .or(error.errors.map(|e| e.error))
            .map(|e| e.code)
    }

    fn ok(&self) -> bool {
        (200..=299).contains(&self.status)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorResponse {
    /// IAM's own errors.
    error: Option<ErrorDetail>,
    /// Authentication errors (`InvalidClientTokenId`, `SignatureDoesNotMatch`) nest
    /// theirs one level deeper.
    errors: Option<Errors>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Errors {
    error: ErrorDetail,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorDetail {
    code: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetAccessKeyLastUsedResponse {
    get_access_key_last_used_result: LastUsedResult,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LastUsedResult {
    user_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListAccessKeysResponse {
    list_access_keys_result: ListAccessKeysResult,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListAccessKeysResult {
    access_key_metadata: Members,
}

#[derive(Deserialize)]
struct Members {
    #[serde(default)]
    member: Vec<KeyMetadata>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyMetadata {
    access_key_id: String,
    status: String,
    create_date: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListUsersResponse {
    list_users_result: ListUsersResult,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListUsersResult {
    users: UserMembers,
    #[serde(default)]
    is_truncated: bool,
    marker: Option<String>,
}

#[derive(Deserialize)]
struct UserMembers {
    #[serde(default)]
    member: Vec<User>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct User {
    user_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListUserTagsResponse {
    list_user_tags_result: ListUserTagsResult,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListUserTagsResult {
    tags: TagMembers,
}

#[derive(Deserialize)]
struct TagMembers {
    #[serde(default)]
    member: Vec<Tag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Tag {
    key: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LastUsedDetail {
    get_access_key_last_used_result: LastUsedDetailResult,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LastUsedDetailResult {
    access_key_last_used: Option<AccessKeyLastUsed>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AccessKeyLastUsed {
    /// Absent (or not a date) for a key never used.
    last_used_date: Option<String>,
}

/// Users per `ListUsers` page (IAM allows up to 1,000).
const USERS_PER_PAGE: &str = "100";

/// Where the key's user was looked up.
enum Owner {
    User(String),
    /// IAM does not know the key (deleted).
    Unknown,
}

impl AwsIam {
    pub fn new(mut options: Options) -> Result<Self, String> {
        options.only(&[
            "endpoint",
            "sts_endpoint",
            "region",
            "access_key_id",
            "secret_access_key",
            "delete_after_seconds",
            "owner_tag",
            "email_tag",
        ])?;
        let endpoint = options.url("endpoint", Some("https://iam.amazonaws.com"))?;
        let delete_after = match options.whole("delete_after_seconds", 365 * 24 * 3600)? {
            Some(seconds) => std::time::Duration::from_secs(seconds),
            None => DEFAULT_DELETE_AFTER,
        };
        Ok(Self {
            // One local endpoint (moto, LocalStack) serves both services.
            sts_endpoint: match options.text("endpoint")? {
                Some(_) => options.url("sts_endpoint", Some(&endpoint))?,
                None => options.url("sts_endpoint", Some("https://sts.amazonaws.com"))?,
            },
            endpoint,
            delete_after,
            owner_tag: options.text("owner_tag")?.unwrap_or_else(|| "owner".into()),
            email_tag: options.text("email_tag")?.unwrap_or_else(|| "email".into()),
            region: options
                .text("region")?
                .unwrap_or_else(|| "us-east-1".into()),
            access_key_id: options.required("access_key_id")?,
            secret_access_key: options.required_secret("secret_access_key")?,
        })
    }

    /// Calls IAM's `action` with `params`, signed with ownerbound's own key.
    async fn call(
        &self,
        http: &reqwest::Client,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<Answer, CallError> {
        let own = (self.access_key_id.as_str(), &self.secret_access_key);
        self.call_as(http, Service::Iam, own, action, params).await
    }

    /// Calls `action` of `service` with `params`, signed with `key` (an access key id
    /// and its secret).
    async fn call_as(
        &self,
        http: &reqwest::Client,
        service: Service,
        key: (&str, &SecretString),
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<Answer, CallError> {
        let (endpoint, name, version) = match service {
            Service::Iam => (&self.endpoint, "iam", "2010-05-08"),
            Service::Sts => (&self.sts_endpoint, "sts", "2011-06-15"),
        };
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", action)
            .append_pair("Version", version)
            .extend_pairs(params)
            .finish();
        let url = format!("{}/", endpoint.trim_end_matches('/'));
        let host = url::Url::parse(&url)
            .ok()
            .and_then(|u| {
                u.host_str()
                    .map(|h| u.port().map_or(h.to_string(), |p| format!("{h}:{p}")))
            })
            .ok_or_else(|| CallError::Permanent("the endpoint has no host".into()))?;
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let identity: Identity =
            Credentials::new(key.0, key.1.expose_secret(), None, None, "ownerbound").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(name)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| CallError::Permanent(format!("cannot sign for AWS: {e}")))?
            .into();
        let headers = [("content-type", content_type), ("host", host.as_str())];
        let signable = SignableRequest::new(
            "POST",
            &url,
            headers.into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| CallError::Permanent(format!("cannot sign for AWS: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| CallError::Permanent(format!("cannot sign for AWS: {e}")))?
            .into_parts();
        let mut request = http
            .post(&url)
            .header("content-type", content_type)
            .body(body);
        for (name, value) in instructions.headers() {
            request = request.header(name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| CallError::Transient(without_url(&e), None))?;
        let status = response.status().as_u16();
        let after = retry_after(response.headers());
        // The List actions are discovery's pages; every other answer is small.
        let limit = if action.starts_with("List") {
            body::PAGE_LIMIT
        } else {
            body::ANSWER_LIMIT
        };
        let body = body::text(response, limit)
            .await
            .map_err(|e| CallError::Permanent(format!("{} {action} {e}", name.to_uppercase())))?;
        Ok(Answer {
            status,
            after,
            body,
        })
    }

    /// What a failed call means for a revocation.
    fn failed(answer: &Answer, action: &str) -> Revocation {
        let code = answer.error_code().unwrap_or_default();
        match (answer.status, code.as_str()) {
            (429 | 500..=599, _) | (_, "Throttling" | "ServiceFailure") => Revocation::Retry {
                error: format!("IAM {action} answered {} {code}", answer.status),
                after: answer.after,
            },
            _ => Revocation::Permanent(format!(
                "IAM {action} answered {} {code}: check the provider's key and its policy",
                answer.status
            )),
        }
    }

    fn key(target: &Target) -> Result<&str, String> {
        target
            .external_id
            .as_deref()
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| {
                "an AWS access key needs its access key id (external_id); revoke it by hand".into()
            })
    }

    async fn owner(&self, http: &reqwest::Client, key: &str) -> Result<Owner, Revocation> {
        let answer = self
            .call(http, "GetAccessKeyLastUsed", &[("AccessKeyId", key)])
            .await
            .map_err(Revocation::from)?;
        if answer.ok() {
            return quick_xml::de::from_str::<GetAccessKeyLastUsedResponse>(&answer.body)
                .map(|r| Owner::User(r.get_access_key_last_used_result.user_name))
                .map_err(|_| Revocation::Retry {
                    error: "IAM GetAccessKeyLastUsed answered without a UserName".into(),
                    after: None,
                });
        }
        match answer.error_code().as_deref() {
            Some("NoSuchEntity") => Ok(Owner::Unknown),
            _ => Err(Self::failed(&answer, "GetAccessKeyLastUsed")),
        }
    }

    pub async fn revoke(&self, http: &reqwest::Client, target: &Target) -> Revocation {
        let key = match Self::key(target) {
            Ok(key) => key,
            Err(reason) => return Revocation::Permanent(reason),
        };
        let user = match self.owner(http, key).await {
            Ok(Owner::User(user)) => user,
            Ok(Owner::Unknown) => {
                return Revocation::Ambiguous("IAM does not know the key (deleted?)".into())
            }
            Err(revocation) => return revocation,
        };
        let params = [
            ("UserName", user.as_str()),
            ("AccessKeyId", key),
            ("Status", "Inactive"),
        ];
        match self.call(http, "UpdateAccessKey", &params).await {
            Err(error) => error.into(),
            Ok(answer) if answer.ok() => Revocation::Revoked,
            Ok(answer) if answer.error_code().as_deref() == Some("NoSuchEntity") => {
                Revocation::Ambiguous("IAM does not know the key (deleted?)".into())
            }
            Ok(answer) => Self::failed(&answer, "UpdateAccessKey"),
        }
    }

    pub async fn verify(&self, http: &reqwest::Client, target: &Target) -> Verdict {
        let key = match Self::key(target) {
            Ok(key) => key,
            Err(reason) => return Verdict::Unknown(reason),
        };
        let user = match self.owner(http, key).await {
            Ok(Owner::User(user)) => user,
            Ok(Owner::Unknown) => return Verdict::Dead("aws: IAM no longer knows the key"),
            Err(revocation) => return Verdict::Unknown(format!("{revocation:?}")),
        };
        let answer = match self
            .call(http, "ListAccessKeys", &[("UserName", user.as_str())])
            .await
        {
            Ok(answer) if answer.ok() => answer,
            Ok(answer) => {
                return Verdict::Unknown(format!("{:?}", Self::failed(&answer, "ListAccessKeys")))
            }
            Err(CallError::Transient(error, _)) => {
                return Verdict::Unknown(format!("IAM unreachable: {error}"))
            }
            Err(CallError::Permanent(error)) => return Verdict::Unknown(error),
        };
        let Ok(listed) = quick_xml::de::from_str::<ListAccessKeysResponse>(&answer.body) else {
            return Verdict::Unknown(
                "IAM ListAccessKeys answered what ownerbound cannot read".into(),
            );
        };
        let keys = listed.list_access_keys_result.access_key_metadata.member;
        match keys.iter().find(|k| k.access_key_id == key) {
            None => Verdict::Dead("aws: ListAccessKeys no longer lists the key"),
            Some(k) if k.status == "Inactive" => {
                Verdict::Dead("aws: ListAccessKeys shows the key Inactive")
            }
            Some(_) => Verdict::Alive,
        }
    }
}

impl AwsIam {
    /// How long a deactivated key is kept before [`AwsIam::delete`].
    pub fn delete_after(&self) -> std::time::Duration {
        self.delete_after
    }

    /// The second step of a revocation, once the key is proven inactive and the
    /// window has passed: `DeleteAccessKey`. Proof: IAM no longer lists the key,
    /// and, when its secret is known, STS refuses a call signed with it. (Only a
    /// deleted key can be proven refused this way on moto, which accepts inactive
    /// keys; AWS itself refuses both.)
    pub async fn delete(&self, http: &reqwest::Client, target: &Target) -> Revocation {
        let key = match Self::key(target) {
            Ok(key) => key,
            Err(reason) => return Revocation::Permanent(reason),
        };
        let user = match self.owner(http, key).await {
            Ok(Owner::User(user)) => user,
            Ok(Owner::Unknown) => return Revocation::Revoked,
            Err(revocation) => return revocation,
        };
        let params = [("UserName", user.as_str()), ("AccessKeyId", key)];
        match self.call(http, "DeleteAccessKey", &params).await {
            Err(error) => error.into(),
            Ok(answer) if answer.ok() => Revocation::Revoked,
            Ok(answer) if answer.error_code().as_deref() == Some("NoSuchEntity") => {
                Revocation::Revoked
            }
            Ok(answer) => Self::failed(&answer, "DeleteAccessKey"),
        }
    }

    /// Whether a deleted key is dead: IAM no longer knows it, and a call signed with
    /// it (when its secret is known) is refused with `InvalidClientTokenId`.
    pub async fn verify_deleted(&self, http: &reqwest::Client, target: &Target) -> Verdict {
        let key = match Self::key(target) {
            Ok(key) => key,
            Err(reason) => return Verdict::Unknown(reason),
        };
        match self.owner(http, key).await {
            Ok(Owner::Unknown) => {}
            Ok(Owner::User(_)) => return Verdict::Alive,
            Err(revocation) => return Verdict::Unknown(format!("{revocation:?}")),
        }
        let Some(secret) = &target.secret else {
            return Verdict::Dead("aws: deleted; IAM no longer knows the key");
        };
        match self
            .call_as(http, Service::Sts, (key, secret), "GetCallerIdentity", &[])
            .await
        {
            Ok(answer) if answer.error_code().as_deref() == Some("InvalidClientTokenId") => {
                Verdict::Dead("aws: deleted; IAM no longer knows the key and STS refuses a call signed with it")
            }
            // IAM is eventually consistent: a deleted key may be accepted for a while.
            Ok(answer) if answer.ok() => Verdict::Alive,
            Ok(answer) => Verdict::Unknown(format!(
                "STS GetCallerIdentity answered {} {}",
                answer.status,
                answer.error_code().unwrap_or_default()
            )),
            Err(CallError::Transient(error, _)) => {
                Verdict::Unknown(format!("STS unreachable: {error}"))
            }
            Err(CallError::Permanent(error)) => Verdict::Unknown(error),
        }
    }

    /// One page of IAM users (`ListUsers`, `Marker`), with each user's access keys
    /// (`ListAccessKeys`), their last use (`GetAccessKeyLastUsed`) and the user's
    /// owner tags (`ListUserTags`). Needs `iam:ListUsers`, `iam:ListAccessKeys`,
    /// `iam:ListUserTags` and `iam:GetAccessKeyLastUsed`.
    pub async fn discover(
        &self,
        http: &reqwest::Client,
        pace: &dyn Pace,
        cursor: Option<&str>,
    ) -> Result<Listing, ListingError> {
        let mut params = vec![("MaxItems", USERS_PER_PAGE)];
        if let Some(marker) = cursor {
            params.push(("Marker", marker));
        }
        pace.ready().await;
        let users: ListUsersResponse = self.read(http, "ListUsers", &params).await?;
        let result = users.list_users_result;
        let mut found = Vec::new();
        for user in result.users.member {
            found.extend(self.keys_of(http, pace, &user.user_name).await?);
        }
        Ok(Listing {
            found,
            next: result.marker.filter(|_| result.is_truncated),
        })
    }

    /// A user's keys, as found.
    async fn keys_of(
        &self,
        http: &reqwest::Client,
        pace: &dyn Pace,
        user: &str,
    ) -> Result<Vec<Found>, ListingError> {
        let by_user = [("UserName", user)];
        pace.ready().await;
        let keys = match self
            .read::<ListAccessKeysResponse>(http, "ListAccessKeys", &by_user)
            .await
        {
            Ok(keys) => keys.list_access_keys_result.access_key_metadata.member,
            // Deleted since the user list was read.
            Err(ListingError::Permanent(e)) if e.contains("NoSuchEntity") => return Ok(Vec::new()),
            Err(other) => return Err(other),
        };
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        pace.ready().await;
        let tags = match self
            .read::<ListUserTagsResponse>(http, "ListUserTags", &by_user)
            .await
        {
            Ok(tags) => tags.list_user_tags_result.tags.member,
            Err(ListingError::Permanent(e)) if e.contains("NoSuchEntity") => return Ok(Vec::new()),
            Err(other) => return Err(other),
        };
        let tag = |name: &str| {
            tags.iter()
                .find(|t| t.key.eq_ignore_ascii_case(name))
                .map(|t| t.value.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let owner = FoundOwner {
            identity: Some(user.to_string()),
            email: tag(&self.owner_tag),
            identity_email: tag(&self.email_tag),
        };
        let mut found = Vec::new();
        // ownerbound's own key is not a finding.
        for key in keys
            .into_iter()
            .filter(|k| k.access_key_id != self.access_key_id)
        {
            pace.ready().await;
            let last_used = match self
                .read::<LastUsedDetail>(
                    http,
                    "GetAccessKeyLastUsed",
                    &[("AccessKeyId", &key.access_key_id)],
                )
                .await
            {
                Ok(detail) => detail
                    .get_access_key_last_used_result
                    .access_key_last_used
                    .and_then(|u| u.last_used_date)
                    .and_then(|d| DateTime::parse_from_rfc3339(&d).ok())
                    .map(|d| d.with_timezone(&Utc)),
                // Deleted between the two calls: gone, and the next run says so.
                Err(ListingError::Permanent(e)) if e.contains("NoSuchEntity") => continue,
                Err(other) => return Err(other),
            };
            found.push(Found {
                handle: key.access_key_id,
                kind: crate::domain::CredentialKind::ServiceAccountKey,
                name: user.to_string(),
                group: user.to_string(),
                scopes: Vec::new(),
                status: key.status,
                created_at: key.create_date,
                last_used_at: last_used,
                expires_at: None,
                owner: owner.clone(),
            });
        }
        Ok(found)
    }

    /// Calls a listing action and reads its answer.
    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        http: &reqwest::Client,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<T, ListingError> {
        let answer = self
            .call(http, action, params)
            .await
            .map_err(|error| match error {
                CallError::Transient(error, after) => ListingError::Retry {
                    error: format!("IAM unreachable: {error}"),
                    after,
                },
                CallError::Permanent(reason) => ListingError::Permanent(reason),
            })?;
        if !answer.ok() {
            return Err(match Self::failed(&answer, action) {
                Revocation::Retry { error, after } => ListingError::Retry { error, after },
                other => ListingError::Permanent(match other {
                    Revocation::Permanent(reason) | Revocation::Ambiguous(reason) => reason,
                    _ => format!("IAM {action} failed"),
                }),
            });
        }
        quick_xml::de::from_str(&answer.body).map_err(|_| ListingError::Retry {
            error: format!("IAM {action} answered what ownerbound cannot read"),
            after: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_answers_are_read_as_aws_documents_them() {
        let listed = r#"<ListAccessKeysResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><ListAccessKeysResult><IsTruncated>false</IsTruncated><AccessKeyMetadata><member><UserName>ada</UserName><AccessKeyId>AKIAEXAMPLE1</AccessKeyId><Status>Inactive</Status><CreateDate>2026-12-01T20:31:06Z</CreateDate></member></AccessKeyMetadata></ListAccessKeysResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></ListAccessKeysResponse>"#;
        let keys = quick_xml::de::from_str::<ListAccessKeysResponse>(listed)
            .unwrap()
            .list_access_keys_result
            .access_key_metadata
            .member;
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].access_key_id, "AKIAEXAMPLE1");
        assert_eq!(keys[0].status, "Inactive");
        let none = r#"<ListAccessKeysResponse><ListAccessKeysResult><AccessKeyMetadata/></ListAccessKeysResult></ListAccessKeysResponse>"#;
        assert!(quick_xml::de::from_str::<ListAccessKeysResponse>(none)
            .unwrap()
            .list_access_keys_result
            .access_key_metadata
            .member
            .is_empty());
        let error = Answer {
            status: 404,
            after: None,
            body: r#"<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>The Access Key with id AKIA cannot be found</Message></Error><RequestId>r</RequestId></ErrorResponse>"#.into(),
        };
        assert_eq!(error.error_code().as_deref(), Some("NoSuchEntity"));
        let refused = Answer {
            status: 403,
            after: None,
            body: r#"<?xml version="1.0" encoding="utf-8"?><ErrorResponse><Errors><Error><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message><Type>Sender</Type></Error></Errors></ErrorResponse>"#.into(),
        };
        assert_eq!(
            refused.error_code().as_deref(),
            Some("InvalidClientTokenId")
        );
    }
}
