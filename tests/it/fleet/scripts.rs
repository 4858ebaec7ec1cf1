//! The Redis scripts' guards, one test each: mutation tools can't reach
//! Lua, so each `if` in the scripts of src/idempotency/redis.rs (CLAIM,
//! SETTLE, WRITE_THROUGH) and src/quota/fleet.rs (PERMIT, HOLD) has a test
//! here (or named here) that fails when the guard is deleted. Each stands
//! for what another instance of the fleet may have done to a key
//! meanwhile, written into a real redis-server as that instance's script
//! would have written it.
//!
//! Named elsewhere: PERMIT's hold (`if hold > now then return {2, ...}`) is
//! `quota::the_vendors_1008_holds_the_path_back_fleet_wide`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use entrust_gateway::idempotency::{Begin, Stored};
use http::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::idempotency::{Pair, create, record_key};
use super::quota::KEY as QUOTA_KEY;
use crate::common::IDEMPOTENCY_KEY as KEY;
use crate::common::redis_server::RedisServer;
use crate::common::*;
use entrust_gateway::sim::{Fault, FaultRule};

/// Another instance's claim on a record, as CLAIM writes it
/// (`inflight:<claim id>:<fingerprint>`).
fn other_claim(body: &str) -> String {
    format!(
        "inflight:00000000000000ee:{}",
        hex::encode(create_fingerprint(body))
    )
}

async fn get_record(redis: &RedisServer, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut redis.connection().await)
        .await
        .unwrap()
}

async fn set_record(redis: &RedisServer, key: &str, value: &[u8], px: u64) {
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg(value)
        .arg("PX")
        .arg(px)
        .query_async(&mut redis.connection().await)
        .await
        .unwrap();
}

/// CLAIM's `SET ... NX`: a record another instance holds is never taken
/// over; the caller gets 409 and nothing reaches the vendor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_never_takes_a_record_another_instance_holds() {
    let (redis, p) = Pair::start("").await;
    let body = "groupId=nx1&name=n&owner=o";
    let record = record_key("nx-1");
    let held = other_claim(body);
    set_record(&redis, &record, held.as_bytes(), 10_000).await;
    let a = create(&p.a, "nx-1", body).await;
    assert_eq!(a.status, 409, "{}", a.text());
    assert_eq!(get_record(&redis, &record).await, Some(held.into_bytes()));
    assert_eq!(p.receipts(), 0);
}

