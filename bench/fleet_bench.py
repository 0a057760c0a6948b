#!/usr/bin/env python3
"""Fleet benchmark: how long Jarvis takes to bring every node's result into a Command's status and its
events, against a floor measured in the same run on the same API server.

    python3 bench/fleet_bench.py                       # 10, 100 and 1000 nodes, and the burst
    python3 bench/fleet_bench.py --nodes 100 --burst 0 # one size, no burst

For each fleet size N it brings up a local control plane (test/cluster: real etcd and kube-apiserver) with N
simulated nodes, each with its own `jarvis --role=agent` process on its own loopback address, installs
manifests/, and for each controller setting (the defaults, and the API rate limit raised) starts a controller,
creates one Command (`true` on every node) and records:
  - seconds until the status holds every node's result, and until every node's Event exists (watch streams);
  - the floor: a plain client (bench/floor.py, no rate limit, 32 connections) writing the same two status
    updates and N events, and both times as ratios of the floor;
  - the controller's CPU seconds for the run and its peak resident memory (VmHWM);
  - API requests of the run by verb and resource, and bytes of request bodies (the API server's /metrics);
  - the agents' memory (proportional set size summed over the N agents, and per agent).
The burst scenario (--burst COMMANDSxNODES, default 300x20) creates that many Commands at once on a fleet of
that many nodes and measures the same against a floor writing every Command's status and every event.

Prints a table and writes it, with a description of the machine, to --output (default bench/RESULTS.md;
`-` for none). Exit status 1 when a run did not complete within --timeout (what was missing is printed).
Needs the jarvis build (build/src/jarvis) and the upstream binaries (test/cluster/upstream/build.sh).
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
sys.path.insert(0, str(REPO_ROOT / "test" / "cluster"))
sys.path.insert(0, str(HERE))

from deadline import wait_until  # noqa: E402
from floor import Floor  # noqa: E402
from jarvis_cluster import DEFAULT_JARVIS, Cluster  # noqa: E402
from kube_http import Client, Credentials, Watch  # noqa: E402
import measure  # noqa: E402

NAMESPACE = "jarvis"
COMMANDS = f"/apis/jarvis.io/v1/namespaces/{NAMESPACE}/commands"
EVENTS = f"/api/v1/namespaces/{NAMESPACE}/events"
TERMINAL = ("Succeeded", "Failed")
RAISED = ["--kube-api-qps", "1000", "--kube-api-burst", "2000"]
# Raised too when the jarvis under test has them (older builds had one budget for everything).
RAISED_EVENTS = ["--kube-api-event-qps", "1000", "--kube-api-event-burst", "2000"]


def raised_flags(jarvis):
    help_text = subprocess.run([str(jarvis), "--help"], capture_output=True, text=True).stdout
    return RAISED + (RAISED_EVENTS if "--kube-api-event-qps" in help_text else [])


class Incomplete(Exception):
    pass


class Progress:
    """What the watches saw: when each Command's status first held all its nodes' results and when each
    Command's last event arrived."""

    def __init__(self, names, nodes_each):
        self._names = set(names)
        self._nodes_each = nodes_each
        self._lock = threading.Lock()
        self.status_done = {}
        self.events = {name: set() for name in names}
        self.events_done = {}
        self.status_writes = 0
        self.largest_object = 0
        self.all_done = threading.Event()

    def on_command(self, kind, obj, now):
        name = obj["metadata"]["name"]
        if name not in self._names:
            return False
        with self._lock:
            if kind == "MODIFIED":
                self.status_writes += 1
                self.largest_object = max(self.largest_object, len(json.dumps(obj)))
            status = obj.get("status") or {}
            if (name not in self.status_done and status.get("phase") in TERMINAL
                    and status.get("observedGeneration") == obj["metadata"]["generation"]
                    and len(status.get("nodes") or []) == self._nodes_each):
                self.status_done[name] = now
            return self._check()

    def on_event(self, kind, obj, now):
        name = obj.get("involvedObject", {}).get("name")
        if kind != "ADDED" or name not in self._names:
            return False
        with self._lock:
            seen = self.events[name]
            seen.add(obj["metadata"]["name"])
            if len(seen) >= self._nodes_each and name not in self.events_done:
                self.events_done[name] = now
            return self._check()

    def _check(self):
        done = len(self.status_done) == len(self._names) and len(self.events_done) == len(self._names)
        if done:
            self.all_done.set()
        return False  # both watches run until stopped: the other one may still be waiting

    def missing(self):
        with self._lock:
            no_status = sorted(self._names - set(self.status_done))
            short = {n: len(e) for n, e in self.events.items() if len(e) < self._nodes_each}
        return f"status incomplete for {no_status[:5]} ({len(no_status)}), events short {dict(list(short.items())[:5])}"


