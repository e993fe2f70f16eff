#!/usr/bin/env bash
# Side-by-side cost of a proxied request on one machine, in one run, with one load generator
# (wrk):
#
#   upstream        a tiny fast HTTP server (examples/bench_upstream.rs), loaded directly
#   bare proxy      tokengate's ReverseProxy alone, no layer (examples/bare_proxy.rs)
#   tokengate       `tokengate serve`: the OAuth layer (a cached token) + the same proxy
#   nginx auth      nginx `auth_request` to tokengate + `proxy_cache` on the subrequest, then
#                   `proxy_pass` to the upstream: what a user builds instead of the layer
#   nginx plain     nginx `proxy_pass` to the upstream, no auth at all
#   … tls           the last three again over TLS, with one certificate (`tokengate cert
#                   self-signed`, ECDSA P-256): `tokengate serve` with `[public] tls`, nginx
#                   with `listen … ssl http2` (the same server blocks). wrk speaks HTTP/1.1 over
#                   TLS (it offers no ALPN, so h2 is not used), keep-alive: one handshake per
#                   connection, made in the warm-up (nginx's keepalive_requests is raised from
#                   1000 so that it keeps a connection for the whole run, as tokengate does),
#                   TLS 1.3 as both servers and wrk's OpenSSL negotiate it.
#                   The upstream and the auth subrequest stay plain HTTP on loopback.
#
# Two measurements (MODE):
#
#   throughput      (the default) wrk -t$THREADS -c$CONNECTIONS -d$DURATION against each row:
#                   req/s, latency, and the CPU time of the servers per request.
#   instructions    each front process alone under callgrind (the load generator and every
#                   other server outside valgrind): instructions per request. Callgrind starts
#                   with instrumentation off (`--instr-atstart=no`); after a warm-up
#                   (wrk -t1 -c8 -d$INSTR_WARMUP: pools, caches) `callgrind_control -i on`
#                   switches it on, wrk -t1 -c$INSTR_CONNECTIONS -d$INSTR_DURATION runs, then
#                   `callgrind_control -i off` and a dump. Instructions per request = the
#                   dump's total (all threads) / the responses wrk completed in that window.
#                   The window also holds the 8 connections' accept and close and the requests
#                   still in flight when wrk stops (≤ 8, not counted): both < 0.1 % at the
#                   thousands of requests a window sees. nginx runs as one process
#                   (`master_process off`, one worker). The figure does not move with the
#                   load of a shared machine, where req/s does.
#   both            throughput, then instructions; one table with every column.
#
# Every server listens on 127.0.0.1 only; each wrk run is bounded; everything the script
# starts, it stops (trap). Needs cargo, curl, wrk and nginx from Debian (installed with apt-get
# when missing, as root or through sudo), and valgrind (callgrind) for the instruction mode.
#
# Usage: benches/compare.sh            (environment: MODE=throughput DURATION=10s
#                                       CONNECTIONS=64 THREADS=2 INSTR_DURATION=10s
#                                       INSTR_WARMUP=3s INSTR_CONNECTIONS=8 BASE_PORT=19080
#                                       PROFILE_DIR= (keep the callgrind dumps there)
#                                       BIN_DIR= (binaries built before: no build;
#                                       BIN_DIR/tokengate, BIN_DIR/examples/…)
#                                       CARGO_TARGET_DIR=target)
set -euo pipefail

MODE=${MODE:-throughput}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
INSTR_DURATION=${INSTR_DURATION:-10s}
INSTR_WARMUP=${INSTR_WARMUP:-3s}
INSTR_CONNECTIONS=${INSTR_CONNECTIONS:-8}
PROFILE_DIR=${PROFILE_DIR:-}
BASE_PORT=${BASE_PORT:-19080}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${BIN_DIR:-$TARGET/release}
CLK_TCK=$(getconf CLK_TCK)

case $MODE in
    throughput | instructions | both) ;;
    *) printf 'MODE must be throughput, instructions or both, not %s\n' "$MODE" >&2; exit 2 ;;
esac
throughput() { [ "$MODE" != instructions ]; }
instructions() { [ "$MODE" != throughput ]; }

