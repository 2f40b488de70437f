//! The vault's PostgreSQL store: the same sealed records as the file store, one row each, for
//! several daemons sharing one database (docs/fleet.md).
//!
//! * **Rows**: `sidekey_records(name, version, key_id, sealed)`. `name` is what the file store
//!   uses as a file stem (`ACCOUNT`, `ACCOUNT.SLOT`, `ACCOUNT:rescue`, `:keycheck`). `sealed` is
//!   the file store's format (magic, nonce, XChaCha20-Poly1305 ciphertext) with the associated
//!   data `sidekey-pg-v1:NAME:VERSION`, so a row opens only as itself at its version: rows
//!   swapped between accounts, or an older ciphertext put back under a newer version, fail.
//!   `key_id` names the key that sealed it (a hash, never the key).
//! * **Writes** read the row's version with `FOR UPDATE`, seal for `version + 1` and write, in
//!   one transaction that commits before the call returns.
//! * **Locks**: an account's lock is a transaction-scoped advisory lock
//!   (`pg_advisory_xact_lock(CLASS, hash(name))`) held by an open transaction on a connection of
//!   its own; writes go through other connections and commit at once. Dropping the lock ends
//!   the transaction; a holder that dies loses its connection, and the server releases the lock
//!   with it.
//! * **Audit**: `sidekey_audit(id, at, daemon, entry)`, one row per entry, appended by every
//!   daemon and command of the fleet; a trigger refuses updates, deletes and truncation.
//!   Entries are names, decisions and outcomes, never a secret, so they are stored as JSON in
//!   the clear, for the person's own queries.
//! * **Migrations** are embedded and versioned (`sidekey_schema`); a store whose schema is newer
//!   than this build knows is refused.
//!
//! The vault's API is blocking (it is a file store's), so the store runs its connections on a
//! runtime of its own, on one background thread, and each call waits for its answer there. That
//! works from any thread, an async one included, like a blocking file read does.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_postgres::{Client, NoTls};

/// The first key of every advisory lock sidekey takes: its own space among other users of the
/// database ("SK" in ASCII).
const LOCK_CLASS: i32 = 0x534b;
/// The advisory lock migrations run under.
const MIGRATION_LOCK: i32 = -1;
/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle connections kept for reuse.
const POOL_MAX: usize = 8;

