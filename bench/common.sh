# What every benchmark script needs, sourced after it has cd'ed to the repository.

# hold_bench_lock SCRIPT [ARGS...]: unless this run already holds /tmp/berth-bench.lock, runs
# SCRIPT ARGS again under it (flock), so that benchmarks on one machine, builds included, never
# disturb each other.
hold_bench_lock() {
    [[ -n ${BERTH_BENCH_LOCKED:-} ]] && return 0
    echo "waiting for /tmp/berth-bench.lock" >&2
    exec env BERTH_BENCH_LOCKED=1 flock /tmp/berth-bench.lock "$@"
}

# A port free on loopback right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# stop_process PID: TERM, then KILL after 5 s, so that nothing a benchmark started outlives
# it even when it ignores TERM; then reaps it.
stop_process() {
    kill "$1" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# start_berth_server BERTH DATA_DIR LOG PORT [ARGS...]: starts `berth server` listening on
# 127.0.0.1:PORT with ARGS, sets server_pid and appends it to the caller's `pids` array, and
# returns once it listens; exits with its log when it dies or takes more than 30 s to start.
start_berth_server() {
    local berth=$1 data=$2 log=$3 port=$4
    shift 4
    "$berth" server --data-dir "$data" --listen "127.0.0.1:$port" "$@" >"$log" 2>&1 &
    server_pid=$!
    pids+=("$server_pid")
    for _ in $(seq 1 300); do
        grep -q "berth server listening on" "$log" && return 0
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "berth server exited while starting:" >&2
            cat "$log" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "berth server did not start within 30 s:" >&2
    cat "$log" >&2
    exit 1
}

# join_agent BERTH SERVER_DATA PORT STATE_DIR LOG LABEL [ARGS...]: starts `berth agent` joined
# to the server on 127.0.0.1:PORT (a join token from its data dir SERVER_DATA), its state in
# STATE_DIR, its output in LOG, every container labelled LABEL, with ARGS (--runtime …); sets
# agent_pid and appends it to the caller's `pids` array.
join_agent() {
    local berth=$1 data=$2 port=$3 state=$4 log=$5 label=$6 token
    shift 6
    token=$("$berth" tokens create --data-dir "$data" 2>/dev/null)
    "$berth" agent --server "http://127.0.0.1:$port" --token "$token" --state-dir "$state" \
        --label "$label" "$@" >"$log" 2>&1 &
    agent_pid=$!
    pids+=("$agent_pid")
}

# remove_labelled LABEL: removes every container carrying LABEL, running or not.
remove_labelled() {
    local ids
    ids=$(docker ps -aq --filter "label=$1")
    # shellcheck disable=SC2086 # one id per word
    [[ -z $ids ]] || docker rm -f $ids >/dev/null || true
}

# keep_logs WORK DIR: copies WORK's *.log into DIR, when DIR is not empty.
keep_logs() {
    [[ -n $2 ]] || return 0
    mkdir -p "$2"
    cp "$1"/*.log "$2"/ 2>/dev/null || true
}

# stop_started: stops every process in the caller's `pids` array, newest first, so a driver
# goes before the agent it drives and an agent before the server it reports to.
stop_started() {
    local i
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        stop_process "${pids[i]}"
    done
}
