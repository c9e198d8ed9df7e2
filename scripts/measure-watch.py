#!/usr/bin/env python3
"""Measure `gmem-audit watch`: the time from a line appended to the followed file to its finding
printed, under a generated stream at a given rate, and whether watch keeps up.

usage: scripts/measure-watch.py GMEM_AUDIT RATE [RATE…]  (events per second; e.g. 10000 100000)

For each rate: `gmem-audit generate` makes the background events (a realistic log, 2% of steps
misbehaving); a writer appends them to a file at RATE lines per second in 1 ms slices, and every
20 ms a probe line: a host access to a private page of a VM of its own, which GM-R07 reports. A
reader takes watch's `--format jsonl` output and pairs each probe finding with the time its line
was written. Printed per rate: probes, p50, p99 and max latency (ms), how long watch took after the
writer stopped to print the last probe (falling behind shows here), watch's CPU use (user+system
seconds per wall second, from /proc/PID/stat). MEASURE_SECONDS sets the run's length (default 8),
MEASURE_WATCH_ARGS adds options to watch (e.g. "--batch-events 10000").
"""
import json, os, signal, subprocess, sys, tempfile, threading, time

DURATION = float(os.environ.get("MEASURE_SECONDS", "8"))
PROBE_EVERY = 0.02
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def measure(binary, rate, workdir):
    total = int(rate * DURATION)
    background = subprocess.run([binary, "generate", "--events", str(total), "--seed", "7", "--vms", "4",
                                 "--gmem-size", "64M"], capture_output=True, check=True).stdout.splitlines(keepends=True)
    log = os.path.join(workdir, f"load-{rate}.jsonl")
    db = os.path.join(workdir, f"load-{rate}.db")
    setup = [b'{"op":"vm_create","vm":"probe"}\n',
             b'{"op":"gmem_create","vm":"probe","gmem":"probe-g","size":2097152,"flags":["mmap"]}\n']
    with open(log, "wb") as f:
        f.writelines(setup)
    extra = os.environ.get("MEASURE_WATCH_ARGS", "").split()
    watch = subprocess.Popen([binary, "watch", "--db", db, "--format", "jsonl"] + extra + [log], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    time.sleep(1.0)
    written = {}
    seen = {}
    probes = 0

    def reader():
        for line in watch.stdout:
            now = time.monotonic()
            try:
                finding = json.loads(line)
            except ValueError:
                continue
            if finding.get("rule") == "GM-R07" and finding.get("vm") == "probe":
                index = len(seen)
                seen[index] = now

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    cpu_before = cpu_seconds(watch.pid)
    wall_before = time.monotonic()
    start = time.monotonic()
    position = 0
    next_probe = start
    with open(log, "ab", buffering=0) as f:
        while position < total:
            now = time.monotonic()
            due = min(total, int((now - start) * rate))
            if due > position:
                f.write(b"".join(background[position:due]))
                position = due
            if now >= next_probe:
                written[probes] = time.monotonic()
                f.write(b'{"op":"host_access","gmem":"probe-g","offset":0,"size":4096,"result":"ok"}\n')
                probes += 1
                next_probe += PROBE_EVERY
            time.sleep(0.001)
    stopped = time.monotonic()
    deadline = stopped + 30
    while len(seen) < probes and time.monotonic() < deadline:
        time.sleep(0.005)
    caught_up = (seen[probes - 1] - stopped) if (probes - 1) in seen else float("inf")
    cpu = cpu_seconds(watch.pid) - cpu_before
    wall = time.monotonic() - wall_before
    watch.send_signal(signal.SIGINT)
    _, err = watch.communicate(timeout=120)
    latencies = sorted((seen[i] - written[i]) * 1000 for i in range(probes) if i in seen)
    def pct(p):
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else float("nan")
    print(f"rate {rate}/s: {len(latencies)}/{probes} probes, p50 {pct(0.50):.1f} ms, p99 {pct(0.99):.1f} ms, "
          f"max {latencies[-1] if latencies else float('nan'):.1f} ms; last probe printed {caught_up * 1000:.0f} ms after the writer "
          f"stopped; CPU {cpu / wall:.2f} s/s ({cpu:.1f} s over {wall:.1f} s)")
    sys.stdout.flush()
    summary = [l for l in err.decode(errors="replace").splitlines() if l.startswith("watch: stopped")]
    if summary:
        print("  " + summary[0])


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as workdir:
        for rate in sys.argv[2:]:
            measure(binary, int(rate), workdir)


main()
