#!/usr/bin/env python3
"""Cold-process latency of gmem-audit's reading commands on a store on disk.

Each query runs as a new process, as an analyst or a script runs it, RUNS times, interleaved
with the others so that a noisy neighbour hits them alike. For each it prints the median and
95th percentile of wall time and of CPU time (user + system of the child), and what the
query costs above the floor: the same command asked about a gmem the log never names, which
is process start, argument parsing and opening the store.

Usage: scripts/measure-queries.py STORE [RUNS] [-- ARGS...]...
  without ARGS, a default set of history and state queries for a `generate --seed 1` log.
"""
import os
import resource
import statistics
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
binary = os.environ.get("GMEM_AUDIT", os.path.join(here, "..", ".build", "release", "gmem-audit"))


def run(arguments):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    completed = subprocess.run([binary] + arguments, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall * 1000, cpu * 1000, completed.stdout


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    store = sys.argv[1]
    rest = sys.argv[2:]
    runs = 50
    if rest and rest[0] != "--":
        runs = int(rest.pop(0))
    queries = []
    while rest and rest[0] == "--":
        rest.pop(0)
        arguments = []
        while rest and rest[0] != "--":
            arguments.append(rest.pop(0))
        queries.append(arguments)
    if not queries:
        queries = [
            ["history", "--gmem", "g200", "--offset", "0x40000000"],
            ["history", "--gmem", "g130", "--offset", "0xfffff000"],
            ["history", "--gmem", "g263", "--offset", "0x12345000"],
            ["history", "--vm", "td263", "--gpa", "0x112345000"],
            ["history", "--gmem", "g1", "--offset", "0x80000000"],
        ]
    floor = ["history", "--gmem", "no-such-gmem", "--offset", "0"]
    everything = [floor] + queries
    samples = {index: [] for index in range(len(everything))}
    shown = {}
    for _ in range(runs):
        for index, arguments in enumerate(everything):
            wall, cpu, output = run(arguments + ["--db", store])
            samples[index].append((wall, cpu))
            # Events shown: text lines `seq N …`, or JSON entries `{"seq":N, …}`.
            shown[index] = output.count(b"\nseq ") + output.startswith(b"seq ") + output.count(b'{"seq":')

    def summary(values):
        values = sorted(values)
        return statistics.median(values), values[int(0.95 * (len(values) - 1))]

    floor_wall, _ = summary([s[0] for s in samples[0]])
    floor_cpu, _ = summary([s[1] for s in samples[0]])
    print(f"{runs} cold processes each, {binary}")
    print(f"{'query':58} {'events':>6} {'wall p50':>9} {'p95':>7} {'cpu p50':>8} {'above floor (wall/cpu)':>24}")
    for index, arguments in enumerate(everything):
        wall50, wall95 = summary([s[0] for s in samples[index]])
        cpu50, _ = summary([s[1] for s in samples[index]])
        name = " ".join(arguments) + ("  (the floor)" if index == 0 else "")
        above = "" if index == 0 else f"{wall50 - floor_wall:+.2f} / {cpu50 - floor_cpu:+.2f} ms"
        print(f"{name[:58]:58} {shown[index]:>6} {wall50:>7.2f}ms {wall95:>5.2f}ms {cpu50:>6.2f}ms {above:>24}")


main()
