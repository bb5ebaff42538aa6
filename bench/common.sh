# What every benchmark script needs, sourced after it has cd'ed to the repository.

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
