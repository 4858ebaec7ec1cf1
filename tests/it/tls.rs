//! An HTTPS upstream signed by a private CA: trusted through
//! `upstream.ca_file`, refused without it.

use std::sync::Arc;

use crate::common::*;
use entrust_gateway::sim::{SimConfig, Simulator};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// The simulator over TLS with `pki`'s certificate; its URL.
async fn https_sim(pki: &Pki) -> (Simulator, String) {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key_der.clone()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![pki.cert_der.clone()], key)
        .unwrap();
    let sim = Simulator::new(SimConfig::new(APP_KEY, APP_SECRET));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = sim.serve_tls(listener, Arc::new(server));
    let url = format!("https://localhost:{}", server.addr.port());
    std::mem::forget(server); // keep serving for the test's life
    (sim, url)
}

#[tokio::test]
async fn https_upstream_with_a_private_ca() {
    let pki = private_ca("localhost");
    let (sim, url) = https_sim(&pki).await;
    let ca_file = write_file(&temp_dir("tls"), "ca.pem", &pki.ca_pem);

    let gw = start_gateway(&config_text(
        std::slice::from_ref(&url),
        &format!("ca_file = {:?}", ca_file.display().to_string()),
        "",
    ))
    .await;
    let a = post_form(
        &format!("{}/entrust/group/create.json", gw.url()),
        "groupId=tls&name=n&owner=o",
    )
    .await;
    assert_eq!(a.json()["code"], 200, "{}", a.text());
    assert!(sim.group("tls").is_some());

    // Without the CA the upstream's certificate is not trusted: 502, nothing accepted.
    let gw = start_gateway(&config_text(&[url], "", "")).await;
    let a = post_form(
        &format!("{}/entrust/group/create.json", gw.url()),
        "groupId=tls2&name=n&owner=o",
    )
    .await;
    assert_eq!(a.status, 502);
    assert_eq!(a.json()["code"], 1000);
    assert!(sim.group("tls2").is_none());
}
