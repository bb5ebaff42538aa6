#!/usr/bin/env bash
# Berth's load balancer against nginx and HAProxy as reverse proxies in front of the same
# backend (nginx answering a small fixed body), with wrk over keep-alive connections, and
# each proxy's resident memory holding idle keep-alive connections. The proxies take turns
# for --rounds rounds and the table shows each one's median run, since a shared machine moves
# single runs by tens of percent.
#
# Usage: bench/proxy.sh [--duration 10s] [--connections "1 64"] [--idle 10000] [--rounds 3]
# The same settings can come from BENCH_DURATION, BENCH_CONNECTIONS, BENCH_IDLE and
# BENCH_ROUNDS; flags win. Runs under flock /tmp/berth-bench.lock, so it never overlaps another benchmark on
# this machine. See bench/README.md.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=bench/common.sh
source bench/common.sh

duration=${BENCH_DURATION:-10s}
connection_counts=${BENCH_CONNECTIONS:-"1 64"}
idle_count=${BENCH_IDLE:-10000}
rounds=${BENCH_ROUNDS:-3}

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
    case $1 in
        --duration | --connections | --idle | --rounds)
            (($# >= 2)) || { echo "$1 needs a value" >&2; exit 2; }
            case $1 in
                --duration) duration=$2 ;;
                --connections) connection_counts=$2 ;;
                --idle) idle_count=$2 ;;
                --rounds) rounds=$2 ;;
            esac
            shift 2
            ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

# Other engineers benchmark on this machine too: take the shared lock for the whole run,
# builds included, so neither run disturbs the other.
hold_bench_lock "$0" --duration "$duration" \
        --connections "$connection_counts" --idle "$idle_count" --rounds "$rounds"

missing=()
for tool in nginx:nginx haproxy:haproxy wrk:wrk; do
    command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
