# Shared by bench/run.sh, bench/cost.sh and bench/profile.sh (sourced, not run).

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

# nginx as the reverse proxy to compare with: one worker, an access log line
# per request (as the gateway logs one), the stub as upstream with the
# gateway's default pool of 256 kept-alive connections, and four static
# headers (the closest nginx gets to signing). `master` is on or off (off:
# the one process callgrind counts does the work, and exits on SIGQUIT);
# `extra_http` and `extra_servers` are added inside `http { }`.
write_nginx_config() { # dir nginx-port stub-port master [extra_http] [extra_servers]
  local user=""
  # Run as the current user; as root, nginx's workers would otherwise switch
  # to "nobody".
  [ "$(id -u)" -eq 0 ] && user="user root;"
  mkdir -p "$1"
  cat >"$1/nginx.conf" <<NGINX
$user
daemon off;
master_process $4;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 8192; }
http {
    access_log $1/access.log;
    client_body_temp_path $1/body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    keepalive_requests 10000000;
    upstream stub {
        server 127.0.0.1:$3;
        keepalive 256;
        keepalive_requests 10000000;
    }
${5:-}
    server {
        listen 127.0.0.1:$2 backlog=4096;
        location / {
            proxy_pass http://stub;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header App-Key bench-app-key;
            proxy_set_header Nonce 123456789012345678;
            proxy_set_header Timestamp 1408710653000;
            proxy_set_header Signature 30be0bbca9c9b2e27578701e9fda2358a814c88f;
        }
    }
${6:-}
}
NGINX
}
