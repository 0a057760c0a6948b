"""End-to-end tests of the probes, metrics and logs (issue 13): the real controller and real agents serve
/healthz, /readyz and /metrics; the exposition is parsed with a real Prometheus text parser (the
prometheus_client package, Debian's python3-prometheus-client); counters move as commands run, histograms
are cumulative with +Inf = count, the probes answer as the README says in each state we can produce, and
every line both roles write is one JSON object. Real kube-apiserver + etcd + kubectl.

    /usr/bin/python3 -m pytest -q test/e2e/test_observability.py
"""
import http.client
import json
import math
import os
import re
import shutil
import signal
import subprocess
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cluster_net import free_port
from controller_helpers import MANIFESTS, NAMESPACE, command_object, wait_for_phase
from deadline import wait_until
from security_helpers import wait_agent_secret, wait_agents_serve

ALL_NODES = ["kind-control-plane", "kind-worker", "kind-worker2"]
LEASE_NAME = "jarvis-controller"


# ---- HTTP and the exposition

def http_get(address, path, timeout=5.0):
    """(status, body) of GET http://address/path; (None, error text) when nothing answered."""
    host, port = address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    except OSError as error:
        return None, str(error)
    finally:
        connection.close()


class Scrape:
    """One /metrics answer, parsed by prometheus_client's parser: families by name, and sample values."""

    def __init__(self, text):
        self.text = text
        self.families = {f.name: f for f in text_string_to_metric_families(text)}

    def samples(self, sample_name):
        return [s for f in self.families.values() for s in f.samples if s.name == sample_name]

    def value(self, sample_name, **labels):
        """The value of the one series with exactly these labels (0 when absent: counters start at 0)."""
        found = [s.value for s in self.samples(sample_name) if s.labels == labels]
        assert len(found) <= 1, (sample_name, labels, found)
        return found[0] if found else 0.0

    def total(self, sample_name, **labels):
        """The sum over every series whose labels include these."""
        return sum(s.value for s in self.samples(sample_name) if labels.items() <= s.labels.items())


def scrape(address):
    status, body = http_get(address, "/metrics")
    assert status == 200, f"/metrics at {address}: {status} {body}"
    return Scrape(body)


def check_histograms(scraped):
    """Every histogram series: buckets cumulative in `le` order, the last +Inf, and +Inf == _count."""
    checked = 0
    for family in scraped.families.values():
        if family.type != "histogram":
            continue
        series = {}
        for s in family.samples:
            key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
            series.setdefault(key, {"buckets": [], "count": None, "sum": None})
            if s.name.endswith("_bucket"):
                series[key]["buckets"].append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_count"):
                series[key]["count"] = s.value
            elif s.name.endswith("_sum"):
                series[key]["sum"] = s.value
        for key, one in series.items():
            buckets = sorted(one["buckets"])
            assert buckets and math.isinf(buckets[-1][0]), (family.name, key, buckets)
            counts = [count for _, count in buckets]
            assert counts == sorted(counts), f"{family.name}{key}: buckets not cumulative: {buckets}"
            assert counts[-1] == one["count"], f"{family.name}{key}: +Inf {counts[-1]} != count {one['count']}"
            assert one["sum"] is not None
            checked += 1
    return checked


def run_command(cluster, name, command, timeout=90):
    cluster.kubectl("apply", "-f", "-", input=json.dumps(command_object(name, command)))
    return wait_for_phase(cluster, name, timeout=timeout)


# ---- the module's cluster

@pytest.fixture(scope="module")
def jarvis(cluster):
    """The module's cluster (agents serving mutual TLS) with manifests/ installed and a controller whose
    /readyz says ready; every agent serves the certificate the controller made."""
    cluster.apply_manifests(MANIFESTS)
    cluster.kubectl("wait", "--for=condition=Established", "crd/commands.jarvis.io", "--timeout=60s")
    cluster.controller = cluster.start_controller()
    wait_agents_serve(cluster, wait_agent_secret(cluster)["tls.crt"])
    wait_until(lambda: http_get(cluster.controller.probe_address, "/readyz")[0] == 200, 60,
               "the controller's /readyz to answer 200")
    yield cluster
    if cluster.controller.alive():
        assert cluster.controller.stop(signal.SIGTERM) == 0, cluster.controller.log_text()[-3000:]


# ---- the controller's probes

def test_a_sigterm_while_the_controller_starts_is_a_graceful_stop(jarvis):
    """SIGTERM as soon as the controller's first line is written (it has not synced, perhaps not even built
    its clients): it stops as it would later, saying so, with exit status 0, not killed by the signal."""
    starting = jarvis.start_controller(["--namespace=nothing-here"])
    wait_until(lambda: '"msg":"controller starting"' in starting.log_text(), 30, "the controller's first line")
    status = starting.stop(signal.SIGTERM)
    assert status == 0, (status, starting.log_text()[-3000:])
    assert '"msg":"shutting down"' in starting.log_text(), starting.log_text()[-3000:]


