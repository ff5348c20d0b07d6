use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{cli_command, TestApp};
use crate::on_both_engines;

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

async fn token_commands_create_list_and_revoke(app: TestApp) {
    let created = app.cli(&["token", "create", "--name", "ci-reader", "--scope", "read"]);
    assert!(created.status.success(), "{}", stderr(&created));
    let token = stdout(&created).trim().to_string();
    assert!(token.starts_with("ob_"));
    let ok = app
        .request_as(&token, Method::GET, "/api/v1/agents")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    let listed = app.cli(&["token", "list"]);
    assert!(stdout(&listed).contains("ci-reader"));
    assert!(!stdout(&listed).contains(&token));

    let bad = app.cli(&["token", "create", "--name", "x", "--scope", "root"]);
    assert!(!bad.status.success());

    let revoked = app.cli(&["token", "revoke", "ci-reader"]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    let denied = app
        .request_as(&token, Method::GET, "/api/v1/agents")
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
    let audit: Value = app
        .get("/api/v1/audit?limit=1000")
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "cli")
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["token.created", "token.revoked"]);
}

async fn json_import_is_idempotent_and_reports_rejected_rows(app: TestApp) {
    let file = app.dir.path().join("agents.json");
    let agents = json!([
        {"name": "etl-bot", "owner_email": "ada@example.com", "platform": "airflow",
         "credentials": [{"provider": "github", "kind": "api_key", "secret": "ghp_import_shared"}]},
        {"name": "report-bot", "owner_email": "bob@example.com",
         "credentials": [{"provider": "github", "kind": "api_key", "secret": "ghp_import_shared"},
                         {"provider": "slack", "kind": "api_key", "external_id": "B9"}]},
        {"name": "broken-bot", "owner_email": "not-an-email"},
        {"name": "typo-bot", "owner_emial": "x@example.com"}
    ]);
    std::fs::write(&file, agents.to_string()).unwrap();
    let path = file.to_str().unwrap();

    let first = app.cli(&["agents", "import", path]);
    assert_eq!(first.status.code(), Some(2), "{}", stderr(&first));
    assert!(
        stdout(&first).contains("2 agents created, 0 updated; 2 credentials created, 1 linked"),
        "{}",
        stdout(&first)
    );
    let report = stderr(&first);
    assert!(
        report.contains("element 3") && report.contains("owner_email"),
        "{report}"
    );
    assert!(
        report.contains("element 4") && report.contains("owner_emial"),
        "{report}"
    );
    assert!(!report.contains("ghp_import_shared"));

    let audit_before = app.audit_entries().await;
    let second = app.cli(&["agents", "import", path]);
    assert!(
        stdout(&second).contains("0 agents created, 0 updated; 0 credentials created, 0 linked"),
        "{}",
        stdout(&second)
    );
    assert_eq!(app.store.count_rows("agents").await.unwrap(), 2);
    assert_eq!(app.store.count_rows("credentials").await.unwrap(), 2);
    assert_eq!(app.audit_entries().await, audit_before);
}

