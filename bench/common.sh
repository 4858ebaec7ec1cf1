# Shared by bench/run.sh and bench/profile.sh (sourced, not run).

say() { printf '== %s\n' "$*" >&2; }

# Waits until something listens on 127.0.0.1:PORT (up to TRIES x 10 ms).
wait_port() { # port [tries]
  local i
  for i in $(seq 1 "${2:-500}"); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.01
  done
  printf 'nothing listens on 127.0.0.1:%s\n' "$1" >&2
  exit 1
}

# The benchmark gateway config: the defaults, but no quota, and the stub as
# upstream.
write_gateway_config() { # file gateway-port stub-port
  cat >"$1" <<CFG
[server]
listen = "127.0.0.1:$2"

[upstream]
urls = ["http://127.0.0.1:$3"]
app_key = "bench-app-key"
# Not a secret: a benchmark credential.
app_secret = "bench-app-secret"

[rate_limit]
enabled = false
CFG
}
