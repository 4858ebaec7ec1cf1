//! What an operator relies on: probes, metrics, the admin listener, secret
//! rotation through `app_secret_file`, and deploy files that match the code.

use std::time::Duration;

use crate::common::*;
use entrust_gateway::sign::signature;
use entrust_gateway::sim::{Fault, FaultRule};
use http::Method;

#[tokio::test]
async fn probes_answer_json() {
    let env = Env::start().await;
    let h = get(&env.url("/healthz")).await;
    assert_eq!(h.status, 200);
    assert_eq!(h.json()["status"], "ok");
    let r = get(&env.url("/readyz")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ready");
    assert_eq!(r.json()["upstream"], env.sim_server.url().as_str());
    assert_eq!(
        send(Method::POST, &env.url("/healthz"), &[], "")
            .await
            .status,
        405
    );
}

#[tokio::test]
async fn metrics_cover_requests_upstream_limiter_and_failover() {
    let quota =
        "[rate_limit.paths.\"/entrust/group/create.json\"]\nper_second = 1\nmax_wait_ms = 0";
    let (sim, _backup, gw) = dead_primary("", quota).await;
    let url = |p: &str| format!("{}{p}", gw.url());
    // The dead primary: a connect error, then the read is retried on the backup.
    post_form(&url("/entrust/group/profile/query.json"), "groupIds=m1").await;
    post_form(
        &url("/entrust/group/create.json"),
        "groupId=m1&name=n&owner=o",
    )
    .await;
    // Over quota (1/s, no waiting): a rejection.
    post_form(
        &url("/entrust/group/create.json"),
        "groupId=m2&name=n&owner=o",
    )
    .await;
    sim.inject(FaultRule {
        path: None,
        fault: Fault::Status(500),
        times: Some(1),
    });
    post_form(
        &url("/entrust/group/profile/update.json"),
        "groupId=m1&groupProfile=%7B%7D",
    )
    .await;
    post_form(&url("/entrust/no/such/thing.json"), "a=1").await;
    let m = get(&url("/metrics")).await;
    assert!(m.headers["content-type"].to_str().unwrap().contains("text"));
    let m = m.text();
    for needle in [
        r#"entrust_gateway_requests_total{face="entrust",route="/entrust/group/create.json",status="200",app="default",caller="-"} 1"#,
        r#"entrust_gateway_requests_total{face="entrust",route="/entrust/group/create.json",status="429",app="default",caller="-"} 1"#,
        r#"entrust_gateway_requests_total{face="entrust",route="other",status="#,
        "entrust_gateway_in_flight_requests 1",
        r#"entrust_gateway_upstream_duration_seconds_count{path="/entrust/group/create.json",data_center=""#,
        r#"entrust_gateway_upstream_errors_total{path="/entrust/group/profile/query.json",kind="connect"} 1"#,
        r#"entrust_gateway_upstream_errors_total{path="/entrust/group/profile/update.json",kind="status_5xx"} 1"#,
        "entrust_gateway_failovers_total{from=",
        r#"entrust_gateway_limiter_wait_seconds_count{path="/entrust/group/create.json"}"#,
        r#"entrust_gateway_limiter_rejections_total{path="/entrust/group/create.json",reason="wait_too_long"} 1"#,
        r#"entrust_gateway_build_info{version=""#,
    ] {
        assert!(m.contains(needle), "missing {needle}\n{m}");
    }
    assert!(!m.contains(APP_SECRET));
}

#[tokio::test]
async fn the_admin_listener_serves_only_admin_routes() {
    let env = Env::start_with("", "[admin]\nlisten = \"127.0.0.1:0\"").await;
    let gw = &env.gw;
    let admin = format!("http://{}", gw.admin_addr.expect("admin listener"));
    assert_eq!(get(&format!("{admin}/healthz")).await.status, 200);
    assert_eq!(get(&format!("{admin}/readyz")).await.status, 200);
    assert!(
        get(&format!("{admin}/metrics"))
            .await
            .text()
            .contains("entrust_gateway_build_info")
    );
    let a = post_form(
        &format!("{admin}/entrust/group/create.json"),
        "groupId=a&name=n&owner=o",
    )
    .await;
    assert_eq!(a.status, 404);
    // The main listener still serves everything.
    assert_eq!(get(&format!("{}/healthz", gw.url())).await.status, 200);
}

/// Waits until the `secret_reloads{result=...}` counter reaches `n`.
async fn reloads(gw: &entrust_gateway::server::ServerHandle, result: &str, n: u64) {
    let needle = format!("entrust_gateway_secret_reloads_total{{result=\"{result}\"}} {n}");
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    for _ in 0..2000 {
        if metrics(gw).await.contains(&needle) {
            return;
        }
        tick.tick().await;
    }
    panic!("never saw {needle}");
}

#[tokio::test]
async fn a_changed_secret_file_is_picked_up_and_a_bad_one_keeps_the_old_secret() {
    let (sim, s) = start_sim().await;
    let file = write_file(&temp_dir("rotate"), "secret", &format!("{APP_SECRET}\n"));
    let text = config_text(&[s.url()], "", "").replace(
        &format!("app_secret = \"{APP_SECRET}\""),
        &format!(
            "app_secret_file = {:?}\nsecret_poll_ms = 20",
            file.display().to_string()
        ),
    );
    let gw = start_gateway(&text).await;
    let create = format!("{}/entrust/group/create.json", gw.url());
    assert_eq!(
        post_form(&create, "groupId=r1&name=n&owner=o").await.json()["code"],
        200
    );

    // Rotate: the gateway now signs with the new secret. (The simulator
    // still knows the old one and says so: 1004.)
    std::fs::write(&file, "rotated-Xy7\n").unwrap();
    reloads(&gw, "ok", 1).await;
    let a = post_form(&create, "groupId=r2&name=n&owner=o").await;
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["code"], 1004);
    let signed_with = |sim: &entrust_gateway::sim::Simulator, secret: &str| {
        let reqs = sim.requests();
        let h = &reqs.last().unwrap().headers;
        let (n, t) = (
            h["nonce"].to_str().unwrap(),
            h["timestamp"].to_str().unwrap(),
        );
        h["signature"] == signature(secret, n, t).as_str()
    };
    assert!(signed_with(&sim, "rotated-Xy7"));

    // An empty file keeps the last good secret.
    std::fs::write(&file, "").unwrap();
    reloads(&gw, "error", 1).await;
    post_form(&create, "groupId=r3&name=n&owner=o").await;
    assert!(signed_with(&sim, "rotated-Xy7"));

    // And rotating back restores service.
    std::fs::write(&file, APP_SECRET).unwrap();
    reloads(&gw, "ok", 2).await;
    assert_eq!(
        post_form(&create, "groupId=r4&name=n&owner=o").await.json()["code"],
        200
    );
}

