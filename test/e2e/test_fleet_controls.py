"""Fleet controls (issue 14) against a real kube-apiserver + etcd, real agents and the real controller: the
rollout window (spec.maxConcurrency), the failure budget (spec.maxFailures), folded results (status.groups),
the summary event, ttlSecondsAfterFinished and the CRD's validation of them.

Every execution appends `start <ns>` and `end <ns>` (nanosecond clock) to a file named after its execution id,
so how many ran at once, in which order and how often each ran can be read afterwards.

    python3 -m pytest -v -p no:cacheprovider test/e2e/test_fleet_controls.py
"""
import json
import signal
import time

import pytest

from conftest import shared_cluster
from controller_helpers import (MANIFESTS, NAMESPACE, apply, command_object, events_for, get_command, node_results,
                                start_synced_controller, wait_for_phase)
from deadline import wait_until

NODES = 10
# Natural order of the cluster's node names: the order a window dispatches them in.
ALL_NODES = ["kind-control-plane", "kind-worker"] + [f"kind-worker{i}" for i in range(2, NODES)]


@pytest.fixture(scope="module")
def fleet(request, jarvis_binary, tmp_path_factory):
    """A 10-node cluster with manifests/ installed and one controller."""
    for cluster in shared_cluster(request, jarvis_binary, tmp_path_factory, nodes=NODES):
        cluster.apply_manifests(MANIFESTS)
        cluster.kubectl("wait", "--for=condition=Established", "crd/commands.jarvis.io", "--timeout=30s")
        cluster.controller = start_synced_controller(cluster)
        cluster.wait_agents_trust_controller()
        yield cluster
        if cluster.controller.alive():
            cluster.controller.stop(signal.SIGTERM)


