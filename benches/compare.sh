#!/usr/bin/env bash
# Side-by-side throughput on one machine, in one run, with one load generator (wrk):
#
#   upstream        a tiny fast HTTP server (examples/bench_upstream.rs), loaded directly
#   bare proxy      tokengate's ReverseProxy alone, no layer (examples/bare_proxy.rs)
#   tokengate       `tokengate serve`: the OAuth layer (a cached token) + the same proxy
#   nginx auth      nginx `auth_request` to tokengate + `proxy_cache` on the subrequest, then
#                   `proxy_pass` to the upstream: what a user builds instead of the layer
#   nginx plain     nginx `proxy_pass` to the upstream, no auth at all
#
# Every server listens on 127.0.0.1 only; each wrk run is bounded (DURATION); everything the
# script starts, it stops (trap). Needs cargo, curl, and wrk and nginx from Debian (installed
# with apt-get when missing, as root or through sudo).
#
# Usage: benches/compare.sh            (environment: DURATION=10s CONNECTIONS=64 THREADS=2
#                                       BASE_PORT=19080 CARGO_TARGET_DIR=target)
set -euo pipefail

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
BASE_PORT=${BASE_PORT:-19080}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
CLK_TCK=$(getconf CLK_TCK)

UP_PORT=$BASE_PORT
BARE_PORT=$((BASE_PORT + 1))
TG_PORT=$((BASE_PORT + 2))
TG_ADMIN_PORT=$((BASE_PORT + 3))
NGX_AUTH_PORT=$((BASE_PORT + 4))
NGX_PLAIN_PORT=$((BASE_PORT + 5))

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tokengate-compare.XXXXXX")
chmod 755 "$WORK"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" >&2; }

# --- tools -------------------------------------------------------------------------------
install_debian() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    log "installing $* with apt-get"
    $sudo apt-get install -y "$@" >/dev/null 2>&1 \
        || { $sudo apt-get update -qq >/dev/null && $sudo apt-get install -y "$@" >/dev/null; }
}
command -v wrk >/dev/null || install_debian wrk
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { install_debian nginx-light; NGINX=/usr/sbin/nginx; }
"$NGINX" -V 2>&1 | grep -q http_auth_request_module \
    || { log "this nginx has no auth_request module"; exit 1; }

log "building (release)"
(cd "$ROOT" && cargo build --release --quiet --bin tokengate \
    --example bench_upstream --example bare_proxy)

# --- servers -----------------------------------------------------------------------------
wait_port() { # port
    local i
    for i in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    log "nothing listens on 127.0.0.1:$1"
    exit 1
}

"$TARGET/release/examples/bench_upstream" "127.0.0.1:$UP_PORT" >"$WORK/upstream.log" 2>&1 &
PIDS+=($!); UP_PID=$!
"$TARGET/release/examples/bare_proxy" "127.0.0.1:$BARE_PORT" "http://127.0.0.1:$UP_PORT" \
    >"$WORK/bare.log" 2>&1 &
PIDS+=($!); BARE_PID=$!

ADMIN_SECRET=compare-admin-secret
CLIENT_SECRET=compare-client-secret
SERVICE=compare-service
cat >"$WORK/tokengate.toml" <<TOML
[store]
url = "memory:"
pepper = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
[admin]
listen = "127.0.0.1:$TG_ADMIN_PORT"
credentials = [{ key = "ops", secret = "$ADMIN_SECRET" }]
[public]
listen = "127.0.0.1:$TG_PORT"
upstream = "http://127.0.0.1:$UP_PORT"
[[services]]
key = "$SERVICE"
grants = ["client_credentials"]
[[clients]]
id = 1
client_id = "compare-client"
secret = "$CLIENT_SECRET"
name = "compare"
services = ["$SERVICE"]
TOML
RUST_LOG=warn "$TARGET/release/tokengate" serve --config "$WORK/tokengate.toml" \
    >"$WORK/tokengate.log" 2>&1 &
PIDS+=($!); TG_PID=$!

