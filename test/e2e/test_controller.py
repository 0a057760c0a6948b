"""End-to-end tests of the controller (issue 4): a real kube-apiserver + etcd, the real kubectl, real agent
processes, and `jarvis --role=controller` running as system:serviceaccount:jarvis:jarvis-controller with
exactly the RBAC in manifests/.

    /usr/bin/python3 -m pytest -q test/e2e/test_controller.py
"""
import json
import random
import signal
import socket
from pathlib import Path

import pytest

from controller_helpers import (MANIFESTS, NAMESPACE, SAMPLES, apply, command_object, events_for, expressions,
                                get_command, node_results, processes_matching, start_synced_controller,
                                wait_for_events, wait_for_phase, wait_reconciled)
from deadline import wait_until

ALL_NODES = ["kind-control-plane", "kind-worker", "kind-worker2"]


@pytest.fixture(scope="module")
def jarvis(cluster):
    """The module's cluster with manifests/ installed and one controller running."""
    cluster.apply_manifests(MANIFESTS)
    cluster.kubectl("wait", "--for=condition=Established", "crd/commands.jarvis.io", "--timeout=30s")
    cluster.controller = start_synced_controller(cluster, "--log-level=debug")
    cluster.wait_agents_trust_controller()
    yield cluster
    if cluster.controller.alive():
        assert cluster.controller.stop(signal.SIGTERM) == 0, cluster.controller.log_text()[-3000:]


def lines(path):
    return Path(path).read_text().splitlines()


def test_seed_sample_runs_on_every_linux_node(jarvis):
    jarvis.kubectl("apply", "-f", SAMPLES / "v1_command.yaml")
    obj = wait_for_phase(jarvis, "command-sample")
    status = obj["status"]
    assert status["phase"] == "Succeeded", status
    assert (status["targeted"], status["succeeded"], status["failed"]) == (3, 3, 0)
    results = node_results(obj)
    assert sorted(results) == ALL_NODES
    for node, result in results.items():
        assert result["phase"] == "Succeeded" and result["exitCode"] == 0, result
        assert "PID" in result["output"] and result["startTime"] and result["endTime"]

    events = wait_for_events(jarvis, "command-sample", 3)
    assert sorted(e["reason"] for e in events) == [f"command-sample-{n}" for n in ALL_NODES]
    for event in events:
        assert event["type"] == "Normal"
        assert event["source"]["component"] == "command-controller"
        assert event["involvedObject"]["kind"] == "Command" and event["involvedObject"]["uid"] == obj["metadata"]["uid"]
        first, _, rest = event["message"].partition("\n")
        assert first == "❯ ps -eo pid,comm,%cpu,%mem --sort=-%cpu | head -n 10"
        assert rest.split()[:4] == ["PID", "COMMAND", "%CPU", "%MEM"]

    listed = jarvis.kubectl("get", "events", "-n", NAMESPACE, "--field-selector",
                            "involvedObject.name=command-sample").stdout
    for node in ALL_NODES:
        assert f"command-sample-{node}" in listed and "command/command-sample" in listed
    described = jarvis.kubectl("describe", "command", "command-sample", "-n", NAMESPACE).stdout
    assert "command-controller" in described
    for node in ALL_NODES:
        assert f"Normal  command-sample-{node}" in described
    got = jarvis.kubectl("get", "command", "-n", NAMESPACE, "command-sample").stdout
    assert "Succeeded" in got.splitlines()[1]
    # Besides the per-node events, one summary event for the run, its results folded.
    summary = wait_for_events(jarvis, "command-sample", 4, summaries=True)
    completed = [e for e in summary if e["reason"] == "Completed"]
    assert len(completed) == 1 and completed[0]["type"] == "Normal", summary
    assert completed[0]["message"].startswith("❯ ps -eo pid,comm,%cpu,%mem --sort=-%cpu | head -n 10\n"
                                              "succeeded on all 3 node(s)\n"), completed[0]["message"]


