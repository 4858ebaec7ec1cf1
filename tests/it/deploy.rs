//! The Kubernetes manifests in deploy/: every gateway container hardened
//! alike, and a memory limit that holds the worst case its config allows.
//! (Their schemas are checked by kubernetes-validate in .ci/run.)

use std::path::Path;

use crate::common::configmap_toml;
use entrust_gateway::config::Config;

fn read(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The manifests in deploy/ (files with Kubernetes documents).
fn manifests() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&root)
        .expect("deploy/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| {
            let name = format!("deploy/{}", p.file_name().unwrap().to_string_lossy());
            (name.clone(), read(&name))
        })
        .filter(|(_, text)| text.lines().any(|l| l.starts_with("apiVersion:")))
        .collect();
    out.sort();
    out
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The lines of the block under the first `key:` at or after `from`
/// (deeper-indented lines), without their indentation and comments.
fn block(lines: &[&str], from: usize, key: &str) -> Vec<String> {
    let Some(start) = (from..lines.len()).find(|&i| lines[i].trim_start().starts_with(key)) else {
        return Vec::new();
    };
    let base = indent(lines[start]);
    lines[start + 1..]
        .iter()
        .take_while(|l| l.trim().is_empty() || indent(l) > base)
        .map(|l| l.trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Each `entrust-gateway` container of a manifest: the line it starts on.
fn gateway_containers(lines: &[&str]) -> Vec<usize> {
    (0..lines.len())
        .filter(|&i| lines[i].trim() == "- name: entrust-gateway")
        .collect()
}

#[test]
fn every_gateway_container_is_hardened_alike() {
    let mut seen = Vec::new();
    for (file, text) in manifests() {
        let lines: Vec<&str> = text.lines().collect();
        for at in gateway_containers(&lines) {
            seen.push((file.clone(), block(&lines, at, "securityContext:")));
        }
    }
    assert!(seen.len() >= 2, "{seen:?}");
    let (first, want) = &seen[0];
    for needed in [
        "runAsNonRoot: true",
        "readOnlyRootFilesystem: true",
        "allowPrivilegeEscalation: false",
        "drop: [\"ALL\"]",
        "type: RuntimeDefault",
    ] {
        assert!(want.iter().any(|l| l == needed), "{first}: {needed}");
    }
    assert!(want.iter().any(|l| l.starts_with("runAsUser: ")), "{first}");
    assert!(
        want.iter().any(|l| l.starts_with("runAsGroup: ")),
        "{first}"
    );
    for (file, got) in &seen[1..] {
        assert_eq!(got, want, "{file} differs from {first}");
    }
}

/// A Kubernetes memory quantity (`64Mi`, `128Mi`, `1Gi`) in bytes.
fn quantity(q: &str) -> u64 {
    let (n, unit) = q.split_at(q.find(|c: char| !c.is_ascii_digit()).unwrap_or(q.len()));
    let n: u64 = n.parse().unwrap_or_else(|_| panic!("quantity {q}"));
    n * match unit {
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "" => 1,
        other => panic!("unit {other}"),
    }
}

/// The config a manifest's gateway runs with: its ConfigMap's
/// `gateway.toml`, else the image's (deploy/gateway.toml).
fn config_of(text: &str) -> Config {
    let toml = configmap_toml(text).unwrap_or_else(|| read("deploy/gateway.toml"));
    Config::parse(&toml).expect("the deployed config is valid")
}

/// The most memory the config's bounds let the gateway hold at once: the
/// idle process (BENCHMARKS.md, round three: 8.6 MB), each connection's
/// header buffer plus hyper's two 8 KiB buffers and a request's state
/// (with `[server.tls]`, plus rustls' buffers), the bodies held at once,
/// and the upstream answers in flight.
fn worst_case(c: &Config) -> u64 {
    const IDLE: u64 = 9 << 20;
    const PER_CONNECTION: u64 = 24 << 10;
    // rustls' own bounds (rustls 0.23, common_state.rs and
    // msgs/deframer): received bytes up to a handshake message's largest
    // (0xffff), records to send up to DEFAULT_BUFFER_LIMIT (64 KiB), and
    // 16 KiB for the rest of a connection's state.
    const TLS_PER_CONNECTION: u64 = 144 << 10;
    let s = &c.server;
    let u = &c.upstream;
    let tls = if s.tls.is_some() {
        TLS_PER_CONNECTION
    } else {
        0
    };
    IDLE + s.max_connections as u64 * (s.max_header_bytes as u64 + PER_CONNECTION + tls)
        + s.max_body_memory_bytes as u64
        // Each app has its own upstream client and bound.
        + c.apps.len().max(1) as u64 * u.max_in_flight as u64 * u.max_response_bytes as u64
}

#[test]
fn every_pod_s_memory_limit_holds_its_gateway_s_worst_case() {
    let mut checked = 0;
    for (file, text) in manifests() {
        let lines: Vec<&str> = text.lines().collect();
        for at in gateway_containers(&lines) {
            let resources = block(&lines, at, "resources:");
            let limit = resources
                .iter()
                .find_map(|l| l.strip_prefix("limits: { memory: "))
                .and_then(|l| l.strip_suffix(" }"))
                .unwrap_or_else(|| panic!("{file}: no memory limit in {resources:?}"));
            let (limit, need) = (quantity(limit), worst_case(&config_of(&text)));
            assert!(
                need <= limit,
                "{file}: the config allows {} MiB at worst, the limit is {} MiB",
                need >> 20,
                limit >> 20
            );
            checked += 1;
        }
    }
    assert!(checked >= 2);
}

#[test]
fn the_secret_a_manifest_reads_is_the_one_it_defines() {
    for (file, text) in manifests() {
        // The keys of every Secret's stringData (two-space indented).
        let lines: Vec<&str> = text.lines().collect();
        let defined: Vec<&str> = (0..lines.len())
            .filter(|&i| lines[i].starts_with("stringData:"))
            .flat_map(|i| lines[i + 1..].iter().take_while(|l| l.starts_with("  ")))
            .filter(|l| indent(l) == 2)
            .filter_map(|l| l.trim().split_once(':').map(|(k, _)| k))
            .filter(|k| !k.starts_with('#'))
            .collect();
        for key in text.lines().filter_map(|l| {
            let l = l.trim();
            l.strip_prefix("secretKeyRef: { name: entrust-credentials, key: ")
                .or_else(|| l.strip_prefix("- { key: "))
                .and_then(|rest| rest.split([',', ' ', '}']).next())
        }) {
            assert!(
                defined.contains(&key),
                "{file}: reads {key}, defines {defined:?}"
            );
        }
    }
}

/// Every file a gateway's config reads from a secret (the app secret, the
/// tokens, `[server.tls]`'s files) is one its container mounts: a path
/// under a mount, with the key the volume's items name.
#[test]
fn the_files_a_config_reads_are_mounted() {
    let mut checked = 0;
    for (file, text) in manifests() {
        let lines: Vec<&str> = text.lines().collect();
        if gateway_containers(&lines).is_empty() {
            continue;
        }
        let c = config_of(&text);
        let tls = c.server.tls.as_ref();
        let refs = c
            .apps
            .iter()
            .map(|a| a.app_secret.file())
            .chain(c.callers.iter().map(|k| k.token.as_ref()?.file()));
        let wanted: Vec<Option<&Path>> = [
            c.upstream.app_secret_file.as_deref(),
            c.upstream.app_secret.as_ref().and_then(|r| r.file()),
            c.server.auth_tokens_file.as_deref(),
            tls.map(|t| t.cert_file.as_path()),
            tls.map(|t| t.key_file.as_path()),
            tls.and_then(|t| t.client_ca_file.as_deref()),
        ]
        .into_iter()
        .chain(refs)
        .collect();
        let mounts: Vec<String> = lines
            .iter()
            .filter_map(|l| l.trim().strip_prefix("mountPath: "))
            .map(str::to_string)
            .collect();
        let items: Vec<String> = lines
            .iter()
            .filter_map(|l| l.trim().strip_prefix("- { key: "))
            .filter_map(|r| {
                r.split_once("path: ")
                    .map(|(_, p)| p.trim_end_matches(" }").to_string())
            })
            .collect();
        for path in wanted.into_iter().flatten() {
            let (dir, name) = (path.parent().unwrap(), path.file_name().unwrap());
            let dir = dir.display().to_string();
            let name = name.to_string_lossy().to_string();
            assert!(mounts.contains(&dir), "{file}: {dir} is not mounted");
            // Images built with deploy/gateway.toml mount the whole secret.
            assert!(
                items.is_empty() || items.contains(&name),
                "{file}: {name} is not among the mounted items {items:?}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 5, "{checked}");
}

/// While Redis is unreachable every replica holds its fallback quota
/// alone: together they must stay within the vendor's per-path limit.
#[test]
fn the_replicas_fallback_quotas_add_up_to_at_most_the_vendor_s() {
    let mut checked = 0;
    for (file, text) in manifests() {
        let lines: Vec<&str> = text.lines().collect();
        for at in gateway_containers(&lines) {
            let c = config_of(&text);
            if c.redis.is_none() {
                continue;
            }
            // The replicas of the Deployment the container is in: the
            // last `replicas:` above it.
            let replicas: u32 = lines[..at]
                .iter()
                .rev()
                .find_map(|l| l.trim().strip_prefix("replicas: "))
                .unwrap_or_else(|| panic!("{file}: no replicas"))
                .parse()
                .unwrap();
            let r = &c.rate_limit;
            assert!(
                replicas * r.fallback_per_second <= r.per_second,
                "{file}: {replicas} x {} > {}",
                r.fallback_per_second,
                r.per_second
            );
            checked += 1;
        }
    }
    assert!(checked >= 2);
}
