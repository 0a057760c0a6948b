"""Exactly once under crashes (issue 10): a real kube-apiserver + etcd, real agents with their journals, the
real controller SIGKILLed at random points. Every (Command uid, generation, node) that the controller decided
to run appends one line to a file named after its execution id, so a double run or a dropped run shows.

    /usr/bin/python3 -m pytest -q test/e2e/test_exactly_once.py
"""
import json
import os
import random
import signal
import subprocess
import time

import pytest

from conftest import shared_cluster

from controller_helpers import (MANIFESTS, NAMESPACE, apply, command_object, get_command, node_results,
                                start_synced_controller, wait_for_phase)
from deadline import wait_until

NODES = 10
# A fixed seed so a failure can be replayed, and a fresh one per run so runs explore other interleavings.
FIXED_SEED = 20261129


@pytest.fixture(scope="module")
def fleet(request, jarvis_binary, tmp_path_factory):
    """A 10-node cluster with manifests/ installed and one controller."""
    for cluster in shared_cluster(request, jarvis_binary, tmp_path_factory, nodes=NODES):
        cluster.apply_manifests(MANIFESTS)
        cluster.kubectl("wait", "--for=condition=Established", "crd/commands.jarvis.io", "--timeout=30s")
        cluster.controller = start_synced_controller(cluster, "--log-level=debug")
        cluster.wait_agents_trust_controller()
        yield cluster
        if cluster.controller.alive():
            cluster.controller.stop(signal.SIGTERM)


def marker_command(workdir, generation_text, linger_tenths):
    """Appends the execution id to a file named after it, then lingers briefly so kills land mid-run."""
    return (f'echo "$JARVIS_EXECUTION_ID" >> {workdir}/"$JARVIS_EXECUTION_ID"; '
            f'echo {generation_text}; sleep 0.{linger_tenths}')


def restart_controller(cluster):
    cluster.controller.kill()
    cluster.controller = start_synced_controller(cluster, "--log-level=debug")


def agent_wait(cluster, agentctl, node, execution_id):
    """The agent's answer to Wait for execution_id, asked with the current controller's certificate."""
    tls = cluster.dir / f"controller-{len(cluster._controllers)}-tls"
    result = agentctl(cluster.agent_target(node), "--ca", tls / "ca.crt", "--cert", tls / "tls.crt",
                      "--key", tls / "tls.key", "wait", "--id", execution_id)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def check_one_line_per_execution(workdir, expected_ids):
    files = {p.name: p.read_text().splitlines() for p in workdir.iterdir() if p.is_file() and p.name != "gate"}
    assert sorted(files) == sorted(expected_ids), "ran where it should not, or not where it should"
    for name, lines in files.items():
        assert lines == [name], f"{name} ran {len(lines)} times"


def test_controller_sigkilled_at_random_points_runs_every_generation_exactly_once(fleet, workdir):
    run_seed = int.from_bytes(os.urandom(4), "big")
    print(f"crash loop seeds: fixed {FIXED_SEED}, this run {run_seed}")
    expected = set()
    finals = {}
    for seed in (FIXED_SEED, run_seed):
        rng = random.Random(seed)
        names = [f"crash-{seed % 1000}-{i}" for i in range(2)]
        for round_number in range(10):
            name = names[round_number % len(names)]
            existing = get_command(fleet, name)
            generation_text = f"r{round_number}"
            apply(fleet, command_object(name, marker_command(workdir, generation_text, rng.randint(1, 9)),
                                        timeout_seconds=120))
            # A random point of the run: before the dispatch write, between it and the Starts, or mid-run.
            time.sleep(rng.uniform(0.0, 1.5))
            restart_controller(fleet)
            obj = get_command(fleet, name)
            generation = obj["metadata"]["generation"]
            assert existing is None or generation == existing["metadata"]["generation"] + 1
            obj = wait_for_phase(fleet, name, timeout=120, generation=generation)
            finals[(name, generation)] = obj
            for node in node_results(obj):
                expected.add(f'{obj["metadata"]["uid"]}.g{generation}.{node}')
    for (name, generation), obj in finals.items():
        status = obj["status"]
        reasons = {r["reason"] for r in node_results(obj).values()}
        assert status["phase"] == "Succeeded", (name, generation, status.get("message"), reasons)
        assert status["targeted"] == NODES and status["succeeded"] == NODES
        assert "Lost" not in reasons
    assert len(expected) == len(finals) * NODES
    check_one_line_per_execution(workdir, expected)