/// SETTLE's holder check (`if GET ~= ARGV[1] then return 0`): an instance
/// whose claim lapsed (its gateway stalled past the lease) and was taken
/// by another must neither overwrite nor free the claim of the instance
/// now running the write, whether it finishes with an answer or frees its
/// own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settle_never_touches_a_claim_that_is_no_longer_its_own() {
    let (redis, p) = Pair::start("").await;
    let dedup = p.a.app.idempotency().expect("dedup on");
    let answer = Stored {
        status: http::StatusCode::OK,
        headers: http::HeaderMap::new(),
        body: Bytes::from_static(b"{\"code\":200}"),
    };
    for (name, finish) in [("settle-1", true), ("settle-2", false)] {
        let body = format!("groupId={name}&name=n&owner=o");
        let fp = create_fingerprint(&body);
        let key = entrust_gateway::idempotency::store_key(&http::HeaderMap::new(), name);
        let Ok(Begin::New(claim)) = dedup.begin(key, fp, Arc::default()).await else {
            panic!("{name} is free")
        };
        // Its claim lapsed and another instance claimed the key since.
        let record = record_key(name);
        let theirs = other_claim(&body);
        set_record(&redis, &record, theirs.as_bytes(), 10_000).await;
        if finish {
            claim.finish(Some(answer.clone())).await;
        } else {
            // Dropped unfinished: freed in the background, so wait for
            // the free to have run (its SETTLE is the last EVALSHA).
            let before = evalsha_calls(&redis).await;
            drop(claim);
            within("the free runs", async {
                while evalsha_calls(&redis).await == before {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await;
        }
        assert_eq!(
            get_record(&redis, &record).await,
            Some(theirs.into_bytes()),
            "{name}: the other instance's claim is intact"
        );
    }
}

/// EVALSHA calls Redis has run to the end (`INFO commandstats`: `calls`
/// less `failed_calls`, so that a first NOSCRIPT, answered before the
/// script is loaded and run, does not count): the signal that a script
/// the gateway runs in the background has run.
async fn evalsha_calls(redis: &RedisServer) -> u64 {
    let text: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut redis.connection().await)
        .await
        .unwrap();
    let Some(stats) = text
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_evalsha:"))
    else {
        return 0;
    };
    let field = |name: &str| -> u64 {
        stats
            .split(',')
            .find_map(|f| f.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
            .unwrap_or(0)
    };
    field("calls") - field("failed_calls")
}

/// WRITE_THROUGH's done-check: an answer Redis missed is written through
/// when it returns, but never over a final record another instance wrote
/// meanwhile (its claim lapsed while Redis was away and the other ran the
/// write and finished it). A second answer, with nothing in Redis, is
/// written through: once it is there, the first one's write-through has
/// been tried too (both retry every second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_never_overwrites_a_final_record() {
    let (mut redis, p) = Pair::start("").await;
    p.sim
        .inject(FaultRule::on(CREATE, Fault::Delay(Duration::from_millis(800))).limit(2));
    let url = format!("{}{CREATE}", p.a.url());
    let callers: Vec<_> = ["wt-kept", "wt-new"]
        .into_iter()
        .map(|name| {
            let url = url.clone();
            tokio::spawn(async move {
                let body = format!("groupId={name}&name=n&owner=o");
                send(Method::POST, &url, &[FORM, (KEY, name)], body).await
            })
        })
        .collect();
    until("the vendor has both writes", || p.sim.requests().len() == 2).await;
    redis.kill();
    for c in callers {
        let a = within("an answer", c).await.expect("caller");
        assert_eq!(a.json()["code"], 200, "{}", a.text());
    }
    redis.restart();
    // The other instance's final record, written before this gateway
    // finds Redis again (it needs three probes in a row).
    let kept = record_key("wt-kept");
    let theirs = b"done:00:200\n\n{\"other\":true}".to_vec();
    set_record(&redis, &kept, &theirs, 60_000).await;
    let new = record_key("wt-new");
    within("the second answer is written through", async {
        while get_record(&redis, &new).await.is_none() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    // The first one's write-through ran by now or within its next second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(get_record(&redis, &kept).await, Some(theirs));
}

/// PERMIT's `if wait > max_wait then return {1, ...}`: a caller whose slot
/// would be more than max_wait_ms away is refused at once and reserves
/// nothing (the next free slot in Redis is where it was).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permit_refuses_past_max_wait_without_reserving() {
    let redis = RedisServer::start();
    let (sim, sim_server) = start_sim().await;
    let extra = format!(
        "[rate_limit]\nper_second = 1\nmax_wait_ms = 0\n[redis]\nurl = \"{}\"\n",
        redis.url()
    );
    let gw = start_gateway(&config_text(&[sim_server.url()], "", &extra)).await;
    let url = format!("{}{QUERY}", gw.url());
    assert_eq!(post_form(&url, "groupIds=a").await.status, 200);
    let mut conn = redis.connection().await;
    let tat = async |conn: &mut redis::aio::MultiplexedConnection| -> String {
        redis::cmd("HGET")
            .arg(QUOTA_KEY)
            .arg("tat")
            .query_async(conn)
            .await
            .unwrap()
    };
    let before = tat(&mut conn).await;
    // The next slot is a period (1 / 0.96 s) away, past max_wait_ms (0).
    let b = post_form(&url, "groupIds=b").await;
    assert_eq!(b.status, 429, "{}", b.text());
    assert_eq!(tat(&mut conn).await, before, "nothing reserved");
    assert_eq!(sim.requests().len(), 1);
}

/// HOLD's two guards: a 1008 backoff never shortens a longer hold another
/// instance set on the path (`if hold > HGET hold`), nor the key's expiry
/// (`if PTTL < ms + 1000`), which would drop that hold and the fleet's
/// next free slot with it. The vendor here is a stub that answers 429
/// (code 1008) when told, so that the longer hold is in Redis before this
/// gateway's own is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_never_shortens_a_longer_hold_or_its_expiry() {
    let redis = RedisServer::start();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let vendor = format!("http://{}", listener.local_addr().unwrap());
    let (got, mut request_in) = tokio::sync::mpsc::unbounded_channel();
    let answer = Arc::new(tokio::sync::Notify::new());
    let answer_now = answer.clone();
    let stub = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let _ = s.read(&mut buf).await;
        let _ = got.send(());
        answer_now.notified().await;
        let body = "{\"code\":1008,\"errorMessage\":\"rate limited\"}";
        let reply = format!(
            "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = s.write_all(reply.as_bytes()).await;
    });
    let extra = format!(
        "[rate_limit]\nupstream_backoff_ms = 1000\n[redis]\nurl = \"{}\"\n",
        redis.url()
    );
    let gw = start_gateway(&config_text(&[vendor], "", &extra)).await;
    let url = format!("{}{QUERY}", gw.url());
    let call = tokio::spawn(async move { post_form(&url, "groupIds=h").await });
    within("the vendor has the call", request_in.recv()).await;
    // Meanwhile another instance holds the path for 60 s.
    let mut conn = redis.connection().await;
    let (s, us): (u64, u64) = redis::cmd("TIME").query_async(&mut conn).await.unwrap();
    let theirs = (s + 60) * 1_000_000 + us;
    let _: () = redis::pipe()
        .cmd("HSET")
        .arg(QUOTA_KEY)
        .arg("hold")
        .arg(theirs)
        .cmd("PEXPIRE")
        .arg(QUOTA_KEY)
        .arg(61_000)
        .query_async(&mut conn)
        .await
        .unwrap();
    let before = evalsha_calls(&redis).await;
    answer.notify_one();
    let a = within("the caller's answer", call).await.unwrap();
    assert_eq!(a.status, 429, "{}", a.text());
    within("this gateway's hold runs", async {
        while evalsha_calls(&redis).await == before {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let (hold, ttl): (u64, i64) = redis::pipe()
        .cmd("HGET")
        .arg(QUOTA_KEY)
        .arg("hold")
        .cmd("PTTL")
        .arg(QUOTA_KEY)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(hold, theirs, "the longer hold stays");
    assert!(ttl > 50_000, "PTTL {ttl}: the key's expiry was shortened");
    stub.abort();
}
