use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Mutex, RwLock, RwLockReadGuard};

use rusqlite::{params, Connection};
use serde_json::Value;

/// What can go wrong underneath a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The SQLite database failed.
    #[error("state database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored document is not valid JSON.
    #[error("stored document {kind}/{id} is corrupt: {source}")]
    Corrupt { kind: String, id: String, source: serde_json::Error },
    /// The database was written by a newer Fogbank.
    #[error("state database schema version {0} is newer than this Fogbank understands")]
    TooNew(i64),
}

/// An account and a region; global services use the region `""`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    pub account: String,
    pub region: String,
}

impl Scope {
    pub fn new(account: impl Into<String>, region: impl Into<String>) -> Self {
        Scope { account: account.into(), region: region.into() }
    }
}

type Kinds = HashMap<String, BTreeMap<String, Value>>;

#[derive(Default)]
struct Memory {
    scopes: HashMap<Scope, Kinds>,
}

impl Memory {
    fn kind(&self, scope: &Scope, kind: &str) -> Option<&BTreeMap<String, Value>> {
        self.scopes.get(scope)?.get(kind)
    }
}

/// The schema, one step per version; a database at version N runs steps N.. on open.
const MIGRATIONS: &[&str] = &["
    CREATE TABLE resources (
        account TEXT NOT NULL,
        region  TEXT NOT NULL,
        kind    TEXT NOT NULL,
        id      TEXT NOT NULL,
        doc     TEXT NOT NULL,
        PRIMARY KEY (account, region, kind, id)
    ) WITHOUT ROWID;
"];

/// The store. Cheap to share behind an `Arc`.
pub struct Store {
    memory: RwLock<Memory>,
    db: Mutex<Connection>,
    /// Called after every committed write (controllers wake up on it).
    on_commit: Mutex<Vec<Box<dyn Fn() + Send + Sync>>>,
}

enum Change {
    Put { scope: Scope, kind: String, id: String, old: Option<Value> },
    Delete { scope: Scope, kind: String, id: String, old: Value },
}

/// A write transaction: changes apply in memory at once and are undone if the transaction
/// fails; on success they are committed to SQLite in one transaction.
pub struct Tx<'a> {
    memory: &'a mut Memory,
    changes: Vec<Change>,
}

