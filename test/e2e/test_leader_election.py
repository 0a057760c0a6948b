"""Two controller replicas with --leader-elect (issue 13): one Lease, one leader, fast and safe hand-overs.
A real kube-apiserver + etcd, real agents with their journals, real controllers killed, stopped, terminated.
Every (Command uid, generation, node) run appends one line to a file named after its execution id, so a double
run or a dropped run shows. Short lease timings keep it fast; the rules are the same as with the defaults.

    /usr/bin/python3 -m pytest -v -s test/e2e/test_leader_election.py
"""
import json
import os
import random
import re
import signal
import time
from datetime import datetime

import pytest

from conftest import shared_cluster

from controller_helpers import (MANIFESTS, NAMESPACE, apply, command_object, events_for, get_command, wait_for_events, node_results,
                                wait_for_phase)
from deadline import wait_until

NODES = 10
LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD = 3.0, 2.0, 0.5
LEADER_ELECTION = ["--leader-elect", f"--leader-elect-lease-duration={int(LEASE_DURATION)}s",
                   f"--leader-elect-renew-deadline={int(RENEW_DEADLINE)}s",
                   f"--leader-elect-retry-period={int(RETRY_PERIOD * 1000)}ms"]
FIXED_SEED = 20261130


# ---- the Lease and the replicas

def lease(cluster):
    result = cluster.kubectl("get", "lease", "jarvis-controller", "-n", NAMESPACE, "-o", "json", check=False)
    if result.returncode != 0:
        assert "NotFound" in result.stderr, result.stderr
        return None
    return json.loads(result.stdout)


def holder(cluster):
    held = lease(cluster)
    return (held or {}).get("spec", {}).get("holderIdentity", "")


def start_replica(cluster):
    """A controller with leader election; its identity starts with replica-N (N: its controller-N.log)."""
    name = f"replica-{len(cluster._controllers) + 1}"
    controller = cluster.start_controller(["--log-level=debug", *LEADER_ELECTION], env={"POD_NAME": name})
    controller.name = name
    return controller


