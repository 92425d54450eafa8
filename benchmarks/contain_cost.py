"""What `grader.contain.enter` costs per notebook process: forks of a warm process with and without it.

A process that has imported what the grader's fork server imports for our edition's notebooks
(scikit-learn, then grader.worker: NumPy, matplotlib, IPython) forks ROUNDS x BATCH children for
each way, the ways taking turns batch by batch so that a busy neighbour slows them all alike:
  setsid only      today's isolation (sandbox.py's worker calls os.setsid()),
  fallback         enter(namespaces=False): session, rlimits, Landlock,
  namespaces       enter(): user, mount, PID, network, IPC namespaces, a root of its own (rootfs.py),
                   pids and memory cgroups (or RLIMIT_NPROC),
                   cpu cgroup (one CPU for the notebook and all it starts) where writable,
  no budget        the same without max_processes (no pids cgroup: what the cgroup costs, as root),
  no CPU share     namespaces without the cpu cgroup (cpus=None: what that cgroup costs, as root),
  as PID 1         forked with contain.fork, as the grader's fork server forks as root: the child
                   is PID 1 of a new PID namespace, and `enter` needs no waiter and no second fork.
For each fork it measures "ready" (fork until the child, after containment, writes to the report
pipe: what a notebook waits for) and "round trip" (fork until the parent has reaped the child,
for contained ones the waiter, after the reaper and the namespaces are gone).

    .venv/bin/python benchmarks/contain_cost.py [--rounds 10] [--batch 20] [--pause MS] [--cold]

--pause waits between forks, as a grader does while a notebook runs: a cgroup move that needs an
RCU grace period shows only then (back-to-back moves share one).

--cold skips the fork server's imports (for a Python without the project's packages, e.g. as
another user: setpriv --reuid=nobody --regid=nogroup --clear-groups python3 ... --cold).
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader import contain  # noqa: E402


DATA = str(Path(__file__).resolve().parent.parent / "data")


def one_fork(way, workdir):
    reader, writer = os.pipe()
    scratch = tempfile.mkdtemp(dir=workdir)
    started = time.perf_counter()
    pid = contain.fork() if way == "as PID 1" else os.fork()
    if pid == 0:
        try:
            if way == "setsid only":
                os.setsid()
            else:
                contain.enter(workdir, scratch, cpu_seconds=60, max_processes=None if way == "no budget" else 64,
                              namespaces=(way != "fallback"), cpus=None if way == "no CPU share" else 1,
                              memory_bytes=2**31, data=DATA)
            os.write(writer, b"r")
        finally:
            os._exit(0)
    os.close(writer)
    os.read(reader, 1)
    ready = time.perf_counter() - started
    os.waitpid(pid, 0)
    round_trip = time.perf_counter() - started
    os.close(reader)
    shutil.rmtree(scratch, ignore_errors=True)
    return ready, round_trip


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--pause", type=float, default=0, help="milliseconds to wait between forks")
    parser.add_argument("--cold", action="store_true", help="do not import what the fork server imports")
    args = parser.parse_args()
    if not args.cold:
        import sklearn.metrics  # noqa: F401  (preloaded for a class whose code names it, as our edition's does)
        from grader import worker  # noqa: F401  (NumPy, matplotlib, IPython: with scikit-learn, a realistic size)
    ways = ["setsid only", "fallback", "namespaces", "no budget", "no CPU share", "as PID 1"]
    print(f"probe: {contain.probe()}")
    with open("/proc/self/status", encoding="utf-8") as status:
        rss = next(line.split()[1] for line in status if line.startswith("VmRSS"))
    print(f"warm parent: {int(rss) // 1024} MiB resident; {args.rounds} rounds x {args.batch} forks per way, "
          f"{args.pause:g} ms apart")
    times = {way: [] for way in ways}
    print(f"user id {os.getuid()}; " + ("cold (no fork-server imports)" if args.cold else "warm"))
    with tempfile.TemporaryDirectory(prefix="contain-cost-") as workdir:
        for _ in range(args.rounds):
            for way in ways:
                for _ in range(args.batch):
                    time.sleep(args.pause / 1000)
                    times[way].append(one_fork(way, workdir))
    print(f"{'':14}{'ready: median':>15}{'p90':>9}{'round trip: median':>21}{'p90':>9}   (ms)")
    for way in ways:
        ready = sorted(t[0] * 1000 for t in times[way])
        trip = sorted(t[1] * 1000 for t in times[way])
        p90 = lambda values: values[int(0.9 * len(values))]
        print(f"{way:14}{statistics.median(ready):15.2f}{p90(ready):9.2f}"
              f"{statistics.median(trip):21.2f}{p90(trip):9.2f}")
    base = statistics.median(t[0] for t in times["setsid only"])
    extra = statistics.median(t[0] for t in times["namespaces"]) - base
    print(f"namespaces add {extra * 1000:.2f} ms to a notebook's start (median), "
          f"{len(times['namespaces'])} forks each")
    for part in (0, 1):
        extra = (statistics.median(t[part] for t in times["as PID 1"])
                 - statistics.median(t[part] for t in times["setsid only"]))
        print(f"as PID 1, they add {extra * 1000:.2f} ms to the {('start', 'round trip')[part]} (median)")
    for part in (0, 1):
        extra = (statistics.median(t[part] for t in times["namespaces"])
                 - statistics.median(t[part] for t in times["no CPU share"]))
        print(f"the cpu cgroup adds {extra * 1000:.2f} ms to the {('start', 'round trip')[part]} (median)")


if __name__ == "__main__":
    main()