UP_PORT=$BASE_PORT
BARE_PORT=$((BASE_PORT + 1))
TG_PORT=$((BASE_PORT + 2))
TG_ADMIN_PORT=$((BASE_PORT + 3))
NGX_AUTH_PORT=$((BASE_PORT + 4))
NGX_PLAIN_PORT=$((BASE_PORT + 5))
# The process under callgrind listens on its own ports (the native ones stay up).
CG_PORT=$((BASE_PORT + 6))
CG_ADMIN_PORT=$((BASE_PORT + 7))
CG_NGX_AUTH_PORT=$((BASE_PORT + 8))
CG_NGX_PLAIN_PORT=$((BASE_PORT + 9))
TG_TLS_PORT=$((BASE_PORT + 10))
TG_TLS_ADMIN_PORT=$((BASE_PORT + 11))
NGX_AUTH_TLS_PORT=$((BASE_PORT + 12))
NGX_PLAIN_TLS_PORT=$((BASE_PORT + 13))
CG_NGX_AUTH_TLS_PORT=$((BASE_PORT + 14))
CG_NGX_PLAIN_TLS_PORT=$((BASE_PORT + 15))

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
if instructions; then
    command -v callgrind_control >/dev/null || install_debian valgrind
fi

if [ -z "${BIN_DIR:-}" ]; then
    log "building (release)"
    (cd "$ROOT" && cargo build --release --quiet --bin tokengate \
        --example bench_upstream --example bare_proxy)
fi

# --- servers -----------------------------------------------------------------------------
wait_port() { # port [seconds]
    local i
    for i in $(seq 1 $((${2:-10} * 10))); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    log "nothing listens on 127.0.0.1:$1"
    exit 1
}
STARTED=
start() { # log-name command...: runs it in the background, its pid in STARTED
    local name=$1
    shift
    "$@" >"$WORK/$name.log" 2>&1 &
    STARTED=$!
    PIDS+=("$STARTED")
}

ADMIN_SECRET=compare-admin-secret
CLIENT_SECRET=compare-client-secret
SERVICE=compare-service
tokengate_config() { # file port admin-port [more [public] lines]
    cat >"$1" <<TOML
[store]
url = "memory:"
pepper = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
[admin]
listen = "127.0.0.1:$3"
credentials = [{ key = "ops", secret = "$ADMIN_SECRET" }]
[public]
listen = "127.0.0.1:$2"
upstream = "http://127.0.0.1:$UP_PORT"
${4:-}
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
}
token_of() { # admin-port: a fresh token from that tokengate
    local token
    token=$(curl -sf -u "ops:$ADMIN_SECRET" "http://127.0.0.1:$1/v2/json-rpc" -d '{
      "jsonrpc":"2.0","id":1,"method":"oauth2.createAccessToken","params":["'$SERVICE'",
      {"client_id":"compare-client","client_secret":"'$CLIENT_SECRET'"},
      {"grant_type":"client_credentials"},null,null]}' \
        | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
    [ -n "$token" ] || { log "could not get a token from 127.0.0.1:$1"; exit 1; }
    echo "$token"
}

# nginx: auth_request to tokengate's public listener (its layer answers 401 for a bad token,
# and passes a good one on: 200), the answers cached per Authorization value like tokengate's
# own cache (valid 30 s, unknown 5 s); keep-alive to both backends.
NGINX_USER=""
[ "$(id -u)" -eq 0 ] && NGINX_USER="user root;"
nginx_config() { # dir auth-port plain-port process-lines auth-tls-port plain-tls-port
    mkdir -p "$1/cache"
    cat >"$1/nginx.conf" <<NGINX
$NGINX_USER
daemon off;
$4
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $1/body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    proxy_cache_path $1/cache levels=1:2 keys_zone=auth:10m max_size=100m;
    # The TLS ports: tokengate's certificate, TLS 1.2 and 1.3, a session cache and tickets as
    # tokengate has them.
    ssl_certificate $TLS_CERT;
    ssl_certificate_key $TLS_KEY;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets on;

    upstream api { server 127.0.0.1:$UP_PORT; keepalive 128; }
    upstream tokengate { server 127.0.0.1:$TG_PORT; keepalive 128; }

    server {
        listen 127.0.0.1:$2;
        listen 127.0.0.1:$5 ssl http2;
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
        listen 127.0.0.1:$3;
        listen 127.0.0.1:$6 ssl http2;
        location / {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://api;
        }
    }
}
NGINX
}

