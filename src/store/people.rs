//! People: the directory that owners, SCIM users and HR employees resolve into.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::QueryBuilder;

use super::locks::LockKey;
use super::{
    conflict, now, push_parts, with_pool, with_tx, Engine, Page, PageRequest, SqlPart, Store,
    StoreError, StoreResult, Tx,
};
use crate::domain::{case_key, PersonSource};

/// A person with their identifiers.
#[derive(Debug, Clone, Serialize)]
pub struct Person {
    pub id: String,
    pub source: String,
    pub user_name: Option<String>,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub employee_number: Option<String>,
    pub manager_id: Option<String>,
    pub active: bool,
    pub deleted_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The SCIM document last pushed by the identity provider, JSON.
    #[serde(skip)]
    pub scim_resource: Option<String>,
    pub emails: Vec<PersonEmail>,
    /// Employee ids per HR source.
    pub hr_ids: Vec<HrId>,
    /// The SCIM groups the person is a member of, by display name.
    #[serde(skip)]
    pub groups: Vec<PersonGroup>,
}

/// A group a person belongs to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct PersonGroup {
    pub id: String,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct PersonEmail {
    pub value: String,
    #[sqlx(rename = "type")]
    #[serde(rename = "type", skip_serializing_if = "Option::is_none", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub is_primary: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct HrId {
    pub source: String,
    pub employee_id: String,
}

#[derive(sqlx::FromRow)]
struct PersonRow {
    id: String,
    source: String,
    user_name: Option<String>,
    external_id: Option<String>,
    display_name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    employee_number: Option<String>,
    manager_id: Option<String>,
    active: bool,
    deleted_at: Option<DateTime<Utc>>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    scim_resource: Option<String>,
    /// JSON arrays (see [`PERSON_COLUMNS_SQLITE`]); NULL for none on PostgreSQL.
    emails_json: Option<String>,
    hr_ids_json: Option<String>,
    groups_json: Option<String>,
}

/// A person's own columns (alias `p`).
macro_rules! person_own_columns {
    () => {
        "p.id, p.source, p.user_name, p.external_id, p.display_name, \
         p.given_name, p.family_name, p.employee_number, p.manager_id, p.active, p.deleted_at, \
         p.version, p.created_at, p.updated_at, p.scim_resource"
    };
}

/// A person's columns with their emails, HR ids and groups as JSON arrays, so that
/// reading people is one indexed query (a subquery per person on each child table's
/// person index), not one per child table. Written per engine: the JSON functions
/// differ.
const PERSON_COLUMNS_SQLITE: &str = concat!(
    person_own_columns!(),
    ", (SELECT json_group_array(json_object('value', e.value, 'type', e.type, \
        'is_primary', json(CASE WHEN e.is_primary THEN 'true' ELSE 'false' END))) \
        FROM (SELECT value, type, is_primary FROM person_emails WHERE person_id = p.id \
              ORDER BY is_primary DESC, value) e) AS emails_json",
    ", (SELECT json_group_array(json_object('source', h.source, 'employee_id', h.employee_id)) \
        FROM (SELECT source, employee_id FROM person_hr_ids WHERE person_id = p.id ORDER BY source) h) \
        AS hr_ids_json",
    ", (SELECT json_group_array(json_object('id', g.id, 'display_name', g.display_name)) \
        FROM (SELECT g.id, g.display_name FROM scim_group_members m JOIN scim_groups g ON g.id = m.group_id \
              WHERE m.person_id = p.id ORDER BY g.display_name_key) g) AS groups_json",
);
const PERSON_COLUMNS_POSTGRES: &str = concat!(
    person_own_columns!(),
    ", (SELECT json_agg(json_build_object('value', e.value, 'type', e.type, 'is_primary', e.is_primary) \
        ORDER BY e.is_primary DESC, e.value) FROM person_emails e WHERE e.person_id = p.id)::text AS emails_json",
    ", (SELECT json_agg(json_build_object('source', h.source, 'employee_id', h.employee_id) ORDER BY h.source) \
        FROM person_hr_ids h WHERE h.person_id = p.id)::text AS hr_ids_json",
    ", (SELECT json_agg(json_build_object('id', g.id, 'display_name', g.display_name) ORDER BY g.display_name_key) \
        FROM scim_group_members m JOIN scim_groups g ON g.id = m.group_id WHERE m.person_id = p.id)::text \
        AS groups_json",
);