/// A SIGHUP that loaded a wrong secret (the file was mid-edit), then the
/// file put back before the next poll: the poller compares the file with
/// the secret in use, not with what it saw last, so the gateway signs with
/// the file's secret again instead of the wrong one for ever.
#[tokio::test]
async fn a_file_restored_after_a_bad_reload_is_picked_up() {
    let (_sim, s) = start_sim().await;
    let file = write_file(&temp_dir("restore"), "secret", &format!("{APP_SECRET}\n"));
    let text = config_text(&[s.url()], "", "").replace(
        &format!("app_secret = \"{APP_SECRET}\""),
        &format!(
            "app_secret_file = {:?}\nsecret_poll_ms = 300",
            file.display().to_string()
        ),
    );
    let gw = start_gateway(&text).await;
    let create = format!("{}/entrust/group/create.json", gw.url());
    // What SIGHUP does, while the file holds a wrong secret; then the file
    // is restored at once, well inside one poll interval.
    std::fs::write(&file, "mid-edit\n").unwrap();
    assert!(gw.app.reload_secret());
    std::fs::write(&file, format!("{APP_SECRET}\n")).unwrap();
    // The next poll finds the file's secret differs from the one in use.
    reloads(&gw, "ok", 2).await;
    let b = post_form(&create, "groupId=x2&name=n&owner=o").await;
    assert_eq!(b.json()["code"], 200, "{}", b.text());
}