def test_agent_sigkilled_mid_run_is_reported_interrupted_and_never_rerun(fleet, workdir, agentctl):
    node = "kind-worker3"
    older = "before-crash"
    apply(fleet, command_object(older, f'echo older-output; echo "$JARVIS_EXECUTION_ID" >> {workdir}/"$JARVIS_EXECUTION_ID"'))
    older_obj = wait_for_phase(fleet, older, timeout=60)
    assert older_obj["status"]["phase"] == "Succeeded"
    older_id = node_results(older_obj)[node]["executionId"]

    gate = workdir / "gate"
    apply(fleet, command_object("agent-crash",
                                f'echo "$JARVIS_EXECUTION_ID" >> {workdir}/"$JARVIS_EXECUTION_ID"; '
                                f'while [ ! -e {gate} ]; do sleep 0.1; done', timeout_seconds=120))
    wait_until(lambda: len(list(workdir.glob("*.g1.*"))) == 2 * NODES, 60, "the command to start on every node")
    fleet.stop_agent(node, signal.SIGKILL)
    fleet.start_agent(node)
    gate.touch()
    obj = wait_for_phase(fleet, "agent-crash", timeout=120)
    results = node_results(obj)
    assert results[node]["phase"] == "Failed"
    assert results[node]["reason"] == "Interrupted", results[node]
    assert "interrupted" in results[node]["message"]
    others = [r for n, r in results.items() if n != node]
    assert all(r["phase"] == "Succeeded" for r in others), others
    run_ids = [r["executionId"] for r in results.values()] + [r["executionId"] for r in node_results(older_obj).values()]
    check_one_line_per_execution(workdir, run_ids)
    # The restarted agent still serves the older result from its journal.
    served = agent_wait(fleet, agentctl, node, older_id)
    assert served["state"] == "STATE_SUCCEEDED" and "older-output" in served["output"], served


@pytest.mark.parametrize("order", ["controller-first", "agent-first"])
def test_controller_and_agent_both_sigkilled_mid_run_run_nothing_twice(fleet, workdir, order):
    node = "kind-worker5"
    name = f"both-{order}"
    gate = workdir / "gate"
    apply(fleet, command_object(name, f'echo "$JARVIS_EXECUTION_ID" >> {workdir}/"$JARVIS_EXECUTION_ID"; '
                                      f'while [ ! -e {gate} ]; do sleep 0.1; done', timeout_seconds=120))
    wait_until(lambda: len(list(workdir.glob("*"))) == NODES, 60, "the command to start on every node")
    if order == "controller-first":
        fleet.controller.kill()
        fleet.stop_agent(node, signal.SIGKILL)
    else:
        fleet.stop_agent(node, signal.SIGKILL)
        fleet.controller.kill()
    fleet.start_agent(node)
    fleet.controller = start_synced_controller(fleet, "--log-level=debug")
    gate.touch()
    obj = wait_for_phase(fleet, name, timeout=120)
    results = node_results(obj)
    assert results[node]["reason"] == "Interrupted", results[node]
    assert all(r["phase"] == "Succeeded" for n, r in results.items() if n != node)
    check_one_line_per_execution(workdir, [r["executionId"] for r in results.values()])


