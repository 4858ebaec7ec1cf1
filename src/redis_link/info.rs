//! What Redis says it keeps: its eviction policy and persistence.

use super::*;

/// What Redis says it keeps, read at each connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreInfo {
    /// `noeviction`, `allkeys-lru`, ...; several joined by `,` when a
    /// Cluster's nodes differ; `unknown` when Redis would not say.
    pub maxmemory_policy: String,
    /// `aof`, `rdb`, `aof+rdb`, `none` or `unknown`.
    pub persistence: String,
}

impl StoreInfo {
    /// Whether the policy can evict the gateway's keys: every `allkeys-*`
    /// policy, and every `volatile-*` one (the records and the quota's
    /// keys all have expiries). Redis docs, "Key eviction": `noeviction`
    /// is the only policy that never evicts.
    pub fn evicts(&self) -> bool {
        self.maxmemory_policy
            .split(',')
            .any(|p| p.starts_with("allkeys-") || p.starts_with("volatile-"))
    }
}

/// Every string in a reply (a Cluster's multi-node replies are maps of
/// node to reply), in order.
pub(super) fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::BulkString(b) => out.push(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => out.push(s.clone()),
        Value::VerbatimString { text, .. } => out.push(text.clone()),
        Value::Array(items) | Value::Set(items) => items.iter().for_each(|i| strings(i, out)),
        Value::Map(pairs) => pairs.iter().for_each(|(k, v)| {
            strings(k, out);
            strings(v, out);
        }),
        _ => {}
    }
}

/// `CONFIG GET name`'s values (one per node), `None` if refused.
pub(super) async fn config_get(
    conn: &mut Conn,
    name: &str,
    timeout: Duration,
) -> Option<Vec<String>> {
    let mut cmd = redis::cmd("CONFIG");
    cmd.arg("GET").arg(name);
    let call = cmd.query_async::<Value>(conn);
    let reply = tokio::time::timeout(timeout, call).await.ok()?.ok()?;
    let mut all = Vec::new();
    strings(&reply, &mut all);
    let values: Vec<String> = all
        .windows(2)
        .filter(|w| w[0] == name)
        .map(|w| w[1].clone())
        .collect();
    (!values.is_empty()).then_some(values)
}

/// The values of `field:` in `INFO section` (one per node), `None` if refused.
pub(super) async fn info_field(
    conn: &mut Conn,
    section: &str,
    field: &str,
    timeout: Duration,
) -> Option<Vec<String>> {
    let mut cmd = redis::cmd("INFO");
    cmd.arg(section);
    let call = cmd.query_async::<Value>(conn);
    let reply = tokio::time::timeout(timeout, call).await.ok()?.ok()?;
    let mut texts = Vec::new();
    strings(&reply, &mut texts);
    let prefix = format!("{field}:");
    let values: Vec<String> = texts
        .iter()
        .flat_map(|t| t.lines())
        .filter_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_string()))
        .collect();
    (!values.is_empty()).then_some(values)
}

/// Distinct values, sorted, joined by `,`.
pub(super) fn joined(mut values: Vec<String>) -> String {
    values.sort();
    values.dedup();
    values.join(",")
}

/// Reads what Redis keeps (see the module doc); never fails.
pub(super) async fn store_info(conn: &mut Conn, timeout: Duration) -> StoreInfo {
    let policy = match config_get(conn, "maxmemory-policy", timeout).await {
        Some(p) => Some(p),
        None => info_field(conn, "memory", "maxmemory_policy", timeout).await,
    };
    let aof = info_field(conn, "persistence", "aof_enabled", timeout).await;
    let save = config_get(conn, "save", timeout).await;
    let aof = aof.map(|v| v.iter().all(|a| a == "1"));
    let rdb = save.map(|v| v.iter().all(|s| !s.trim().is_empty()));
    let persistence = match (aof, rdb) {
        (Some(true), Some(true)) => "aof+rdb",
        (Some(true), _) => "aof",
        (Some(false), Some(true)) => "rdb",
        (Some(false), Some(false)) => "none",
        _ => "unknown",
    };
    StoreInfo {
        maxmemory_policy: policy.map_or_else(|| "unknown".to_string(), joined),
        persistence: persistence.to_string(),
    }
}

impl From<&StoreInfo> for crate::metrics::StoreInfoLabels {
    fn from(i: &StoreInfo) -> crate::metrics::StoreInfoLabels {
        crate::metrics::StoreInfoLabels {
            maxmemory_policy: i.maxmemory_policy.clone(),
            persistence: i.persistence.clone(),
        }
    }
}