def resource_version(client, path):
    return client.request("GET", path, query={"limit": "1"})["metadata"]["resourceVersion"]


def command_body(name, run_id):
    return {"apiVersion": "jarvis.io/v1", "kind": "Command",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"bench.jarvis.io/run": run_id}},
            "spec": {"command": "true"}}


def create_all(credentials, bodies, connections=32):
    local = threading.local()

    def create(body):
        if not hasattr(local, "client"):
            local.client = Client(credentials)
        return local.client.request("POST", COMMANDS, body)
    with ThreadPoolExecutor(min(connections, len(bodies))) as pool:
        return list(pool.map(create, bodies))


def delete_all(cluster, run_id, timeout):
    cluster.kubectl("delete", "commands", "-n", NAMESPACE, "-l", f"bench.jarvis.io/run={run_id}", "--wait=true",
                    f"--timeout={int(timeout)}s", timeout=timeout + 30)


def observe(admin, names, nodes_each, create, timeout):
    """Starts watches on Commands and Events, calls create(), waits until every Command has all results in its
    status and all its events; returns (Progress, monotonic start)."""
    client = Client(admin)
    progress = Progress(names, nodes_each)
    watches = [Watch(admin, COMMANDS, {}, resource_version(client, COMMANDS), progress.on_command),
               Watch(admin, EVENTS, {}, resource_version(client, EVENTS), progress.on_event)]
    client.close()
    for watch in watches:
        watch.start()
    try:
        started = time.monotonic()
        create()
        deadline = started + timeout
        while not progress.all_done.wait(0.5):
            failed = [w.error for w in watches if w.error]
            if failed:
                raise Incomplete(f"{failed[0]}; {progress.missing()}")
            if time.monotonic() > deadline:
                raise Incomplete(f"not complete after {timeout:g} s: {progress.missing()}")
        return progress, started
    finally:
        for watch in watches:
            watch.stop()


def start_controller(cluster, extra_args, timeout):
    controller = cluster.start_controller(list(extra_args))
    wait_until(lambda: '"msg":"caches synced' in controller.log_text(), timeout, "the controller to sync")
    cluster.wait_agents_trust_controller(timeout)
    wait_quiet(cluster, timeout)
    return controller


def wait_quiet(cluster, timeout, window=2.0):
    """Waits until the cluster's processes (agents, API server, etcd) have settled: right after 1,000 agents
    start or re-read their certificates they are busy for a while, and a run measured then would be charged
    that work. Settled = their CPU use over a `window` is under one core and no longer falling (at least 80% of
    the window before). Idle agents are not free: each wakes about twice a second (gRPC's timer threads),
    about 0.2 ms of CPU per second each on the test machine (0.5-0.6 before the agents left gRPC's callback
    API), so 1,000 idle agents keep a fifth of a core busy and the threshold cannot be near zero. Gives up after `timeout` s (the row is still written; its
    load average says how busy the machine was)."""
    def total():
        return sum(cpu_by_group(cluster).values())
    deadline = time.monotonic() + min(timeout, 120.0)
    previous = None
    while time.monotonic() < deadline:
        before, started = total(), time.monotonic()
        time.sleep(window)  # the measuring window, not a guess at a condition
        rate = (total() - before) / (time.monotonic() - started)
        if previous is not None and rate < 1.0 and rate >= 0.8 * previous:
            return True
        previous = rate
    print("warning: the cluster's processes did not settle before the run", file=sys.stderr, flush=True)
    return False