def on_nodes(nodes):
    return {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": list(nodes)}]}]}


def fleet_command(name, command, nodes=None, **spec):
    obj = command_object(name, command, selector=on_nodes(nodes) if nodes else None, timeout_seconds=120)
    obj["spec"].update(spec)
    return obj


def marked(workdir, body):
    """A command that records its start and end around body, in a file named after its execution id."""
    log = f'{workdir}/"$JARVIS_EXECUTION_ID"'
    return f'echo "start $(date +%s%N)" >> {log}; ( {body} ); rc=$?; echo "end $(date +%s%N)" >> {log}; exit $rc'


def runs(workdir):
    """{node: [(start_ns, end_ns), ...]} from the marker files."""
    out = {}
    for path in workdir.iterdir():
        node = path.name.split(".", 2)[2]
        lines = path.read_text().split("\n")
        starts = [int(line.split()[1]) for line in lines if line.startswith("start ")]
        ends = [int(line.split()[1]) for line in lines if line.startswith("end ")]
        out[node] = list(zip(starts, ends + [None] * (len(starts) - len(ends))))
    return out


def most_at_once(ran):
    """The largest number of executions that were running at the same moment."""
    moments = sorted([(s, 1) for r in ran.values() for s, _ in r] + [(e, -1) for r in ran.values() for _, e in r])
    most = now = 0
    for _, step in moments:  # at equal times an end sorts before a start
        now += step
        most = max(most, now)
    return most


def check_each_ran_once(ran, nodes):
    assert sorted(ran) == sorted(nodes), "ran where it should not, or not where it should"
    for node, executions in ran.items():
        assert len(executions) == 1, f"{node} ran {len(executions)} times"
        assert executions[0][1] is not None, f"{node} did not finish"


def check_started_in_order(ran, order, window):
    """Nodes started in `order`, give or take the window (the Starts of one window go out concurrently)."""
    by_start = sorted(ran, key=lambda n: ran[n][0][0])
    for rank, node in enumerate(by_start):
        assert abs(rank - order.index(node)) < window, (by_start, order)


def summary_event(cluster, name, reason):
    return wait_until(lambda: next((e for e in events_for(cluster, name, summaries=True) if e["reason"] == reason),
                                   None), 30,
                      f"the {reason} summary event of {name}")


def condition(obj, kind):
    return next((c for c in obj["status"].get("conditions", []) if c["type"] == kind), None)


def test_max_concurrency_2_on_6_nodes_is_a_sliding_window_in_order(fleet, workdir):
    nodes = ALL_NODES[:6]
    apply(fleet, fleet_command("window-2", marked(workdir, "sleep 2"), nodes, maxConcurrency=2))
    obj = wait_for_phase(fleet, "window-2", timeout=120)
    assert obj["status"]["phase"] == "Succeeded", obj["status"]
    ran = runs(workdir)
    check_each_ran_once(ran, nodes)
    assert most_at_once(ran) == 2
    check_started_in_order(ran, nodes, 2)
    status = obj["status"]
    assert {k: status[k] for k in ("targeted", "running", "succeeded", "failed", "skipped", "pending")} == \
        {"targeted": 6, "running": 0, "succeeded": 6, "failed": 0, "skipped": 0, "pending": 0}
    assert condition(obj, "Complete")["status"] == "True"
    event = summary_event(fleet, "window-2", "Completed")
    assert event["type"] == "Normal"
    assert "kind-control-plane,kind-worker,kind-worker[2-5] (6): Succeeded, exit code 0" in event["message"]


def test_max_failures_0_stops_after_the_first_failure_and_skips_the_rest(fleet, workdir):
    nodes = ALL_NODES[:6]  # the 2nd in order, kind-worker, fails
    body = 'case "$JARVIS_EXECUTION_ID" in *.kind-worker) echo broken; exit 1;; *) echo fine;; esac'
    apply(fleet, fleet_command("budget-0", marked(workdir, body), nodes, maxConcurrency=1, maxFailures=0))
    obj = wait_for_phase(fleet, "budget-0", timeout=120)
    ran = runs(workdir)
    check_each_ran_once(ran, ["kind-control-plane", "kind-worker"])
    status = obj["status"]
    assert status["phase"] == "Failed"
    assert (status["succeeded"], status["failed"], status["skipped"], status["pending"]) == (1, 1, 4, 0), status
    results = node_results(obj)
    for node in nodes[2:]:
        assert (results[node]["phase"], results[node]["reason"]) == ("Skipped", "FailureBudgetExceeded")
        assert "executionId" not in results[node]
    exceeded = condition(obj, "FailureBudgetExceeded")
    assert exceeded and exceeded["status"] == "True" and exceeded["lastTransitionTime"], status
    assert condition(obj, "Failed")["reason"] == "FailureBudgetExceeded"
    event = summary_event(fleet, "budget-0", "FailureBudgetExceeded")
    assert event["type"] == "Warning"
    assert "kind-worker (1): Failed, exit code 1\n  broken" in event["message"], event["message"]
    assert "kind-worker[2-5] (4): Skipped (FailureBudgetExceeded)" in event["message"], event["message"]
    # The per-node events: one for each node that ran, none for the skipped ones.
    reasons = sorted(e["reason"] for e in events_for(fleet, "budget-0") if e["reason"].startswith("budget-0-"))
    assert reasons == ["budget-0-kind-control-plane", "budget-0-kind-worker"]


def test_percentages_on_10_nodes(fleet, workdir):
    apply(fleet, fleet_command("pct-window", marked(workdir, "sleep 1"),
                               maxConcurrency="25%"))
    obj = wait_for_phase(fleet, "pct-window", timeout=120)
    assert obj["status"]["phase"] == "Succeeded"
    ran = runs(workdir)
    check_each_ran_once(ran, ALL_NODES)
    assert most_at_once(ran) == 3  # 25% of 10 = 2.5, rounded up
    check_started_in_order(ran, ALL_NODES, 3)

    failing = workdir / "failing"
    failing.mkdir(mode=0o777)
    failing.chmod(0o777)
    apply(fleet, fleet_command("pct-budget", marked(failing, "exit 1"), maxConcurrency=1, maxFailures="10%"))
    obj = wait_for_phase(fleet, "pct-budget", timeout=120)
    # 10% of 10 = 1 failure tolerated: the 2nd failure stops the rollout.
    check_each_ran_once(runs(failing), ALL_NODES[:2])
    assert (obj["status"]["failed"], obj["status"]["skipped"]) == (2, 8), obj["status"]


def test_controller_sigkilled_mid_window_resumes_and_runs_each_node_once(fleet, workdir):
    apply(fleet, fleet_command("window-crash", marked(workdir, "sleep 1"), maxConcurrency=2))
    # Killed once the window has moved on (3 nodes started) and before the end.
    wait_until(lambda: len(list(workdir.iterdir())) >= 3, 60, "the window to move past its first two nodes")
    fleet.controller.kill()
    started_before = len(list(workdir.iterdir()))
    assert started_before < NODES
    time.sleep(1.5)  # the running ones finish while no controller runs: their slots must not be lost
    fleet.controller = start_synced_controller(fleet)
    obj = wait_for_phase(fleet, "window-crash", timeout=120)
    assert obj["status"]["phase"] == "Succeeded", obj["status"]
    ran = runs(workdir)
    check_each_ran_once(ran, ALL_NODES)
    assert most_at_once(ran) <= 2
    check_started_in_order(ran, ALL_NODES, 2)
    assert '"msg":"resuming dispatched execution"' in fleet.controller.log_text()


def test_identical_outputs_fold_into_groups(fleet):
    body = ('case "$JARVIS_EXECUTION_ID" in *.kind-worker3) echo three;; *.kind-worker7) echo seven; exit 2;; '
            '*) echo same;; esac')
    apply(fleet, fleet_command("fold", body))
    obj = wait_for_phase(fleet, "fold", timeout=120)
    groups = obj["status"]["groups"]
    assert len(groups) == 3, groups
    assert groups[0] == {"nodes": "kind-control-plane,kind-worker,kind-worker[2,4-6,8-9]", "count": 8,
                         "phase": "Succeeded", "reason": "Exited", "exitCode": 0, "output": "same\n",
                         "outputHash": groups[0]["outputHash"]}
    rest = sorted((g["nodes"], g["count"], g["phase"], g["exitCode"], g["output"]) for g in groups[1:])
    assert rest == [("kind-worker3", 1, "Succeeded", 0, "three\n"), ("kind-worker7", 1, "Failed", 2, "seven\n")]
    event = summary_event(fleet, "fold", "Failed")
    assert event["message"].startswith("❯ " + body + "\nfailed on 1 of 10 node(s): kind-worker7 (Exited)\n"
                                       "kind-control-plane,kind-worker,kind-worker[2,4-6,8-9] (8): Succeeded, "
                                       "exit code 0\n  same\n"), event["message"]
    described = fleet.kubectl("describe", "command", "fold", "-n", NAMESPACE).stdout
    assert "kind-worker[2,4-6,8-9]" in described
    listed = fleet.kubectl("get", "command", "fold", "-n", NAMESPACE).stdout.splitlines()
    assert listed[0].split()[:7] == ["NAME", "COMMAND", "PHASE", "TARGETED", "SUCCEEDED", "RUNNING", "FAILED"], listed
    wide = fleet.kubectl("get", "command", "fold", "-n", NAMESPACE, "-o", "wide").stdout.splitlines()
    assert "PENDING" in wide[0] and "SKIPPED" in wide[0], wide


def test_ttl_deletes_a_finished_command_and_never_a_running_one(fleet):
    apply(fleet, fleet_command("ttl-short", "echo done", ["kind-worker"], ttlSecondsAfterFinished=3))
    apply(fleet, fleet_command("ttl-running", "sleep 8", ["kind-worker2"], ttlSecondsAfterFinished=1))
    obj = wait_for_phase(fleet, "ttl-short", timeout=60)
    completed = obj["status"]["completionTime"]
    wait_until(lambda: get_command(fleet, "ttl-short") is None, 30, "ttl-short to be deleted")
    gone_at = time.time()
    completed_at = time.mktime(time.strptime(completed, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert gone_at >= completed_at + 3 - 1, (completed, gone_at)  # not before its TTL (completionTime: seconds)
    # ttl-running: still there while it runs (well past its 1 s TTL counted from its start), gone after it ends.
    running = get_command(fleet, "ttl-running")
    assert running is not None and running["status"]["phase"] == "Running", running and running.get("status")
    wait_until(lambda: get_command(fleet, "ttl-running") is None, 60, "ttl-running to be deleted once finished")
    log = fleet.controller.log_text()
    assert log.count('"msg":"command deleted: ttlSecondsAfterFinished passed"') >= 2


@pytest.mark.parametrize("field, value, says", [
    ("maxConcurrency", 0, "spec.maxConcurrency"),
    ("maxConcurrency", "150%", "spec.maxConcurrency"),
    ("maxConcurrency", "ten", "spec.maxConcurrency"),
    ("maxFailures", -1, "spec.maxFailures"),
    ("maxFailures", "5.5%", "spec.maxFailures"),
    ("ttlSecondsAfterFinished", -5, "spec.ttlSecondsAfterFinished"),
])
def test_crd_refuses_bad_values_naming_the_field(fleet, field, value, says):
    obj = fleet_command("bad-" + field.lower(), "true", **{field: value})
    result = fleet.kubectl("apply", "-f", "-", input=obj, check=False)
    assert result.returncode != 0, f"{field}={value!r} was accepted"
    assert says in result.stderr, result.stderr
    assert get_command(fleet, "bad-" + field.lower()) is None


def test_ttl_cannot_be_changed_after_creation(fleet):
    apply(fleet, fleet_command("ttl-fixed", "true", ["kind-worker"], ttlSecondsAfterFinished=3600))
    wait_for_phase(fleet, "ttl-fixed", timeout=60)
    patched = fleet.kubectl("patch", "command", "ttl-fixed", "-n", NAMESPACE, "--type=merge",
                            "-p", json.dumps({"spec": {"ttlSecondsAfterFinished": 5}}), check=False)
    assert patched.returncode != 0 and "spec.ttlSecondsAfterFinished" in patched.stderr, patched.stderr
    assert get_command(fleet, "ttl-fixed")["metadata"]["generation"] == 1
