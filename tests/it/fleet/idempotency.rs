//! Idempotency records shared through a real redis-server: gateways behind
//! a load balancer, so a retry may land on another instance. The expected
//! answers are the draft's (IETF draft-ietf-httpapi-idempotency-key-header,
//! section 2 and "Error Scenarios": a finished retry gets the first answer,
//! one still in flight gets 409, the key reused for another request gets
//! 422), as one gateway gives them (`idempotency`), now across instances.

use std::time::Duration;

use crate::common::IDEMPOTENCY_KEY as KEY;
use crate::common::redis_server::RedisServer;
use crate::common::*;
use entrust_gateway::server::ServerHandle;
use entrust_gateway::sim::{Fault, FaultRule, SimServer, Simulator};
use http::Method;

/// The records' keys: `<key_prefix>:<app_key>:idem:<digest>` (docs/fleet.md,
/// "Idempotency records are shared too").
const RECORDS: &str = "entrust-gateway:test-app-key:idem:*";

/// A simulator and two gateways sharing one Redis (started here).
pub(super) struct Pair {
    pub(super) sim: Simulator,
    _sim_server: SimServer,
    pub(super) a: ServerHandle,
    pub(super) b: ServerHandle,
}

impl Pair {
    pub(super) async fn start(extra: &str) -> (RedisServer, Pair) {
        let redis = RedisServer::start();
        let (sim, sim_server) = start_sim().await;
        let extra = format!("{extra}\n[redis]\nurl = \"{}\"\n", redis.url());
        let text = config_text(&[sim_server.url()], "", &extra);
        let pair = Pair {
            a: start_gateway(&text).await,
            b: start_gateway(&text).await,
            sim,
            _sim_server: sim_server,
        };
        (redis, pair)
    }

    /// A create under `key` sent to gateway a, which the vendor holds for
    /// `delay_ms` before it answers; returned once the vendor has it (the
    /// simulator records a request before it applies the delay).
    async fn slow_write_on_a(
        &self,
        key: &'static str,
        body: &'static str,
        delay_ms: u64,
    ) -> tokio::task::JoinHandle<Answer> {
        let delay = Fault::Delay(Duration::from_millis(delay_ms));
        self.sim.inject(FaultRule::on(CREATE, delay).limit(1));
        let url = format!("{}{CREATE}", self.a.url());
        let write =
            tokio::spawn(async move { send(Method::POST, &url, &[FORM, (KEY, key)], body).await });
        until("the vendor has the write", || {
            !self.sim.requests().is_empty()
        })
        .await;
        write
    }

    pub(super) fn receipts(&self) -> usize {
        self.sim
            .requests()
            .iter()
            .filter(|r| r.path == CREATE)
            .count()
    }
}

pub(super) async fn create(gw: &ServerHandle, key: &str, body: &str) -> Answer {
    let url = format!("{}{CREATE}", gw.url());
    within(
        "the gateway answers",
        send(Method::POST, &url, &[FORM, (KEY, key)], body.to_string()),
    )
    .await
}

/// An answer the vendor gave to this very request (not a replay).
fn sent_fresh(a: &Answer) {
    assert_eq!(a.json()["code"], 200, "{}", a.text());
    assert!(!a.headers.contains_key("x-gateway-replayed"));
}

/// `retry` is `first`'s answer replayed, and the vendor received the
/// write once.
fn replay_of(retry: &Answer, first: &Answer, p: &Pair) {
    assert_eq!(
        retry.headers["x-gateway-replayed"],
        "true",
        "{}",
        retry.text()
    );
    assert_eq!(retry.body, first.body);
    assert_eq!(p.receipts(), 1, "exactly one vendor receipt");
}

pub(super) async fn records(redis: &RedisServer) -> Vec<String> {
    let mut conn = redis.connection().await;
    redis::cmd("KEYS")
        .arg(RECORDS)
        .query_async(&mut conn)
        .await
        .expect("KEYS")
}

/// The record of `key` for a caller without a credential, as
/// src/idempotency/redis.rs names it: SHA-1 of the store key (the caller's
/// credential digest and key), under the documented prefix.
pub(super) fn record_key(key: &str) -> String {
    use sha1::{Digest, Sha1};
    let store_key = entrust_gateway::idempotency::store_key(&http::HeaderMap::new(), key);
    format!(
        "entrust-gateway:test-app-key:idem:{}",
        hex::encode(Sha1::digest(store_key.as_bytes()))
    )
}

