//! A real SMTP server (aiosmtpd, from tests/peers/requirements.txt) that keeps every
//! message it receives, for the alert tests.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use ownerbound::alerts::AlertConfig;
use secrecy::SecretString;

pub struct SmtpServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    /// Extra arguments: `--tls CERT KEY`, `--auth USER:PASSWORD`.
    options: Vec<String>,
}

/// A server that requires STARTTLS (with a certificate for `localhost` from a private
/// CA) and SMTP AUTH: what a corporate relay looks like.
pub struct SecureSmtp {
    pub server: SmtpServer,
    /// PEM of the certificate clients must trust.
    pub ca_pem: String,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn installed() -> bool {
    Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .output()
        .is_ok_and(|o| o.status.success())
}

impl SmtpServer {
    /// A server on a free port; None (a skip) when aiosmtpd is not installed, unless
    /// OWNERBOUND_TEST_REQUIRE_ALL=1 makes that a failure.
    pub fn start() -> Option<Self> {
        Self::start_with(Vec::new())
    }

    /// A server requiring STARTTLS and AUTH as `user`/`password`.
    pub fn start_secure(user: &str, password: &str) -> Option<SecureSmtp> {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let files = tempfile::tempdir().unwrap();
        let (cert, key) = (files.path().join("cert.pem"), files.path().join("key.pem"));
        std::fs::write(&cert, certified.cert.pem()).unwrap();
        std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
        let server = Self::start_with(vec![
            "--tls".into(),
            cert.display().to_string(),
            key.display().to_string(),
            "--auth".into(),
            format!("{user}:{password}"),
        ])?;
        // The server has loaded them; the directory may go.
        drop(files);
        Some(SecureSmtp {
            server,
            ca_pem: certified.cert.pem(),
        })
    }

    fn start_with(options: Vec<String>) -> Option<Self> {
        if !installed() {
            assert!(
                std::env::var("OWNERBOUND_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
                "the SMTP test server is required: pip install -r tests/peers/requirements.txt"
            );
            eprintln!("skipping: the SMTP test server is not installed");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Self {
            child: None,
            port,
            dir: tempfile::tempdir().unwrap(),
            options,
        };
        server.restart();
        Some(server)
    }

    /// (Re)starts the server on its port.
    pub fn restart(&mut self) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/smtp-server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(self.port.to_string())
            .arg(self.dir.path())
            .args(&self.options)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the SMTP test server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        self.child = Some(child);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every message received so far, raw.
    pub fn messages(&self) -> Vec<String> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    /// Every message received so far, parsed by Python's standard `email` package (a
    /// MIME parser independent of lettre): headers, and each leaf part decoded.
    pub fn parsed(&self) -> Vec<serde_json::Value> {
        const PARSE: &str = r#"
import email, email.policy, json, sys
message = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)
parts = [{"content_type": p.get_content_type(), "text": p.get_content()}
         for p in message.walk() if not p.is_multipart()]
headers = {}
for name, value in message.items():
    headers.setdefault(name.lower(), []).append(str(value))
print(json.dumps({"content_type": message.get_content_type(), "headers": headers, "parts": parts}))
"#;
        self.messages()
            .iter()
            .map(|raw| {
                use std::io::Write;
                let mut child = Command::new("python3")
                    .args(["-c", PARSE])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(raw.as_bytes())
                    .unwrap();
                let output = child.wait_with_output().unwrap();
                assert!(
                    output.status.success(),
                    "python could not parse the message"
                );
                serde_json::from_slice(&output.stdout).unwrap()
            })
            .collect()
    }

    /// Alerts to security@example.com through this server.
    pub fn alerts(&self) -> AlertConfig {
        AlertConfig {
            smtp_url: SecretString::from(format!("smtp://127.0.0.1:{}", self.port)),
            from: "ownerbound@example.com".into(),
            to: vec!["security@example.com".into()],
            ca_pem: None,
        }
    }
}
