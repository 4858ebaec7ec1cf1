//! Unit tests of the config schema, validation and secrets.

use super::*;

const GOOD: &str = r#"
[upstream]
urls = ["https://api.rong-api.com", "http://127.0.0.1:9000/base/"]
app_key = "key"
app_secret = "s"
"#;

#[test]
fn defaults() {
    let c = Config::parse(GOOD).unwrap();
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.base_urls().unwrap().len(), 2);
}

#[test]
fn errors_name_the_key() {
    let cases = [
        ("[upstream]\napp_key='k'\napp_secret='s'", "upstream.urls"),
        (
            "[upstream]\nurls=['ftp://x']\napp_key='k'\napp_secret='s'",
            "upstream.urls[0]",
        ),
        (
            "[upstream]\nurls=['http://x']\napp_secret='s'",
            "upstream.app_key",
        ),
        (
            "[upstream]\nurls=['http://x']\napp_key='k'",
            "upstream.app_secret_env",
        ),
        (
            "[upstream]\nurls=['http://x']\napp_key='k'\napp_secret='s'\ntimeout_ms=0",
            "upstream.timeout_ms",
        ),
        (
            "[upstream]\nurls=['http://x']\napp_key='k'\napp_secret='s'\nbogus=1",
            "bogus",
        ),
        (
            "[upstream]\nurls=['http://x']\napp_key='k'\napp_secret='s'\n[rate_limit]\nper_second=0",
            "rate_limit.per_second",
        ),
        (
            "[upstream]\nurls=['http://x']\napp_key='k'\napp_secret_env='ENTRUST_GW_TEST_UNSET_VAR'",
            "ENTRUST_GW_TEST_UNSET_VAR",
        ),
        (
            "[server]\nextra_entrust_paths=['/user/x.json']\n[upstream]\nurls=['http://x']\napp_key='k'\napp_secret='s'",
            "server.extra_entrust_paths[0]",
        ),
        (
            "[server]\nwrite_timeout_ms=0\n[upstream]\nurls=['http://x']\napp_key='k'\napp_secret='s'",
            "server.write_timeout_ms",
        ),
        (
            "[server]\nmax_body_memory_bytes=1\n[upstream]\nurls=['http://x']\napp_key='k'\napp_secret='s'",
            "server.max_body_memory_bytes",
        ),
        (
            "[upstream]\nurls=['http://x']\napp_key='k'\napp_secret='s'\n[rate_limit.paths.\"/entrust/typo.json\"]\nper_second=5",
            "rate_limit.paths",
        ),
    ];
    for (text, key) in cases {
        let e = Config::parse(text).and_then(|c| c.load_secret().map(|_| c));
        let msg = e.expect_err(text).0;
        assert!(msg.contains(key), "{msg:?} should name {key}");
    }
}

#[test]
fn debug_output_has_no_secret() {
    let text = GOOD.replace("app_secret = \"s\"", "app_secret = \"hunter2-secret\"")
        + "[openim]\nsecret = \"openim-secret-9\"\nadmin_user_ids = [\"a\"]\n";
    let c = Config::parse(&text).unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains("hunter2-secret") && !debug.contains("openim-secret-9"));
    assert_eq!(c.load_secret().unwrap().expose(), "hunter2-secret");
}

#[test]
fn redacted_config_has_no_secret() {
    let c = Config::parse(&GOOD.replace("app_secret = \"s\"", "app_secret = \"hunter2-secret\""))
        .unwrap();
    assert!(!c.redacted_toml().contains("hunter2-secret"));
}

