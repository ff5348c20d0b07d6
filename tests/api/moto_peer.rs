//! A real, stateful AWS IAM (`moto_server`, from PyPI's `moto[server]` in
//! tests/peers/requirements.txt) on a loopback port per test. moto authenticates
//! requests only when told to: [`Moto::require_signatures`] turns that on (an unknown
//! key, a wrong secret or a bad SigV4 signature is then refused), and the harness's
//! own set-up and checks run with it off.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::fault_proxy::port_outside_ephemeral_range;

pub struct Moto {
    child: Child,
    pub endpoint: String,
    client: reqwest::Client,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Any credential scope will do while authentication is off.
const UNSIGNED: &str = "AWS4-HMAC-SHA256 Credential=AKIAHARNESS000000000/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0";

impl Moto {
    /// Starts moto; None (a skip) when it is not installed, unless
    /// OWNERBOUND_TEST_REQUIRE_ALL=1 makes that a failure.
    pub async fn start() -> Option<Self> {
        let installed = Command::new("moto_server")
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            assert!(
                std::env::var("OWNERBOUND_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
                "moto is required: python3 -m pip install -r tests/peers/requirements.txt"
            );
            eprintln!(
                "skipping: moto is not installed (pip install -r tests/peers/requirements.txt)"
            );
            return None;
        }
        for _ in 0..5 {
            let port = port_outside_ephemeral_range().expect("a free port");
            let child = Command::new("moto_server")
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start moto_server");
            let mut moto = Self {
                child,
                endpoint: format!("http://127.0.0.1:{port}"),
                client: reqwest::Client::new(),
            };
            for _ in 0..300 {
                if moto.call("ListUsers", &[]).await.is_some() {
                    return Some(moto);
                }
                if moto.child.try_wait().ok().flatten().is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        panic!("moto did not start");
    }

    /// An IAM action without a signature (authentication off); its XML answer.
    pub async fn call(&self, action: &str, params: &[(&str, &str)]) -> Option<String> {
        let mut form = vec![("Action", action), ("Version", "2010-05-08")];
        form.extend_from_slice(params);
        let response = self
            .client
            .post(format!("{}/", self.endpoint))
            .header("authorization", UNSIGNED)
            .form(&form)
            .send()
            .await
            .ok()?;
        let ok = response.status().is_success();
        let body = response.text().await.ok()?;
        assert!(ok, "IAM {action}: {body}");
        Some(body)
    }

    async fn act(&self, action: &str, params: &[(&str, &str)]) -> String {
        self.call(action, params).await.expect("moto answers")
    }

    pub async fn create_user(&self, name: &str) {
        self.act("CreateUser", &[("UserName", name)]).await;
    }

    /// Tags `user` with `key` = `value`.
    pub async fn tag_user(&self, user: &str, key: &str, value: &str) {
        self.act(
            "TagUser",
            &[
                ("UserName", user),
                ("Tags.member.1.Key", key),
                ("Tags.member.1.Value", value),
            ],
        )
        .await;
    }

    /// A new access key of `user`: its id and secret.
    pub async fn create_access_key(&self, user: &str) -> (String, String) {
        let xml = self.act("CreateAccessKey", &[("UserName", user)]).await;
        (
            element(&xml, "AccessKeyId"),
            element(&xml, "SecretAccessKey"),
        )
    }

    /// Gives `user` an inline policy allowing `actions` on every resource.
    pub async fn allow(&self, user: &str, actions: &[&str]) {
        let document = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
        })
        .to_string();
        self.act(
            "PutUserPolicy",
            &[
                ("UserName", user),
                ("PolicyName", "ownerbound"),
                ("PolicyDocument", &document),
            ],
        )
        .await;
    }

    /// The key's status in IAM's own listing of the user's keys; None: not listed.
    pub async fn key_status(&self, user: &str, key: &str) -> Option<String> {
        let xml = self.act("ListAccessKeys", &[("UserName", user)]).await;
        xml.split("<member>")
            .skip(1)
            .find(|member| member.contains(&format!("<AccessKeyId>{key}</AccessKeyId>")))
            .map(|member| element(member, "Status"))
    }

    /// From now on every request must be signed with a known key (or `false`: none
    /// must, for the harness's checks).
    pub async fn require_signatures(&self, required: bool) {
        let allowed_unsigned = if required { "0" } else { "1000000000" };
        let response = self
            .client
            .post(format!("{}/moto-api/reset-auth", self.endpoint))
            .header("content-type", "application/json")
            .body(allowed_unsigned)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "moto reset-auth");
    }
}

/// The text of the first `<name>` element.
fn element(xml: &str, name: &str) -> String {
    let start = xml
        .find(&format!("<{name}>"))
        .unwrap_or_else(|| panic!("no <{name}> in {xml}"))
        + name.len()
        + 2;
    let end = xml[start..].find('<').unwrap() + start;
    xml[start..end].to_string()
}
