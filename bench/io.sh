#!/usr/bin/env bash
# io.sh - I/O benchmarks of sh.exec and http.request, one table row each:
#   benchmark | metric | agent-block | peer | ratio | target
# (1) http.request throughput, 64 tasks in flight, against a local nginx serving a small file,
#     versus `wrk -t1 -c64` on the same URL; runs interleaved, median of RUNS (default 5).
# (2) sh.exec of /bin/true per second (one at a time) versus bench_forkexec, a plain C
#     fork/exec/wait loop running the same `sh -c /bin/true`.
# Environment: BUILD (default build), RUNS (5), SECS per run (2). Needs nginx and wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
RUNS=${RUNS:-5}
SECS=${SECS:-2}
AB="$BUILD/agent-block"
FORKEXEC="$BUILD/bench/bench_forkexec"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for x in "$AB" "$FORKEXEC" "$NGINX"; do
    [ -x "$x" ] || { echo "io.sh: missing $x (make build; apt-get install nginx wrk)" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "io.sh: wrk not installed" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ab-bench-io.XXXXXX")
nginx_pid=
cleanup() {
    if [ -n "$nginx_pid" ]; then
        kill "$nginx_pid" 2>/dev/null || true
        wait "$nginx_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
row() { # name metric ours peer target
    awk -v n="$1" -v m="$2" -v a="$3" -v p="$4" -v t="$5" \
        'BEGIN {printf "%s | %s | %.0f | %.0f | %.2f | %s\n", n, m, a, p, (p > 0 ? a / p : 0), t}'
}

# ---- nginx on 127.0.0.1, a free port, a 13-byte file ----
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$tmp/www" "$tmp/logs"
printf 'hello, bench\n' >"$tmp/www/index.html"
chmod a+rx "$tmp" "$tmp/www" && chmod a+r "$tmp/www/index.html" # workers may run as nobody
cat >"$tmp/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fastcgi;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;
    server {
        listen 127.0.0.1:$port;
        root $tmp/www;
    }
}
CONF
"$NGINX" -p "$tmp" -c "$tmp/nginx.conf" &
nginx_pid=$!
url="http://127.0.0.1:$port/index.html"
for _ in $(seq 1 100); do
    curl -sf -o /dev/null "$url" && break
    sleep 0.05
done
curl -sf -o /dev/null "$url" || { echo "io.sh: nginx did not start" >&2; tail -5 "$tmp/logs/error.log" >&2; exit 1; }

: >"$tmp/ab_http"
: >"$tmp/wrk_http"
for _ in $(seq 1 "$RUNS"); do
    wrk -t1 -c64 -d"${SECS}s" "$url" | awk '/Requests\/sec/ {print $2}' >>"$tmp/wrk_http"
    BENCH_URL="$url" BENCH_CONC=64 BENCH_SECS="$SECS" AGENT_BLOCK_LOG=warn \
        "$AB" run bench/http_bench.lua >>"$tmp/ab_http" 2>/dev/null
done
row "http.request 64 in flight (nginx, small file)" "req/s" \
    "$(median <"$tmp/ab_http")" "$(median <"$tmp/wrk_http")" ">= 0.5x wrk -t1 -c64"

: >"$tmp/ab_sh"
: >"$tmp/c_sh"
for _ in $(seq 1 "$RUNS"); do
    "$FORKEXEC" "$SECS" /bin/true >>"$tmp/c_sh"
    BENCH_SECS="$SECS" BENCH_CONC=1 "$AB" run bench/sh_bench.lua >>"$tmp/ab_sh" 2>/dev/null
done
row "sh.exec /bin/true, one at a time" "runs/s" \
    "$(median <"$tmp/ab_sh")" "$(median <"$tmp/c_sh")" "C fork/exec/wait loop"