/// The schema, one entry per version, applied in order. Never edit an applied entry: add one.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE sidekey_records (
        name text PRIMARY KEY,
        version bigint NOT NULL CHECK (version > 0),
        key_id text NOT NULL,
        sealed bytea NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
    )",
    // 2: the shared audit log. Append-only by the table's own rules: a trigger refuses every
    // UPDATE, DELETE and TRUNCATE, whoever asks (docs/fleet.md, "The audit table").
    "CREATE TABLE sidekey_audit (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        daemon text NOT NULL,
        entry jsonb NOT NULL
    );
    CREATE INDEX sidekey_audit_at ON sidekey_audit (at);
    CREATE FUNCTION sidekey_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'sidekey_audit is append-only';
    END $$;
    CREATE TRIGGER sidekey_audit_no_change BEFORE UPDATE OR DELETE ON sidekey_audit
        FOR EACH ROW EXECUTE FUNCTION sidekey_audit_append_only();
    CREATE TRIGGER sidekey_audit_no_truncate BEFORE TRUNCATE ON sidekey_audit
        FOR EACH STATEMENT EXECUTE FUNCTION sidekey_audit_append_only();",
];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Why the database did not answer as asked, in one line without the URL (it may carry a
/// password).
#[derive(Debug)]
pub struct PgError(pub String);

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn db(e: tokio_postgres::Error) -> PgError {
    // The driver's text names the server's message and SQLSTATE, never the connection string.
    let mut text = e.to_string();
    if let Some(db) = e.as_db_error() {
        text = format!("{} ({})", db.message(), db.code().code());
    } else if let Some(cause) = std::error::Error::source(&e) {
        text = format!("{text}: {cause}");
    }
    PgError(text.replace('\n', " "))
}

/// A connection to the store's database, on the store's runtime.
struct Shared {
    config: tokio_postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    idle: Mutex<Vec<Client>>,
    rt: tokio::runtime::Handle,
}

/// The PostgreSQL store (cheap to clone).
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

/// One row as read.
pub struct Row {
    pub version: i64,
    pub key_id: String,
    pub sealed: Vec<u8>,
}

impl Store {
    /// Connect to `url` (`postgres://…`; `sslmode=require` for TLS, checked against the
    /// compiled-in roots) and bring the schema up to date.
    pub fn connect(url: &str) -> Result<Store, PgError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|_| {
            PgError(
                "the vault store is not a valid PostgreSQL URL (postgres://user@host:port/database)"
                    .into(),
            )
        })?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("sidekey");
        // TLS only when asked for, and then verified: `sslmode=require` checks the server's
        // certificate against the compiled-in roots (libpq's `prefer`, TLS that checks nothing,
        // is not offered). Anything else is plain, for a database on loopback or a private link.
        let tls = match config.get_ssl_mode() {
            tokio_postgres::config::SslMode::Require => Some(tls_connector()),
            _ => {
                config.ssl_mode(tokio_postgres::config::SslMode::Disable);
                None
            }
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("sidekey-pg".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(PgError(format!("cannot start its runtime: {e}"))));
                        return;
                    }
                };
                let _ = tx.send(Ok(rt.handle().clone()));
                // Runs until the process ends: the store's connections live here.
                rt.block_on(std::future::pending::<()>());
            })
            .map_err(|e| PgError(format!("cannot start its thread: {e}")))?;
        let rt = rx.recv().map_err(|_| PgError("its thread died".into()))??;
        let store = Store {
            shared: Arc::new(Shared {
                config,
                tls,
                idle: Mutex::new(Vec::new()),
                rt,
            }),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Run `work` on the store's runtime and wait for it here.
    fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, PgError>> + Send + 'static,
    ) -> Result<T, PgError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.shared.rt.spawn(async move {
            let _ = tx.send(work.await);
        });
        rx.recv()
            .map_err(|_| PgError("the store's thread stopped".into()))?
    }

    /// An idle connection, or a new one.
    async fn client(shared: &Shared) -> Result<Client, PgError> {
        loop {
            let c = shared.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match c {
                Some(c) if !c.is_closed() => return Ok(c),
                Some(_) => continue,
                None => break,
            }
        }
        let client = match &shared.tls {
            None => {
                let (client, conn) = shared.config.connect(NoTls).await.map_err(db)?;
                tokio::spawn(conn);
                client
            }
            Some(tls) => {
                let (client, conn) = shared.config.connect(tls.clone()).await.map_err(db)?;
                tokio::spawn(conn);
                client
            }
        };
        Ok(client)
    }

    fn put_back(shared: &Shared, c: Client) {
        if c.is_closed() {
            return;
        }
        let mut idle = shared.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < POOL_MAX {
            idle.push(c);
        }
    }

    /// Create or update the schema, under an advisory lock so daemons starting together apply
    /// each migration once. A schema newer than [`SCHEMA_VERSION`] is refused, untouched.
    fn migrate(&self) -> Result<(), PgError> {
        let shared = self.shared.clone();
        self.run(async move {
            let mut c = Store::client(&shared).await?;
            let tx = c.transaction().await.map_err(db)?;
            tx.execute(
                "SELECT pg_advisory_xact_lock($1, $2)",
                &[&LOCK_CLASS, &MIGRATION_LOCK],
            )
            .await
            .map_err(db)?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS sidekey_schema (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
            )
            .await
            .map_err(db)?;
            let have: i32 = tx
                .query_one("SELECT coalesce(max(version), 0) FROM sidekey_schema", &[])
                .await
                .map_err(db)?
                .get(0);
            if have > SCHEMA_VERSION {
                return Err(PgError(format!(
                    "the database's sidekey schema is version {have}, newer than this sidekey knows ({SCHEMA_VERSION}): upgrade sidekey (a newer daemon migrated it)"
                )));
            }
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(have as usize) {
                tx.batch_execute(sql).await.map_err(db)?;
                tx.execute(
                    "INSERT INTO sidekey_schema (version) VALUES ($1)",
                    &[&(i as i32 + 1)],
                )
                .await
                .map_err(db)?;
            }
            tx.commit().await.map_err(db)?;
            Store::put_back(&shared, c);
            Ok(())
        })
    }

    /// Run a statement that changes nothing or changes it in one step (a read, a delete)
    /// on a pooled connection; if that connection turns out closed (the server restarted
    /// since it was pooled), once more on a new one. Only a connection error retries: the
    /// statement never reached a live server, so running it again repeats nothing.
    async fn once_more_if_closed<T, F, Fut>(shared: &Arc<Shared>, work: F) -> Result<T, PgError>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = (Client, Result<T, tokio_postgres::Error>)>,
    {
        let mut tries = 0;
        loop {
            tries += 1;
            let c = Store::client(shared).await?;
            let (c, r) = work(c).await;
            match r {
                Ok(v) => {
                    Store::put_back(shared, c);
                    return Ok(v);
                }
                Err(e) if e.is_closed() && tries < 2 => continue,
                Err(e) => return Err(db(e)),
            }
        }
    }

    /// The row `name`, if any.
    pub fn get(&self, name: &str) -> Result<Option<Row>, PgError> {
        let shared = self.shared.clone();
        let name = name.to_string();
        self.run(async move {
            let row = Store::once_more_if_closed(&shared, |c| {
                let name = name.clone();
                async move {
                    let r = c
                        .query_opt(
                            "SELECT version, key_id, sealed FROM sidekey_records WHERE name = $1",
                            &[&name],
                        )
                        .await;
                    (c, r)
                }
            })
            .await?;
            Ok(row.map(|r| Row {
                version: r.get(0),
                key_id: r.get(1),
                sealed: r.get(2),
            }))
        })
    }

    /// Names of all rows (accounts, slots and the key check alike).
    pub fn names(&self) -> Result<Vec<String>, PgError> {
        self.names_where("SELECT name FROM sidekey_records ORDER BY name", None)
    }

    /// Names of the rows not sealed with the key `key_id` (what a rotation still has to
    /// re-seal).
    pub fn names_not_under(&self, key_id: &str) -> Result<Vec<String>, PgError> {
        self.names_where(
            "SELECT name FROM sidekey_records WHERE key_id <> $1 ORDER BY name",
            Some(key_id.to_string()),
        )
    }

    fn names_where(&self, sql: &'static str, arg: Option<String>) -> Result<Vec<String>, PgError> {
        let shared = self.shared.clone();
        self.run(async move {
            let rows = Store::once_more_if_closed(&shared, |c| {
                let arg = arg.clone();
                async move {
                    let r = match &arg {
                        Some(a) => c.query(sql, &[a]).await,
                        None => c.query(sql, &[]).await,
                    };
                    (c, r)
                }
            })
            .await?;
            Ok(rows.into_iter().map(|r| r.get(0)).collect())
        })
    }

    /// Replace row `name` with what `seal(version, key_id)` makes for the next version — given
    /// the key id the row has now, if it exists; giving back the key id it sealed with and the
    /// sealed bytes — in one committed transaction (the row is read `FOR UPDATE`). A
    /// connection found closed before the commit was sent is replaced and the write made
    /// again on it; one lost during the commit is an error (the write may or may not stand).
    pub fn put(
        &self,
        name: &str,
        seal: impl FnOnce(i64, Option<&str>) -> Result<(String, Vec<u8>), crate::VaultError>
        + Send
        + 'static,
    ) -> Result<Result<(), crate::VaultError>, PgError> {
        self.rewrite(name, move |row| {
            let (version, key_id) = match &row {
                Some(r) => (r.version + 1, Some(r.key_id.as_str())),
                None => (1, None),
            };
            seal(version, key_id).map(Some)
        })
    }

    /// Read row `name` `FOR UPDATE`, let `f` make its replacement from it (`Ok(None)`: leave
    /// it as it is), write and commit, in one transaction. See [`Store::put`].
    pub fn rewrite(
        &self,
        name: &str,
        f: impl FnOnce(Option<Row>) -> Result<Option<(String, Vec<u8>)>, crate::VaultError>
        + Send
        + 'static,
    ) -> Result<Result<(), crate::VaultError>, PgError> {
        let shared = self.shared.clone();
        let name = name.to_string();
        self.run(async move {
            let mut f = Some(f);
            let mut tries = 0;
            loop {
                tries += 1;
                let mut c = Store::client(&shared).await?;
                // Before the commit: on a closed connection nothing was written, so it is
                // safe to start again once on a new one.
                let tx = match c.transaction().await {
                    Ok(tx) => tx,
                    Err(e) if e.is_closed() && tries < 2 => continue,
                    Err(e) => return Err(db(e)),
                };
                let row = match tx
                    .query_opt(
                        "SELECT version, key_id, sealed FROM sidekey_records WHERE name = $1 FOR UPDATE",
                        &[&name],
                    )
                    .await
                {
                    Ok(r) => r.map(|r| Row {
                        version: r.get(0),
                        key_id: r.get(1),
                        sealed: r.get(2),
                    }),
                    Err(e) if e.is_closed() && tries < 2 => continue,
                    Err(e) => return Err(db(e)),
                };
                let next = row.as_ref().map_or(1, |r| r.version + 1);
                let make = f.take().expect("the replacement is made once");
                let (key_id, sealed) = match make(row) {
                    Ok(Some(v)) => v,
                    Ok(None) => return Ok(Ok(())),
                    Err(e) => return Ok(Err(e)),
                };
                tx.execute(
                    "INSERT INTO sidekey_records (name, version, key_id, sealed) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (name) DO UPDATE SET version = $2, key_id = $3, sealed = $4, updated_at = now()",
                    &[&name, &next, &key_id, &sealed],
                )
                .await
                .map_err(db)?;
                tx.commit().await.map_err(db)?;
                Store::put_back(&shared, c);
                return Ok(Ok(()));
            }
        })
    }

    /// Insert new rows `(name, key_id, sealed)`, each sealed for version 1, in one
    /// transaction: all of them or, if any name exists already, none.
    pub fn insert_new(&self, rows: Vec<(String, String, Vec<u8>)>) -> Result<(), PgError> {
        let shared = self.shared.clone();
        self.run(async move {
            let mut c = Store::client(&shared).await?;
            let tx = c.transaction().await.map_err(db)?;
            let insert = tx
                .prepare(
                    "INSERT INTO sidekey_records (name, version, key_id, sealed) VALUES ($1, 1, $2, $3)",
                )
                .await
                .map_err(db)?;
            for (name, key_id, sealed) in &rows {
                tx.execute(&insert, &[name, key_id, sealed])
                    .await
                    .map_err(db)?;
            }
            tx.commit().await.map_err(db)?;
            Store::put_back(&shared, c);
            Ok(())
        })
    }

    /// Delete row `name` (committed); a missing row is fine.
    pub fn delete(&self, name: &str) -> Result<(), PgError> {
        let shared = self.shared.clone();
        let name = name.to_string();
        self.run(async move {
            Store::once_more_if_closed(&shared, |c| {
                let name = name.clone();
                async move {
                    let r = c
                        .execute("DELETE FROM sidekey_records WHERE name = $1", &[&name])
                        .await;
                    (c, r)
                }
            })
            .await
            .map(|_| ())
        })
    }

    /// Append one audit entry (`entry` is its JSON) written by `daemon` (committed).
    pub fn audit_append(&self, daemon: &str, entry: &str) -> Result<(), PgError> {
        let shared = self.shared.clone();
        let (daemon, entry) = (daemon.to_string(), entry.to_string());
        self.run(async move {
            let c = Store::client(&shared).await?;
            c.execute(
                "INSERT INTO sidekey_audit (daemon, entry) VALUES ($1, $2::text::jsonb)",
                &[&daemon, &entry],
            )
            .await
            .map_err(db)?;
            Store::put_back(&shared, c);
            Ok(())
        })
    }

    /// Up to `limit` audit entries after id `after`, written at or after `since` (Unix
    /// seconds), oldest first: `(id, entry's JSON)`.
    pub fn audit_page(
        &self,
        after: i64,
        since: Option<i64>,
        limit: i64,
    ) -> Result<Vec<(i64, String)>, PgError> {
        let shared = self.shared.clone();
        self.run(async move {
            let c = Store::client(&shared).await?;
            let rows = c
                .query(
                    "SELECT id, entry::text FROM sidekey_audit
                     WHERE id > $1 AND ($2::bigint IS NULL OR at >= to_timestamp($2::bigint))
                     ORDER BY id LIMIT $3",
                    &[&after, &since, &limit],
                )
                .await
                .map_err(db)?;
            Store::put_back(&shared, c);
            Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    /// Take the advisory lock of `name` in a transaction on a connection of its own: wait at
    /// most `wait` (`None`: as long as it takes; zero: not at all). `Ok(None)` when another
    /// holder kept it.
    pub fn lock(&self, name: &str, wait: Option<Duration>) -> Result<Option<Held>, PgError> {
        let shared = self.shared.clone();
        let key = lock_key(name);
        let got = self.run(async move {
            let mut c = Store::client(&shared).await?;
            if let Err(e) = c.batch_execute("BEGIN").await {
                // A pooled connection the server closed (a restart): once more on a new one.
                if !e.is_closed() {
                    return Err(db(e));
                }
                c = Store::client(&shared).await?;
                c.batch_execute("BEGIN").await.map_err(db)?;
            }
            let taken = match wait {
                Some(w) if w.is_zero() => c
                    .query_one(
                        "SELECT pg_try_advisory_xact_lock($1, $2)",
                        &[&LOCK_CLASS, &key],
                    )
                    .await
                    .map_err(db)?
                    .get::<_, bool>(0),
                _ => {
                    // lock_timeout bounds the wait; 0 means none.
                    let ms = wait.map_or(0, |w| w.as_millis().clamp(1, i32::MAX as u128));
                    c.batch_execute(&format!("SET LOCAL lock_timeout = {ms}"))
                        .await
                        .map_err(db)?;
                    match c
                        .execute("SELECT pg_advisory_xact_lock($1, $2)", &[&LOCK_CLASS, &key])
                        .await
                    {
                        Ok(_) => true,
                        Err(e)
                            if e.code()
                                == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE) =>
                        {
                            false
                        }
                        Err(e) => return Err(db(e)),
                    }
                }
            };
            if !taken {
                // The transaction is over (or aborted): end it, and the connection is reusable.
                if c.batch_execute("ROLLBACK").await.is_ok() {
                    Store::put_back(&shared, c);
                }
                return Ok(None);
            }
            Ok(Some(c))
        })?;
        Ok(got.map(|client| Held {
            client: Some(client),
            shared: self.shared.clone(),
        }))
    }
}

/// A held advisory lock: an open transaction on its own connection. Dropped, the transaction
/// ends and the lock goes with it; if the process dies, the server ends it when the connection
/// closes.
pub struct Held {
    client: Option<Client>,
    shared: Arc<Shared>,
}

impl Held {
    /// Whether the connection holding the lock is still open (a closed one holds nothing).
    pub fn is_held(&self) -> bool {
        self.client.as_ref().is_some_and(|c| !c.is_closed())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(c) = self.client.take() else { return };
        let shared = self.shared.clone();
        self.shared.rt.spawn(async move {
            if c.batch_execute("ROLLBACK").await.is_ok() {
                Store::put_back(&shared, c);
            }
        });
    }
}

/// The second key of `name`'s advisory lock: FNV-1a of the name, folded to 32 bits. Two names
/// with the same key only wait for each other.
fn lock_key(name: &str) -> i32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    ((h >> 32) ^ h) as u32 as i32
}