#[test]
fn redis_keys_are_checked_and_the_url_never_prints() {
    let with = |extra: &str| format!("{GOOD}{extra}");
    let c = Config::parse(&with(
        "[redis]\nurl = \"redis://:pw-Xy7@127.0.0.1:6379/0\"\n",
    ))
    .unwrap();
    let r = c.redis.as_ref().unwrap();
    assert_eq!(
        (r.timeout_ms, r.key_prefix.as_str()),
        (100, "entrust-gateway")
    );
    assert_eq!(c.rate_limit.on_redis_error, OnRedisError::Local);
    assert_eq!(c.rate_limit.fallback_per_second, 10);
    assert!(!format!("{c:?}").contains("pw-Xy7"));
    assert!(!c.redacted_toml().contains("pw-Xy7"));
    for (extra, key) in [
        ("[redis]\ntimeout_ms = 5\n", "redis.url"),
        (
            "[redis]\nurl = \"redis://h\"\nurl_env = \"X\"\n",
            "redis.url",
        ),
        ("[redis]\nurl = \"http://h:pw-Xy7@x\"\n", "redis.url"),
        (
            "[redis]\nurl = \"redis://h\"\ntimeout_ms = 0\n",
            "redis.timeout_ms",
        ),
        (
            "[redis]\nurl = \"redis://h\"\nkey_prefix = \"\"\n",
            "redis.key_prefix",
        ),
        (
            "[rate_limit]\nfallback_per_second = 0\n",
            "rate_limit.fallback_per_second",
        ),
        (
            "[rate_limit]\non_redis_error = \"ignore\"\n",
            "on_redis_error",
        ),
    ] {
        let msg = Config::parse(&with(extra)).expect_err(extra).0;
        assert!(msg.contains(key), "{msg:?} should name {key}");
        assert!(!msg.contains("pw-Xy7"), "{msg:?}");
    }
    let c = Config::parse(&with(
        "[redis]\nurl_env = \"ENTRUST_GW_TEST_UNSET_REDIS\"\n",
    ))
    .unwrap();
    let msg = c.load_redis_url().unwrap_err().0;
    assert!(msg.contains("ENTRUST_GW_TEST_UNSET_REDIS"), "{msg}");
}

#[test]
fn a_sentinel_set_or_a_cluster_instead_of_one_url_and_only_one_of_them() {
    // `[redis]`: url (or url_env), sentinels with master_name, or
    // cluster_urls; each error names the key, and no password prints.
    let with = |extra: &str| format!("{GOOD}[redis]\n{extra}");
    let sentinel = "sentinels = [\"redis://:pw-Xy7@10.0.0.1:26379\", \"redis://10.0.0.2:26379\"]\nmaster_name = \"gw\"\n";
    let c = Config::parse(&with(sentinel)).unwrap();
    match c.redis_topology().unwrap() {
        Some(RedisTopology::Sentinel {
            sentinels,
            master_name,
        }) => assert_eq!((sentinels.len(), master_name.as_str()), (2, "gw")),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.load_redis_url().unwrap(), None);
    let printed = c.redacted_toml();
    assert!(!printed.contains("pw-Xy7"), "{printed}");
    assert!(printed.contains("redis://***@10.0.0.1:26379"), "{printed}");
    assert!(!format!("{c:?}").contains("pw-Xy7"));
    let cluster = "cluster_urls = [\"redis://:pw-Xy7@10.0.0.1:7000\"]\n";
    let c = Config::parse(&with(cluster)).unwrap();
    assert!(matches!(
        c.redis_topology().unwrap(),
        Some(RedisTopology::Cluster(urls)) if urls.len() == 1
    ));
    assert!(!c.redacted_toml().contains("pw-Xy7"));
    for (extra, key) in [
        (
            "url = \"redis://h\"\ncluster_urls = [\"redis://h:7000\"]\n",
            "redis.url",
        ),
        (
            "url_env = \"X\"\nsentinels = [\"redis://h:26379\"]\nmaster_name = \"m\"\n",
            "redis.url",
        ),
        (
            "sentinels = [\"redis://h:26379\"]\nmaster_name = \"m\"\ncluster_urls = [\"redis://h:7000\"]\n",
            "redis.sentinels",
        ),
        ("sentinels = [\"redis://h:26379\"]\n", "redis.master_name"),
        (
            "master_name = \"m\"\nurl = \"redis://h\"\n",
            "redis.master_name",
        ),
        ("sentinels = []\nmaster_name = \"m\"\n", "redis.sentinels"),
        (
            "sentinels = [\"redis://h:26379\"]\nmaster_name = \"a b\"\n",
            "redis.master_name",
        ),
        (
            "sentinels = [\"redis://h:26379\", \"http://:pw-Xy7@h\"]\nmaster_name = \"m\"\n",
            "redis.sentinels[1]",
        ),
        ("cluster_urls = []\n", "redis.cluster_urls"),
        (
            "cluster_urls = [\"tcp://:pw-Xy7@h:7000\"]\n",
            "redis.cluster_urls[0]",
        ),
        (
            "url = \"redis://h\"\nkey_prefix = \"a{b}\"\n",
            "redis.key_prefix",
        ),
    ] {
        let msg = Config::parse(&with(extra)).expect_err(extra).0;
        assert!(msg.contains(key), "{msg:?} should name {key}");
        assert!(!msg.contains("pw-Xy7"), "{msg:?}");
    }
}