fn person_columns(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => PERSON_COLUMNS_SQLITE,
        Engine::Postgres => PERSON_COLUMNS_POSTGRES,
    }
}

/// Pushes `FROM … WHERE … ORDER BY … LIMIT … OFFSET …` of a people page query.
macro_rules! push_page_query {
    ($q:expr, $condition:expr, $order_by:expr, $limit:expr, $offset:expr) => {
        $q.push("FROM people p WHERE p.deleted_at IS NULL AND (");
        push_parts!($q, $condition);
        $q.push(") ORDER BY ")
            .push($order_by)
            .push(", p.id LIMIT ")
            .push_bind($limit);
        $q.push(" OFFSET ").push_bind($offset);
    };
}

/// The writable attributes of a person.
#[derive(Debug, Clone, Default)]
pub struct PersonFields {
    pub user_name: Option<String>,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub employee_number: Option<String>,
    pub manager_id: Option<String>,
    pub active: bool,
}

/// Filters of the people list; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct PeopleFilter {
    pub active: Option<bool>,
    /// Exact email, case-insensitive.
    pub email: Option<String>,
    /// Substring of display name or userName, case-insensitive.
    pub query: Option<String>,
    pub source: Option<PersonSource>,
}

/// A JSON array column of [`PERSON_COLUMNS_SQLITE`] / [`PERSON_COLUMNS_POSTGRES`].
fn json_list<T: serde::de::DeserializeOwned>(column: Option<&str>) -> StoreResult<Vec<T>> {
    column.map_or(Ok(Vec::new()), |text| {
        serde_json::from_str(text).map_err(|e| StoreError::Db(sqlx::Error::Decode(Box::new(e))))
    })
}

fn assemble(rows: Vec<PersonRow>) -> StoreResult<Vec<Person>> {
    rows.into_iter()
        .map(|r| {
            Ok(Person {
                emails: json_list(r.emails_json.as_deref())?,
                hr_ids: json_list(r.hr_ids_json.as_deref())?,
                groups: json_list(r.groups_json.as_deref())?,
                id: r.id,
                source: r.source,
                user_name: r.user_name,
                external_id: r.external_id,
                display_name: r.display_name,
                given_name: r.given_name,
                family_name: r.family_name,
                employee_number: r.employee_number,
                manager_id: r.manager_id,
                active: r.active,
                deleted_at: r.deleted_at,
                version: r.version,
                created_at: r.created_at,
                updated_at: r.updated_at,
                scim_resource: r.scim_resource,
            })
        })
        .collect()
}

