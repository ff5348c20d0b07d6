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

    /// Alerts to security@example.com through this server.
    pub fn alerts(&self) -> AlertConfig {
        AlertConfig {
            smtp_url: SecretString::from(format!("smtp://127.0.0.1:{}", self.port)),
            from: "ownerbound@example.com".into(),
            to: vec!["security@example.com".into()],
        }
    }
}
