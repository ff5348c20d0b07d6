//! Concurrent writers on PostgreSQL, through one instance and then two:
//! `cargo bench --bench concurrent_writers`.
//!
//! OWNERBOUND_BENCH_CLIENTS clients (default 16) register OWNERBOUND_BENCH_AGENTS
//! agents (default 4,000), each with an owner email and one credential with a secret
//! of its own (`POST /api/v1/agents`), first through one instance, then split between
//! two instances on one database. Each phase has a fresh database, warmed up with a
//! quarter as many agents (not measured) and analysed, so both write the same rows
//! into the same size. The two instances are two `Application`s, each with its own
//! store (pool), job workers and port: two instances as far as the database is
//! concerned, though they share this process and its CPU.
//!
//! Prints agents per second for each phase and the ratio two ÷ one (above 1 when a
//! second instance adds write throughput), and, as the ceiling, `GET /readyz` (one
//! trivial query) requests per second with the same clients in the same phase: the
//! machine is shared, so only the ratios compare across runs.
//! Needs OWNERBOUND_BENCH_POSTGRES_URL, a server where the user may create databases
//! (each phase's database is dropped afterwards); without it, says so and exits.

use ownerbound::config::Settings;
use ownerbound::store::Store;
use serde_json::json;

mod common;

use common::{env_usize, report_at, run_at, BenchDatabase, Instance, ADMIN};

struct Phase {
    agents_per_second: f64,
    ready_per_second: f64,
}

/// Fresh database, `instance_count` instances; `/readyz`, then the agents, each
/// request going to the instances in turn.
async fn phase(server_url: &str, instance_count: usize, clients: usize, agents: usize) -> Phase {
    let database = BenchDatabase::postgres(server_url).await;
    let mut instances = Vec::new();
    for _ in 0..instance_count {
        // One after another: the first migrates the fresh database.
        instances.push(Instance::start(common::settings(&database.url)).await);
    }
    let bases: Vec<String> = instances.iter().map(|i| i.base.clone()).collect();
    let http = reqwest::Client::new();
    let label = format!("{instance_count} instance(s)");

    // Warm-up (not measured): a quarter as many agents, then planner statistics, as a
    // running server's autovacuum would have them. Without them (autovacuum is off on
    // the build machine) PostgreSQL plans lookups in the growing tables as if they
    // were empty, and every registration scans all agents.
    let register = |i: usize, base: &str| {
        http.post(format!("{base}/api/v1/agents"))
            .bearer_auth(ADMIN)
            .json(&json!({
                "name": format!("writer-{i}"),
                "owner_email": format!("owner{i}@example.com"),
                // A secret of its own: a new credential, not a link to an existing one.
                "credentials": [{"provider": "github", "kind": "api_key",
                                 "secret": format!("ghp_bench_writer_secret_{i}")}]
            }))
    };
    let warm_up = agents / 4;
    run_at(clients, warm_up, |i| register(agents + i, &bases[0])).await;
    let store = Store::connect_url(&database.url).await.unwrap();
    store.execute_unprepared("ANALYZE").await.unwrap();

    let ready = run_at(clients, agents, |i| {
        http.get(format!("{}/readyz", bases[i % instance_count]))
    })
    .await;
    let ready_per_second = report_at(&format!("  {label}: GET /readyz"), clients, &ready);

    let created = run_at(clients, agents, |i| register(i, &bases[i % instance_count])).await;
    let agents_per_second = report_at(
        &format!("  {label}: POST /api/v1/agents"),
        clients,
        &created,
    );

    for instance in instances {
        instance.stop().await;
    }
    // Every request answered 201; check it also left exactly the rows asked for.
    let rows = (warm_up + agents) as i64;
    assert_eq!(store.count_rows("agents").await.unwrap(), rows);
    assert_eq!(store.count_rows("credentials").await.unwrap(), rows);
    store.close().await;
    database.drop_database().await;
    Phase {
        agents_per_second,
        ready_per_second,
    }
}

#[tokio::main]
async fn main() {
    let Ok(server_url) = std::env::var("OWNERBOUND_BENCH_POSTGRES_URL") else {
        println!(
            "concurrent_writers measures PostgreSQL only: set OWNERBOUND_BENCH_POSTGRES_URL \
             to a server where the user may create databases; nothing measured"
        );
        return;
    };
    let clients = env_usize("OWNERBOUND_BENCH_CLIENTS", 16);
    let agents = env_usize("OWNERBOUND_BENCH_AGENTS", 4_000);
    let workers = Settings::default().job_workers;
    println!(
        "[postgres] {agents} agents with one credential each, {clients} concurrent clients, \
         {workers} job workers per instance; a fresh database per phase, warmed up with {} agents",
        agents / 4
    );
    let one = phase(&server_url, 1, clients, agents).await;
    let two = phase(&server_url, 2, clients, agents).await;
    println!(
        "one instance: {:.0} agents/s = {:.3} × its /readyz ({:.0} req/s)",
        one.agents_per_second,
        one.agents_per_second / one.ready_per_second,
        one.ready_per_second
    );
    println!(
        "two instances: {:.0} agents/s = {:.3} × their /readyz ({:.0} req/s)",
        two.agents_per_second,
        two.agents_per_second / two.ready_per_second,
        two.ready_per_second
    );
    println!(
        "ratio two ÷ one instances: {:.2}",
        two.agents_per_second / one.agents_per_second
    );
}