def test_seed_sample_by_hostname_runs_on_one_node(jarvis):
    jarvis.kubectl("apply", "-f", SAMPLES / "hostname_one_node.yaml")
    obj = wait_for_phase(jarvis, "sample-command")
    assert obj["status"]["phase"] == "Succeeded"
    assert list(node_results(obj)) == ["kind-worker"]
    events = wait_for_events(jarvis, "sample-command", 1)
    assert len(events) == 1
    assert events[0]["reason"] == "sample-command-kind-worker"
    assert events[0]["message"] == f"❯ hostname\n{socket.gethostname()}"


@pytest.mark.parametrize("name,selector,expected", [
    ("sel-in", expressions({"key": "kubernetes.io/hostname", "operator": "In", "values": ["kind-worker", "kind-worker2"]}),
     ["kind-worker", "kind-worker2"]),
    ("sel-notin", expressions({"key": "kubernetes.io/hostname", "operator": "NotIn", "values": ["kind-worker"]}),
     ["kind-control-plane", "kind-worker2"]),
    ("sel-exists", expressions({"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}),
     ["kind-control-plane"]),
    ("sel-doesnotexist", expressions({"key": "node-role.kubernetes.io/control-plane", "operator": "DoesNotExist"}),
     ["kind-worker", "kind-worker2"]),
    ("sel-gt", expressions({"key": "e2e.jarvis.io/rank", "operator": "Gt", "values": ["4"]}),
     ["kind-worker", "kind-worker2"]),
    ("sel-lt", expressions({"key": "e2e.jarvis.io/rank", "operator": "Lt", "values": ["7"]}),
     ["kind-control-plane", "kind-worker"]),
    ("sel-gt-lt", expressions({"key": "e2e.jarvis.io/rank", "operator": "Gt", "values": ["1"]},
                              {"key": "e2e.jarvis.io/rank", "operator": "Lt", "values": ["10"]}),
     ["kind-worker"]),
    ("sel-fields", {"nodeSelectorTerms": [{"matchFields": [
        {"key": "metadata.name", "operator": "In", "values": ["kind-worker2"]}]}]},
     ["kind-worker2"]),
    ("sel-two-terms", {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["kind-worker2"]}]},
        {"matchExpressions": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]}]},
     ["kind-control-plane", "kind-worker2"]),
    ("sel-none", None, ALL_NODES),
])
def test_selector_variants(jarvis, name, selector, expected):
    for node, rank in (("kind-control-plane", "1"), ("kind-worker", "5"), ("kind-worker2", "10")):
        jarvis.kubectl("label", "node", node, f"e2e.jarvis.io/rank={rank}", "--overwrite")
    apply(jarvis, command_object(name, "echo selected", selector))
    obj = wait_for_phase(jarvis, name)
    assert sorted(node_results(obj)) == expected
    assert obj["status"]["phase"] == "Succeeded"
    events = wait_for_events(jarvis, name, len(expected))
    assert sorted(e["reason"] for e in events) == [f"{name}-{n}" for n in expected]


def test_selector_matching_no_node_fails_at_once(jarvis):
    apply(jarvis, command_object("sel-nothing", "echo never", expressions(
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["no-such-node"]})))
    obj = wait_for_phase(jarvis, "sel-nothing")
    assert obj["status"]["phase"] == "Failed"
    assert obj["status"]["targeted"] == 0
    assert "matched no node" in obj["status"]["message"]
    events = wait_for_events(jarvis, "sel-nothing", 1)
    assert events[0]["type"] == "Warning" and "no node" in events[0]["message"]


def test_non_zero_exit_is_a_warning_and_fails_the_command(jarvis):
    apply(jarvis, command_object("exit-three", "echo about to fail; exit 3", expressions(
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["kind-worker"]})))
    obj = wait_for_phase(jarvis, "exit-three")
    assert obj["status"]["phase"] == "Failed"
    assert "kind-worker" in obj["status"]["message"]
    result = node_results(obj)["kind-worker"]
    assert (result["phase"], result["exitCode"], result["reason"]) == ("Failed", 3, "Exited")
    event = wait_for_events(jarvis, "exit-three", 1)[0]
    assert event["type"] == "Warning" and event["reason"] == "exit-three-kind-worker"
    assert event["message"].startswith("❯ echo about to fail; exit 3\nabout to fail")
    assert "exit code 3" in event["message"]