def cpu_by_group(cluster):
    """CPU seconds used so far by the cluster's processes, grouped: the API server and etcd, the agents, the
    rest (the secret volume, controllers are measured apart)."""
    groups = {"apiserver+etcd": 0.0, "agents": 0.0}
    for name, pid in cluster.processes().items():
        group = "agents" if name.startswith("agent-") else \
            "apiserver+etcd" if name in ("etcd", "kube-apiserver") else None
        if group:
            try:
                groups[group] += measure.cpu_seconds(pid)
            except OSError:
                pass
    return groups


def idle_agent_cpu(cluster, window=3.0):
    """CPU milliseconds per second one idle agent uses (the mean over the fleet, measured over `window` s with
    the cluster settled and nothing running): what every node pays between commands."""
    agents = sum(1 for name in cluster.processes() if name.startswith("agent-"))
    before, started = cpu_by_group(cluster)["agents"], time.monotonic()
    time.sleep(window)  # the measuring window, not a guess at a condition
    used = cpu_by_group(cluster)["agents"] - before
    return used * 1000 / max(1, agents) / (time.monotonic() - started)


def agent_memory(cluster):
    pids = [pid for name, pid in cluster.processes().items() if name.startswith("agent-")]
    total = sum(measure.pss_kib(pid) for pid in pids)
    return total / 1024, total / 1024 / max(1, len(pids))


def run_setting(cluster, admin, controller_credentials, nodes, commands, setting, controller_args, timeout):
    """One controller setting on a running cluster: `commands` Commands at once, each on all `nodes` nodes.
    Returns a result row (dict)."""
    run_id = f"{setting}-{int(time.time() * 1000)}"
    names = [f"bench-{setting}-{i}" for i in range(commands)]
    controller = start_controller(cluster, controller_args, timeout)
    agent_idle_ms_s = idle_agent_cpu(cluster)
    metrics = Client(admin)
    requests_before, bytes_before = measure.api_counters(metrics.text("/metrics"))
    load_at_start = os.getloadavg()[0]
    rss_before_mib = measure.status_kib(controller.pid, "VmRSS") / 1024
    cpu_before = measure.cpu_seconds(controller.pid)
    others_before = cpu_by_group(cluster)
    progress, started = observe(admin, names, nodes, lambda: create_all(admin, [command_body(n, run_id) for n in names]),
                                timeout)
    cpu = measure.cpu_seconds(controller.pid) - cpu_before
    others = {k: v - others_before[k] for k, v in cpu_by_group(cluster).items()}
    peak_mib = measure.status_kib(controller.pid, "VmHWM") / 1024
    requests_after, bytes_after = measure.api_counters(metrics.text("/metrics"))
    agents_total, agents_each = agent_memory(cluster)

    # The floor replays what this run wrote (its final status and its events), with the controller stopped.
    reader = Client(admin)
    finished = [reader.request("GET", f"{COMMANDS}/{n}") for n in names]
    events = reader.request("GET", EVENTS, query={"labelSelector": ""})["items"]
    by_command = {}
    for event in events:
        by_command.setdefault(event["involvedObject"]["name"], []).append(event)
    delete_all(cluster, run_id, timeout)
    controller.stop()
    floor_id = f"floor-{run_id}"
    floor_bodies = [command_body(f"floor-{setting}-{i}", floor_id) for i in range(commands)]
    created = create_all(admin, floor_bodies)
    floor = Floor(controller_credentials)
    floor_status, floor_events = floor.run([(c, f["status"], by_command.get(f["metadata"]["name"], []))
                                            for c, f in zip(created, finished)])
    floor.close()
    delete_all(cluster, floor_id, timeout)
    metrics.close()
    reader.close()

    requests = measure.difference(requests_after, requests_before)
    written = measure.difference(bytes_after, bytes_before)
    return {
        "nodes": nodes, "commands": commands, "setting": setting, "results": nodes * commands,
        "status_s": max(progress.status_done.values()) - started,
        "events_s": max(progress.events_done.values()) - started,
        "floor_s": floor_events, "floor_status_s": floor_status,
        "load": load_at_start, "rss_before_mib": rss_before_mib, "cpu_s": cpu, "api_cpu_s": others["apiserver+etcd"], "agents_cpu_s": others["agents"],
        "agent_idle_ms_s": agent_idle_ms_s, "peak_mib": peak_mib, "agents_mib": agents_total, "agent_mib": agents_each,
        "status_writes_seen": progress.status_writes, "largest_object_kib": progress.largest_object / 1024,
        "requests": requests_by_verb(requests),
        "status_bytes": int(written.get(("update", "commands"), 0)),
    }


