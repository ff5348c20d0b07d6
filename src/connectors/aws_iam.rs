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
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::options::Options;
use super::{retry_after, without_url, Revocation, Target, Verdict};

pub struct AwsIam {
    endpoint: String,
    region: String,
    access_key_id: String,
    secret_access_key: SecretString,
}

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
}

/// Where the key's user was looked up.
enum Owner {
    User(String),
    /// IAM does not know the key (deleted).
    Unknown,
}

impl AwsIam {
    pub fn new(mut options: Options) -> Result<Self, String> {
        options.only(&["endpoint", "region", "access_key_id", "secret_access_key"])?;
        Ok(Self {
            endpoint: options.url("endpoint", Some("https://iam.amazonaws.com"))?,
            region: options
                .text("region")?
                .unwrap_or_else(|| "us-east-1".into()),
            access_key_id: options.required("access_key_id")?,
            secret_access_key: options.required_secret("secret_access_key")?,
        })
    }

    /// Calls `action` with `params`, signed with ownerbound's own key.
    async fn call(
        &self,
        http: &reqwest::Client,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<Answer, String> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", action)
            .append_pair("Version", "2010-05-08")
            .extend_pairs(params)
            .finish();
        let url = format!("{}/", self.endpoint.trim_end_matches('/'));
        let host = url::Url::parse(&url)
            .ok()
            .and_then(|u| {
                u.host_str()
                    .map(|h| u.port().map_or(h.to_string(), |p| format!("{h}:{p}")))
            })
            .ok_or("the endpoint has no host")?;
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let identity: Identity = Credentials::new(
            &self.access_key_id,
            self.secret_access_key.expose_secret(),
            None,
            None,
            "ownerbound",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("iam")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("cannot sign for IAM: {e}"))?
            .into();
        let headers = [("content-type", content_type), ("host", host.as_str())];
        let signable = SignableRequest::new(
            "POST",
            &url,
            headers.into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| format!("cannot sign for IAM: {e}"))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| format!("cannot sign for IAM: {e}"))?
            .into_parts();
        let mut request = http
            .post(&url)
            .header("content-type", content_type)
            .body(body);
        for (name, value) in instructions.headers() {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| without_url(&e))?;
        let status = response.status().as_u16();
        let after = retry_after(response.headers());
        let body = response.text().await.unwrap_or_default();
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
            .map_err(|error| Revocation::Retry { error, after: None })?;
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
            Err(error) => Revocation::Retry { error, after: None },
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
            Err(error) => return Verdict::Unknown(format!("IAM unreachable: {error}")),
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
