//! An HTTPS upstream signed by a private CA: trusted through
//! `upstream.ca_file`, refused without it.

mod common;

use std::sync::Arc;

use common::*;
use entrust_gateway::sim::{SimConfig, Simulator};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

struct Pki {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone()];
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        server: Arc::new(server),
    }
}

async fn https_sim(pki: &Pki) -> (Simulator, String) {
    let sim = Simulator::new(SimConfig::new(APP_KEY, APP_SECRET));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = sim.serve_tls(listener, pki.server.clone());
    let url = format!("https://localhost:{}", server.addr.port());
    std::mem::forget(server); // keep serving for the test's life
    (sim, url)
}

#[tokio::test]
async fn https_upstream_with_a_private_ca() {
    let pki = pki();
    let (sim, url) = https_sim(&pki).await;
    let dir = std::env::temp_dir().join(format!("entrust-gw-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();

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