#[test]
fn evicting_stores_are_refused_for_records_unless_allowed() {
    // `[dedup] allow_evicting_store`: off unless set.
    assert!(!Config::parse(GOOD).unwrap().dedup.allow_evicting_store);
    let c = Config::parse(&format!("{GOOD}[dedup]\nallow_evicting_store = true\n")).unwrap();
    assert!(c.dedup.allow_evicting_store);
}

/// `[[apps]]` and `[[callers]]`: each rule refuses with the key it breaks.
#[test]
fn apps_and_callers_errors_name_the_key() {
    let app = |name: &str, key: &str| {
        format!(
            "[[apps]]\nname = '{name}'\napp_key = '{key}'\napp_secret = 's'\nurls = ['http://x']\n"
        )
    };
    let two = format!("{}{}", app("a", "ka"), app("b", "kb"));
    let caller = |extra: &str| format!("[[callers]]\nname = 'c'\napp = 'a'\n{extra}\n");
    let mtls = "[server.tls]\ncert_file = 'c.pem'\nkey_file = 'k.pem'\nclient_ca_file = 'ca.pem'\n";
    let cases = [
        (app("", "k"), "apps[0].name"),
        (app("A", "k"), "apps[0].name"),
        (app("a_b", "k"), "apps[0].name"),
        (app(&"a".repeat(65), "k"), "apps[0].name"),
        (
            format!("{}{}", app("a", "k1"), app("a", "k2")),
            "apps[1].name",
        ),
        (app("a", ""), "apps[0].app_key"),
        (app("a", " k"), "apps[0].app_key"),
        (
            app("a", "k").replace("'k'", "\"k\\u007f\""),
            "apps[0].app_key",
        ),
        (
            format!("{}{}", app("a", "k"), app("b", "k")),
            "apps[1].app_key",
        ),
        (
            format!("{}rate_limit = {{ per_second = 0 }}\n", app("a", "k")),
            "apps[0].rate_limit.per_second",
        ),
        (
            format!("{}rate_limit = {{ max_queue = 0 }}\n", app("a", "k")),
            "apps[0].rate_limit.max_queue",
        ),
        (
            format!(
                "{}rate_limit = {{ max_wait_ms = 86400001 }}\n",
                app("a", "k")
            ),
            "apps[0].rate_limit.max_wait_ms",
        ),
        (
            format!("[upstream]\napp_key = 'k'\n{}", app("a", "ka")),
            "upstream.app_key",
        ),
        (
            format!("[upstream]\napp_secret = 's'\n{}", app("a", "ka")),
            "upstream.app_secret",
        ),
        (
            format!("[upstream]\napp_secret_env = 'S'\n{}", app("a", "ka")),
            "upstream.app_secret",
        ),
        (
            format!("[upstream]\napp_secret_file = '/s'\n{}", app("a", "ka")),
            "upstream.app_secret",
        ),
        (
            format!("{two}{}", caller("token = 't'").replace("'a'", "'z'")),
            "callers[0].app",
        ),
        (
            format!("{two}{}", caller("token = 't'\nweight = 0")),
            "callers[0].weight",
        ),
        (
            format!("{two}{}", caller("token = 't'\nweight = 1001")),
            "callers[0].weight",
        ),
        (
            format!("{two}{}", caller("token = 't'\nmax_per_second = 0")),
            "callers[0].max_per_second",
        ),
        (format!("{two}{}", caller("")), "callers[0].token"),
        (
            format!(
                "{two}{}{}",
                caller("token = 't'"),
                caller("token = 't'").replace("'c'", "'d'")
            ),
            "callers[1].token",
        ),
        (
            format!("{two}{}{}", caller("token = 't'"), caller("token = 'u'")),
            "callers[1].name",
        ),
        (
            format!("{two}{}", caller("cert_subject = 'CN=c'")),
            "callers[0].cert_subject",
        ),
        (
            format!("{mtls}{two}{}", caller("cert_subject = '  '")),
            "callers[0].cert_subject",
        ),
        (
            format!(
                "{mtls}{two}{}{}",
                caller("cert_subject = 'CN=c'"),
                caller("cert_subject = 'CN=c'").replace("'c'", "'d'")
            ),
            "callers[1].cert_subject",
        ),
        (
            format!(
                "[server]\nauth_tokens_env = 'T'\n{}{}",
                app("a", "k"),
                caller("token = 't'")
            ),
            "server.auth_tokens_env",
        ),
        (
            format!("[server]\nauth_tokens_env = 'T'\n{two}"),
            "server.auth_tokens_env",
        ),
        (
            format!("{two}[openim]\nsecret = 's'\nadmin_user_ids = ['admin']\n"),
            "openim.app",
        ),
        (
            format!("{two}[openim]\nsecret = 's'\nadmin_user_ids = ['admin']\napp = 'z'\n"),
            "openim.app",
        ),
    ];
    for (text, key) in cases {
        let msg = Config::parse(&text).expect_err(&text).0;
        assert!(msg.contains(key), "{msg:?} should name {key}\n{text}");
    }
    // What the rules allow: digits and '-' in a name, 64 bytes of it, one
    // app with inbound tokens, each weight and cap at its bounds.
    let fine = [
        app("app-2", "k"),
        app(&"a".repeat(64), "k"),
        format!("[server]\nauth_tokens_env = 'T'\n{}", app("a", "k")),
        format!(
            "{two}{}",
            caller("token = 't'\nweight = 1000\nmax_per_second = 1")
        ),
        format!("{mtls}{two}{}", caller("cert_subject = 'CN=c'")),
        format!("{two}[openim]\nsecret = 's'\nadmin_user_ids = ['admin']\napp = 'b'\n"),
    ];
    for text in fine {
        Config::parse(&text).unwrap_or_else(|e| panic!("{}\n{text}", e.0));
    }
}

/// An empty environment variable is named as such (it is set: "not set"
/// would send the operator looking in the wrong place).
#[test]
fn an_empty_secret_variable_is_named_empty_not_unset() {
    let var = "ENTRUST_GW_TEST_EMPTY_SECRET";
    // SAFETY: no other test reads or writes this variable.
    unsafe { std::env::set_var(var, " ") };
    let r = apps::SecretRef::Env { env: var.into() };
    let msg = r.load("apps[0].app_secret").expect_err("empty").0;
    assert!(msg.contains("apps[0].app_secret"), "{msg}");
    assert!(
        msg.contains(&format!("environment variable {var} is empty")),
        "{msg}"
    );
}

/// A reload keeps an app's client only when its rate limits are the same.
#[test]
fn rate_limits_that_differ_are_not_equal() {
    let a = RateLimitConfig::default();
    let mut b = RateLimitConfig::default();
    assert!(a == b);
    b.per_second += 1;
    assert!(a != b);
}