def test_timeout_kills_the_process_tree(jarvis):
    marker = f"4242.{random.randrange(10**6)}"
    apply(jarvis, command_object("too-slow", f"sleep {marker} & sleep {marker}; wait", expressions(
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["kind-worker2"]}), timeout_seconds=2))
    obj = wait_for_phase(jarvis, "too-slow", timeout=60)
    result = node_results(obj)["kind-worker2"]
    assert (obj["status"]["phase"], result["phase"], result["reason"]) == ("Failed", "Failed", "TimedOut")
    assert processes_matching(f"^sleep {marker}") == []
    event = wait_for_events(jarvis, "too-slow", 1)[0]
    assert event["type"] == "Warning" and "timed out" in event["message"]


def test_node_without_ready_agent_is_reported_not_dropped(jarvis):
    jarvis.set_endpoint_ready("kind-worker2", False)
    try:
        # The controller must have seen the endpoint change before the Command arrives.
        for endpoint_slice in json.loads(jarvis.kubectl("get", "endpointslices", "-n", NAMESPACE, "-o", "json").stdout)["items"]:
            rv = endpoint_slice["metadata"]["resourceVersion"]
            wait_until(lambda: f'"resource_version":"{rv}"' in jarvis.controller.log_text(), 30,
                       f"the controller to see EndpointSlice resourceVersion {rv}")
        apply(jarvis, command_object("no-agent", "echo hello"))
        obj = wait_for_phase(jarvis, "no-agent")
    finally:
        jarvis.set_endpoint_ready("kind-worker2", True)
    results = node_results(obj)
    assert sorted(results) == ALL_NODES
    assert results["kind-worker2"]["reason"] == "AgentNotFound"
    assert results["kind-worker2"]["phase"] == "Failed"
    assert results["kind-worker"]["phase"] == "Succeeded"
    events = {e["reason"]: e for e in wait_for_events(jarvis, "no-agent", 3)}
    warning = events["no-agent-kind-worker2"]
    assert warning["type"] == "Warning"
    assert warning["message"] == "Agent not found for node kind-worker2 (skipping)"


def test_a_command_printing_64_mib_over_mutual_tls_is_counted_whole_and_kept_bounded(jarvis):
    """Far more output than anyone keeps, through the agents' TLS front and relay: every byte is counted, the
    status keeps the beginning within outputBytesPerNode and says it is truncated, the event stays small."""
    assert jarvis.transport == "mtls"
    size = 64 << 20
    apply(jarvis, command_object("loud", f"echo first-line; head -c {size} /dev/zero | tr '\\0' x; echo; echo last-line"))
    obj = wait_for_phase(jarvis, "loud", timeout=120)
    status = obj["status"]
    assert (status["phase"], status["succeeded"]) == ("Succeeded", 3), status["message"]
    printed = len("first-line\n") + size + len("\nlast-line\n")
    for node, result in node_results(obj).items():
        assert (result["phase"], result["exitCode"]) == ("Succeeded", 0), (node, result)
        assert result["outputBytes"] == printed and result["truncated"] is True, (node, result["outputBytes"])
        assert result["output"].startswith("first-line\nxxxx"), (node, result["output"][:100])
        assert len(result["output"].encode()) <= status["outputBytesPerNode"], node
    for event in wait_for_events(jarvis, "loud", 3):
        assert "bytes omitted]" in event["message"] and len(event["message"].encode()) <= 16 * 1024, event["message"][:300]


def test_agent_that_does_not_answer(jarvis):
    jarvis.stop_agent("kind-worker")
    try:
        apply(jarvis, command_object("agent-down", "echo hello", expressions(
            {"key": "kubernetes.io/hostname", "operator": "In", "values": ["kind-worker"]})))
        obj = wait_for_phase(jarvis, "agent-down", timeout=90)
    finally:
        jarvis.start_agent("kind-worker")
    result = node_results(obj)["kind-worker"]
    assert (obj["status"]["phase"], result["phase"], result["reason"]) == ("Failed", "Failed", "AgentUnreachable")
    event = wait_for_events(jarvis, "agent-down", 1)[0]
    assert event["type"] == "Warning" and event["reason"] == "agent-down-kind-worker"