def requests_by_verb(requests):
    """{"VERB resource": "count" or "count (non-2xx codes: count)"} for the resources Jarvis touches, most
    requested first."""
    totals, refused = {}, {}
    for (verb, resource, code), count in requests.items():
        if resource not in ("commands", "commands/status", "events", "endpointslices", "nodes", "leases"):
            continue
        key = f"{verb} {resource}"
        totals[key] = totals.get(key, 0) + int(count)
        if not code.startswith("2"):
            refused.setdefault(key, []).append(f"{code}: {int(count)}")
    return {key: str(total) + (f" ({', '.join(refused[key])})" if key in refused else "")
            for key, total in sorted(totals.items(), key=lambda kv: -kv[1])}


# Threads one agent process runs (its event loop and gRPC's pollers, timers and executors), counted with
# /proc/PID/task on the test machine, and a margin for everything else on the machine.
THREADS_PER_AGENT = 12
THREADS_MARGIN = 4000


def check_thread_room(nodes):
    """Each agent is a process with about a dozen threads, and every thread takes a PID: 5,000 agents need
    more than Linux's default kernel.pid_max (32768). Refuses, naming the setting, rather than letting agents
    fail to start threads halfway through the fleet."""
    needed = nodes * THREADS_PER_AGENT + THREADS_MARGIN
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    if needed > pid_max:
        sys.exit(f"{nodes} simulated nodes need about {needed} threads (PIDs); kernel.pid_max is {pid_max}. "
                 f"Raise it first, as root: sysctl -w kernel.pid_max={max(needed * 2, 65536)}")


def fleet_rows(args, nodes, commands, settings):
    check_thread_room(nodes)
    with tempfile.TemporaryDirectory(prefix=f"jarvis-bench-{nodes}-") as workdir:
        # The agents check their TLS files every 60 s (their default) instead of the tests' 1 s: an idle
        # agent's wake-ups are paid by every node of a fleet.
        cluster = Cluster(Path(workdir) / "cluster", nodes=nodes, jarvis=args.jarvis,
                          timeout=max(120.0, nodes * 0.5), tls_refresh_seconds=60)
        with cluster:
            cluster.apply_manifests(REPO_ROOT / "manifests")
            cluster.kubectl("wait", "--for=condition=Established", "crd/commands.jarvis.io", "--timeout=60s")
            admin = Credentials(cluster.admin_kubeconfig, workdir)
            controller = Credentials(cluster.controller_token_kubeconfig, workdir)
            rows = []
            for setting, extra in settings:
                rows.append(run_setting(cluster, admin, controller, nodes, commands, setting, extra, args.timeout))
                print(format_row(rows[-1]), flush=True)
            return rows


def merge_requests(rows):
    return "; ".join(f"{k} {v}" for k, v in rows["requests"].items())


HEADER = ("| nodes × Commands | setting | load at start | floor s | results in status s (× floor) | all events s (× floor) "
          "| bound without the controller s (× floor) | controller CPU s (per 1,000 results) | API server + etcd CPU s | agents CPU s | idle agent CPU ms/s | controller MiB before → peak | agents PSS MiB (per agent) "
          "| status updates seen | largest object KiB | status bytes written | API requests |")


def machine_bound_s(row):
    """The shortest the run could have taken with a controller that cost nothing: the CPU the API server, etcd and
    the agents used in it, spread perfectly over the machine's cores (they all run on this machine)."""
    return (row["api_cpu_s"] + row["agents_cpu_s"]) / (os.cpu_count() or 1)