async fn csv_import_groups_rows_by_agent_and_updates_changed_ones(app: TestApp) {
    let file = app.dir.path().join("agents.csv");
    std::fs::write(
        &file,
        "name,owner_email,platform,provider,kind,external_id,secret,scopes,expires_at\n\
         crm-sync,ada@example.com,zapier,salesforce,oauth_refresh_token,,sf-refresh-1,api refresh_token,2027-01-01T00:00:00Z\n\
         crm-sync,ada@example.com,zapier,slack,api_key,B1,,chat:write,\n\
         bad-date,ada@example.com,zapier,slack,api_key,B2,,,yesterday\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let first = app.cli(&["agents", "import", path]);
    assert_eq!(first.status.code(), Some(2));
    assert!(
        stdout(&first).contains("1 agents created"),
        "{}",
        stdout(&first)
    );
    assert!(stderr(&first).contains("row 4") && stderr(&first).contains("expires_at"));

    let agents: Value = app
        .get("/api/v1/agents?name=crm-sync")
        .await
        .json()
        .await
        .unwrap();
    let id = agents["items"][0]["id"].as_str().unwrap();
    assert_eq!(agents["items"][0]["credential_count"], 2);

    // Disabled through the API; a re-import that does not mention status keeps it so.
    app.patch(
        &format!("/api/v1/agents/{id}"),
        &json!({"status": "disabled"}),
    )
    .await;
    std::fs::write(
        &file,
        "name,owner_email,platform\ncrm-sync,ada@example.com,make\n",
    )
    .unwrap();
    let second = app.cli(&["agents", "import", path]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        stdout(&second).contains("0 agents created, 1 updated"),
        "{}",
        stdout(&second)
    );
    let agent: Value = app
        .get(&format!("/api/v1/agents/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(agent["platform"], "make");
    assert_eq!(agent["status"], "disabled");
    assert_eq!(agent["credential_count"], 2);
}

async fn healthcheck_exits_zero_only_when_the_service_is_ready(app: TestApp) {
    let ok = app.cli(&["healthcheck"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let down = app.cli(&["healthcheck", "--url", &format!("http://127.0.0.1:{port}")]);
    assert!(!down.status.success());
}

async fn offboard_command_previews_then_offboards_by_email(app: TestApp) {
    let person = app
        .create_person(&json!({"emails": ["eve@example.com"]}))
        .await;
    app.create_agent(
        &json!({"name": "eve-bot", "owner_email": "eve@example.com", "credentials": [
        {"provider": "it-desk", "kind": "api_key", "secret": "eve-key-000111"}]}),
    )
    .await;
    let before = app.row_counts().await;
    let preview = app.cli(&["offboard", "eve@example.com", "--dry-run"]);
    assert!(preview.status.success(), "{}", stderr(&preview));
    let impact: Value = serde_json::from_str(&stdout(&preview)).unwrap();
    assert_eq!(impact["credentials"].as_array().unwrap().len(), 1);
    assert!(!stdout(&preview).contains("eve-key-000111"));
    assert_eq!(
        app.row_counts().await,
        before,
        "a dry run changed something"
    );

    let done = app.cli(&["offboard", "eve@example.com", "--reason", "contract ended"]);
    assert!(done.status.success(), "{}", stderr(&done));
    assert!(
        stdout(&done).contains("offboarding case"),
        "{}",
        stdout(&done)
    );
    let id = person["id"].as_str().unwrap();
    let p: Value = app
        .get(&format!("/api/v1/people/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p["active"], false);
    let listed = app.cli(&["jobs", "list"]);
    assert!(stdout(&listed).contains("open_case"), "{}", stdout(&listed));
    let again = app.cli(&["offboard", id]);
    assert!(!again.status.success());
}

on_both_engines!(
    offboard_command_previews_then_offboards_by_email,
    token_commands_create_list_and_revoke,
    json_import_is_idempotent_and_reports_rejected_rows,
    csv_import_groups_rows_by_agent_and_updates_changed_ones,
    healthcheck_exits_zero_only_when_the_service_is_ready
);

async fn keys_rotate_generates_a_private_key_file_and_finishes_the_rotation(app: TestApp) {
    let agent = app
        .create_agent(&json!({"name": "keyed", "owner_email": "k@example.com",
            "credentials": [{"provider": "slack", "kind": "api_key", "secret": "xoxb-rotated-by-cli"}]}))
        .await;
    let credential = agent["credentials"][0]["id"].as_str().unwrap().to_string();
    // Only admins begin a rotation; readers may watch it.
    let anonymous = reqwest::Client::new()
        .post(format!("{}/api/v1/keys/rotation", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let reader = app.token_with_scope("read").await;
    let read_post = app
        .request_as(&reader, Method::POST, "/api/v1/keys/rotation")
        .send()
        .await
        .unwrap();
    assert_eq!(read_post.status(), 403);
    let read_get = app
        .request_as(&reader, Method::GET, "/api/v1/keys/rotation")
        .send()
        .await
        .unwrap();
    assert_eq!(read_get.status(), 200);
    // The API rotates only to a key configured on the instance; this one has none.
    let refused = app.post("/api/v1/keys/rotation", &json!({})).await;
    crate::helpers::assert_problem(refused, 409, "rotation_conflict").await;
    let key_file = app.dir.path().join("next.key");
    let rotated = app.cli(&[
        "keys",
        "rotate",
        "--new-key-file",
        key_file.to_str().unwrap(),
    ]);
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    assert!(
        stderr(&rotated).contains("the rotation finished"),
        "{}",
        stderr(&rotated)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let new_key = std::fs::read_to_string(&key_file)
        .unwrap()
        .trim()
        .to_string();
    let status = app.cli_with_env(&["keys", "status"], &[("OWNERBOUND_MASTER_KEY", &new_key)]);
    assert!(status.status.success(), "{}", stderr(&status));
    let status: Value = serde_json::from_str(&stdout(&status)).unwrap();
    assert_eq!(
        (status["rotating"].clone(), status["remaining"].clone()),
        (json!(false), json!(0))
    );
    let master = ownerbound::crypto::MasterKey::parse(&new_key).unwrap();
    assert_eq!(status["key_id"], master.id());
    let keys = ownerbound::key_rotation::open_keys(&app.store, &master)
        .await
        .unwrap();
    let sealed = app.store.sealed_secret(&credential).await.unwrap().unwrap();
    assert_eq!(
        keys.decrypt(&sealed, &credential).unwrap().as_slice(),
        b"xoxb-rotated-by-cli"
    );
    let old = app.cli(&["keys", "status"]);
    assert!(!old.status.success(), "the old key is refused");
    for output in [&rotated, &old] {
        assert!(!stdout(output).contains(&new_key) && !stderr(output).contains(&new_key));
    }
}

on_both_engines!(keys_rotate_generates_a_private_key_file_and_finishes_the_rotation);

/// Starts `ownerbound` (no arguments) in `dir`; returns it, its port, and its log
/// (stderr) as it grows.
fn start_serve(dir: &std::path::Path, env: &[(&str, &str)]) -> (Child, u16, Arc<Mutex<String>>) {
    let mut child = cli_command(dir)
        .env("OWNERBOUND_LISTEN", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let log = Arc::new(Mutex::new(String::new()));
    let port = loop {
        let line = lines
            .next()
            .expect("ownerbound exited before serving")
            .unwrap();
        log.lock().unwrap().push_str(&format!("{line}\n"));
        let port = line
            .split("port=")
            .nth(1)
            .or_else(|| line.split("\"port\":").nth(1));
        if let Some(rest) = port {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            break digits.parse::<u16>().unwrap();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            sink.lock().unwrap().push_str(&format!("{line}\n"));
        }
    });
    (child, port, log)
}

fn terminate(child: &mut Child, signal: &str) -> std::process::ExitStatus {
    let killed = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    child.wait().unwrap()
}

#[tokio::test]
async fn first_serve_creates_an_admin_token_once_and_sigterm_or_ctrl_c_stop_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, port, first_log) = start_serve(dir.path(), &[]);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    let status = terminate(&mut child, "-TERM");
    assert!(status.success(), "exit status {status:?}");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    // Standard output is a pipe here, as in a container: the token goes to a
    // private file the log names, not to the output a log collector keeps.
    assert!(
        !out.contains("ob_"),
        "the token was printed to a pipe: {out}"
    );
    let token_file = dir.path().join("ownerbound.admin-token");
    let token = std::fs::read_to_string(&token_file)
        .expect("first start writes the admin token to a file")
        .trim()
        .to_string();
    assert!(token.starts_with("ob_"), "{token}");
    let first_log = first_log.lock().unwrap().clone();
    assert!(first_log.contains("ownerbound.admin-token"), "{first_log}");
    assert!(!first_log.contains(&token));

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for file in ["ownerbound.key", "ownerbound.admin-token", "ownerbound.db"] {
            let meta = std::fs::metadata(dir.path().join(file)).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{file}");
        }
    }

    // Second start, logging JSON: the token works, and no new one is printed.
    let (mut child, port, log) = start_serve(dir.path(), &[("OWNERBOUND_LOG_FORMAT", "json")]);
    let base = format!("http://127.0.0.1:{port}");
    let created = client
        .post(format!("{base}/api/v1/agents"))
        .bearer_auth(&token)
        .json(&json!({"name": "smoke", "owner_email": "a@example.com",
                      "credentials": [{"provider": "slack", "kind": "api_key", "secret": "xoxb-smoke-secret"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    // While it runs, SQLite's write-ahead log and shared memory take the database's mode.
    #[cfg(unix)]
    for file in ["ownerbound.db-wal", "ownerbound.db-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(dir.path().join(file)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{file}");
    }
    // ctrl-c (SIGINT) stops it as gracefully as SIGTERM.
    let status = terminate(&mut child, "-INT");
    assert!(status.success(), "exit status {status:?}");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert!(!out.contains("ob_"), "a second token was printed: {out}");

    let log = log.lock().unwrap().clone();
    assert!(
        !log.contains("xoxb-smoke-secret") && !log.contains(&token),
        "secret in the log"
    );
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not a JSON log line: {l}")))
        .collect();
    let request = lines
        .iter()
        .find(|l| l["message"] == "request completed" && l["span"]["route"] == "/api/v1/agents")
        .expect("a request log line");
    assert_eq!(request["status"], 201);
    assert!(
        request["span"]["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{request}"
    );
}

#[test]
fn migrate_prepares_a_database_and_a_different_master_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key_a = hex::encode([1u8; 32]);
    let key_b = hex::encode([2u8; 32]);
    let migrated = cli_command(dir.path())
        .arg("migrate")
        .env("OWNERBOUND_MASTER_KEY", &key_a)
        .output()
        .unwrap();
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    assert!(dir.path().join("ownerbound.db").exists());

    let listed = cli_command(dir.path())
        .args(["token", "create", "--name", "n", "--scope", "read"])
        .env("OWNERBOUND_MASTER_KEY", &key_a)
        .output()
        .unwrap();
    assert!(listed.status.success());
    let import = dir.path().join("a.json");
    std::fs::write(
        &import,
        r#"[{"name": "a", "owner_email": "a@example.com"}]"#,
    )
    .unwrap();
    let with_a = cli_command(dir.path())
        .args(["agents", "import", import.to_str().unwrap()])
        .env("OWNERBOUND_MASTER_KEY", &key_a)
        .output()
        .unwrap();
    assert!(with_a.status.success(), "{}", stderr(&with_a));
    let with_b = cli_command(dir.path())
        .args(["agents", "import", import.to_str().unwrap()])
        .env("OWNERBOUND_MASTER_KEY", &key_b)
        .output()
        .unwrap();
    assert!(!with_b.status.success());
    assert!(
        stderr(&with_b).contains("OWNERBOUND_MASTER_KEY"),
        "{}",
        stderr(&with_b)
    );
    assert!(!stderr(&with_b).contains(&key_b) && !stderr(&with_b).contains(&key_a));
}

#[test]
fn invalid_configuration_stops_startup_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let output = cli_command(dir.path())
        .env("OWNERBOUND_LISTEN", "localhost-without-port")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("OWNERBOUND_LISTEN"),
        "{}",
        stderr(&output)
    );

    let output = cli_command(dir.path())
        .env(
            "OWNERBOUND_SMTP_URL",
            "smtp://ownerbound:pw-in-clear-5150@127.0.0.1:2525",
        )
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("OWNERBOUND_SMTP_URL") && stderr(&output).contains("TLS"),
        "{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains("pw-in-clear-5150"));

    std::fs::write(
        dir.path().join("ownerbound.toml"),
        "max_body_bytes = \"huge\"\n",
    )
    .unwrap();
    let output = cli_command(dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("max_body_bytes"),
        "{}",
        stderr(&output)
    );

    std::fs::write(
        dir.path().join("ownerbound.toml"),
        "[[hr_sources]]\nname = \"bamboohr\"\npreset = \"bamboohr\"\nsecrets = [\"too-short\"]\n",
    )
    .unwrap();
    let output = cli_command(dir.path()).output().unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("hr_sources \"bamboohr\""),
        "{}",
        stderr(&output)
    );
    assert!(stderr(&output).contains("16"), "{}", stderr(&output));
    assert!(
        !stderr(&output).contains("too-short"),
        "the secret is shown: {}",
        stderr(&output)
    );

    std::fs::remove_file(dir.path().join("ownerbound.toml")).unwrap();
    let output = cli_command(dir.path())
        .env(
            "OWNERBOUND_DATABASE_URL",
            "postgres://u:pw-not-shown@127.0.0.1:1/db",
        )
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("OWNERBOUND_MASTER_KEY"),
        "{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains("pw-not-shown"));
}
