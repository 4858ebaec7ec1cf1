//! The gateway's Redis connection: `--check-config` says whether Redis
//! answered (Redis down is no config error), `rediss://` speaks TLS and
//! checks the certificate, and the sidecar manifest's config is valid.

use crate::common::redis_server::RedisServer;
use crate::common::*;
use entrust_gateway::config::SecretRef;

#[test]
fn check_config_says_whether_redis_answered() {
    let mut redis = RedisServer::start();
    let dir = temp_dir("fleet");
    let extra = "[redis]\nurl_env = \"ENTRUST_TEST_REDIS_URL\"\n";
    let text = config_text(&["http://127.0.0.1:9".into()], "", extra);
    let path = write_file(&dir, "gateway.toml", &text);
    // Exit status and stderr; the URL's password never printed.
    let check = |url: &str| {
        let out = std::process::Command::new(BIN)
            .args(["--check-config", "--config", path.to_str().unwrap()])
            .env("ENTRUST_TEST_REDIS_URL", url)
            .output()
            .expect("binary runs");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(
            !stdout.contains("pw-Xy7") && !stderr.contains("pw-Xy7"),
            "{stderr}"
        );
        (out.status.success(), stderr.into_owned())
    };
    let (ok, err) = check(&redis.url());
    assert!(ok && err.contains("redis: answered"), "{err}");
    redis.kill();
    // Redis being down is not a config error: the gateway would start on its fallback.
    let (ok, err) = check(&format!("redis://:pw-Xy7@127.0.0.1:{}/0", redis.port));
    assert!(ok && err.contains("redis: did not answer"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_redis_sidecar_manifests_config_is_valid() {
    // deploy/sidecar-redis.yaml carries gateway.toml in a ConfigMap.
    let yaml = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/sidecar-redis.yaml"),
    )
    .unwrap();
    let toml = configmap_toml(&yaml).expect("a gateway.toml in its ConfigMap");
    let c = entrust_gateway::config::Config::parse(&toml).expect("the manifest's config is valid");
    let r = c.redis.expect("[redis]");
    // The URL (it may hold a password) from the environment.
    assert!(
        matches!(&r.url, Some(SecretRef::Env { env }) if env == "ENTRUST_REDIS_URL"),
        "{:?}",
        r.url
    );
    assert!(yaml.contains("name: ENTRUST_REDIS_URL"));
}

#[test]
fn rediss_urls_speak_tls_and_check_the_certificate() {
    let dir = temp_dir("rediss");
    let pki = private_ca("127.0.0.1");
    let file = |name: &str, text: &str| write_file(&dir, name, text).display().to_string();
    let (ca_file, cert_file, key_file) = (
        file("ca.pem", &pki.ca_pem),
        file("cert.pem", &pki.cert_pem),
        file("key.pem", &pki.key_pem),
    );
    let redis = RedisServer::start_tls(&cert_file, &key_file);
    // A debug build's TLS handshake on a loaded machine can take longer
    // than the default timeout_ms (100); a wrong CA fails at once anyway.
    let redis_section = format!(
        "[redis]\nurl = \"rediss://127.0.0.1:{}/0\"\ntimeout_ms = 2000\n",
        redis.port
    );
    let text = config_text(&["http://127.0.0.1:9".into()], "", &redis_section);
    let config = file("gateway.toml", &text);
    // The CA comes from the system store; SSL_CERT_FILE stands in for it.
    let check = |ca: Option<&str>| {
        let mut cmd = std::process::Command::new(BIN);
        cmd.args(["--check-config", "--config", &config]);
        cmd.env_remove("SSL_CERT_FILE");
        if let Some(ca) = ca {
            cmd.env("SSL_CERT_FILE", ca);
        }
        let out = cmd.output().expect("binary runs");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = check(Some(&ca_file));
    assert!(err.contains("redis: answered"), "{err}");
    // A certificate from an unknown CA is refused.
    let err = check(Some(&cert_file));
    assert!(err.contains("redis: did not answer"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