def format_row(row):
    per_thousand = row["cpu_s"] * 1000 / row["results"]
    bound = machine_bound_s(row)
    return (f"| {row['nodes']} × {row['commands']} | {row['setting']} | {row['load']:.1f} | {row['floor_s']:.2f} "
            f"| {row['status_s']:.2f} ({row['status_s'] / row['floor_s']:.1f}×) "
            f"| {row['events_s']:.2f} ({row['events_s'] / row['floor_s']:.1f}×) "
            f"| {bound:.2f} ({bound / row['floor_s']:.1f}×) "
            f"| {row['cpu_s']:.2f} ({per_thousand:.2f}) | {row['api_cpu_s']:.2f} | {row['agents_cpu_s']:.2f} "
            f"| {row['agent_idle_ms_s']:.3f} | {row['rss_before_mib']:.0f} → {row['peak_mib']:.0f} "
            f"| {row['agents_mib']:.0f} ({row['agent_mib']:.1f}) | {row['status_writes_seen']} "
            f"| {row['largest_object_kib']:.0f} | {row['status_bytes']} | {merge_requests(row)} |")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", default="10,100,1000",
                        help="fleet sizes, comma-separated, or 0 for none (default 10,100,1000)")
    parser.add_argument("--burst", default="300x20",
                        help="COMMANDSxNODES for the burst scenario, or 0 for none (default 300x20)")
    parser.add_argument("--settings", default="default,raised",
                        help="controller settings to run: default (its own rate limits), raised "
                             f"({' '.join(RAISED + RAISED_EVENTS)}, the event flags when jarvis has them); "
                             "comma-separated (default both)")
    parser.add_argument("--jarvis", default=str(DEFAULT_JARVIS), help="the jarvis executable (default build/src/jarvis)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one run may take (default 900)")
    parser.add_argument("--output", default=str(HERE / "RESULTS.md"),
                        help="Markdown file the table is written to (default bench/RESULTS.md; - for none)")
    args = parser.parse_args(argv)
    try:
        args.sizes = [int(n) for n in args.nodes.split(",") if n and int(n) != 0]
        args.burst_shape = None if args.burst in ("0", "") else tuple(int(x) for x in args.burst.split("x"))
        if args.burst_shape is not None and len(args.burst_shape) != 2:
            raise ValueError(args.burst)
    except ValueError:
        parser.error(f"--nodes takes numbers like 10,100 and --burst COMMANDSxNODES like 300x20 (got {args.nodes!r}, "
                     f"{args.burst!r})")
    known = {"default": [], "raised": raised_flags(args.jarvis)}
    args.setting_list = []
    for name in args.settings.split(","):
        if name not in known:
            parser.error(f"--settings: unknown setting {name!r} (known: {', '.join(known)})")
        args.setting_list.append((name, known[name]))
    return args


def main(argv):
    args = parse_args(argv)
    description = measure.machine_description()
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"machine: {description}\n{HEADER}", flush=True)
    rows, failures = [], []
    plans = [(n, 1) for n in args.sizes]
    if args.burst_shape:
        plans.append((args.burst_shape[1], args.burst_shape[0]))
    for nodes, commands in plans:
        try:
            rows += fleet_rows(args, nodes, commands, args.setting_list)
        except Incomplete as error:
            failures.append(f"{nodes} nodes × {commands} Commands: {error}")
            print(f"FAILED {failures[-1]}", flush=True)
    if args.output != "-":
        write_results(Path(args.output), description, started, args, rows, failures)
    return 1 if failures else 0


def write_results(path, description, started, args, rows, failures):
    lines = [
        "# Fleet benchmark results", "",
        f"Written by `python3 bench/fleet_bench.py --nodes {args.nodes} --burst {args.burst} --settings "
        f"{args.settings}` at commit {measure.git_commit(REPO_ROOT)}, {started}.", "",
        f"Machine: {description}.", "",
        "Floor: a plain client with no rate limit and 32 connections writing two status updates per Command and "
        "one event per node (copies of what Jarvis wrote) to the same API server in the same run. Times run "
        "from the first Command's creation; ratios are against the floor's total. \"Bound without the controller\" is "
        "the CPU the API server, etcd and the agents used in the run spread over every core: no controller, however "
        "cheap, could have brought the results in sooner on this machine. Settings: `default` is the "
        f"controller's own API rate limits, `raised` adds `{' '.join(dict(args.setting_list).get('raised', RAISED))}`.",
        "",
        HEADER,
        "|" + "---|" * HEADER.count(" | ") + "---|",
        *map(format_row, rows), "",
    ]
    if failures:
        lines += ["Runs that did not complete:", *[f"- {f}" for f in failures], ""]
    path.write_text("\n".join(lines))
    print(f"results written to {path}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
