"""Smoke test of the local test cluster (test/cluster/): the real kube-apiserver, kubectl, RBAC and agents.

    /usr/bin/python3 -m pytest -q test/e2e/test_cluster_smoke.py
"""
import json
import os
import signal
import subprocess
import sys

import pytest

from cluster_net import accepts_connections
from cluster_process import process_start_time
from deadline import wait_until
from jarvis_cluster import CONTROLLER_USER, MARKER_FILE, REPO_ROOT, Cluster, ClusterError
from upstream_binaries import upstream_binaries

from conftest import shared_cluster

NODE_NAMES = ["kind-control-plane", "kind-worker", "kind-worker2"]
CLUSTER_CLI = REPO_ROOT / "test" / "cluster" / "cluster.py"


@pytest.fixture(scope="module")
def cluster(request, jarvis_binary, tmp_path_factory):
    """This module talks to the agents directly, without a controller to make certificates: its shared cluster
    runs them with --insecure (asked for explicitly, as the product requires)."""
    yield from shared_cluster(request, jarvis_binary, tmp_path_factory, transport="insecure")


def node_labels(cluster):
    """{node name: (status, {label: value})} from `kubectl get nodes --show-labels`."""
    nodes = {}
    for line in cluster.kubectl("get", "nodes", "--show-labels", "--no-headers").stdout.splitlines():
        fields = line.split()
        labels = dict(item.partition("=")[::2] for item in fields[-1].split(","))
        nodes[fields[0]] = (fields[1], labels)
    return nodes


def agent_endpoints(cluster):
    """{node name: (slice, endpoint)} from the jarvis-agent Service's EndpointSlices."""
    slices = json.loads(cluster.kubectl("get", "endpointslices", "-n", "jarvis", "-o", "json",
                                        "-l", "kubernetes.io/service-name=jarvis-agent").stdout)["items"]
    return {endpoint["nodeName"]: (endpoint_slice, endpoint)
            for endpoint_slice in slices for endpoint in endpoint_slice["endpoints"]}


def whoami(cluster, kubeconfig):
    review = json.loads(cluster.kubectl("auth", "whoami", "-o", "json", kubeconfig=kubeconfig).stdout)
    return review["status"]["userInfo"]


def run_on_agent(agentctl, cluster, node_name, command, execution_id):
    """Runs command on the node's agent over gRPC and returns the finished Execution (decoded JSON)."""
    result = agentctl(cluster.agent_target(node_name), "--insecure", "start", "--id", execution_id,
                      "--command", command, "--wait")
    assert result.returncode == 0, f"jarvis-agentctl failed: {result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def gone(pid, start_time):
    return process_start_time(pid) != start_time


def test_kubectl_lists_the_nodes_with_their_labels(cluster):
    nodes = node_labels(cluster)
    assert sorted(nodes) == sorted(NODE_NAMES)
    for name, (status, labels) in nodes.items():
        assert status == "Ready"
        assert labels["kubernetes.io/hostname"] == name
        assert labels["kubernetes.io/os"] == "linux"
        assert labels["kubernetes.io/arch"] == "amd64"
        assert ("node-role.kubernetes.io/control-plane" in labels) == (name == "kind-control-plane")


def test_endpointslices_hold_one_ready_endpoint_per_node(cluster):
    table = cluster.kubectl("get", "endpointslices", "-n", "jarvis").stdout
    endpoints = agent_endpoints(cluster)
    assert sorted(endpoints) == sorted(NODE_NAMES)
    for node in cluster.nodes:
        assert node.address in table
        endpoint_slice, endpoint = endpoints[node.name]
        assert endpoint["addresses"] == [node.address]
        assert endpoint["conditions"]["ready"] is True
        assert endpoint_slice["ports"] == [{"name": "grpc", "port": cluster.agent_port, "protocol": "TCP"}]
    service = json.loads(cluster.kubectl("get", "service", "jarvis-agent", "-n", "jarvis", "-o", "json").stdout)
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["ports"][0]["name"] == "grpc"


def test_each_agent_answers_a_grpc_round_trip_as_its_node(cluster, agentctl):
    for node in cluster.nodes:
        execution = run_on_agent(agentctl, cluster, node.name, "echo smoke on $0", f"smoke-{node.name}")
        assert execution["node_name"] == node.name
        assert execution["state"] == "STATE_SUCCEEDED"
        assert "smoke on" in execution["output"]


@pytest.mark.parametrize("kubeconfig", ["controller_cert_kubeconfig", "controller_token_kubeconfig"])
def test_the_controller_identity_has_no_group_and_is_refused_what_rbac_does_not_grant(cluster, kubeconfig):
    path = getattr(cluster, kubeconfig)
    user = whoami(cluster, path)
    assert (user["username"], user["groups"]) == (CONTROLLER_USER, ["system:authenticated"])
    refused = cluster.kubectl("get", "secrets", "-A", kubeconfig=path, check=False)
    assert refused.returncode != 0
    assert "Forbidden" in refused.stderr
    assert f'User "{CONTROLLER_USER}" cannot list resource "secrets"' in refused.stderr