impl Store {
    /// A person by id, including deleted ones (callers decide what deleted means).
    pub async fn get_person(&self, id: &str) -> StoreResult<Person> {
        let sql = format!(
            "SELECT {} FROM people p WHERE p.id = $1",
            person_columns(self.engine())
        );
        let row: Option<PersonRow> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await?);
        let row = row.ok_or(StoreError::NotFound)?;
        Ok(assemble(vec![row])?.remove(0))
    }

    /// The live (not deleted) person who has this email, case-insensitively.
    pub async fn find_person_by_email(&self, email: &str) -> StoreResult<Option<Person>> {
        let sql = format!(
            "SELECT {} FROM people p JOIN person_emails e ON e.person_id = p.id \
             WHERE e.value_key = $1 AND p.deleted_at IS NULL",
            person_columns(self.engine())
        );
        let row: Option<PersonRow> = with_pool!(self, p => sqlx::query_as(&sql).bind(case_key(email)).fetch_optional(p).await?);
        match row {
            Some(row) => Ok(Some(assemble(vec![row])?.remove(0))),
            None => Ok(None),
        }
    }

    /// Live people matching the filter, in creation order.
    pub async fn list_people(
        &self,
        filter: &PeopleFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Person>> {
        let columns = person_columns(self.engine());
        let rows: Vec<PersonRow> = with_pool!(self, p => {
            let mut q = QueryBuilder::<Db>::new(format!(
                "SELECT {columns} FROM people p WHERE p.deleted_at IS NULL"
            ));
            if let Some(active) = filter.active {
                q.push(" AND p.active = ").push_bind(active);
            }
            if let Some(email) = &filter.email {
                q.push(" AND EXISTS (SELECT 1 FROM person_emails e WHERE e.person_id = p.id AND e.value_key = ")
                    .push_bind(case_key(email))
                    .push(")");
            }
            if let Some(text) = &filter.query {
                let pattern = format!("%{}%", escape_like(&text.to_lowercase()));
                q.push(" AND (lower(p.display_name) LIKE ")
                    .push_bind(pattern.clone())
                    .push(" ESCAPE '\\' OR lower(p.user_name) LIKE ")
                    .push_bind(pattern)
                    .push(" ESCAPE '\\')");
            }
            if let Some(source) = filter.source {
                q.push(" AND p.source = ").push_bind(source.as_str());
            }
            if let Some(after) = &page.after {
                q.push(" AND p.id > ").push_bind(after.clone());
            }
            q.push(" ORDER BY p.id LIMIT ").push_bind(page.fetch_limit());
            q.build_query_as().fetch_all(p).await?
        });
        let people = assemble(rows)?;
        Ok(page.paginate(people, |p| &p.id))
    }

    /// Live people matching a dynamically built condition, with the total count, for
    /// SCIM queries. `condition` and `order_by` are SQL over alias `p`.
    pub async fn query_people(
        &self,
        condition: &[SqlPart],
        order_by: &str,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(i64, Vec<Person>)> {
        let columns = person_columns(self.engine());
        let (total, rows): (i64, Vec<PersonRow>) = with_pool!(self, p => {
            let rows: Vec<PersonRow> = if limit > 0 {
                // The page is chosen first and the child tables are aggregated for its
                // rows only: PostgreSQL computes the select list of every row an
                // OFFSET skips (deep import paging was 8 times slower).
                let mut q = QueryBuilder::<Db>::new(format!("SELECT {columns} FROM (SELECT p.* "));
                push_page_query!(q, condition, order_by, limit, offset);
                q.push(format!(") p ORDER BY {order_by}, p.id"));
                q.build_query_as().fetch_all(p).await?
            } else {
                Vec::new()
            };
            // A first page with room to spare holds every match, so its length is the
            // total: the lookups identity providers send before each write
            // (`userName eq …`) need no count query.
            let fetched = i64::try_from(rows.len()).unwrap_or(i64::MAX);
            let total = if offset == 0 && fetched < limit {
                fetched
            } else {
                let mut q = QueryBuilder::<Db>::new("SELECT COUNT(*) FROM people p WHERE p.deleted_at IS NULL AND (");
                push_parts!(q, condition);
                q.push(")");
                q.build_query_scalar().fetch_one(p).await?
            };
            (total, rows)
        });
        Ok((total, assemble(rows)?))
    }

    /// The query plan of the page query [`query_people`](Self::query_people) runs, one
    /// line per step; to prove filters are served by indexes.
    pub async fn explain_query_people(
        &self,
        condition: &[SqlPart],
        order_by: &str,
    ) -> StoreResult<Vec<String>> {
        Ok(match &self.pool {
            super::Pool::Sqlite(p) => {
                let mut q = QueryBuilder::<sqlx::Sqlite>::new(format!(
                    "EXPLAIN QUERY PLAN SELECT {PERSON_COLUMNS_SQLITE} "
                ));
                push_page_query!(q, condition, order_by, 100i64, 0i64);
                let rows: Vec<(i64, i64, i64, String)> = q.build_query_as().fetch_all(p).await?;
                rows.into_iter().map(|(_, _, _, detail)| detail).collect()
            }
            super::Pool::Postgres(p) => {
                let mut q = QueryBuilder::<sqlx::Postgres>::new(format!(
                    "EXPLAIN SELECT {PERSON_COLUMNS_POSTGRES} "
                ));
                push_page_query!(q, condition, order_by, 100i64, 0i64);
                q.build_query_scalar().fetch_all(p).await?
            }
        })
    }
}

impl Tx {
    /// A person by id inside the transaction, locked until it ends: what the
    /// transaction decides from this read holds (see [`LockKey::Person`]).
    pub async fn get_person(&mut self, id: &str) -> StoreResult<Person> {
        self.lock(LockKey::Person(id)).await?;
        let sql = format!(
            "SELECT {} FROM people p WHERE p.id = $1",
            person_columns(self.engine())
        );
        let row: PersonRow =
            with_tx!(self, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut *c).await?)
                .ok_or(StoreError::NotFound)?;
        Ok(assemble(vec![row])?.remove(0))
    }

    /// The id of the live person with this email, case-insensitively.
    pub async fn find_person_id_by_email(&mut self, email: &str) -> StoreResult<Option<String>> {
        self.lock(LockKey::Email(&case_key(email))).await?;
        Ok(with_tx!(self, c => {
            sqlx::query_scalar(
                "SELECT p.id FROM people p JOIN person_emails e ON e.person_id = p.id \
                 WHERE e.value_key = $1 AND p.deleted_at IS NULL",
            )
            .bind(case_key(email))
            .fetch_optional(&mut *c)
            .await?
        }))
    }

    /// Inserts a person and returns the new id.
    pub async fn insert_person(
        &mut self,
        source: PersonSource,
        fields: &PersonFields,
    ) -> StoreResult<String> {
        let id = super::new_id();
        let at = now();
        self.lock_identifiers(fields).await?;
        with_tx!(self, c => {
            sqlx::query(
                "INSERT INTO people (id, source, user_name, user_name_key, external_id, display_name, given_name, \
                 family_name, employee_number, manager_id, active, display_name_key, given_name_key, \
                 family_name_key, version, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 1, $15, $15)",
            )
            .bind(&id)
            .bind(source.as_str())
            .bind(&fields.user_name)
            .bind(fields.user_name.as_deref().map(case_key))
            .bind(&fields.external_id)
            .bind(&fields.display_name)
            .bind(&fields.given_name)
            .bind(&fields.family_name)
            .bind(&fields.employee_number)
            .bind(&fields.manager_id)
            .bind(fields.active)
            .bind(fields.display_name.as_deref().map(case_key))
            .bind(fields.given_name.as_deref().map(case_key))
            .bind(fields.family_name.as_deref().map(case_key))
            .bind(at)
            .execute(&mut *c)
            .await
            .map_err(conflict("userName, externalId or employee number already belongs to another person"))?;
        });
        Ok(id)
    }

    /// Replaces the writable attributes of a person and bumps its version.
    pub async fn update_person(&mut self, id: &str, fields: &PersonFields) -> StoreResult<()> {
        self.lock_identifiers(fields).await?;
        let done = with_tx!(self, c => {
            sqlx::query(
                "UPDATE people SET user_name = $2, user_name_key = $3, external_id = $4, display_name = $5, \
                 given_name = $6, family_name = $7, employee_number = $8, manager_id = $9, \
                 active = $10, display_name_key = $11, given_name_key = $12, family_name_key = $13, \
                 version = version + 1, updated_at = $14 \
                 WHERE id = $1 AND deleted_at IS NULL",
            )
            .bind(id)
            .bind(&fields.user_name)
            .bind(fields.user_name.as_deref().map(case_key))
            .bind(&fields.external_id)
            .bind(&fields.display_name)
            .bind(&fields.given_name)
            .bind(&fields.family_name)
            .bind(&fields.employee_number)
            .bind(&fields.manager_id)
            .bind(fields.active)
            .bind(fields.display_name.as_deref().map(case_key))
            .bind(fields.given_name.as_deref().map(case_key))
            .bind(fields.family_name.as_deref().map(case_key))
            .bind(now())
            .execute(&mut *c)
            .await
            .map_err(conflict("userName, externalId or employee number already belongs to another person"))?
            .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Locks the identifiers a person is about to carry (see [`LockKey::UserName`],
    /// [`LockKey::EmployeeNumber`]).
    async fn lock_identifiers(&mut self, fields: &PersonFields) -> StoreResult<()> {
        let user_name = fields.user_name.as_deref().map(case_key);
        let mut keys = Vec::new();
        if let Some(key) = &user_name {
            keys.push(LockKey::UserName(key));
        }
        if let Some(number) = &fields.employee_number {
            keys.push(LockKey::EmployeeNumber(number));
        }
        self.lock_all(&keys).await
    }

    /// Locks the emails a person is about to have (see [`LockKey::Email`]).
    async fn lock_emails(&mut self, emails: &[PersonEmail]) -> StoreResult<()> {
        let keys: Vec<String> = emails.iter().map(|e| case_key(&e.value)).collect();
        let locks: Vec<LockKey<'_>> = keys.iter().map(|k| LockKey::Email(k)).collect();
        self.lock_all(&locks).await
    }

    /// Stores the SCIM document of a person and marks them SCIM-managed.
    pub async fn set_scim_resource(&mut self, id: &str, document: &str) -> StoreResult<()> {
        with_tx!(self, c => {
            sqlx::query("UPDATE people SET scim_resource = $2, source = 'scim' WHERE id = $1")
                .bind(id)
                .bind(document)
                .execute(&mut *c)
                .await?;
        });
        Ok(())
    }

    /// Replaces a person's emails, skipping (and returning) those that already belong
    /// to someone else. For SCIM writes: a clash on a secondary email must not make
    /// the identity provider's update, which may carry `active: false`, fail.
    pub async fn replace_emails_lenient(
        &mut self,
        person_id: &str,
        emails: &[PersonEmail],
    ) -> StoreResult<Vec<String>> {
        self.lock_emails(emails).await?;
        with_tx!(self, c => {
            sqlx::query("DELETE FROM person_emails WHERE person_id = $1")
                .bind(person_id)
                .execute(&mut *c)
                .await?;
        });
        let mut skipped = Vec::new();
        for email in emails {
            let inserted = with_tx!(self, c => {
                sqlx::query(
                    "INSERT INTO person_emails (person_id, value, value_key, type, is_primary) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                )
                .bind(person_id)
                .bind(&email.value)
                .bind(case_key(&email.value))
                .bind(&email.kind)
                .bind(email.is_primary)
                .execute(&mut *c)
                .await?
                .rows_affected()
            });
            if inserted == 0 {
                skipped.push(email.value.clone());
            }
        }
        Ok(skipped)
    }

    /// Soft-deletes a person: they disappear from the directory and release their
    /// identifiers, while their agents, credentials, events and audit stay.
    pub async fn delete_person(&mut self, id: &str) -> StoreResult<()> {
        let done = with_tx!(self, c => {
            let done = sqlx::query(
                "UPDATE people SET deleted_at = $2, active = FALSE, updated_at = $2, version = version + 1 \
                 WHERE id = $1 AND deleted_at IS NULL",
            )
            .bind(id)
            .bind(now())
            .execute(&mut *c)
            .await?
            .rows_affected();
            sqlx::query("DELETE FROM person_emails WHERE person_id = $1")
                .bind(id)
                .execute(&mut *c)
                .await?;
            sqlx::query("DELETE FROM scim_group_members WHERE person_id = $1")
                .bind(id)
                .execute(&mut *c)
                .await?;
            done
        });
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The live person with this userName, case-insensitively.
    pub async fn find_person_id_by_user_name(
        &mut self,
        user_name: &str,
    ) -> StoreResult<Option<String>> {
        self.lock(LockKey::UserName(&case_key(user_name))).await?;
        Ok(with_tx!(self, c => {
            sqlx::query_scalar("SELECT id FROM people WHERE user_name_key = $1 AND deleted_at IS NULL")
                .bind(case_key(user_name))
                .fetch_optional(&mut *c)
                .await?
        }))
    }

    /// The live person other than `except` who holds this externalId or employee
    /// number (`column` is `external_id` or `employee_number`).
    pub async fn identifier_holder(
        &mut self,
        column: &'static str,
        value: &str,
        except: Option<&str>,
    ) -> StoreResult<Option<String>> {
        assert!(
            matches!(column, "external_id" | "employee_number"),
            "not an identifier column"
        );
        let sql = format!(
            "SELECT id FROM people WHERE {column} = $1 AND deleted_at IS NULL AND id <> $2"
        );
        Ok(with_tx!(self, c => {
            sqlx::query_scalar(&sql)
                .bind(value)
                .bind(except.unwrap_or(""))
                .fetch_optional(&mut *c)
                .await?
        }))
    }

    /// Whether a live person with this id exists.
    pub async fn person_is_live(&mut self, id: &str) -> StoreResult<bool> {
        let found: Option<String> = with_tx!(self, c => {
            sqlx::query_scalar("SELECT id FROM people WHERE id = $1 AND deleted_at IS NULL")
                .bind(id)
                .fetch_optional(&mut *c)
                .await?
        });
        Ok(found.is_some())
    }

    /// A live person created through the admin API who has one of these emails: the
    /// identity provider's user for them is the same person.
    pub async fn find_api_person_by_emails(
        &mut self,
        emails: &[PersonEmail],
    ) -> StoreResult<Option<String>> {
        self.lock_emails(emails).await?;
        for email in emails {
            let found: Option<String> = with_tx!(self, c => {
                sqlx::query_scalar(
                    "SELECT p.id FROM people p JOIN person_emails e ON e.person_id = p.id \
                     WHERE e.value_key = $1 AND p.deleted_at IS NULL AND p.source = 'api'",
                )
                .bind(case_key(&email.value))
                .fetch_optional(&mut *c)
                .await?
            });
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// Replaces a person's emails.
    pub async fn replace_emails(
        &mut self,
        person_id: &str,
        emails: &[PersonEmail],
    ) -> StoreResult<()> {
        self.lock_emails(emails).await?;
        with_tx!(self, c => {
            sqlx::query("DELETE FROM person_emails WHERE person_id = $1")
                .bind(person_id)
                .execute(&mut *c)
                .await?;
            for email in emails {
                sqlx::query(
                    "INSERT INTO person_emails (person_id, value, value_key, type, is_primary) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(person_id)
                .bind(&email.value)
                .bind(case_key(&email.value))
                .bind(&email.kind)
                .bind(email.is_primary)
                .execute(&mut *c)
                .await
                .map_err(conflict("email already belongs to another person"))?;
            }
        });
        Ok(())
    }

    /// Links HR employee ids to a person (kept if already linked to them).
    pub async fn link_hr_ids(&mut self, person_id: &str, ids: &[HrId]) -> StoreResult<()> {
        for hr in ids {
            self.lock(LockKey::HrEmployee(&hr.source, &hr.employee_id))
                .await?;
            let owner: Option<String> = with_tx!(self, c => {
                sqlx::query_scalar("SELECT person_id FROM person_hr_ids WHERE source = $1 AND employee_id = $2")
                    .bind(&hr.source)
                    .bind(&hr.employee_id)
                    .fetch_optional(&mut *c)
                    .await?
            });
            match owner {
                Some(existing) if existing == person_id => continue,
                Some(_) => {
                    return Err(StoreError::Conflict(format!(
                        "employee id of HR source {:?} already belongs to another person",
                        hr.source
                    )))
                }
                None => {}
            }
            with_tx!(self, c => {
                sqlx::query("INSERT INTO person_hr_ids (person_id, source, employee_id) VALUES ($1, $2, $3)")
                    .bind(person_id)
                    .bind(&hr.source)
                    .bind(&hr.employee_id)
                    .execute(&mut *c)
                    .await?;
            });
        }
        Ok(())
    }

    /// Resolves the owners registered with one of these emails, and no person yet, to
    /// this person. Returns the ids of the agents that were resolved.
    pub async fn resolve_agents_by_email(
        &mut self,
        person_id: &str,
        emails: &[PersonEmail],
    ) -> StoreResult<Vec<String>> {
        let mut resolved = Vec::new();
        for email in emails {
            let ids: Vec<String> = with_tx!(self, c => {
                sqlx::query_scalar(
                    "UPDATE agent_owners SET person_id = $1 \
                     WHERE person_id IS NULL AND group_id IS NULL AND email_key = $2 \
                     AND agent_id IN (SELECT id FROM agents WHERE deleted_at IS NULL) \
                     AND NOT EXISTS (SELECT 1 FROM agent_owners x \
                                     WHERE x.agent_id = agent_owners.agent_id AND x.person_id = $1) \
                     RETURNING agent_id",
                )
                .bind(person_id)
                .bind(case_key(&email.value))
                .fetch_all(&mut *c)
                .await?
            });
            for id in &ids {
                with_tx!(self, c => {
                    sqlx::query("UPDATE agents SET updated_at = $2, version = version + 1 WHERE id = $1")
                        .bind(id)
                        .bind(now())
                        .execute(&mut *c)
                        .await?;
                });
            }
            resolved.extend(ids);
        }
        Ok(resolved)
    }
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
pub(crate) fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}
