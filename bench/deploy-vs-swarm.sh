#!/usr/bin/env bash
# A rolling deploy of a 4-task web service from v1 to v2 under steady load, side by side on
# this machine's Docker engine: Berth (server + one Docker agent, its own load balancer, driven
# through the ECS and ELBv2 APIs with boto3) against Docker Swarm mode (its routing mesh).
# Roll time, requests answered and failed, and which versions answered after the roll.
#
# Usage: bench/deploy-vs-swarm.sh [--rounds 1] [--workers 4] [--no-load] [--require-mesh]
#            [--only berth|swarm] [--swarm-health-interval 2s] [--swarm-update-monitor 1ms]
#            [--logs DIR]
# BENCH_ROUNDS and BENCH_WORKERS set the same; flags win. --no-load measures roll times only;
# --require-mesh fails, rather than roll Swarm without load, where Swarm's routing mesh cannot
# work (a kernel without IPVS). Runs under flock /tmp/berth-bench.lock (set
# BERTH_BENCH_LOCKED=1 if you already hold it). --logs DIR keeps Berth's server and agent
# logs. Loopback only. See bench/README.md.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=bench/common.sh
source bench/common.sh

all_args=("$@")
rounds=${BENCH_ROUNDS:-1}
workers=${BENCH_WORKERS:-4}
health_interval=2s
update_monitor=1ms
require_mesh=
no_load=
only=
logs=

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
    case $1 in
        --rounds | --workers | --only | --swarm-health-interval | --swarm-update-monitor | --logs)
            (($# >= 2)) || { echo "$1 needs a value" >&2; exit 2; }
            case $1 in
                --rounds) rounds=$2 ;;
                --workers) workers=$2 ;;
                --only) only=$2 ;;
                --swarm-health-interval) health_interval=$2 ;;
                --swarm-update-monitor) update_monitor=$2 ;;
                --logs) logs=$2 ;;
            esac
            shift 2
            ;;
        --require-mesh) require_mesh=1; shift ;;
        --no-load) no_load=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "--rounds needs a positive whole number, got $rounds" >&2; exit 2; }
[[ $workers =~ ^[1-9][0-9]*$ ]] || { echo "--workers needs a positive whole number, got $workers" >&2; exit 2; }
[[ -z $no_load ]] || workers=0
[[ -z $only || $only == berth || $only == swarm ]] || { echo "--only takes berth or swarm, got $only" >&2; exit 2; }

# Other benchmarks run on this machine too: take the shared lock for the whole run, builds
# included, so neither run disturbs the other.
hold_bench_lock "$0" ${all_args[@]+"${all_args[@]}"}

swarm_state=$(docker info --format '{{.Swarm.LocalNodeState}}')
case $swarm_state in
    inactive) ;;
    active)
        if [[ $(docker info --format '{{.Swarm.ControlAvailable}}') != true ]]; then
            echo "this engine is a swarm worker, not a manager: it cannot create services" >&2
            exit 1
        fi
        ;;
    *) echo "this engine's swarm state is '$swarm_state'; want inactive or active" >&2; exit 1 ;;
esac

echo "building berth (release)" >&2
cargo build --release --quiet -p berth
bash scripts/python-env.sh >&2
# Builds berth-testapp:v1 and :v2 (the same program, answering GET / with v1 or v2).
bash scripts/test-images.sh
python="$repo/.venv/bin/python"
berth="$repo/target/release/berth"

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-deploy.XXXXXX")
run=$(basename "$work")
# Every container of this run carries it (Berth's agent is scoped to it; the Swarm service
# and its containers are labelled with it), and cleanup removes exactly these.
label="berth.bench=$run"
# Swarm's images: berth-testapp with a HEALTHCHECK in exec form (below); lowercase, as image
# names must be.
swarm_repo="berth-bench-swarm-$(tr '[:upper:]' '[:lower:]' <<<"${run#berth-deploy.}")"
swarm_started=
gwbridge_existed=
docker network inspect docker_gwbridge >/dev/null 2>&1 && gwbridge_existed=1
pids=()


cleanup() {
    local status=$? ids
    trap - INT TERM
    # The driver first, so nothing creates more; then the Swarm services, and Berth's agent
    # before its containers are removed (a running agent would start them again).
    stop_started
    ids=$(docker service ls -q --filter "label=$label" 2>/dev/null || true)
    # shellcheck disable=SC2086 # one id per word
    [[ -z $ids ]] || docker service rm $ids >/dev/null || true
    # Swarm stops a removed service's containers itself; wait for that (up to 30 s), then
    # remove whatever is left, Berth's containers included.
    for _ in $(seq 1 300); do
        [[ -z $(docker ps -q --filter "label=$label" --filter "label=com.docker.swarm.service.name") ]] && break
        sleep 0.1
    done
    remove_labelled "$label"
    if [[ -n $swarm_started ]]; then
        docker swarm leave --force >/dev/null || true
        # Swarm init made it; leaving does not remove it.
        if [[ -z $gwbridge_existed ]]; then
            docker network rm docker_gwbridge >/dev/null 2>&1 || true
        fi
    fi
    docker image rm "$swarm_repo:v1" "$swarm_repo:v2" >/dev/null 2>&1 || true
    keep_logs "$work" "$logs"
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
# Turn signals into an exit, so that the EXIT trap cleans up for them too.
trap 'exit 130' INT
trap 'exit 143' TERM


# Berth: a server with a fresh data dir, listeners on loopback only, and one Docker agent.
port=$(free_port)
start_berth_server "$berth" "$work/server" "$work/server.log" "$port" --lb-bind 127.0.0.1
join_agent "$berth" "$work/server" "$port" "$work/agent" "$work/agent.log" "$label" --runtime docker

# Swarm mode, unless the engine is in it already (then it is left as it was found).
if [[ $swarm_state == inactive && $only != berth ]]; then
    echo "docker swarm init --advertise-addr 127.0.0.1" >&2
    swarm_started=1
    docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 >"$work/swarm-init.log"
fi

# The test app's image has no shell, and `--health-cmd` always means CMD-SHELL (`/bin/sh -c`),
# so Swarm gets the same images with a HEALTHCHECK in exec form; the service sets its timing.
for version in v1 v2; do
    [[ $only != berth ]] || break
    printf 'FROM berth-testapp:%s\nHEALTHCHECK CMD ["/berth-testapp", "check", "http://127.0.0.1:8080/health"]\n' \
        "$version" | DOCKER_BUILDKIT=0 docker build --quiet --label "$label" --tag "$swarm_repo:$version" - \
        >"$work/swarm-image.log" 2>&1 || { cat "$work/swarm-image.log" >&2; exit 1; }
done

echo "measuring $rounds round(s) per system" >&2
# In the background and waited for, so that a TERM reaches the trap at once; cleanup stops
# the driver first.
"$python" bench/deploy_vs_swarm.py --rounds "$rounds" --workers "$workers" --label "$label" \
    --berth-endpoint "http://127.0.0.1:$port" --berth-credentials "$work/server/credentials" \
    --swarm-image-v1 "$swarm_repo:v1" --swarm-image-v2 "$swarm_repo:v2" \
    --swarm-health-interval "$health_interval" --swarm-update-monitor "$update_monitor" \
    ${require_mesh:+--require-mesh} ${only:+--only "$only"} &
pids+=($!)
wait $!