# One certificate for both TLS servers (for 127.0.0.1 and localhost).
TLS_CERT=$WORK/tls-cert.pem
TLS_KEY=$WORK/tls-key.pem
"$BIN/tokengate" cert self-signed --out-cert "$TLS_CERT" --out-key "$TLS_KEY" >/dev/null
TLS_LINE="tls = { cert = \"$TLS_CERT\", key = \"$TLS_KEY\" }"

start upstream "$BIN/examples/bench_upstream" "127.0.0.1:$UP_PORT"
UP_PID=$STARTED
start bare "$BIN/examples/bare_proxy" "127.0.0.1:$BARE_PORT" \
    "http://127.0.0.1:$UP_PORT"
BARE_PID=$STARTED
tokengate_config "$WORK/tokengate.toml" "$TG_PORT" "$TG_ADMIN_PORT"
RUST_LOG=warn start tokengate "$BIN/tokengate" serve --config "$WORK/tokengate.toml"
TG_PID=$STARTED
tokengate_config "$WORK/tokengate-tls.toml" "$TG_TLS_PORT" "$TG_TLS_ADMIN_PORT" "$TLS_LINE"
RUST_LOG=warn start tokengate-tls "$BIN/tokengate" serve --config "$WORK/tokengate-tls.toml"
TG_TLS_PID=$STARTED
wait_port "$UP_PORT"; wait_port "$BARE_PORT"; wait_port "$TG_PORT"; wait_port "$TG_ADMIN_PORT"
wait_port "$TG_TLS_PORT"; wait_port "$TG_TLS_ADMIN_PORT"
TOKEN=$(token_of "$TG_ADMIN_PORT")
TLS_TOKEN=$(token_of "$TG_TLS_ADMIN_PORT")

nginx_config "$WORK/nginx" "$NGX_AUTH_PORT" "$NGX_PLAIN_PORT" "worker_processes auto;" \
    "$NGX_AUTH_TLS_PORT" "$NGX_PLAIN_TLS_PORT"
start nginx "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf"
NGX_PID=$STARTED
wait_port "$NGX_AUTH_PORT"; wait_port "$NGX_PLAIN_PORT"
wait_port "$NGX_AUTH_TLS_PORT"; wait_port "$NGX_PLAIN_TLS_PORT"

# Sanity: a good token passes, none is refused, on both guarded paths; https verified.
check() { # expected url [token]
    local got
    got=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$TLS_CERT" \
        ${3:+-H "Authorization: Bearer $3"} "$2")
    [ "$got" = "$1" ] || { log "GET $2 answered $got, expected $1"; exit 1; }
}
check 200 "http://127.0.0.1:$UP_PORT/bench"
check 200 "http://127.0.0.1:$BARE_PORT/bench"
check 200 "http://127.0.0.1:$TG_PORT/bench" "$TOKEN"
check 401 "http://127.0.0.1:$TG_PORT/bench"
check 200 "http://127.0.0.1:$NGX_AUTH_PORT/bench" "$TOKEN"
check 401 "http://127.0.0.1:$NGX_AUTH_PORT/bench" "junk"
check 200 "http://127.0.0.1:$NGX_PLAIN_PORT/bench"
check 200 "https://127.0.0.1:$TG_TLS_PORT/bench" "$TLS_TOKEN"
check 401 "https://127.0.0.1:$TG_TLS_PORT/bench"
check 200 "https://127.0.0.1:$NGX_AUTH_TLS_PORT/bench" "$TOKEN"
check 401 "https://127.0.0.1:$NGX_AUTH_TLS_PORT/bench" "junk"
check 200 "https://127.0.0.1:$NGX_PLAIN_TLS_PORT/bench"

# --- throughput --------------------------------------------------------------------------
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
wrk_checked() { # name out wrk-args...: runs wrk into out, warns of non-2xx answers and errors
    local name=$1 out=$2
    shift 2
    wrk "$@" >"$out"
    local bad errors
    bad=$(awk '/Non-2xx/ { print $NF }' "$out")
    errors=$(awk '/Socket errors/ { print }' "$out")
    [ -z "$bad" ] || log "$name: $bad answers were not 2xx"
    [ -z "$errors" ] || log "$name: $errors"
}
requests_of() { awk '/requests in/ { print $1 }' "$1"; }