def test_a_controller_that_cannot_sync_is_live_but_not_ready(jarvis):
    """Started with an identity RBAC lets list nothing, the controller never syncs its caches: /healthz 200
    (its loop runs), /readyz 500 saying why; and it answers at once, before any sync."""
    nobody = jarvis.start_controller(["--namespace=nothing-here"], kubeconfig=jarvis.user_kubeconfig("nobody"))
    try:
        wait_until(lambda: http_get(nobody.probe_address, "/healthz")[0] == 200, 30, "/healthz of the new controller")
        # Its metrics are served meanwhile, with the refusals counted.
        wait_until(lambda: scrape(nobody.metrics_address).total("rest_client_requests_total", code="403") >= 1, 30,
                   "the controller to be refused its lists (403 in rest_client_requests_total)")
        status, body = http_get(nobody.probe_address, "/readyz")
        assert status == 500 and "caches not synced" in body, (status, body)
        assert http_get(nobody.probe_address, "/healthz")[0] == 200
    finally:
        assert nobody.stop(signal.SIGTERM) == 0, nobody.log_text()[-3000:]


def test_the_synced_controller_is_ready_and_serves_metrics_on_its_own_port(jarvis):
    controller = jarvis.controller
    assert http_get(controller.probe_address, "/healthz") == (200, "ok\n")
    assert http_get(controller.probe_address, "/readyz") == (200, "ok\n")
    assert http_get(controller.probe_address, "/metrics")[0] == 404  # probes and metrics on their own addresses
    assert http_get(controller.metrics_address, "/readyz")[0] == 404
    scraped = scrape(controller.metrics_address)
    assert scraped.value("leader_election_master_status", name=LEASE_NAME) == 1
    for family, kind in [("controller_runtime_reconcile", "counter"), ("controller_runtime_reconcile_errors", "counter"),
                         ("controller_runtime_reconcile_time_seconds", "histogram"), ("workqueue_depth", "gauge"),
                         ("workqueue_adds", "counter"), ("workqueue_queue_duration_seconds", "histogram"),
                         ("workqueue_work_duration_seconds", "histogram"), ("workqueue_retries", "counter"),
                         ("rest_client_requests", "counter"), ("leader_election_master_status", "gauge"),
                         ("jarvis_controller_executions", "counter"), ("jarvis_controller_executions_in_flight", "gauge"),
                         ("jarvis_agent_rpc_duration_seconds", "histogram"), ("jarvis_events_written", "counter"),
                         ("jarvis_events_failed", "counter"), ("jarvis_status_writes", "counter"),
                         ("jarvis_status_write_conflicts", "counter"), ("jarvis_controller_output_bytes", "counter"),
                         ("jarvis_tls_handshake_failures", "counter")]:
        assert family in scraped.families, f"{family} missing from /metrics"
        assert scraped.families[family].type == kind, (family, scraped.families[family].type)


# ---- counters and histograms as commands run