wait_port "$UP_PORT"; wait_port "$BARE_PORT"; wait_port "$TG_PORT"; wait_port "$TG_ADMIN_PORT"

TOKEN=$(curl -sf -u "ops:$ADMIN_SECRET" "http://127.0.0.1:$TG_ADMIN_PORT/v2/json-rpc" -d '{
  "jsonrpc":"2.0","id":1,"method":"oauth2.createAccessToken","params":["'$SERVICE'",
  {"client_id":"compare-client","client_secret":"'$CLIENT_SECRET'"},
  {"grant_type":"client_credentials"},null,null]}' \
    | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
[ -n "$TOKEN" ] || { log "could not get a token"; exit 1; }

# nginx: auth_request to tokengate's public listener (its layer answers 401 for a bad token,
# and passes a good one on: 200), the answers cached per Authorization value like tokengate's
# own cache (valid 30 s, unknown 5 s); keep-alive to both backends.
NGINX_USER=""
[ "$(id -u)" -eq 0 ] && NGINX_USER="user root;"
mkdir -p "$WORK/nginx/cache"
cat >"$WORK/nginx/nginx.conf" <<NGINX
$NGINX_USER
daemon off;
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    proxy_cache_path $WORK/nginx/cache levels=1:2 keys_zone=auth:10m max_size=100m;

    upstream api { server 127.0.0.1:$UP_PORT; keepalive 128; }
    upstream tokengate { server 127.0.0.1:$TG_PORT; keepalive 128; }

    server {
        listen 127.0.0.1:$NGX_AUTH_PORT;
        location / {
            auth_request /_auth;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "";
            proxy_pass http://api;
        }
        location = /_auth {
            internal;
            proxy_pass http://tokengate\$request_uri;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_cache auth;
            proxy_cache_key \$http_authorization;
            proxy_cache_valid 200 30s;
            proxy_cache_valid 401 5s;
            proxy_cache_lock on;
            proxy_ignore_headers Cache-Control Expires Set-Cookie;
        }
    }
    server {
        listen 127.0.0.1:$NGX_PLAIN_PORT;
        location / {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://api;
        }
    }
}
NGINX
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx/stdout.log" 2>&1 &
PIDS+=($!); NGX_PID=$!
wait_port "$NGX_AUTH_PORT"; wait_port "$NGX_PLAIN_PORT"

# Sanity: a good token passes, none is refused, on both guarded paths.
check() { # expected url [token]
    local got
    got=$(curl -s -o /dev/null -w '%{http_code}' ${3:+-H "Authorization: Bearer $3"} "$2")
    [ "$got" = "$1" ] || { log "GET $2 answered $got, expected $1"; exit 1; }
}
check 200 "http://127.0.0.1:$UP_PORT/bench"
check 200 "http://127.0.0.1:$BARE_PORT/bench"
check 200 "http://127.0.0.1:$TG_PORT/bench" "$TOKEN"
check 401 "http://127.0.0.1:$TG_PORT/bench"
check 200 "http://127.0.0.1:$NGX_AUTH_PORT/bench" "$TOKEN"
check 401 "http://127.0.0.1:$NGX_AUTH_PORT/bench" "junk"
check 200 "http://127.0.0.1:$NGX_PLAIN_PORT/bench"

# --- measurements ------------------------------------------------------------------------
cpu_ticks() { # pids...: utime + stime of the processes and their children threads
    local total=0 pid
    for pid in "$@"; do
        # Fields after the command name: state is 3rd, utime 14th, stime 15th of the line.
        local fields
        fields=$(sed 's/^.*) //' "/proc/$pid/stat")
        set -- $fields
        total=$((total + ${12} + ${13}))
    done
    echo "$total"
}
nginx_pids() { echo "$NGX_PID" $(pgrep -P "$NGX_PID" || true); }
to_ms() { # wrk latency: 812.00us, 1.23ms, 1.02s
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
        else { sub(/s$/, "", v); printf "%.3f", v * 1000 } }'
}