RESULTS="$WORK/results.tsv" # name rps p50 p99 front all requests
INSTR="$WORK/instructions.tsv" # name instructions/request requests
: >"$RESULTS"
: >"$INSTR"
measure() { # name url token "front pids" "all pids"
    local name=$1 url=$2 token=$3 front=$4 all=$5 out="$WORK/wrk-${1// /-}.txt"
    local header=()
    [ -n "$token" ] && header=(-H "Authorization: Bearer $token")
    wrk -t1 -c8 -d1s "${header[@]}" "$url" >/dev/null # warm up: pools, caches
    local f0 a0 f1 a1
    f0=$(cpu_ticks $front); a0=$(cpu_ticks $all)
    wrk_checked "$name" "$out" -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
        "${header[@]}" "$url"
    f1=$(cpu_ticks $front); a1=$(cpu_ticks $all)
    local rps requests p50 p99
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    requests=$(requests_of "$out")
    p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
    p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$rps" "$p50" "$p99" \
        "$(awk -v t=$((f1 - f0)) -v n="$requests" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }')" \
        "$(awk -v t=$((a1 - a0)) -v n="$requests" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }')" \
        "$requests" >>"$RESULTS"
    log "$name: $rps req/s"
}

if throughput; then
    log "measuring throughput: wrk -t$THREADS -c$CONNECTIONS -d$DURATION, one row after another"
    LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
    measure upstream "http://127.0.0.1:$UP_PORT/bench" "" "$UP_PID" "$UP_PID"
    measure "bare proxy" "http://127.0.0.1:$BARE_PORT/bench" "" "$BARE_PID" "$BARE_PID $UP_PID"
    measure tokengate "http://127.0.0.1:$TG_PORT/bench" "$TOKEN" "$TG_PID" "$TG_PID $UP_PID"
    measure "nginx auth" "http://127.0.0.1:$NGX_AUTH_PORT/bench" "$TOKEN" \
        "$(nginx_pids) $TG_PID" "$(nginx_pids) $TG_PID $UP_PID"
    measure "nginx plain" "http://127.0.0.1:$NGX_PLAIN_PORT/bench" "" \
        "$(nginx_pids)" "$(nginx_pids) $UP_PID"
    measure "tokengate tls" "https://127.0.0.1:$TG_TLS_PORT/bench" "$TLS_TOKEN" \
        "$TG_TLS_PID" "$TG_TLS_PID $UP_PID"
    measure "nginx auth tls" "https://127.0.0.1:$NGX_AUTH_TLS_PORT/bench" "$TOKEN" \
        "$(nginx_pids) $TG_PID" "$(nginx_pids) $TG_PID $UP_PID"
    measure "nginx plain tls" "https://127.0.0.1:$NGX_PLAIN_TLS_PORT/bench" "" \
        "$(nginx_pids)" "$(nginx_pids) $UP_PID"
    LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
fi