const TOO_LARGE: &str = "entrust_gateway_dedup_answers_too_large_total";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_on_another_instance_gets_the_first_answer() {
    let (redis, p) = Pair::start("").await;
    let body = "groupId=fi1&name=n&owner=o";
    let first = create(&p.a, "fleet-1", body).await;
    assert_eq!(first.json()["code"], 200, "{}", first.text());
    // Without shared records the vendor would answer 25409 (group exists:
    // /work/shared/reference/entrust-api.md, codes).
    let retry = create(&p.b, "fleet-1", body).await;
    assert_eq!(retry.status, first.status);
    assert_eq!(retry.body, first.body);
    assert_eq!(retry.headers["x-gateway-replayed"], "true");
    assert_eq!(retry.headers["content-type"], first.headers["content-type"]);
    assert_eq!(p.receipts(), 1, "exactly one vendor receipt");
    // One record, under the documented key, expiring with the window.
    let keys = records(&redis).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let mut conn = redis.connection().await;
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&keys[0])
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((1..=60_000).contains(&ttl), "PTTL {ttl} (window 60 s)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_for_another_request_on_another_instance_is_422() {
    let (_redis, p) = Pair::start("").await;
    let a = create(&p.a, "fleet-2", "groupId=fi2&name=n&owner=o").await;
    assert_eq!(a.json()["code"], 200, "{}", a.text());
    let b = create(&p.b, "fleet-2", "groupId=fi3&name=n&owner=o").await;
    assert_eq!(b.status, 422, "{}", b.text());
    assert_eq!(b.json()["code"], 1002);
    assert_eq!(p.receipts(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_on_another_instance_while_the_first_runs_is_409() {
    let (_redis, p) = Pair::start("").await;
    let body = "groupId=fi4&name=n&owner=o";
    let first = p.slow_write_on_a("fleet-3", body, 800).await;
    let b = create(&p.b, "fleet-3", body).await;
    assert_eq!(b.status, 409, "{}", b.text());
    assert_eq!(b.headers["retry-after"], "1");
    let a = within("the first answers", first).await.expect("first");
    assert_eq!(a.json()["code"], 200, "{}", a.text());
    // Once finished, the second instance replays it.
    let c = create(&p.b, "fleet-3", body).await;
    assert_eq!(c.headers["x-gateway-replayed"], "true", "{}", c.text());
    assert_eq!(p.receipts(), 1);
}

/// A pair whose first create (`body`, under `key`, on instance a) the
/// simulator answers with `size` bytes: the pair and that answer.
async fn created_with_an_answer_of(
    size: usize,
    key: &str,
    body: &str,
) -> (RedisServer, Pair, Answer) {
    let (redis, p) = Pair::start("").await;
    p.sim
        .inject(FaultRule::on(CREATE, Fault::HugeBody(size)).limit(1));
    let a = create(&p.a, key, body).await;
    assert_eq!(a.json()["code"], 200, "{}", a.text());
    (redis, p, a)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_over_the_bound_is_not_shared_and_says_so() {
    // A vendor answer over idempotency::redis::ANSWER_MAX (64 KiB).
    let body = "groupId=fi5&name=n&owner=o";
    let (redis, p, _) = created_with_an_answer_of(80 * 1024, "fleet-4", body).await;
    let m = metrics(&p.a).await;
    assert_eq!(sample(&m, TOO_LARGE, &[]), Some(1.0), "{m}");
    assert!(records(&redis).await.is_empty(), "the claim was freed");
    // Not kept: the retry does the write again (the vendor: 25409, exists).
    let b = create(&p.b, "fleet-4", body).await;
    assert!(!b.headers.contains_key("x-gateway-replayed"));
    assert_eq!(b.json()["code"], 25409, "{}", b.text());
    assert_eq!(p.receipts(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_served_while_redis_is_down() {
    // The quota's own fallback has a start-up delay (`fleet::quota`); off
    // here, so that only the records' fallback is on the path.
    let (mut redis, p) = Pair::start("[rate_limit]\nenabled = false\n").await;
    let a = create(&p.a, "down-0", "groupId=fd0&name=n&owner=o").await;
    assert_eq!(a.json()["code"], 200);
    assert_eq!(records(&redis).await.len(), 1);
    redis.kill();
    let body = "groupId=fd1&name=n&owner=o";
    let b = create(&p.a, "down-1", body).await;
    assert_eq!(b.status, 200, "{}", b.text());
    assert_eq!(b.json()["code"], 200);
    // The local table protects meanwhile: the same instance replays it.
    let c = create(&p.a, "down-1", body).await;
    assert_eq!(c.headers["x-gateway-replayed"], "true", "{}", c.text());
    let d = create(&p.b, "down-2", "groupId=fd2&name=n&owner=o").await;
    assert_eq!(d.json()["code"], 200, "{}", d.text());
    assert_eq!(p.receipts(), 3);
    // The records count their own failed Redis calls; the link they
    // share with the quota is down for both once calls and probes have
    // failed for half a second (src/redis_link/mod.rs, "Store health").
    let m = within("the link goes down", async {
        loop {
            let m = metrics(&p.a).await;
            if sample(&m, "entrust_gateway_quota_store_up", &[]) == Some(0.0) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        m.contains("entrust_gateway_dedup_store_errors_total{kind="),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_whose_gateway_died_lapses() {
    let (redis, p) = Pair::start("").await;
    let body = "groupId=fi6&name=n&owner=o";
    // The claim a gateway that died mid-write left behind, as
    // src/idempotency/redis.rs writes it.
    let fp = create_fingerprint(body);
    let record = record_key("fleet-5");
    let mut conn = redis.connection().await;
    let _: () = redis::cmd("SET")
        .arg(&record)
        .arg(format!("inflight:00000000000000ff:{}", hex::encode(fp)))
        .arg("PX")
        .arg(300)
        .query_async(&mut conn)
        .await
        .unwrap();
    let a = create(&p.a, "fleet-5", body).await;
    assert_eq!(a.status, 409, "{}", a.text());
    // Once the lease ends (here 300 ms), the key is free again.
    poll_until("the dead claim lapses", async || {
        let exists: u32 = redis::cmd("EXISTS")
            .arg(&record)
            .query_async(&mut conn)
            .await
            .unwrap();
        exists == 0
    })
    .await;
    sent_fresh(&create(&p.b, "fleet-5", body).await);
    assert_eq!(p.receipts(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_up_to_the_bound_are_shared() {
    // docs/fleet.md, "Idempotency records are shared too": only an answer over 64 KiB is not
    // kept in Redis; one of 32 KiB is shared like any other.
    let body = "groupId=fi8&name=n&owner=o";
    let (_redis, p, a) = created_with_an_answer_of(32 * 1024, "fleet-8", body).await;
    assert!(a.body.len() > 16 * 1024, "{} bytes", a.body.len());
    let b = create(&p.b, "fleet-8", body).await;
    assert_eq!(b.headers["x-gateway-replayed"], "true", "{}", b.text());
    assert_eq!(b.body, a.body);
    assert_eq!(p.receipts(), 1);
    let m = metrics(&p.a).await;
    assert_eq!(sample(&m, TOO_LARGE, &[]), Some(0.0), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_was_claimed_during_an_outage_stays_protected_after_redis_returns() {
    // docs/fleet.md, "Idempotency records are shared too": "What it claimed locally stays
    // protected there after Redis returns" (the local table is looked up
    // before Redis, src/idempotency/redis.rs RedisStore::claim).
    let (mut redis, p) = Pair::start("[rate_limit]\nenabled = false\n").await;
    let a = create(&p.a, "back-0", "groupId=fb0&name=n&owner=o").await;
    assert_eq!(a.json()["code"], 200, "{}", a.text());
    redis.kill();
    let body = "groupId=fb1&name=n&owner=o";
    let b = create(&p.a, "back-1", body).await;
    assert_eq!(b.json()["code"], 200, "{}", b.text());
    redis.restart();
    poll_until("gateway a finds Redis again", async || {
        sample(&metrics(&p.a).await, "entrust_gateway_quota_store_up", &[]) == Some(1.0)
    })
    .await;
    // Redis is back and empty: without the local lookup the retry would
    // claim the key there and send the write again (the vendor: 25409).
    let c = create(&p.a, "back-1", body).await;
    assert_eq!(c.headers["x-gateway-replayed"], "true", "{}", c.text());
    assert_eq!(c.body, b.body);
    assert_eq!(p.receipts(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_dropped_unfinished_is_freed_in_redis() {
    // docs/fleet.md, "Idempotency records are shared too": only the claim's holder can free
    // it; src/idempotency/mod.rs `Claim`: dropped unfinished (its task panicked), it
    // frees the key, so retries are not refused with 409 while its renewals
    // keep it alive. A panic can't be provoked from outside, so the claim is
    // taken and dropped here through the gateway's own table.
    use entrust_gateway::idempotency::Begin;
    let (redis, p) = Pair::start("").await;
    let body = "groupId=fi9&name=n&owner=o";
    let fp = create_fingerprint(body);
    // No credential on the test's requests: the store key has none.
    let key = entrust_gateway::idempotency::store_key(&http::HeaderMap::new(), "fleet-9");
    let dedup = p.a.app.idempotency().expect("dedup on");
    let Ok(Begin::New(claim)) = dedup.begin(key, fp, Default::default()).await else {
        panic!("fleet-9 is free")
    };
    assert_eq!(records(&redis).await.len(), 1, "claimed in Redis");
    let held = create(&p.b, "fleet-9", body).await;
    assert_eq!(held.status, 409, "{}", held.text());
    drop(claim);
    poll_until("the dropped claim is freed", async || {
        records(&redis).await.is_empty()
    })
    .await;
    sent_fresh(&create(&p.b, "fleet-9", body).await);
    assert_eq!(p.receipts(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_write_keeps_renewing_its_claim() {
    // docs/fleet.md, "Idempotency records are shared too": a 10 s lease "which its gateway
    // renews every 2.5 s while the write runs: a slow write is never done
    // twice". A write of 6.5 s sees two renewals (at 2.5 s and 5 s): each
    // puts the record's PTTL back up while it is still the claim.
    let (redis, p) = Pair::start("").await;
    let first = p
        .slow_write_on_a("fleet-10", "groupId=fi10&name=n&owner=o", 6500)
        .await;
    let mut conn = redis.connection().await;
    let renewals = within("the write finishes", async {
        let (mut renewals, mut last) = (0, i64::MAX);
        loop {
            let keys = records(&redis).await;
            let Some(record) = keys.first() else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            let (value, ttl): (Option<String>, i64) = redis::pipe()
                .cmd("GET")
                .arg(record)
                .cmd("PTTL")
                .arg(record)
                .query_async(&mut conn)
                .await
                .unwrap();
            if !value.is_some_and(|v| v.starts_with("inflight:")) {
                return renewals;
            }
            if ttl > last {
                renewals += 1;
            }
            last = ttl;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(renewals >= 2, "{renewals} renewal(s) in 6.5 s");
    let a = within("the first answers", first).await.expect("first");
    assert_eq!(a.json()["code"], 200, "{}", a.text());
    assert_eq!(p.receipts(), 1);
}

#[tokio::test]
async fn a_record_that_is_not_the_gateways_is_served_locally_and_logged_once() {
    // docs/fleet.md, "Idempotency records are shared too": Redis trouble never fails a
    // write, the local table serves instead; src/idempotency/redis.rs
    // RedisStore::claim: a record the gateway did not write is such
    // trouble, warned about once. The runtime is this thread alone, so the
    // gateway's tasks log to this thread's subscriber; it counts the
    // warnings of src/idempotency/redis.rs.
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tracing_subscriber::fmt::writer::MakeWriterExt;
    let warnings = Arc::new(AtomicUsize::new(0));
    let w = warnings.clone();
    let count = move || {
        w.fetch_add(1, Ordering::Relaxed);
        std::io::sink()
    };
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(count.with_filter(|m| m.target() == "entrust_gateway::idempotency::redis"))
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (redis, p) = Pair::start("").await;
    let mut conn = redis.connection().await;
    for n in 0..3 {
        let key = format!("odd-{n}");
        let _: () = redis::cmd("SET")
            .arg(record_key(&key))
            .arg("not a gateway record")
            .query_async(&mut conn)
            .await
            .unwrap();
        let a = create(&p.a, &key, &format!("groupId=fo{n}&name=n&owner=o")).await;
        assert_eq!(a.json()["code"], 200, "{}", a.text());
        assert_eq!(warnings.load(Ordering::Relaxed), 1, "after {key}");
    }
    assert_eq!(p.receipts(), 3);
}

/// A Redis restart without persistence (or a failover to a replica that
/// missed the record) mid-window: the gateway that ran the write keeps its
/// final answer locally for the window, and answers its own retry from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_loses_nothing_the_serving_gateway_knows() {
    let (mut redis, p) = Pair::start("").await;
    let body = "groupId=rr1&name=n&owner=o";
    let first = create(&p.a, "restart-1", body).await;
    assert_eq!(first.json()["code"], 200, "{}", first.text());
    redis.restart();
    assert!(records(&redis).await.is_empty(), "Redis came back empty");
    let retry = create(&p.a, "restart-1", body).await;
    replay_of(&retry, &first, &p);
}

/// Redis unreachable at the moment a write finishes: the answer is kept
/// locally at once, and written through to Redis once it answers again, so
/// that a retry on another gateway gets it too (rather than the claim
/// lapsing and the retry sending the write again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_redis_missed_is_written_through_when_it_returns() {
    let (mut redis, p) = Pair::start("").await;
    let body = "groupId=wt1&name=n&owner=o";
    let caller = p.slow_write_on_a("through-1", body, 600).await;
    redis.kill();
    let first = within("the first answer", caller).await.expect("caller");
    assert_eq!(first.json()["code"], 200, "{}", first.text());
    redis.restart();
    let key = record_key("through-1");
    within("the record written through", async {
        while !records(&redis).await.contains(&key) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let retry = create(&p.b, "through-1", body).await;
    replay_of(&retry, &first, &p);
}