def test_user_kubeconfig_authenticates_any_user_in_its_groups(cluster):
    path = cluster.user_kubeconfig("alice", groups=("team-a", "team-b"))
    user = whoami(cluster, path)
    assert user["username"] == "alice"
    assert sorted(user["groups"]) == ["system:authenticated", "team-a", "team-b"]
    assert cluster.kubectl("get", "nodes", kubeconfig=path, check=False).returncode != 0
    assert "system:masters" in whoami(cluster, cluster.admin_kubeconfig)["groups"]


def test_a_stopped_agent_refuses_connections_until_started_again(cluster, agentctl):
    node = cluster.node("kind-worker")
    pid = cluster.agent_pid(node.name)
    started = process_start_time(pid)
    cluster.stop_agent(node.name)
    try:
        assert gone(pid, started)
        assert not accepts_connections(node.address, cluster.agent_port)
        assert agentctl(cluster.agent_target(node.name), "--insecure", "start", "--id", "while-stopped", "--command", "true",
                        "--wait", timeout=60).returncode != 0
    finally:
        cluster.start_agent(node.name)
    assert cluster.agent_pid(node.name) != pid
    assert run_on_agent(agentctl, cluster, node.name, "true", "after-restart")["node_name"] == node.name


def test_set_endpoint_ready_flips_only_that_endpoint(cluster):
    cluster.set_endpoint_ready("kind-worker2", False)
    try:
        endpoints = agent_endpoints(cluster)
        assert endpoints["kind-worker2"][1]["conditions"]["ready"] is False
        assert all(endpoints[name][1]["conditions"]["ready"] for name in ("kind-control-plane", "kind-worker"))
    finally:
        cluster.set_endpoint_ready("kind-worker2", True)
    assert agent_endpoints(cluster)["kind-worker2"][1]["conditions"]["ready"] is True


def test_add_node_and_remove_node(cluster, agentctl):
    node = cluster.add_node("kind-worker3", labels={"jarvis.io/pool": "extra"})
    try:
        status, labels = node_labels(cluster)["kind-worker3"]
        assert status == "Ready"
        assert labels["jarvis.io/pool"] == "extra"
        assert labels["kubernetes.io/hostname"] == "kind-worker3"
        assert agent_endpoints(cluster)["kind-worker3"][1]["addresses"] == [node.address]
        assert node.address not in {n.address for n in cluster.nodes if n.name != "kind-worker3"}
        assert run_on_agent(agentctl, cluster, "kind-worker3", "true", "added-node")["node_name"] == "kind-worker3"
        pid = cluster.agent_pid("kind-worker3")
        started = process_start_time(pid)
    finally:
        cluster.remove_node("kind-worker3")
    assert "kind-worker3" not in node_labels(cluster)
    assert "kind-worker3" not in agent_endpoints(cluster)
    assert gone(pid, started)
    with pytest.raises(ClusterError):
        cluster.node("kind-worker3")


def test_restart_apiserver_keeps_port_and_objects(cluster):
    cluster.kubectl("create", "configmap", "survives-restart", "-n", "jarvis", "--from-literal=key=value")
    before = cluster.processes()["kube-apiserver"]
    cluster.restart_apiserver()
    assert cluster.processes()["kube-apiserver"] != before
    assert cluster.kubectl("get", "--raw", "/readyz").stdout == "ok"
    value = cluster.kubectl("get", "configmap", "survives-restart", "-n", "jarvis", "-o", "jsonpath={.data.key}")
    assert value.stdout == "value"
    assert sorted(node_labels(cluster)) == sorted(NODE_NAMES)


def test_start_controller_runs_jarvis_as_controller_with_its_log_in_the_cluster_dir(cluster):
    controller = cluster.start_controller(["--help"])
    assert controller.wait(timeout=30) == 0
    assert controller.log_path.parent == cluster.dir
    assert "--role" in controller.log_text()


def test_apply_manifests_installs_jarvis_but_nothing_schedules_its_workloads(make_cluster):
    cluster = make_cluster(nodes=1)
    cluster.apply_manifests(REPO_ROOT / "manifests")
    cluster.kubectl("wait", "--for=condition=Established", "crd/commands.jarvis.io", "--timeout=60s")
    for kubeconfig in (cluster.controller_cert_kubeconfig, cluster.controller_token_kubeconfig):
        def can_i(*args):
            return cluster.kubectl("auth", "can-i", *args, kubeconfig=kubeconfig, check=False).stdout.strip()
        assert can_i("watch", "commands.jarvis.io", "-A") == "yes"
        assert can_i("list", "endpointslices.discovery.k8s.io", "-n", "jarvis") == "yes"
        assert can_i("list", "secrets", "-A") == "no"
    # No kube-controller-manager or kube-scheduler: the DaemonSet and Deployment are stored, never run.
    assert cluster.kubectl("get", "daemonset", "jarvis-agent", "-n", "jarvis").returncode == 0
    assert cluster.kubectl("get", "pods", "-n", "jarvis", "-o", "name").stdout == ""


