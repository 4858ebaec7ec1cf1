//! Who may call. Every vendor call is signed with the app secret
//! (reference/entrust-api.md "Signing (every request)"), so every face that
//! makes one is guarded: by `server.auth_tokens_file`'s bearer tokens, or on
//! the OpenIM face by OpenIM's own token; and a gateway open to anyone says
//! so at start.

use crate::common::openim::{admin_login, operation_id};
use crate::common::*;
use http::Method;
use serde_json::json;

// With bearer tokens and no [openim] section, the OpenIM face is guarded by
// them too. RFC 9110 §11.1: the auth scheme is case-insensitive.
#[tokio::test]
async fn inbound_auth_guards_the_openim_face_when_there_is_no_openim_section() {
    let (sim, sim_server) = start_sim().await;
    let text = config_with_server(
        &[sim_server.url()],
        &format!("auth_tokens_file = {:?}", tokens_file("openim", "tok-A\n")),
        "",
        "",
    );
    let gw = start_gateway(&text).await;
    let url = format!("{}/group/create_group", gw.url());
    let body = json!({"ownerUserID": "o", "memberUserIDs": [],
                      "groupInfo": {"groupID": "edgea1", "groupName": "n", "groupType": 2}})
    .to_string();
    for bearer in [None, Some("Bearer wrong")] {
        let op = operation_id();
        let mut h = vec![
            ("content-type", "application/json"),
            ("operationID", op.as_str()),
        ];
        if let Some(b) = bearer {
            h.push(("authorization", b));
        }
        let a = send(Method::POST, &url, &h, body.clone()).await;
        // OpenIM's envelope for a missing header: errCode 1001 ArgsError
        // (reference/openim-api.md "Envelope and conventions").
        assert_eq!(a.json()["errCode"], 1001, "{}", a.text());
        assert!(
            a.json()["errDlt"].as_str().unwrap().contains("bearer")
                || a.json()["errDlt"].as_str().unwrap().contains("Bearer")
        );
    }
    assert!(
        sim.requests().is_empty(),
        "a write went out without a credential"
    );
    // The scheme in any case.
    let op = operation_id();
    let a = send(
        Method::POST,
        &url,
        &[
            ("content-type", "application/json"),
            ("operationID", &op),
            ("authorization", "bEaReR tok-A"),
        ],
        body,
    )
    .await;
    assert_eq!(a.json()["errCode"], 0, "{}", a.text());
    let e = send(
        Method::POST,
        &format!("{}/entrust/group/dismiss.json", gw.url()),
        &[FORM, ("authorization", "bearer tok-A")],
        "groupId=edgea1",
    )
    .await;
    assert_eq!(e.json()["code"], 200, "{}", e.text());
}

// With [openim]: OpenIM's token is the credential (OpenIM clients
// send `token`: reference/openim-api.md "Envelope and conventions"), so a
// configured bearer is not asked for on that face; the entrust face still
// needs it.
#[tokio::test]
async fn with_openim_its_token_is_the_credential() {
    let (sim, sim_server) = start_sim().await;
    let text = config_with_server(
        &[sim_server.url()],
        &format!(
            "auth_tokens_file = {:?}",
            tokens_file("with-openim", "tok-A\n")
        ),
        "",
        &crate::common::openim::section(3600),
    );
    let gw = start_gateway(&text).await;
    let t = post_openim(
        &format!("{}/auth/get_admin_token", gw.url()),
        &operation_id(),
        None,
        &admin_login(),
    )
    .await;
    let token = t.json()["data"]["token"].as_str().unwrap().to_string();
    let body = json!({"groupIDs": ["edgeb1"]});
    let url = format!("{}/group/get_groups_info", gw.url());
    let a = post_openim(&url, &operation_id(), Some(&token), &body).await;
    assert_eq!(a.json()["errCode"], 0, "{}", a.text());
    // No token: OpenIM's "header must have token" (errCode 1001), no call.
    let before = sim.requests().len();
    let a = post_openim(&url, &operation_id(), None, &body).await;
    assert_eq!(a.json()["errCode"], 1001, "{}", a.text());
    assert_eq!(sim.requests().len(), before);
    let e = post_create(&gw, "groupId=edgeb1&name=n&owner=o").await;
    assert_eq!(e.status, 401, "{}", e.text());
}

/// What `server::start` logs for a config (start-up runs on this thread).
pub(crate) async fn start_up_log(text: &str) -> String {
    let logs = capture_logs();
    let gw = start_gateway(text).await;
    let log = logs.text();
    drop(logs);
    gw.shutdown().await;
    log
}

// A gateway beyond loopback with no inbound auth, and one with OpenIM's
// published default secret (`openIM123`, OpenIM's config/share.yml
// `secret`), say so at start.
#[tokio::test]
async fn start_up_warns_about_open_listeners_and_the_default_openim_secret() {
    let (_sim, sim_server) = start_sim().await;
    let open = config_text(&[sim_server.url()], "", "")
        .replace("listen = \"127.0.0.1:0\"", "listen = \"0.0.0.0:0\"");
    let log = start_up_log(&open).await;
    assert!(log.contains("NO INBOUND AUTH"), "{log}");
    let guarded = open.replace(
        "[server]\n",
        &format!(
            "[server]\nauth_tokens_file = {:?}\n",
            tokens_file("warn", "tok-A\n")
        ),
    );
    let log = start_up_log(&guarded).await;
    assert!(!log.contains("LISTENING OFF LOOPBACK"), "{log}");
    let default_secret = config_text(
        &[sim_server.url()],
        "",
        "[openim]\nsecret = \"openIM123\"\nadmin_user_ids = [\"imAdmin\"]\n",
    );
    let log = start_up_log(&default_secret).await;
    assert!(log.contains("published default"), "{log}");
    assert!(
        !log.contains("openIM123"),
        "the secret itself is never logged: {log}"
    );
}
