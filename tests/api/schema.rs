use ownerbound::store::Store;

use crate::helpers::PgDatabase;

#[tokio::test]
async fn sqlite_and_postgres_migrations_create_the_same_tables_and_columns() {
    let Some(pg) = PgDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::connect_url(&format!("sqlite://{}", dir.path().join("s.db").display()))
        .await
        .unwrap();
    let postgres = Store::connect_url(&pg.url).await.unwrap();
    sqlite.migrate().await.unwrap();
    postgres.migrate().await.unwrap();
    let sqlite_columns = sqlite.schema_columns().await.unwrap();
    let postgres_columns = postgres.schema_columns().await.unwrap();
    assert!(
        sqlite_columns.len() > 40,
        "schema looks empty: {sqlite_columns:?}"
    );
    assert_eq!(sqlite_columns, postgres_columns);
    assert!(sqlite.is_ready().await && postgres.is_ready().await);
}