def test_deleting_a_running_command_kills_it_and_removes_it(jarvis):
    marker = f"4343.{random.randrange(10**6)}"
    apply(jarvis, command_object("delete-me", f"sleep {marker}", timeout_seconds=600))
    wait_for_phase(jarvis, "delete-me", phases=("Running",))
    wait_until(lambda: len(processes_matching(f"^sleep {marker}")) == 3, 30, "the command to run on 3 nodes")
    assert get_command(jarvis, "delete-me")["metadata"]["finalizers"] == ["jarvis.io/finalizer"]
    jarvis.kubectl("delete", "command", "delete-me", "-n", NAMESPACE, "--wait=false")
    wait_until(lambda: get_command(jarvis, "delete-me") is None, 30, "the Command to disappear")
    wait_until(lambda: processes_matching(f"^sleep {marker}") == [], 15, "the command's processes to end")
    # Stopping the trackers is the normal end of a deleted Command, not a failure to log and retry.
    assert "execution tracker failed" not in jarvis.controller.log_text()


def test_exactly_once_across_controller_restart_and_api_server_restart(jarvis, workdir):
    """Each node appends one line to its own file; the controller is SIGKILLed and restarted mid-run, the
    API server restarted mid-watch, labels edited and status rewritten: still one line per node."""
    gate = workdir / "gate"
    command = (f'echo "$JARVIS_EXECUTION_ID" >> {workdir}/"$JARVIS_EXECUTION_ID"; '
               f'while [ ! -e {gate} ]; do sleep 0.1; done')
    apply(jarvis, command_object("once", command, timeout_seconds=300))
    wait_until(lambda: len(list(workdir.glob("*.g1.*"))) == 3, 30, "the command to start on 3 nodes")

    jarvis.controller.kill()
    jarvis.controller = start_synced_controller(jarvis, "--log-level=debug")
    wait_until(lambda: '"msg":"resuming dispatched execution"' in jarvis.controller.log_text(), 30,
               "the new controller to resume waiting")
    jarvis.restart_apiserver()
    gate.touch()
    obj = wait_for_phase(jarvis, "once", timeout=90)
    assert obj["status"]["phase"] == "Succeeded", obj["status"]
    assert sorted(node_results(obj)) == ALL_NODES
    files = sorted(workdir.glob("*.g1.*"))
    assert len(files) == 3
    for f in files:
        assert lines(f) == [f.name]

    jarvis.kubectl("label", "command", "once", "-n", NAMESPACE, "edited=yes")
    rv = get_command(jarvis, "once")["metadata"]["resourceVersion"]
    wait_reconciled(jarvis.controller, "once", rv)
    jarvis.kubectl("patch", "command", "once", "-n", NAMESPACE, "--subresource=status", "--type=merge",
                   "-p", json.dumps({"status": {"message": "rewritten by a test"}}))
    rv = get_command(jarvis, "once")["metadata"]["resourceVersion"]
    wait_reconciled(jarvis.controller, "once", rv)
    for f in files:
        assert lines(f) == [f.name]

    jarvis.kubectl("patch", "command", "once", "-n", NAMESPACE, "--type=merge",
                   "-p", json.dumps({"spec": {"command": f'echo v2 >> {workdir}/"$JARVIS_EXECUTION_ID"'}}))
    obj = wait_for_phase(jarvis, "once", generation=2)
    assert obj["status"]["phase"] == "Succeeded"
    second = sorted(workdir.glob("*.g2.*"))
    assert len(second) == 3
    for f in second:
        assert lines(f) == ["v2"]
    for f in files:
        assert lines(f) == [f.name]


def test_command_created_while_api_server_restarts_still_runs(jarvis, workdir):
    jarvis.stop_apiserver()
    jarvis.start_apiserver()
    apply(jarvis, command_object("after-restart", f'echo ran >> {workdir}/"$JARVIS_EXECUTION_ID"'))
    obj = wait_for_phase(jarvis, "after-restart", timeout=90)
    assert obj["status"]["phase"] == "Succeeded"
    assert len(list(workdir.glob("*"))) == 3


def test_controller_stops_cleanly_on_sigterm(jarvis):
    assert jarvis.controller.stop(signal.SIGTERM) == 0
    assert '"msg":"controller stopped"' in jarvis.controller.log_text()
    jarvis.controller = start_synced_controller(jarvis, "--log-level=debug")
