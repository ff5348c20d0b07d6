use ownerbound::store::Store;

use crate::helpers::PgDatabase;

#[tokio::test]
async fn sqlite_and_postgres_migrations_create_the_same_tables_columns_and_indexes() {
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
    assert!(
        sqlite_columns.len() > 40,
        "schema looks empty: {sqlite_columns:?}"
    );
    assert_eq!(sqlite_columns, postgres.schema_columns().await.unwrap());

    let sqlite_indexes = sqlite.schema_indexes().await.unwrap();
    assert!(
        sqlite_indexes
            .iter()
            .any(|(_, name, unique, partial)| name == "people_user_name_uq" && *unique && *partial),
        "{sqlite_indexes:?}"
    );
    assert_eq!(sqlite_indexes, postgres.schema_indexes().await.unwrap());
}

#[tokio::test]
async fn a_database_without_migrations_is_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::connect_url(&format!("sqlite://{}", dir.path().join("s.db").display()))
        .await
        .unwrap();
    assert!(!sqlite.is_ready().await);
    sqlite.migrate().await.unwrap();
    assert!(sqlite.is_ready().await);
    if let Some(pg) = PgDatabase::create().await {
        let postgres = Store::connect_url(&pg.url).await.unwrap();
        assert!(!postgres.is_ready().await);
        postgres.migrate().await.unwrap();
        assert!(postgres.is_ready().await);
    }
}