/// Before any traffic, /metrics already lists every
/// family with a series (at zero), for each known label value: alert rules
/// on rate() or absent() need the series to exist.
#[tokio::test]
async fn every_metric_family_has_series_before_any_traffic() {
    let (_sim, s) = start_sim().await;
    let backup = "http://127.0.0.1:1".to_string();
    let gw = start_gateway(&config_text(&[s.url(), backup.clone()], "", "")).await;
    let m = metrics(&gw).await;
    let families: Vec<&str> = m
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for family in [
        "entrust_gateway_requests",
        "entrust_gateway_in_flight_requests",
        "entrust_gateway_upstream_duration_seconds",
        "entrust_gateway_upstream_errors",
        "entrust_gateway_failovers",
        "entrust_gateway_limiter_wait_seconds",
        "entrust_gateway_limiter_rejections",
        "entrust_gateway_secret_reloads",
        "entrust_gateway_build_info",
    ] {
        assert!(families.contains(&family), "{family} not declared\n{m}");
    }
    // Every declared family (also any added later) has at least one sample.
    for family in &families {
        assert!(
            m.lines()
                .any(|l| !l.starts_with('#') && l.starts_with(family)),
            "{family} has no series before traffic\n{m}"
        );
    }
    let dc = s.url();
    for needle in [
        // Kinds: upstream.rs SendError::kind, plus rate_limited (gateway.rs).
        r#"entrust_gateway_upstream_errors_total{path="/entrust/group/create.json",kind="connect"} 0"#.to_string(),
        r#"entrust_gateway_upstream_errors_total{path="other",kind="rate_limited"} 0"#.to_string(),
        // Reasons: limit.rs Refusal::as_str.
        r#"entrust_gateway_limiter_rejections_total{path="/entrust/group/dismiss.json",reason="queue_full"} 0"#.to_string(),
        format!(r#"entrust_gateway_failovers_total{{from="{dc}",to="{backup}"}} 0"#),
        format!(r#"entrust_gateway_failovers_total{{from="{backup}",to="{dc}"}} 0"#),
        format!(
            r#"entrust_gateway_upstream_duration_seconds_count{{path="/entrust/group/query.json",data_center="{dc}"}} 0"#
        ),
        r#"entrust_gateway_secret_reloads_total{result="error"} 0"#.to_string(),
        r#"entrust_gateway_requests_total{face="openim",route="/group/create_group",status="200",app="default",caller="-"} 0"#.to_string(),
    ] {
        assert!(m.contains(&needle), "missing {needle}\n{m}");
    }
    // Every documented entrust path has its series.
    for path in entrust_gateway::entrust::path::DOCUMENTED {
        let needle = format!(r#"entrust_gateway_limiter_wait_seconds_count{{path="{path}"}} 0"#);
        assert!(m.contains(&needle), "missing {needle}");
    }
}

/// The names `s` mentions that start with `entrust_gateway_`.
fn metric_names(s: &str) -> Vec<String> {
    s.match_indices("entrust_gateway_")
        .map(|(i, _)| {
            s[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

/// deploy/alerts.yaml, its tests and the Grafana dashboard use only names
/// that /metrics exports, and the Dockerfile, manifest and deploy config
/// agree on the user and the admin port.
#[tokio::test]
async fn deploy_files_match_the_code() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    let (_sim, s) = start_sim().await;
    // Two data centers, so that failover series exist.
    let urls = [s.url(), "http://127.0.0.1:1".to_string()];
    let gw = start_gateway(&config_text(&urls, "", "")).await;
    let exported = metrics(&gw).await;
    let series: Vec<String> = exported
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect();
    for file in [
        "deploy/alerts.yaml",
        "deploy/alerts_test.yaml",
        "deploy/grafana-dashboard.json",
    ] {
        let names = metric_names(&read(file));
        assert!(!names.is_empty(), "{file}");
        for name in names {
            assert!(series.contains(&name), "{file}: {name} is not exported");
        }
    }

    // A numeric user, the same in the image and the pod spec: the kubelet
    // can't check runAsNonRoot against a user name.
    let dockerfile = read("Dockerfile");
    let user = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("Dockerfile sets USER");
    let uid = user.split(':').next().unwrap().trim();
    assert!(uid.parse::<u32>().is_ok_and(|u| u > 0), "USER {user}");
    let manifest = read("deploy/sidecar.yaml");
    assert!(
        manifest.contains(&format!("runAsUser: {uid}")),
        "{manifest}"
    );
    // The image exposes the admin port the deploy config listens on, and
    // the manifest names it.
    let cfg = entrust_gateway::config::Config::parse(&read("deploy/gateway.toml")).unwrap();
    let admin = cfg
        .admin
        .listen
        .expect("deploy config has an admin listener");
    let port = admin.port().to_string();
    assert!(
        dockerfile
            .lines()
            .any(|l| l.starts_with("EXPOSE") && l.split_whitespace().any(|w| w == port)),
        "EXPOSE {port}"
    );
    assert!(manifest.contains(&format!("containerPort: {port}")));
    // The build context leaves target/ out.
    let ignore = read(".dockerignore");
    assert!(
        ignore
            .lines()
            .any(|l| l.trim() == "*" || l.trim() == "target/"),
        "{ignore}"
    );
}