impl Store {
    /// Opens (creating if needed) the database at `path`, or an in-memory one for `None`.
    pub fn open(path: Option<&Path>) -> Result<Store, StoreError> {
        let conn = match path {
            Some(p) => Connection::open(p)?,
            None => Connection::open_in_memory()?,
        };
        // WAL with synchronous=NORMAL survives a killed process: a commit is in the OS's hands
        // before the call returns.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > MIGRATIONS.len() as i64 {
            return Err(StoreError::TooNew(version));
        }
        for (i, step) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            conn.execute_batch(step)?;
            conn.pragma_update(None, "user_version", (i + 1) as i64)?;
        }
        let mut memory = Memory::default();
        {
            let mut stmt = conn.prepare("SELECT account, region, kind, id, doc FROM resources")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let (account, region, kind, id, doc): (String, String, String, String, String) =
                    (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?);
                let value = serde_json::from_str(&doc)
                    .map_err(|source| StoreError::Corrupt { kind: kind.clone(), id: id.clone(), source })?;
                memory.scopes.entry(Scope { account, region }).or_default().entry(kind).or_default().insert(id, value);
            }
        }
        Ok(Store { memory: RwLock::new(memory), db: Mutex::new(conn), on_commit: Mutex::new(Vec::new()) })
    }

    /// Registers a callback run after every committed write.
    pub fn on_commit(&self, f: impl Fn() + Send + Sync + 'static) {
        self.on_commit.lock().unwrap_or_else(|e| e.into_inner()).push(Box::new(f));
    }

    fn read_guard(&self) -> RwLockReadGuard<'_, Memory> {
        self.memory.read().unwrap_or_else(|e| e.into_inner())
    }

    /// One document.
    pub fn get(&self, scope: &Scope, kind: &str, id: &str) -> Option<Value> {
        self.read_guard().kind(scope, kind)?.get(id).cloned()
    }

    /// Runs `f` over every document of a kind in a scope, in id order, under a read lock.
    pub fn scan<R>(&self, scope: &Scope, kind: &str, f: impl FnOnce(&mut dyn Iterator<Item = (&str, &Value)>) -> R) -> R {
        let guard = self.read_guard();
        let mut iter = guard.kind(scope, kind).into_iter().flat_map(|m| m.iter().map(|(k, v)| (k.as_str(), v)));
        f(&mut iter)
    }

    /// Every scope that holds documents of `kind`.
    pub fn scopes_with(&self, kind: &str) -> Vec<Scope> {
        let guard = self.read_guard();
        let mut out: Vec<Scope> =
            guard.scopes.iter().filter(|(_, k)| k.get(kind).is_some_and(|m| !m.is_empty())).map(|(s, _)| s.clone()).collect();
        out.sort();
        out
    }

    /// Runs a write transaction. If `f` fails, nothing it did is kept; if it succeeds, its
    /// changes are durable when this returns.
    pub fn write<R, E: From<StoreError>>(&self, f: impl FnOnce(&mut Tx) -> Result<R, E>) -> Result<R, E> {
        let result = {
            let mut guard = self.memory.write().unwrap_or_else(|e| e.into_inner());
            let mut tx = Tx { memory: &mut guard, changes: Vec::new() };
            match f(&mut tx) {
                Ok(r) => match self.persist(&tx) {
                    Ok(()) => Ok((r, !tx.changes.is_empty())),
                    Err(e) => {
                        tx.rollback();
                        Err(E::from(e))
                    }
                },
                Err(e) => {
                    tx.rollback();
                    Err(e)
                }
            }
        };
        let (r, changed) = result?;
        if changed {
            for cb in self.on_commit.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                cb();
            }
        }
        Ok(r)
    }

    fn persist(&self, tx: &Tx) -> Result<(), StoreError> {
        if tx.changes.is_empty() {
            return Ok(());
        }
        let mut conn = self.db.lock().unwrap_or_else(|e| e.into_inner());
        let sql = conn.transaction()?;
        {
            let mut put = sql.prepare_cached(
                "INSERT OR REPLACE INTO resources (account, region, kind, id, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut del =
                sql.prepare_cached("DELETE FROM resources WHERE account = ?1 AND region = ?2 AND kind = ?3 AND id = ?4")?;
            // Only the final state of each document matters.
            let mut seen = std::collections::HashSet::new();
            for change in tx.changes.iter().rev() {
                let (scope, kind, id) = match change {
                    Change::Put { scope, kind, id, .. } | Change::Delete { scope, kind, id, .. } => (scope, kind, id),
                };
                if !seen.insert((scope, kind, id)) {
                    continue;
                }
                match tx.memory.kind(scope, kind).and_then(|m| m.get(id)) {
                    Some(doc) => {
                        put.execute(params![scope.account, scope.region, kind, id, doc.to_string()])?;
                    }
                    None => {
                        del.execute(params![scope.account, scope.region, kind, id])?;
                    }
                }
            }
        }
        sql.commit()?;
        Ok(())
    }

    /// Removes every document (`POST /_fogbank/reset`).
    pub fn reset(&self) -> Result<(), StoreError> {
        let mut guard = self.memory.write().unwrap_or_else(|e| e.into_inner());
        self.db.lock().unwrap_or_else(|e| e.into_inner()).execute("DELETE FROM resources", [])?;
        guard.scopes.clear();
        Ok(())
    }

    /// Number of documents of every kind, for the health endpoint and logs.
    pub fn count(&self) -> usize {
        self.read_guard().scopes.values().flat_map(|k| k.values()).map(|m| m.len()).sum()
    }
}