def test_counters_move_as_commands_run(jarvis):
    controller = jarvis.controller.metrics_address
    before = scrape(controller)
    agents_before = {node: scrape(jarvis.agent_http_address(node)) for node in ALL_NODES}

    assert run_command(jarvis, "metrics-ok", "echo twelve-bytes")["status"]["phase"] == "Succeeded"
    assert run_command(jarvis, "metrics-fail", "echo oops; exit 3")["status"]["phase"] == "Failed"

    def all_counted():
        now = scrape(controller)
        done = (now.value("jarvis_controller_executions_total", result="succeeded")
                - before.value("jarvis_controller_executions_total", result="succeeded") >= 3
                and now.value("jarvis_events_written_total") - before.value("jarvis_events_written_total") >= 8)
        return now if done else None
    # Events: one per node and one summary per run (Completed, Failed): 2 x (3 + 1).
    after = wait_until(all_counted, 30, "the controller to count 6 executions and 8 events")

    def grew(sample_name, **labels):
        return after.value(sample_name, **labels) - before.value(sample_name, **labels)
    assert grew("jarvis_controller_executions_total", result="succeeded") == 3
    assert grew("jarvis_controller_executions_total", result="failed") == 3
    assert grew("jarvis_events_written_total") == 8
    assert grew("jarvis_events_failed_total") == 0
    assert grew("jarvis_status_writes_total") >= 4  # each Command: dispatch, then results
    assert grew("jarvis_controller_output_bytes_total") == 3 * len("twelve-bytes\n") + 3 * len("oops\n")
    assert after.value("jarvis_controller_executions_in_flight") == 0
    assert grew("controller_runtime_reconcile_total", controller="command", result="success") >= 4
    assert grew("controller_runtime_reconcile_time_seconds_count", controller="command") >= 4
    assert grew("workqueue_adds_total", name="command") >= 2
    assert grew("workqueue_work_duration_seconds_count", name="command") >= 4
    assert after.value("workqueue_depth", name="command") >= 0
    def grew_total(sample_name, **labels):
        return after.total(sample_name, **labels) - before.total(sample_name, **labels)
    assert grew_total("rest_client_requests_total", code="201", method="POST") >= 6  # the events
    assert grew_total("rest_client_requests_total", code="200", method="PUT") >= 4   # the status writes
    # client-go's host label: the API server the requests went to, one value for all.
    hosts = {s.labels["host"] for s in after.samples("rest_client_requests_total")}
    assert hosts == {jarvis.server.split("://", 1)[1]}, hosts
    assert after.total("jarvis_agent_rpc_duration_seconds_count", method="Start", code="OK") - \
        before.total("jarvis_agent_rpc_duration_seconds_count", method="Start", code="OK") == 6
    assert check_histograms(after) >= 4

    for node in ALL_NODES:
        agent_after = scrape(jarvis.agent_http_address(node))
        agent_before = agents_before[node]
        assert agent_after.value("jarvis_agent_executions_total", result="succeeded") - \
            agent_before.value("jarvis_agent_executions_total", result="succeeded") == 1, node
        assert agent_after.value("jarvis_agent_executions_total", result="failed") - \
            agent_before.value("jarvis_agent_executions_total", result="failed") == 1, node
        assert agent_after.value("jarvis_agent_output_bytes_total") - \
            agent_before.value("jarvis_agent_output_bytes_total") == len("twelve-bytes\n") + len("oops\n"), node
        assert agent_after.value("jarvis_agent_executions_in_flight") == 0
        check_histograms(agent_after)


def cpu_seconds(pid):
    """User + system CPU seconds the process has used so far (/proc/PID/stat)."""
    stat = open(f"/proc/{pid}/stat").read()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_idle_processes_do_not_spin(jarvis):
    """With nothing to do (after a run, so the agent channels were opened and then closed as idle), the
    controller and the agents sleep: over 5 s each uses well under 5% of a core. A loop that waits on a timer
    of zero length (the idle-channel sweep once did, seconds(1) / 4 being 0 s) uses a whole core. A loaded
    machine can only make a spinning process look cheaper, never an idle one dearer."""
    run_command(jarvis, "idle-cpu", "true")
    processes = {"controller": jarvis.controller.pid,
                 **{name: pid for name, pid in jarvis.processes().items() if name.startswith("agent-")}}
    assert len(processes) == 1 + len(ALL_NODES), processes
    time.sleep(1.5)  # let the finished run's channels reach their idle close (1 s)
    before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    started = time.monotonic()
    time.sleep(5)  # the measurement window itself, not a wait for a condition
    elapsed = time.monotonic() - started
    used = {name: cpu_seconds(pid) - before[name] for name, pid in processes.items()}
    assert all(seconds < 0.05 * elapsed for seconds in used.values()), (elapsed, used)


def test_no_label_names_a_node_or_a_command(jarvis):
    """Series must not multiply with the fleet: no label value is a node's or a Command's name."""
    names = set(ALL_NODES) | {"metrics-ok", "metrics-fail"}
    for address in [jarvis.controller.metrics_address, *map(jarvis.agent_http_address, ALL_NODES)]:
        for family in scrape(address).families.values():
            for sample in family.samples:
                leaked = names & set(sample.labels.values())
                assert not leaked, f"{sample.name}{sample.labels} at {address} names {leaked}"


# ---- the agents' probes and refusals

def test_agents_are_ready_when_they_serve_grpc_with_valid_tls_files(jarvis):
    for node in ALL_NODES:
        address = jarvis.agent_http_address(node)
        assert http_get(address, "/healthz") == (200, "ok\n"), node
        assert http_get(address, "/readyz") == (200, "ok\n"), node