def test_controller_killed_while_starts_wait_for_a_slot_runs_each_node_once(fleet, workdir):
    """With --max-concurrent-starts=1 and the first node's agent stopped (SIGSTOP: it accepts the TCP
    connection and never answers), that node's Start holds the only slot and the other nine, already recorded
    Dispatched, wait behind it, never sent. The controller is SIGKILLed in that state; the agent continues,
    and a new controller resumes them all: every node runs exactly once (the stopped agent may still read the
    dead controller's Start, then dedups the resumed one by execution id), none is reported Lost."""
    first = sorted(n.name for n in fleet.nodes)[0]  # the trackers ask for slots in node order (FIFO)
    fleet.controller.kill()
    fleet.controller = start_synced_controller(fleet, "--log-level=debug", "--max-concurrent-starts=1")
    name = "queued-starts"
    os.kill(fleet.agent_pid(first), signal.SIGSTOP)
    try:
        apply(fleet, command_object(name, f'echo "$JARVIS_EXECUTION_ID" >> {workdir}/"$JARVIS_EXECUTION_ID"',
                                    timeout_seconds=120))

        def dispatched():
            obj = get_command(fleet, name)
            nodes = node_results(obj) if obj and "status" in obj else {}
            return len(nodes) == NODES and all(r.get("executionId") for r in nodes.values())
        wait_until(dispatched, 30, "every node to be recorded Dispatched", interval=0.05)
        # The Start to the stopped agent takes the slot for up to its 10 s deadline; nothing else may have run.
        assert not list(workdir.iterdir()), "a Start went out beside the one holding the only slot"
        fleet.controller.kill()
    finally:
        os.kill(fleet.agent_pid(first), signal.SIGCONT)
    fleet.controller = start_synced_controller(fleet, "--log-level=debug")
    obj = wait_for_phase(fleet, name, timeout=120)
    results = node_results(obj)
    assert obj["status"]["phase"] == "Succeeded", (obj["status"].get("message"), results)
    assert {r["reason"] for r in results.values()} == {"Exited"}, results
    check_one_line_per_execution(workdir, [r["executionId"] for r in results.values()])


def test_first_agent_call_after_a_restart_succeeds(fleet, workdir):
    """The controller loads its TLS files before it reconciles: no Start fails for want of credentials."""
    fleet.controller.stop(signal.SIGTERM)
    fleet.controller = start_synced_controller(fleet, "--log-level=debug")
    apply(fleet, command_object("first-call", f'echo "$JARVIS_EXECUTION_ID" >> {workdir}/"$JARVIS_EXECUTION_ID"'))
    obj = wait_for_phase(fleet, "first-call", timeout=60)
    assert obj["status"]["phase"] == "Succeeded"
    log = fleet.controller.log_text()
    assert "could not start execution" not in log
    assert '"msg":"start failed, retrying"' not in log
    assert "TLS credentials are not ready" not in log


def test_full_journal_disk_refuses_the_start_and_reports_the_node_failed(fleet, workdir):
    """The node's state directory on a small tmpfs, filled up: the agent refuses Start (nothing runs
    unrecorded) and the controller reports the node StartFailed with the agent's message."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    node = "kind-worker7"
    state_dir = fleet.agent_state_dir(node)
    fleet.stop_agent(node)
    saved = workdir / "saved-state"
    os.rename(state_dir, saved)
    state_dir.mkdir(mode=0o700)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(state_dir)], check=True)
    try:
        fleet.start_agent(node)
        try:  # the journal may already have taken the space
            with open(state_dir / "filler", "wb") as f:
                while True:
                    f.write(b"\0" * 4096)
                    f.flush()
        except OSError:
            pass
        name = "disk-full"
        apply(fleet, command_object(name, f'echo ran >> {workdir}/"$JARVIS_EXECUTION_ID"', selector={
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}))
        obj = wait_for_phase(fleet, name, timeout=90)
        result = node_results(obj)[node]
        assert (result["phase"], result["reason"]) == ("Failed", "StartFailed"), result
        assert "journal" in result["message"] and "No space left on device" in result["message"], result
        assert not list(workdir.glob("*.g1.*")), "the command ran although it could not be recorded"
    finally:
        fleet.stop_agent(node)
        subprocess.run(["umount", str(state_dir)], check=False)
        state_dir.rmdir()
        os.rename(saved, state_dir)
        fleet.start_agent(node)