class Replicas:
    """The two replicas of a Deployment: the one whose identity holds the Lease leads; a replica that exited is
    replaced by a fresh one (as the Deployment would)."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.running = []

    def fill(self):
        self.running = [c for c in self.running if c.alive()]
        while len(self.running) < 2:
            self.running.append(start_replica(self.cluster))

    def of(self, identity):
        return next((c for c in self.running if identity.startswith(c.name + "_")), None)

    def wait_leader(self, timeout=60, other_than=None):
        """The running replica that holds the Lease (and not other_than), once its workers reconcile."""
        def led():
            current = self.of(holder(self.cluster))
            if current is None or current is other_than or not current.alive():
                return None
            return current
        leader = wait_until(led, timeout, "a running replica to hold the Lease", interval=0.1)
        wait_until(lambda: '"msg":"caches synced; reconciling' in leader.log_text(), 60,
                   f"{leader.name} to reconcile")
        return leader

    def wait_standby_synced(self, timeout=60):
        for c in self.running:
            wait_until(lambda: any(m in c.log_text() for m in ('"msg":"caches synced; standing by',
                                                               '"msg":"caches synced; reconciling')),
                       timeout, f"{c.name} to sync its caches")

    def stop_all(self):
        for c in self.running:
            if c.alive():
                c.stop(signal.SIGTERM)


@pytest.fixture(scope="module")
def fleet(request, jarvis_binary, tmp_path_factory):
    """A 10-node cluster with manifests/ installed (the controller's RBAC includes the Lease) and two replicas."""
    for cluster in shared_cluster(request, jarvis_binary, tmp_path_factory, nodes=NODES):
        cluster.apply_manifests(MANIFESTS)
        cluster.kubectl("wait", "--for=condition=Established", "crd/commands.jarvis.io", "--timeout=30s")
        cluster.replicas = Replicas(cluster)
        cluster.replicas.fill()
        cluster.replicas.wait_leader()
        cluster.wait_agents_trust_controller()
        yield cluster
        cluster.replicas.stop_all()


@pytest.fixture
def replicas(fleet):
    fleet.replicas.fill()
    fleet.replicas.wait_standby_synced()
    return fleet.replicas


def marker_command(workdir, text, linger):
    return f'echo "$JARVIS_EXECUTION_ID" >> {workdir}/"$JARVIS_EXECUTION_ID"; echo {text}; sleep {linger}'


def check_one_line_per_execution(workdir, expected_ids):
    files = {p.name: p.read_text().splitlines() for p in workdir.iterdir() if p.is_file()}
    assert sorted(files) == sorted(expected_ids), "ran where it should not, or not where it should"
    for name, lines in files.items():
        assert lines == [name], f"{name} ran {len(lines)} times"


def expected_ids(obj):
    generation = obj["metadata"]["generation"]
    return [f'{obj["metadata"]["uid"]}.g{generation}.{node}' for node in node_results(obj)]


def assert_all_succeeded(obj):
    status = obj["status"]
    reasons = {r["reason"] for r in node_results(obj).values()}
    assert status["phase"] == "Succeeded", (obj["metadata"]["name"], status.get("message"), reasons)
    assert status["targeted"] == NODES and status["succeeded"] == NODES


def log_time(controller, message):
    """The time (seconds since the epoch) of the first log line of controller with msg `message`."""
    for line in controller.log_text().splitlines():
        if f'"msg":"{message}"' in line:
            return datetime.fromisoformat(json.loads(line)["time"].replace("Z", "+00:00")).timestamp()
    return None


def leaders_in_logs(fleet):
    return [c for c in fleet._controllers if '"msg":"became the leader"' in c.log_text()]


# ---- the tests

def test_one_replica_holds_the_lease_and_a_sigkilled_leader_is_replaced_within_the_lease_duration(
        fleet, replicas, workdir):
    leader = replicas.wait_leader()
    standby = next(c for c in replicas.running if c is not leader)
    out = fleet.kubectl("get", "lease", "-n", NAMESPACE).stdout
    print(out)
    assert "jarvis-controller" in out and leader.name in out and standby.name not in out
    assert '"msg":"became the leader"' not in standby.log_text()
    assert '"msg":"caches synced; standing by"' in standby.log_text()

    apply(fleet, command_object("sigkill", marker_command(workdir, "k", 2), timeout_seconds=120))
    wait_until(lambda: len(list(workdir.iterdir())) >= 1, 60, "the run to start on a node")
    killed_at = time.time()
    leader.kill()
    new_leader = replicas.wait_leader(other_than=leader, timeout=30)
    assert new_leader is standby
    took = log_time(standby, "became the leader") - killed_at
    bound = LEASE_DURATION + 2.2 * RETRY_PERIOD  # a candidate's retry period is jittered up to 2.2 times
    print(f"SIGKILLed leader replaced after {took:.2f} s (lease duration {LEASE_DURATION} s + 2.2 x retry period "
          f"{RETRY_PERIOD} s = {bound} s)")
    # The bound, plus room for one Lease read and write on a loaded machine.
    assert took <= bound + 1.0
    obj = wait_for_phase(fleet, "sigkill", timeout=120)
    assert_all_succeeded(obj)
    check_one_line_per_execution(workdir, expected_ids(obj))


def test_a_stopped_leader_woken_after_the_hand_over_exits_without_acting(fleet, replicas, workdir):
    leader = replicas.wait_leader()
    standby = next(c for c in replicas.running if c is not leader)
    apply(fleet, command_object("sigstop", marker_command(workdir, "s", 2), timeout_seconds=120))
    # Stopped with the run in flight: dispatched, trackers waiting on the agents.
    wait_until(lambda: len(list(workdir.iterdir())) >= 1, 60, "the run to start on a node")
    leader.send_signal(signal.SIGSTOP)
    try:
        replicas.wait_leader(other_than=leader, timeout=30)
        obj = wait_for_phase(fleet, "sigstop", timeout=120)
        assert_all_succeeded(obj)
        # The old leader's trackers still wait on the agents: their Waits complete when it wakes up.
        events_before = len(wait_for_events(fleet, "sigstop", NODES))
        version_before = obj["metadata"]["resourceVersion"]
        log_before = len(leader.log_text())
    finally:
        leader.send_signal(signal.SIGCONT)
    status = leader.wait(timeout=30)
    assert status == 1, f"the deposed leader exited {status}"
    woke = leader.log_text()[log_before:]
    print(woke)
    assert '"msg":"lost the leader lease; stopping"' in woke
    for acted in ('"msg":"dispatching command"', '"msg":"resuming dispatched execution"', '"msg":"command finished"',
                  '"msg":"released the leader lease"'):
        assert acted not in woke
    after = get_command(fleet, "sigstop")
    assert after["metadata"]["resourceVersion"] == version_before, "the deposed leader wrote the status"
    assert len(events_for(fleet, "sigstop")) == events_before, "the deposed leader posted events"
    assert lease(fleet)["spec"]["holderIdentity"].startswith(standby.name + "_")
    check_one_line_per_execution(workdir, expected_ids(after))


def test_twenty_failovers_during_runs_run_everything_once_and_lose_nothing(fleet, replicas, workdir):
    run_seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(FIXED_SEED ^ run_seed)
    print(f"failover seeds: fixed {FIXED_SEED}, this run {run_seed}")
    finals = {}
    names = ["failover-a", "failover-b"]
    started = time.monotonic()
    for round_number in range(20):
        name = names[round_number % 2]
        apply(fleet, command_object(name, marker_command(workdir, f"r{round_number}", f"0.{rng.randint(1, 9)}"),
                                    timeout_seconds=120))
        generation = get_command(fleet, name)["metadata"]["generation"]
        leader = replicas.wait_leader()
        time.sleep(rng.uniform(0.0, 1.0))  # a random point of the run: before, during or after its dispatch
        how = rng.choice([signal.SIGKILL, signal.SIGTERM])
        leader.stop(how) if how == signal.SIGTERM else leader.kill()
        replicas.fill()
        replicas.wait_leader(other_than=leader, timeout=60)
        finals[(name, generation)] = wait_for_phase(fleet, name, timeout=120, generation=generation)
    print(f"20 failovers in {time.monotonic() - started:.1f} s")
    expected = []
    for obj in finals.values():
        assert_all_succeeded(obj)
        assert "Lost" not in {r["reason"] for r in node_results(obj).values()}
        expected += expected_ids(obj)
    assert len(expected) == 20 * NODES
    check_one_line_per_execution(workdir, expected)


def test_a_terminated_leader_hands_the_lease_over_within_two_seconds(fleet, replicas, workdir):
    leader = replicas.wait_leader()
    standby = next(c for c in replicas.running if c is not leader)
    apply(fleet, command_object("sigterm", marker_command(workdir, "t", 1), timeout_seconds=120))
    wait_until(lambda: len(list(workdir.iterdir())) >= 1, 60, "the run to start on a node")
    sent = time.monotonic()
    leader.send_signal(signal.SIGTERM)
    wait_until(lambda: holder(fleet).startswith(standby.name + "_"), 10, "the standby to hold the Lease",
               interval=0.05)
    took = time.monotonic() - sent
    print(f"Lease held by the standby {took:.2f} s after SIGTERM to the leader")
    assert took <= 2.0
    assert leader.wait(timeout=30) == 0
    assert '"msg":"released the leader lease"' in leader.log_text()
    obj = wait_for_phase(fleet, "sigterm", timeout=120)
    assert_all_succeeded(obj)
    check_one_line_per_execution(workdir, expected_ids(obj))


def test_an_api_server_outage_past_the_renew_deadline_deposes_the_leader_and_one_leader_recovers(
        fleet, replicas, workdir):
    leader = replicas.wait_leader()
    apply(fleet, command_object("outage", marker_command(workdir, "o", 3), timeout_seconds=120))
    wait_until(lambda: len(list(workdir.iterdir())) >= 1, 60, "the run to start on a node")
    fleet.stop_apiserver()
    try:
        status = leader.wait(timeout=RENEW_DEADLINE + 30)
    finally:
        fleet.start_apiserver()
    assert status == 1, f"the leader exited {status}"
    assert re.search(r'"msg":"lost the leader lease; stopping".*renew-deadline', leader.log_text())
    replicas.fill()
    new_leader = replicas.wait_leader(other_than=leader, timeout=60)
    obj = wait_for_phase(fleet, "outage", timeout=120)
    assert_all_succeeded(obj)
    # One leader: the other running replica stands by.
    for c in replicas.running:
        if c is not new_leader:
            assert not c.alive() or holder(fleet).startswith(new_leader.name + "_")
    apply(fleet, command_object("after-outage", marker_command(workdir, "a", 0), timeout_seconds=60))
    after = wait_for_phase(fleet, "after-outage", timeout=120)
    assert_all_succeeded(after)
    check_one_line_per_execution(workdir, expected_ids(obj) + expected_ids(after))


# ---- a slow credential exec plugin (issue 24, point 3)

PLUGIN_SLEEP = 20  # seconds the plugin takes on every run after the first
TOKEN_LIFETIME = 52  # seconds: the controller runs the plugin again past half of it, while it leads

EXEC_PLUGIN = """#!/bin/sh
# Prints the controller's token (the API server's static token file accepts it) with a short expiry; every run
# after the first takes PLUGIN_SLEEP seconds. Logs its runs with their start and end times.
dir=$(dirname "$0")
run=$(( $(cat "$dir/runs" 2>/dev/null || echo 0) + 1 ))
echo "$run" > "$dir/runs"
echo "start $run $(date +%s.%N)" >> "$dir/plugin.log"
[ "$run" -gt 1 ] && sleep {sleep}
expiry=$(date -u -d "+{lifetime} seconds" +%Y-%m-%dT%H:%M:%SZ)
printf '{{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{{"token":"%s","expirationTimestamp":"%s"}}}}' {token} "$expiry"
echo "end $run $(date +%s.%N)" >> "$dir/plugin.log"
"""


def exec_plugin_kubeconfig(cluster, directory):
    """The controller's token kubeconfig with the token replaced by the exec plugin above."""
    plugin = directory / "token-plugin.sh"
    plugin.write_text(EXEC_PLUGIN.format(sleep=PLUGIN_SLEEP, lifetime=TOKEN_LIFETIME, token=cluster.controller_token))
    plugin.chmod(0o755)
    text = cluster.controller_token_kubeconfig.read_text()
    token_line = f"    token: {cluster.controller_token}\n"
    assert token_line in text
    exec_user = ("    exec:\n"
                 "      apiVersion: client.authentication.k8s.io/v1\n"
                 f"      command: {plugin}\n"
                 "      interactiveMode: Never\n")
    kubeconfig = directory / "exec-plugin.kubeconfig"
    kubeconfig.write_text(text.replace(token_line, exec_user))
    kubeconfig.chmod(0o600)
    return kubeconfig


def plugin_runs(directory):
    """{run number: (start, end or None)} from the plugin's log."""
    runs = {}
    path = directory / "plugin.log"
    for line in (path.read_text().splitlines() if path.exists() else []):
        what, run, at = line.split()
        start, end = runs.get(int(run), (None, None))
        runs[int(run)] = (float(at), end) if what == "start" else (start, float(at))
    return runs


def test_a_leader_whose_exec_plugin_takes_twenty_seconds_keeps_its_lease(fleet, replicas, tmp_path):
    """The controller's kubeconfig user is an exec plugin that takes 20 s. Its token is renewed while the
    controller leads: the Lease is renewed all along (every retry period), no standby takes it, the leader
    goes on."""
    replicas.stop_all()
    replicas.running = []
    name = f"replica-{len(fleet._controllers) + 1}"
    leader = fleet.start_controller(["--log-level=debug", *LEADER_ELECTION],
                                    kubeconfig=exec_plugin_kubeconfig(fleet, tmp_path), env={"POD_NAME": name})
    leader.name = name
    replicas.running.append(leader)
    assert replicas.wait_leader(timeout=60) is leader
    replicas.fill()  # a standby with the ordinary token kubeconfig, ready to take the Lease 3 s after it stalls
    transitions = lease(fleet)["spec"].get("leaseTransitions", 0)

    def lost():
        assert '"msg":"lost the leader lease' not in leader.log_text(), leader.log_text()[-3000:]
        assert leader.alive(), f"the leader exited {leader.returncode}"

    # The plugin runs again (past half the token's lifetime), then 20 s: renewals go on meanwhile.
    wait_until(lambda: lost() or 2 in plugin_runs(tmp_path), TOKEN_LIFETIME + 30, "the plugin's second run")
    renewals = set()

    def second_run_over():
        lost()
        held = lease(fleet)["spec"]
        assert held["holderIdentity"].startswith(name + "_"), f"the Lease went to {held['holderIdentity']}"
        renewals.add(held["renewTime"])
        return plugin_runs(tmp_path)[2][1] is not None

    wait_until(second_run_over, PLUGIN_SLEEP + 30, "the plugin's second run to end", interval=0.5)
    start, end = plugin_runs(tmp_path)[2]
    print(f"plugin run 2 took {end - start:.1f} s; {len(renewals)} Lease renewals seen meanwhile")
    assert end - start >= PLUGIN_SLEEP
    # A renewal every retry period (0.5 s), sampled every 0.5 s plus a kubectl call: many; a stalled loop: one.
    assert len(renewals) >= PLUGIN_SLEEP // 4
    # Still leading afterwards, with the new token, and never handed over.
    wait_until(lambda: lost() or lease(fleet)["spec"]["renewTime"] not in renewals, 10, "one more renewal")
    assert lease(fleet)["spec"].get("leaseTransitions", 0) == transitions
    assert leader.stop(signal.SIGTERM) == 0
    replicas.running = [c for c in replicas.running if c is not leader]
