//! Where Redis is (one server, a Sentinel set's master, a Cluster), and
//! connecting to it.

use super::*;

/// Where Redis is: one server, the master a Sentinel set names, or a Cluster.
pub enum Target {
    Single(redis::Client),
    /// The client asks the sentinels for the master at each connection.
    Sentinel(tokio::sync::Mutex<SentinelClient>),
    Cluster(ClusterClient),
}

impl Target {
    /// The client for `topology`, not connected. Errors name the config key
    /// and never repeat a URL (it may hold a password).
    pub fn open(topology: &RedisTopology) -> Result<Target, ConfigError> {
        let bad = |key: &str, e: redis::RedisError| {
            ConfigError(format!("{key}: not a Redis URL ({:?})", e.kind()))
        };
        match topology {
            RedisTopology::Url(url) => redis::Client::open(url.expose())
                .map(Target::Single)
                .map_err(|e| bad("redis.url", e)),
            RedisTopology::Sentinel {
                sentinels,
                master_name,
            } => {
                let mut infos = Vec::new();
                for s in sentinels {
                    infos.push(
                        s.expose()
                            .into_connection_info()
                            .map_err(|e| bad("redis.sentinels", e))?,
                    );
                }
                // The master is reached with the first sentinel URL's user,
                // password, database and TLS; the sentinels themselves have
                // no databases.
                let first = infos
                    .first()
                    .ok_or_else(|| ConfigError("redis.sentinels: must list a sentinel".into()))?;
                let mut node = SentinelNodeConnectionInfo::default()
                    .set_redis_connection_info(first.redis_settings().clone());
                if sentinels[0].expose().starts_with("rediss://") {
                    node = node.set_tls_mode(TlsMode::Secure);
                }
                let infos: Vec<_> = infos
                    .into_iter()
                    .map(|i| {
                        let settings = i.redis_settings().clone().set_db(0);
                        i.set_redis_settings(settings)
                    })
                    .collect();
                SentinelClient::build(infos, master_name, Some(node), SentinelServerType::Master)
                    .map(|c| Target::Sentinel(tokio::sync::Mutex::new(c)))
                    .map_err(|e| bad("redis.sentinels", e))
            }
            RedisTopology::Cluster(urls) => {
                let urls: Vec<&str> = urls.iter().map(|u| u.expose()).collect();
                ClusterClient::builder(urls)
                    // Each call is bounded by timeout_ms (the link's); a
                    // redirect after a failover needs a retry or two.
                    .retries(2)
                    .min_retry_wait(10)
                    .max_retry_wait(100)
                    .build()
                    .map(Target::Cluster)
                    .map_err(|e| bad("redis.cluster_urls", e))
            }
        }
    }

    /// A new connection, every step bounded by `timeout`.
    pub(super) async fn connect(&self, timeout: Duration) -> redis::RedisResult<Conn> {
        let cfg = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout));
        match self {
            Target::Single(client) => client
                .get_multiplexed_async_connection_with_config(&cfg)
                .await
                .map(Conn::Single),
            Target::Sentinel(client) => client
                .lock()
                .await
                .get_async_connection_with_config(&cfg)
                .await
                .map(Conn::Single),
            Target::Cluster(client) => {
                let cfg = redis::cluster::ClusterConfig::new()
                    .set_connection_timeout(timeout)
                    .set_response_timeout(timeout);
                client
                    .get_async_connection_with_config(cfg)
                    .await
                    .map(Conn::Cluster)
            }
        }
    }
}

/// A connection to one server (also the master a Sentinel set named) or to
/// a Cluster; cheap to clone (both multiplex one socket per server).
#[derive(Clone)]
pub enum Conn {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Connects with `timeout` on every step and checks that Redis answers;
/// returns the connection and Redis's clock (µs).
pub(super) async fn connect(target: &Target, timeout: Duration) -> Result<(Conn, u64), Failure> {
    let attempt = async {
        let mut conn = target.connect(timeout).await?;
        redis::cmd("TIME")
            .query_async::<(u64, u64)>(&mut conn)
            .await
            .map(|(s, us)| (conn, redis_micros(s, us)))
    };
    // Connecting is a few round trips (a Sentinel set's a few more); bound
    // the whole of it too.
    match tokio::time::timeout(timeout * 3, attempt).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(Failure::of(&e)),
        Err(_) => Err(Failure::timeout(timeout * 3)),
    }
}

/// Redis's `TIME` reply (seconds, microseconds) in µs.
pub(super) fn redis_micros(s: u64, us: u64) -> u64 {
    s * 1_000_000 + us
}

pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Tries Redis once (`--check-config`): `Err` says why it did not answer.
pub async fn ping(topology: &RedisTopology, timeout: Duration) -> Result<(), String> {
    let target = Target::open(topology).map_err(|e| e.0)?;
    connect(&target, timeout).await.map(drop).map_err(|e| e.why)
}