if ((${#missing[@]})); then
    echo "installing ${missing[*]} from Debian's packages" >&2
    if [[ $(id -u) == 0 ]]; then sudo=; else sudo=sudo; fi
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
fi

echo "building berth-bench-proxy (release)" >&2
cargo build --release --quiet -p berth-bench --bin berth-bench-proxy
berth_proxy="$repo/target/release/berth-bench-proxy"

# Enough descriptors for the idle connections plus upstream ones, in each process. Raising
# the hard limit needs CAP_SYS_RESOURCE; without it, take the hard limit.
want_fds=$((idle_count + 5000))
ulimit -n "$want_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if ! [[ $rounds =~ ^[1-9][0-9]*$ ]]; then
    echo "--rounds must be a positive whole number, got '$rounds'" >&2
    exit 2
fi
if (($(ulimit -n) < want_fds)); then
    echo "ulimit -n is $(ulimit -n): too low for $idle_count idle connections" >&2
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-proxy-bench.XXXXXX")
pids=()
stop_all() {
    local pid
    for pid in "${pids[@]}"; do stop_process "$pid"; done
    pids=()
}
backend_pid=
cleanup() {
    [[ -n $backend_pid ]] && pids+=("$backend_pid")
    stop_all
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


# wait_port PORT NAME: until something accepts on 127.0.0.1:PORT.
wait_port() {
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "$2 is not listening on $1" >&2
    for log in "$work"/*.log; do echo "== $log" >&2; cat "$log" >&2; done
    exit 1
}

cpus=$(nproc)
# The same idle limits everywhere, longer than a run, so no proxy closes idle connections
# while their memory is measured (ALB's default would be 60 s).
idle_secs=300
body='Hello from the benchmark backend!'

# nginx in the foreground with everything in $work; the master runs as this user.
nginx_conf() {
    cat <<CONF
daemon off;
worker_processes $2;
worker_rlimit_nofile $(ulimit -n);
pid $work/$1.pid;
error_log $work/$1-error.log warn;
events { worker_connections $(ulimit -n); multi_accept on; }
http {
    access_log off;
    client_body_temp_path $work/$1-body;
    proxy_temp_path $work/$1-proxy;
    fastcgi_temp_path $work/$1-fastcgi;
    uwsgi_temp_path $work/$1-uwsgi;
    scgi_temp_path $work/$1-scgi;
    keepalive_timeout ${idle_secs}s;
    client_header_timeout ${idle_secs}s;
    keepalive_requests 100000000;
    tcp_nodelay on;
$3
}
CONF
}

backend_port=$(free_port)
nginx_conf backend auto "    server {
        listen 127.0.0.1:$backend_port;
        location / { default_type text/plain; return 200 '$body'; }
    }" >"$work/backend.conf"
nginx -p "$work" -c "$work/backend.conf" >"$work/backend.log" 2>&1 &
backend_pid=$!
wait_port "$backend_port" "the nginx backend"

nginx_port=$(free_port)
nginx_conf nginx "$cpus" "    upstream backend {
        server 127.0.0.1:$backend_port;
        keepalive 256;
        keepalive_requests 100000000;
        keepalive_timeout ${idle_secs}s;
    }
    server {
        listen 127.0.0.1:$nginx_port;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Forwarded-Port \$server_port;
        }
    }" >"$work/nginx.conf"

haproxy_port=$(free_port)
cat >"$work/haproxy.cfg" <<CONF
global
    nbthread $cpus
    maxconn $((idle_count + 2000))
    # HAProxy asks for two descriptors per connection it may hold (client and server) and
    # refuses to start without them; the idle connections need only one each.
    no strict-limits
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client ${idle_secs}s
    timeout server ${idle_secs}s
    timeout http-request ${idle_secs}s
    timeout http-keep-alive ${idle_secs}s
frontend proxy
    bind 127.0.0.1:$haproxy_port
    option forwardfor
    http-request set-header X-Forwarded-Proto http
    http-request set-header X-Forwarded-Port %[dst_port]
    default_backend backend
backend backend
    server backend 127.0.0.1:$backend_port
CONF

berth_port=$(free_port)

declare -A pid_of port_of
port_of[backend]=$backend_port
pid_of[backend]=$backend_pid

# start PROXY: runs it in the background and records its pid and port.
start() {
    local pid port
    case $1 in
        berth)
            "$berth_proxy" serve --listen "127.0.0.1:$berth_port" \
                --target "127.0.0.1:$backend_port" --idle-timeout-secs "$idle_secs" \
                >"$work/berth.log" 2>&1 &
            pid=$! port=$berth_port ;;
        nginx)
            nginx -p "$work" -c "$work/nginx.conf" >"$work/nginx.log" 2>&1 &
            pid=$! port=$nginx_port ;;
        haproxy)
            # -db: stay in the foreground; one process whose threads do the work.
            haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
            pid=$! port=$haproxy_port ;;
    esac
    pids+=("$pid")
    pid_of[$1]=$pid port_of[$1]=$port
    wait_port "$port" "$1"
}

# Resident memory of a process and its children (nginx's workers), in KiB.
rss_kib() {
    local total=0 pid
    for pid in $1 $(pgrep -P "$1" || true); do
        total=$((total + $(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)))
    done
    echo "$total"
}

# wrk_run NAME CONNECTIONS ROUND: one measured wrk run after a short unmeasured one.
wrk_run() {
    local threads=$(($2 < cpus ? $2 : cpus)) url="http://127.0.0.1:${port_of[$1]}/"
    wrk -t"$threads" -c"$2" -d2s "$url" >/dev/null
    wrk -t"$threads" -c"$2" -d"$duration" --latency "$url" >"$work/$1-$2-$3.wrk"
}

proxies=(berth nginx haproxy)
for name in "${proxies[@]}"; do
    start "$name"
    curl -fsS "http://127.0.0.1:${port_of[$name]}/" | grep -qF "$body" || {
        echo "$name does not answer with the backend's body" >&2
        exit 1
    }
done
# All proxies stay up, idle but for the one being measured, and take turns round by round,
# so a slow spell of the machine falls on all of them rather than on one.
for round in $(seq 1 "$rounds"); do
    for c in $connection_counts; do
        for name in backend "${proxies[@]}"; do
            echo "== round $round/$rounds, c=$c: $name" >&2
            wrk_run "$name" "$c" "$round"
        done
    done
done
# Memory one proxy at a time, with the others stopped: each holds the idle connections alone.
for name in "${proxies[@]}"; do
    echo "== $name: $idle_count idle connections" >&2
    before=$(rss_kib "${pid_of[$name]}")
    "$berth_proxy" idle --connect "127.0.0.1:${port_of[$name]}" --count "$idle_count" \
        >"$work/idle.out" 2>"$work/idle.err" &
    idle_pid=$!
    pids+=("$idle_pid")
    for _ in $(seq 1 600); do
        grep -q '^open' "$work/idle.out" && break
        kill -0 "$idle_pid" 2>/dev/null || { cat "$work/idle.err" >&2; exit 1; }
        sleep 0.1
    done
    grep -q '^open' "$work/idle.out" || { echo "idle connections never opened" >&2; exit 1; }
    sleep 2
    echo "$before $(rss_kib "${pid_of[$name]}")" >"$work/$name.rss"
    stop_process "$idle_pid"
    stop_process "${pid_of[$name]}"
done

python3 - "$work" "$cpus" "$duration" "$idle_count" "$body" "$rounds" $connection_counts <<'PY'
import re
import statistics
import sys

work, cpus, duration, idle, body, rounds = sys.argv[1:7]
counts = sys.argv[7:]
rounds = range(1, int(rounds) + 1)
unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}

def wrk(name, c, round):
    text = open(f"{work}/{name}-{c}-{round}.wrk").read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    lat = {p: float(v) * unit[u] for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", text)
    return rps, lat["50"], lat["99"], errors.group(0) if errors else None

names = {"backend": "backend direct (no proxy)", "berth": "Berth", "nginx": "nginx", "haproxy": "HAProxy"}
runs = {n: {c: [wrk(n, c, r) for r in rounds] for c in counts} for n in names}

def median(name, c):
    """The median of each figure over the rounds, and the first error any round had."""
    of = runs[name][c]
    errors = [run[3] for run in of if run[3]]
    return (*(statistics.median(run[i] for run in of) for i in range(3)), errors[0] if errors else None)

results = {n: {c: median(n, c) for c in counts} for n in names}
rss = {}
for n in ("berth", "nginx", "haproxy"):
    before, after = (int(x) for x in open(f"{work}/{n}.rss").read().split())
    rss[n] = (before / 1024, after / 1024)

print(f"wrk keep-alive, {duration} per run after 2 s warm-up, {cpus} CPUs shared by wrk, proxy and backend;")
print(f"medians of {len(rounds)} rounds, the proxies taking turns in each")
print(f"backend: nginx ({cpus} workers) answering a {len(body)}-byte body, far faster than any proxy in front of it (see its row)")
print()
header = "| proxy |"
rule = "|---|"
for c in counts:
    header += f" req/s c={c} | p50 ms c={c} | p99 ms c={c} |"
    rule += "---:|---:|---:|"
header += f" RSS MiB idle | RSS MiB with {int(idle):,} idle conns |"
rule += "---:|---:|"
print(header)
print(rule)
for n, label in names.items():
    row = f"| {label} |"
    for c in counts:
        rps, p50, p99, _ = results[n][c]
        row += f" {rps:,.0f} | {p50:.3f} | {p99:.3f} |"
    if n in rss:
        row += f" {rss[n][0]:.1f} | {rss[n][1]:.1f} |"
    else:
        row += " - | - |"
    print(row)
print()
print("req/s in each round:")
for c in counts:
    for n, label in names.items():
        print(f"  c={c} {label}: " + ", ".join(f"{run[0]:,.0f}" for run in runs[n][c]))
print()
for n in names:
    for c in counts:
        if results[n][c][3]:
            print(f"note: {names[n]} c={c}: {results[n][c][3]}")
met = all(
    results["berth"][c][0] >= results["nginx"][c][0] and results["berth"][c][2] <= results["nginx"][c][2]
    for c in counts
)
print(f"goal {'MET' if met else 'NOT MET'}: Berth's throughput at least nginx's and its p99 no worse, at c={', c='.join(counts)}")
PY
