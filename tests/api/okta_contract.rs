//! Okta's published API description, as its Python SDK carries it
//! (`tests/peers/okta_contract.py`, SDK pinned in tests/peers/requirements.txt): the
//! SDK's operations (method and path template) and its pydantic models, which the
//! Okta contract test checks requests and answers against.

use serde_json::Value;

fn script(args: &[&str], input: Option<&str>) -> Option<String> {
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/peers/okta_contract.py"
        ))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    child
        .stdin
        .take()?
        .write_all(input.unwrap_or("").as_bytes())
        .ok()?;
    let output = child.wait_with_output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

pub struct OktaSdk {
    operations: Vec<(String, String)>,
}

impl OktaSdk {
    /// None (a skip) when the SDK is not installed, unless
    /// OWNERBOUND_TEST_REQUIRE_ALL=1.
    pub fn load() -> Option<Self> {
        let Some(listed) = script(&["operations"], None) else {
            assert!(
                std::env::var("OWNERBOUND_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
                "the okta SDK is required: python3 -m pip install -r tests/peers/requirements.txt"
            );
            eprintln!("skipping: the okta SDK is not installed");
            return None;
        };
        let operations: Vec<(String, String)> = serde_json::from_str(&listed).unwrap();
        Some(Self { operations })
    }

    /// Whether `method path` is one of the SDK's operations (Okta's `Link` cursors in
    /// the query are opaque, so only the path is checked).
    pub fn check_request(&self, method: &str, target: &str) -> Result<(), String> {
        let path = target.split('?').next().unwrap_or(target);
        let segments: Vec<&str> = path.split('/').collect();
        let documented = self.operations.iter().any(|(m, template)| {
            let parts: Vec<&str> = template.split('/').collect();
            m == method
                && parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s)
        });
        if documented {
            Ok(())
        } else {
            Err(format!(
                "{method} {path} is not an operation of the Okta SDK"
            ))
        }
    }

    /// Every (model, object) validated by the SDK's models; the errors.
    pub fn check_resources(&self, resources: &[(String, Value)]) -> Vec<String> {
        let input = serde_json::to_string(resources).unwrap();
        let out = script(&["validate"], Some(&input)).expect("the SDK validates");
        serde_json::from_str(&out).unwrap()
    }
}