# --- instructions ------------------------------------------------------------------------
# One front process at a time under callgrind, instrumentation off until the warm-up is done.
callgrind() { # name port [token] -- command...: instructions per request of that command
    local name=$1 port=$2 token=$3
    shift 4
    local file="$WORK/callgrind-${name// /-}.out" out="$WORK/cg-wrk-${name// /-}.txt"
    local header=()
    [ -n "$token" ] && header=(-H "Authorization: Bearer $token")
    start "cg-${name// /-}" valgrind --tool=callgrind --instr-atstart=no \
        --callgrind-out-file="$file" "$@"
    local pid=$STARTED
    wait_port "$port" 120
    if [ "${name% tls}" = tokengate ]; then
        wait_port "$CG_ADMIN_PORT" 120
        token=$(token_of "$CG_ADMIN_PORT")
        header=(-H "Authorization: Bearer $token")
    fi
    local url="http://127.0.0.1:$port/bench"
    [ "${name% tls}" = "$name" ] || url="https://127.0.0.1:$port/bench"
    check 200 "$url" "$token"
    wrk -t1 -c8 -d"$INSTR_WARMUP" "${header[@]}" "$url" >/dev/null
    callgrind_control -i on "$pid" >/dev/null 2>&1
    wrk_checked "$name" "$out" -t1 -c"$INSTR_CONNECTIONS" -d"$INSTR_DURATION" \
        "${header[@]}" "$url"
    callgrind_control -i off "$pid" >/dev/null 2>&1
    callgrind_control -d "$pid" >/dev/null 2>&1
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    local total requests
    total=$(awk '/^totals:/ { print $2 }' "$file.1")
    requests=$(requests_of "$out")
    [ -n "$total" ] && [ "${requests:-0}" -gt 0 ] \
        || { log "$name: no callgrind total or no requests"; exit 1; }
    [ -z "$PROFILE_DIR" ] || { mkdir -p "$PROFILE_DIR"; cp "$file.1" "$PROFILE_DIR/${name// /-}.callgrind"; }
    printf '%s\t%s\t%s\n' "$name" "$(awk -v t="$total" -v n="$requests" 'BEGIN { printf "%.0f", t / n }')" \
        "$requests" >>"$INSTR"
    log "$name: $(tail -1 "$INSTR" | cut -f2) instructions per request ($requests requests)"
}

if instructions; then
    log "measuring instructions: callgrind, wrk -t1 -c$INSTR_CONNECTIONS -d$INSTR_DURATION after a $INSTR_WARMUP warm-up"
    callgrind upstream "$CG_PORT" "" -- \
        "$BIN/examples/bench_upstream" "127.0.0.1:$CG_PORT"
    callgrind "bare proxy" "$CG_PORT" "" -- \
        "$BIN/examples/bare_proxy" "127.0.0.1:$CG_PORT" "http://127.0.0.1:$UP_PORT"
    tokengate_config "$WORK/cg-tokengate.toml" "$CG_PORT" "$CG_ADMIN_PORT"
    RUST_LOG=warn callgrind tokengate "$CG_PORT" "" -- \
        "$BIN/tokengate" serve --config "$WORK/cg-tokengate.toml"
    nginx_config "$WORK/cg-nginx" "$CG_NGX_AUTH_PORT" "$CG_NGX_PLAIN_PORT" \
        "master_process off; worker_processes 1;" "$CG_NGX_AUTH_TLS_PORT" "$CG_NGX_PLAIN_TLS_PORT"
    # Each nginx row in an nginx process of its own, from one configuration.
    callgrind "nginx auth" "$CG_NGX_AUTH_PORT" "$TOKEN" -- \
        "$NGINX" -p "$WORK/cg-nginx" -c "$WORK/cg-nginx/nginx.conf"
    callgrind "nginx plain" "$CG_NGX_PLAIN_PORT" "" -- \
        "$NGINX" -p "$WORK/cg-nginx" -c "$WORK/cg-nginx/nginx.conf"
    tokengate_config "$WORK/cg-tokengate-tls.toml" "$CG_PORT" "$CG_ADMIN_PORT" "$TLS_LINE"
    RUST_LOG=warn callgrind "tokengate tls" "$CG_PORT" "" -- \
        "$BIN/tokengate" serve --config "$WORK/cg-tokengate-tls.toml"
    callgrind "nginx auth tls" "$CG_NGX_AUTH_TLS_PORT" "$TOKEN" -- \
        "$NGINX" -p "$WORK/cg-nginx" -c "$WORK/cg-nginx/nginx.conf"
    callgrind "nginx plain tls" "$CG_NGX_PLAIN_TLS_PORT" "" -- \
        "$NGINX" -p "$WORK/cg-nginx" -c "$WORK/cg-nginx/nginx.conf"
fi

# --- the table ---------------------------------------------------------------------------
echo
echo "$(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))"
if throughput; then
    echo "throughput: wrk -t$THREADS -c$CONNECTIONS -d$DURATION; load average $LOAD_BEFORE before, $LOAD_AFTER after"
    echo "CPU µs/req: user+system CPU of the server processes per request (front: without the upstream)"
fi
if instructions; then
    echo "instructions: callgrind, front process alone, wrk -t1 -c$INSTR_CONNECTIONS -d$INSTR_DURATION after $INSTR_WARMUP; total / responses in the window"
