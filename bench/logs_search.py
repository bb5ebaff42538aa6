"""The measuring half of bench/logs-search.sh: PutLogEvents a million lines (the shape of a
web app's access log, one line in a hundred thousand holding a rare term), write the same
lines to a file, then time FilterLogEvents for the rare term, followed to the last page, next
to `grep -F` over the file. Each search runs `--rounds` times; the table shows the median.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import time
from pathlib import Path

from berth_bench import client

GROUP, STREAM = "/bench/search", "web/1"
RARE = "rare-Qz81-term"
EVERY = 100_000
BATCH = 10_000
GOAL_TIMES_GREP = 3


def lines(count: int) -> list[str]:
    pick = random.Random(7)
    paths = ["/", "/search", "/api/v1/items", "/api/v1/users", "/static/app.js", "/health"]
    made = []
    for n in range(count):
        line = (f"10.0.{pick.randrange(256)}.{pick.randrange(256)} GET {pick.choice(paths)} "
                f"{pick.choice([200, 200, 200, 304, 404, 500])} {pick.randrange(10, 90000)} "
                f"{pick.randrange(1, 900)}ms req-{n:08d}")
        if n % EVERY == EVERY // 2:
            line += f" {RARE}"
        made.append(line)
    return made


def ingest(logs, text: list[str]) -> float:
    """Lines per second stored through PutLogEvents, in batches of 10,000 (the API's most)."""
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName=STREAM)
    start_ms = int(time.time() * 1000) - len(text)
    began = time.perf_counter()
    for offset in range(0, len(text), BATCH):
        batch = text[offset:offset + BATCH]
        logs.put_log_events(logGroupName=GROUP, logStreamName=STREAM, logEvents=[
            {"timestamp": start_ms + offset + i, "message": line} for i, line in enumerate(batch)])
    return len(text) / (time.perf_counter() - began)


def search(logs) -> tuple[float, int]:
    """Seconds to follow FilterLogEvents to its last page, and the events found."""
    began = time.perf_counter()
    found, token = 0, None
    while True:
        kwargs = {"nextToken": token} if token else {}
        page = logs.filter_log_events(logGroupName=GROUP, filterPattern=f'"{RARE}"', **kwargs)
        found += len(page["events"])
        token = page.get("nextToken")
        if not token:
            return time.perf_counter() - began, found


def grep(path: Path) -> tuple[float, int]:
    began = time.perf_counter()
    done = subprocess.run(["grep", "-F", "-c", RARE, str(path)], capture_output=True, text=True, check=True)
    return time.perf_counter() - began, int(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--credentials", type=Path, required=True)
    parser.add_argument("--lines", type=int, required=True)
    parser.add_argument("--rounds", type=int, required=True)
    parser.add_argument("--file", type=Path, required=True)
    args = parser.parse_args()
    logs = client("logs", args.endpoint, args.credentials, read_timeout=300)
    text = lines(args.lines)
    args.file.write_text("\n".join(text) + "\n")
    rate = ingest(logs, text)
    expected = sum(1 for line in text if RARE in line)
    timings = {"Berth FilterLogEvents": [], "grep -F": []}
    for _ in range(args.rounds):
        for name, run in (("Berth FilterLogEvents", lambda: search(logs)), ("grep -F", lambda: grep(args.file))):
            seconds, found = run()
            if found != expected:
                raise SystemExit(f"{name} found {found} lines, not {expected}")
            timings[name].append(seconds)
    size = args.file.stat().st_size / 2**20
    print(f"{args.lines} lines ({size:.0f} MiB), {expected} holding the rare term; median of {args.rounds} runs")
    print()
    print("| search | ms | x grep |")
    print("|---|---:|---:|")
    floor = statistics.median(timings["grep -F"])
    for name, values in timings.items():
        median = statistics.median(values)
        print(f"| {name} | {median * 1000:.1f} | {median / floor:.1f}x |")
    print()
    ratio = statistics.median(timings["Berth FilterLogEvents"]) / floor
    print(f"PutLogEvents stored {rate:,.0f} lines/s (batches of {BATCH:,}, one client)")
    verdict = "met" if ratio <= GOAL_TIMES_GREP else "NOT MET"
    print(f"goal {verdict}: FilterLogEvents {ratio:.1f}x grep -F (goal within {GOAL_TIMES_GREP}x)")


if __name__ == "__main__":
    main()