def test_down_stops_every_process_and_removes_the_directory(make_cluster):
    cluster = make_cluster(nodes=2)
    processes = cluster.processes()
    assert set(processes) == {"etcd", "kube-apiserver", "agent-kind-control-plane", "agent-kind-worker",
                              "secret-volume"}
    start_times = {pid: process_start_time(pid) for pid in processes.values()}
    cluster.down()
    assert not cluster.dir.exists()
    assert [pid for pid, started in start_times.items() if not gone(pid, started)] == []


def test_up_cleans_a_stale_directory_left_by_a_killed_run(make_cluster, jarvis_binary):
    first = make_cluster(nodes=1)
    first.kubectl("create", "configmap", "from-the-killed-run", "-n", "jarvis")
    start_times = {pid: process_start_time(pid) for pid in first.processes().values()}
    for pid in start_times:
        os.killpg(pid, signal.SIGKILL)
    wait_until(lambda: all(gone(pid, started) for pid, started in start_times.items()), 10, "the kill")
    assert (first.dir / MARKER_FILE).exists()

    second = Cluster(first.dir, nodes=1, jarvis=jarvis_binary)
    try:
        second.up()
        assert sorted(node_labels(second)) == ["kind-control-plane"]
        missing = second.kubectl("get", "configmap", "from-the-killed-run", "-n", "jarvis", check=False)
        assert "NotFound" in missing.stderr
    finally:
        second.down()
    assert not first.dir.exists()


RUNNER_KILLED_MID_TEST = """
import json, sys
sys.path.insert(0, sys.argv[1])
from jarvis_cluster import Cluster
cluster = Cluster(sys.argv[2], nodes=1, jarvis=sys.argv[3]).up()
print(json.dumps(cluster.processes()), flush=True)
sys.stdin.read()
"""


def test_nothing_outlives_a_killed_test_runner(tmp_path, jarvis_binary):
    directory = tmp_path / "orphaned"
    runner = subprocess.Popen([sys.executable, "-c", RUNNER_KILLED_MID_TEST, str(REPO_ROOT / "test" / "cluster"),
                               str(directory), str(jarvis_binary)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        processes = json.loads(runner.stdout.readline())
        start_times = {pid: process_start_time(pid) for pid in processes.values()}
    finally:
        runner.kill()
        runner.wait(timeout=30)
    try:
        assert {"etcd", "kube-apiserver", "agent-kind-control-plane"} <= set(processes)
        assert None not in start_times.values()
        wait_until(lambda: all(gone(pid, started) for pid, started in start_times.items()), 10,
                   "the runner's cluster processes to die with it")
    finally:
        down = cluster_cli("down", "--dir", directory)
    assert down.returncode == 0, down.stderr
    assert not directory.exists()


def recorded_processes(directory):
    """{name: (pid, start time)} from a cluster directory's pid files."""
    records = [json.loads(p.read_text()) for p in (directory / "pids").glob("*.pid")]
    return {r["name"]: (r["pid"], r["start_time"]) for r in records}


def cluster_cli(*args):
    return subprocess.run([sys.executable, str(CLUSTER_CLI), *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_cli_up_leaves_a_running_cluster_that_up_again_replaces_and_down_removes(tmp_path, jarvis_binary):
    directory = tmp_path / "cli-cluster"
    kubectl = upstream_binaries().kubectl
    second_run = {}
    try:
        up = cluster_cli("up", "--dir", directory, "--nodes", 2, "--jarvis", jarvis_binary,
                         "--label", "kind-worker=disk=ssd")
        assert up.returncode == 0, up.stderr
        assert f"export KUBECONFIG={directory / 'admin.kubeconfig'}" in up.stdout
        first_run = recorded_processes(directory)
        assert {"etcd", "kube-apiserver", "agent-kind-control-plane", "agent-kind-worker"} <= set(first_run)
        assert not any(gone(pid, started) for pid, started in first_run.values())
        disk = subprocess.run([kubectl, "--kubeconfig", directory / "admin.kubeconfig", "get", "node", "kind-worker",
                               "-o", "jsonpath={.metadata.labels.disk}"], capture_output=True, text=True, timeout=60)
        assert disk.stdout == "ssd"

        again = cluster_cli("up", "--dir", directory, "--nodes", 1, "--jarvis", jarvis_binary)
        assert again.returncode == 0, again.stderr
        assert all(gone(pid, started) for pid, started in first_run.values())
        second_run = recorded_processes(directory)
        assert set(second_run) == {"etcd", "kube-apiserver", "agent-kind-control-plane", "secret-volume"}
    finally:
        down = cluster_cli("down", "--dir", directory)
    assert down.returncode == 0, down.stderr
    assert not directory.exists()
    assert all(gone(pid, started) for pid, started in second_run.values())


def test_cli_refuses_a_directory_that_holds_no_cluster(tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    for command in ("up", "down"):
        result = cluster_cli(command, "--dir", tmp_path)
        assert result.returncode != 0
        assert "holds no test cluster" in result.stderr
    assert precious.read_text() == "keep me"