RESULTS="$WORK/results.tsv"
: >"$RESULTS"
measure() { # name url token "front pids" "all pids"
    local name=$1 url=$2 token=$3 front=$4 all=$5 out="$WORK/wrk-$1.txt"
    local header=()
    [ -n "$token" ] && header=(-H "Authorization: Bearer $token")
    wrk -t1 -c8 -d1s "${header[@]}" "$url" >/dev/null # warm up: pools, caches
    local f0 a0 f1 a1
    f0=$(cpu_ticks $front); a0=$(cpu_ticks $all)
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "${header[@]}" "$url" >"$out"
    f1=$(cpu_ticks $front); a1=$(cpu_ticks $all)
    local rps requests p50 p99 bad
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    requests=$(awk '/requests in/ { print $1 }' "$out")
    p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
    p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
    bad=$(awk '/Non-2xx/ { print $NF }' "$out"); bad=${bad:-0}
    local errors
    errors=$(awk '/Socket errors/ { print }' "$out")
    [ "$bad" = 0 ] || log "$name: $bad answers were not 2xx"
    [ -z "$errors" ] || log "$name: $errors"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$rps" "$p50" "$p99" \
        "$(awk -v t=$((f1 - f0)) -v n="$requests" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }')" \
        "$(awk -v t=$((a1 - a0)) -v n="$requests" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }')" \
        "$requests" "$bad" >>"$RESULTS"
    log "$name: $rps req/s"
}

log "measuring: wrk -t$THREADS -c$CONNECTIONS -d$DURATION, one row after another"
measure upstream "http://127.0.0.1:$UP_PORT/bench" "" "$UP_PID" "$UP_PID"
measure "bare proxy" "http://127.0.0.1:$BARE_PORT/bench" "" "$BARE_PID" "$BARE_PID $UP_PID"
measure tokengate "http://127.0.0.1:$TG_PORT/bench" "$TOKEN" "$TG_PID" "$TG_PID $UP_PID"
measure "nginx auth" "http://127.0.0.1:$NGX_AUTH_PORT/bench" "$TOKEN" \
    "$(nginx_pids) $TG_PID" "$(nginx_pids) $TG_PID $UP_PID"
measure "nginx plain" "http://127.0.0.1:$NGX_PLAIN_PORT/bench" "" \
    "$(nginx_pids)" "$(nginx_pids) $UP_PID"

# --- the table ---------------------------------------------------------------------------
echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION on $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))"
echo "CPU µs/req: user+system CPU of the server processes per request (front: without the upstream)"
echo
awk -F'\t' '
    { name[NR] = $1; rps[NR] = $2; p50[NR] = $3; p99[NR] = $4; front[NR] = $5; all[NR] = $6
      if ($1 == "nginx auth") ref = NR
      if ($1 == "bare proxy") bare = NR
      if ($1 == "tokengate") tg = NR
      if ($1 == "nginx plain") plain = NR }
    END {
        printf "| %-11s | %9s | %8s | %8s | %15s | %15s | %13s | %13s |\n", "setup", "req/s", "p50 ms", "p99 ms", "CPU µs/req front", "CPU µs/req all", "req/s vs nginx auth", "CPU/req vs nginx auth"
        printf "|%s|%s|%s|%s|%s|%s|%s|%s|\n", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"
        for (i = 1; i <= NR; i++)
            printf "| %-11s | %9.0f | %8.3f | %8.3f | %15.1f | %15.1f | %12.2f× | %12.2f× |\n", name[i], rps[i], p50[i], p99[i], front[i], all[i], rps[i] / rps[ref], all[i] / all[ref]
        printf "\ntokengate / bare proxy (throughput):  %.2f×  (issue 6 target ≥ 0.95×)\n", rps[tg] / rps[bare]
        printf "tokengate / nginx auth (throughput):  %.2f×  (issue 6 target ≥ 1.3×)\n", rps[tg] / rps[ref]
        printf "tokengate / nginx plain (throughput): %.2f×  (issue 6 aim: 1×)\n", rps[tg] / rps[plain]
    }' "$RESULTS"