impl Tx<'_> {
    pub fn get(&self, scope: &Scope, kind: &str, id: &str) -> Option<&Value> {
        self.memory.kind(scope, kind)?.get(id)
    }

    pub fn get_mut(&mut self, scope: &Scope, kind: &str, id: &str) -> Option<&mut Value> {
        let old = self.get(scope, kind, id)?.clone();
        self.changes.push(Change::Put { scope: scope.clone(), kind: kind.into(), id: id.into(), old: Some(old) });
        self.memory.scopes.get_mut(scope)?.get_mut(kind)?.get_mut(id)
    }

    pub fn put(&mut self, scope: &Scope, kind: &str, id: &str, doc: Value) {
        let map = self.memory.scopes.entry(scope.clone()).or_default().entry(kind.to_string()).or_default();
        let old = map.insert(id.to_string(), doc);
        self.changes.push(Change::Put { scope: scope.clone(), kind: kind.into(), id: id.into(), old });
    }

    pub fn delete(&mut self, scope: &Scope, kind: &str, id: &str) -> Option<Value> {
        let old = self.memory.scopes.get_mut(scope)?.get_mut(kind)?.remove(id)?;
        self.changes.push(Change::Delete { scope: scope.clone(), kind: kind.into(), id: id.into(), old: old.clone() });
        Some(old)
    }

    /// Every document of a kind in a scope, in id order.
    pub fn list(&self, scope: &Scope, kind: &str) -> impl Iterator<Item = (&str, &Value)> {
        self.memory.kind(scope, kind).into_iter().flat_map(|m| m.iter().map(|(k, v)| (k.as_str(), v)))
    }

    fn rollback(&mut self) {
        while let Some(change) = self.changes.pop() {
            match change {
                Change::Put { scope, kind, id, old } => {
                    let map = self.memory.scopes.entry(scope).or_default().entry(kind).or_default();
                    match old {
                        Some(v) => map.insert(id, v),
                        None => map.remove(&id),
                    };
                }
                Change::Delete { scope, kind, id, old } => {
                    self.memory.scopes.entry(scope).or_default().entry(kind).or_default().insert(id, old);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug)]
    struct Failed;
    impl From<StoreError> for Failed {
        fn from(_: StoreError) -> Self {
            Failed
        }
    }

    #[test]
    fn a_failed_transaction_changes_nothing() {
        let store = Store::open(None).unwrap();
        let s = Scope::new("1", "r");
        store.write(|tx| -> Result<(), Failed> { tx.put(&s, "vpc", "a", json!({"n": 1})); Ok(()) }).unwrap();
        let r = store.write(|tx| -> Result<(), Failed> {
            tx.get_mut(&s, "vpc", "a").unwrap()["n"] = json!(2);
            tx.put(&s, "vpc", "b", json!({}));
            tx.delete(&s, "vpc", "a");
            Err(Failed)
        });
        assert!(r.is_err());
        assert_eq!(store.get(&s, "vpc", "a"), Some(json!({"n": 1})));
        assert_eq!(store.get(&s, "vpc", "b"), None);
    }

    #[test]
    fn committed_writes_survive_reopen() {
        let dir = std::env::temp_dir().join(format!("fb-state-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.db");
        let s = Scope::new("1", "r");
        {
            let store = Store::open(Some(&path)).unwrap();
            store.write(|tx| -> Result<(), Failed> {
                tx.put(&s, "vpc", "a", json!({"n": 1}));
                tx.put(&s, "vpc", "b", json!({"n": 2}));
                tx.delete(&s, "vpc", "b");
                Ok(())
            })
            .unwrap();
        }
        let store = Store::open(Some(&path)).unwrap();
        assert_eq!(store.get(&s, "vpc", "a"), Some(json!({"n": 1})));
        assert_eq!(store.get(&s, "vpc", "b"), None);
        assert_eq!(store.count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