/// TLS for a remote database: rustls with ring and the compiled-in Mozilla roots, as every
/// other connection sidekey makes.
fn tls_connector() -> tokio_postgres_rustls::MakeRustlsConnect {
    let mut roots = rustls::RootCertStore::empty();
    for der in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let _ = roots.add(der.clone());
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("the ring provider supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_postgres_rustls::MakeRustlsConnect::new(config)
}

/// Databases for tests: one fresh database per test on the server `SIDEKEY_TEST_PG` names
/// (default `postgres://postgres@127.0.0.1:5432/test`), dropped when done. Not an API.
#[doc(hidden)]
pub mod scratch {
    use super::*;

    /// The server tests use.
    pub fn server_url() -> String {
        std::env::var("SIDEKEY_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
    }

    /// How to get the server [`server_url`] names, for a SKIPPED line.
    pub const HOW: &str = "sudo apt-get install postgresql && sudo pg_ctlcluster 15 main start (trust auth for 127.0.0.1, a database `test`), or set SIDEKEY_TEST_PG";

    /// A database made for one test; dropped (its connections ended) on drop.
    pub struct Database {
        /// Its URL.
        pub url: String,
        name: String,
    }

    fn admin<T: Send + 'static>(
        work: impl FnOnce(
            tokio_postgres::Client,
        ) -> std::pin::Pin<
            Box<dyn Future<Output = Result<T, tokio_postgres::Error>> + Send>,
        >,
    ) -> Result<T, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let mut cfg: tokio_postgres::Config = server_url()
                .parse()
                .map_err(|e: tokio_postgres::Error| e.to_string())?;
            cfg.connect_timeout(Duration::from_secs(3));
            let (c, conn) = cfg.connect(NoTls).await.map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            work(c).await.map_err(|e| e.to_string())
        })
    }

    impl Database {
        /// A new, empty database; `Err` says why none could be made (no server).
        pub fn new(tag: &str) -> Result<Database, String> {
            let mut n = [0u8; 6];
            getrandom::fill(&mut n).map_err(|e| e.to_string())?;
            let name = format!(
                "sidekey_{tag}_{}",
                n.iter().map(|b| format!("{b:02x}")).collect::<String>()
            );
            let q = format!("CREATE DATABASE {name}");
            admin(move |c| Box::pin(async move { c.batch_execute(&q).await }))?;
            let base = server_url();
            let cut = base.rfind('/').unwrap_or(base.len());
            Ok(Database {
                url: format!("{}/{name}", &base[..cut]),
                name,
            })
        }
    }

    impl Drop for Database {
        fn drop(&mut self) {
            let q = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            let _ = admin(move |c| Box::pin(async move { c.batch_execute(&q).await }));
        }
    }

    /// Run `sql` on `url` (a test's own database), returning the first column of each row as
    /// text.
    pub fn query(url: &str, sql: &str) -> Result<Vec<Option<String>>, String> {
        let (url, sql) = (url.to_string(), sql.to_string());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async move {
            let (c, conn) = tokio_postgres::connect(&url, NoTls)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            let msgs = c.simple_query(&sql).await.map_err(|e| super::db(e).0)?;
            Ok(msgs
                .into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(String::from)),
                    _ => None,
                })
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lock_keys_are_stable_and_spread() {
        assert_eq!(super::lock_key("work"), super::lock_key("work"));
        assert_ne!(super::lock_key("work"), super::lock_key("work.login"));
    }
}