fi
echo
awk -F'\t' -v mode="$MODE" '
    FILENAME == ARGV[1] { rps[$1] = $2; p50[$1] = $3; p99[$1] = $4; front[$1] = $5; all[$1] = $6 }
    FILENAME == ARGV[2] { ins[$1] = $2; n[$1] = $3 }
    END {
        nrows = split("upstream|bare proxy|tokengate|nginx auth|nginx plain|tokengate tls|nginx auth tls|nginx plain tls", rows, "|")
        t = mode != "instructions"; i = mode != "throughput"
        line = sprintf("| %-15s |", "setup"); rule = "|---|"
        if (t) { line = line sprintf(" %9s | %8s | %8s | %16s | %14s | %19s | %21s |", "req/s", "p50 ms", "p99 ms", "CPU µs/req front", "CPU µs/req all", "req/s vs nginx auth", "CPU/req vs nginx auth"); rule = rule "---:|---:|---:|---:|---:|---:|---:|" }
        if (i) { line = line sprintf(" %10s | %20s | %21s | %8s |", "instr/req", "instr vs nginx auth", "instr vs nginx plain", "requests"); rule = rule "---:|---:|---:|---:|" }
        print line; print rule
        for (r = 1; r <= nrows; r++) {
            k = rows[r]; line = sprintf("| %-15s |", k)
            if (t) line = line sprintf(" %9.0f | %8.3f | %8.3f | %16.1f | %14.1f | %18.2f× | %20.2f× |", rps[k], p50[k], p99[k], front[k], all[k], rps[k] / rps["nginx auth"], all[k] / all["nginx auth"])
            if (i) line = line sprintf(" %10.0f | %19.2f× | %20.2f× | %8d |", ins[k], ins[k] / ins["nginx auth"], ins[k] / ins["nginx plain"], n[k])
            print line
        }
        print ""
        if (t) {
            printf "tokengate / bare proxy (throughput):  %.2f×  (issue 13 goal ≥ 0.95×)\n", rps["tokengate"] / rps["bare proxy"]
            printf "tokengate / nginx auth (throughput):  %.2f×  (issue 13 goal ≥ 1.3×)\n", rps["tokengate"] / rps["nginx auth"]
            printf "tokengate / nginx plain (throughput): %.2f×\n", rps["tokengate"] / rps["nginx plain"]
            printf "tokengate tls / nginx auth tls (throughput): %.2f×; tokengate tls / nginx plain tls: %.2f×\n", rps["tokengate tls"] / rps["nginx auth tls"], rps["tokengate tls"] / rps["nginx plain tls"]
            printf "TLS cost (throughput, tls / plain): tokengate %.2f×, nginx auth %.2f×, nginx plain %.2f×\n", rps["tokengate tls"] / rps["tokengate"], rps["nginx auth tls"] / rps["nginx auth"], rps["nginx plain tls"] / rps["nginx plain"]
            printf "TLS cost (front CPU µs/req, tls − plain): tokengate %+.1f, nginx auth %+.1f, nginx plain %+.1f\n", front["tokengate tls"] - front["tokengate"], front["nginx auth tls"] - front["nginx auth"], front["nginx plain tls"] - front["nginx plain"]
        }
        if (i) {
            printf "tokengate instructions per request:   %.1fk  (issue 13 goal ≤ 25k = nginx auth ÷ 1.3 of the issue; this run: nginx auth ÷ 1.3 = %.1fk)\n", ins["tokengate"] / 1000, ins["nginx auth"] / 1300
            printf "bare proxy / nginx plain (instructions): %.2f×  (issue 13 goal ≤ 1×)\n", ins["bare proxy"] / ins["nginx plain"]
            printf "TLS cost (instructions per request, tls − plain): tokengate %+.0f, nginx auth %+.0f, nginx plain %+.0f\n", ins["tokengate tls"] - ins["tokengate"], ins["nginx auth tls"] - ins["nginx auth"], ins["nginx plain tls"] - ins["nginx plain"]
            printf "tokengate tls / nginx auth tls (instructions): %.2f×\n", ins["tokengate tls"] / ins["nginx auth tls"]
        }
    }' "$RESULTS" "$INSTR"