def test_an_agent_without_usable_tls_files_is_live_but_not_ready(jarvis, jarvis_binary, tmp_path):
    """An agent waiting for its TLS files: live, not ready. Given them, ready. Files that stop being a
    usable key pair: not ready again, saying why."""
    tls_dir, state_dir = tmp_path / "tls", tmp_path / "state"
    tls_dir.mkdir()
    port = jarvis.agent_port
    address = f"127.0.2.250:{free_port('127.0.2.250')}"
    log_path = tmp_path / "agent.log"
    with open(log_path, "w") as log:
        agent = subprocess.Popen([jarvis_binary, "--role=agent", f"--listen=127.0.2.250:{port}", "--host-root=/",
                                  "--node-name=probe-test", "--state-dir", str(state_dir), "--tls-dir", str(tls_dir),
                                  "--tls-refresh-interval=1", f"--health-probe-bind-address={address}"],
                                 stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: http_get(address, "/healthz")[0] == 200, 30, "the waiting agent's /healthz")
        status, body = http_get(address, "/readyz")
        assert status == 500 and "not serving gRPC" in body, (status, body)

        for name in ("ca.crt", "tls.crt", "tls.key"):
            shutil.copy(jarvis.agent_tls_dir / name, tls_dir / name)
        wait_until(lambda: http_get(address, "/readyz")[0] == 200, 30, "the agent to be ready with its files")

        (tls_dir / "tls.crt").write_text("not a certificate\n")
        wait_until(lambda: http_get(address, "/readyz")[0] == 500, 30, "the agent to be unready with a bad file")
        assert "TLS files" in http_get(address, "/readyz")[1]
        assert http_get(address, "/healthz")[0] == 200
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=30) == 0
    for line in log_path.read_text().splitlines():
        json.loads(line)


def test_refused_tls_connections_are_json_audit_lines_and_counted(jarvis, agentctl):
    node = "kind-worker"
    before = scrape(jarvis.agent_http_address(node))
    for attempt in range(3):
        plaintext = agentctl(jarvis.agent_target(node), "--insecure", "start", "--id", f"refused-{attempt}",
                             "--command", "true", "--timeout", "5")
        assert plaintext.returncode != 0
    no_certificate = agentctl(jarvis.agent_target(node), "--ca", jarvis.agent_tls_dir / "ca.crt", "start", "--id",
                              "refused-no-cert", "--command", "true", "--timeout", "5")
    assert no_certificate.returncode != 0

    def refusals():
        lines = [json.loads(line) for line in jarvis.agent_log(node).read_text().splitlines()]
        found = [line for line in lines if line["msg"] == "refused a TLS connection"]
        reasons = {line["reason"] for line in found}
        return found if {"plaintext (not TLS)", "no client certificate"} <= reasons else None
    found = wait_until(refusals, 30, "the agent's audit lines for the refused connections")
    for line in found:
        # Written by the agent's own TLS front (OpenSSL's results), naming the client (this test, on 127.0.0.1).
        assert line["level"] == "warn" and line["source"] == "openssl" and line["detail"], line
        assert re.fullmatch(r"127\.0\.0\.1:\d{1,5}", line["peer"]), line
    after = scrape(jarvis.agent_http_address(node))
    grew = {reason: after.value("jarvis_tls_handshake_failures_total", reason=reason)
            - before.value("jarvis_tls_handshake_failures_total", reason=reason)
            for reason in ("plaintext (not TLS)", "no client certificate")}
    assert grew["plaintext (not TLS)"] >= 3 and grew["no client certificate"] >= 1, grew


# ---- the API server goes away

def test_api_server_down_fails_readyz_and_keeps_healthz(jarvis):
    controller = jarvis.controller
    jarvis.stop_apiserver()
    try:
        status, body = wait_until(
            lambda: (lambda answer: answer if answer[0] == 500 else None)(http_get(controller.probe_address, "/readyz")),
            60, "/readyz to fail with the API server down")
        assert "API server" in body, body
        assert http_get(controller.probe_address, "/healthz") == (200, "ok\n")
        scraped = scrape(controller.metrics_address)
        assert scraped.total("rest_client_requests_total", code="<error>") >= 1
    finally:
        jarvis.start_apiserver()
    wait_until(lambda: http_get(controller.probe_address, "/readyz")[0] == 200, 90,
               "/readyz to recover with the API server back")
    assert run_command(jarvis, "after-api-restart", "true")["status"]["phase"] == "Succeeded"


# ---- logs: every line is JSON (keep last: it reads what the module's processes wrote)

def test_every_line_both_roles_wrote_is_json(jarvis):
    logs = sorted(jarvis.dir.glob("controller-*.log")) + [jarvis.agent_log(node) for node in ALL_NODES]
    assert len(logs) >= 5
    levels = {}
    for path in logs:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            try:
                parsed = json.loads(line)
            except ValueError:
                pytest.fail(f"{path.name}:{number} is not JSON: {line[:300]}")
            assert isinstance(parsed, dict) and {"time", "level", "msg"} <= parsed.keys(), f"{path.name}:{number}"
            levels[parsed["level"]] = levels.get(parsed["level"], 0) + 1
    # The API server restart above is a passing state the controller recovers from: warnings, not errors.
    controller_errors = [json.loads(line) for path in sorted(jarvis.dir.glob("controller-1.log"))
                         for line in path.read_text().splitlines() if json.loads(line)["level"] == "error"]
    assert controller_errors == [], controller_errors
