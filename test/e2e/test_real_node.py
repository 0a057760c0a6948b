"""Jarvis deployed as a user deploys it, on a real node: `kubectl apply -k` of manifests/ (plus the test
overlay this machine forces, test/cluster/real_node_overlay/), pods run by a real kubelet and containerd
from the image Containerfile builds, in-cluster configuration, the downward API, the real Secret volume,
the real EndpointSlice controller. One cluster (test/cluster/real_node.py) is shared by the module's tests,
which run in order; each leaves the deployment healthy for the next.

Needs root, cgroup v1, Debian's containerd, runc and containernetworking-plugins, and the image archive
(JARVIS_IMAGE_ARCHIVE, written by test/image/build.sh; scripts/test.sh builds it once for this module and
the image suite; without it the fixture builds it, which takes minutes).
"""
import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT, tear_down
from deadline import wait_until
from real_node import NAMESPACE, REAL_NODE, RealNodeCluster

SAMPLE = REPO_ROOT / "manifests" / "samples" / "v1_command.yaml"
SAMPLE_COMMAND = "ps -eo pid,comm,%cpu,%mem --sort=-%cpu | head -n 10"
AGENT = "app.kubernetes.io/name=jarvis-agent"
CONTROLLER = "app.kubernetes.io/name=jarvis-controller"


@pytest.fixture(scope="module")
def image_archive(tmp_path_factory):
    given = os.environ.get("JARVIS_IMAGE_ARCHIVE")
    if given:
        return Path(given)
    archive = tmp_path_factory.mktemp("image") / "jarvis-image.tar"
    subprocess.run(["bash", str(REPO_ROOT / "test" / "image" / "build.sh"), str(archive)], check=True,
                   timeout=3600)
    return archive


@pytest.fixture(scope="module")
def node(request, tmp_path_factory, image_archive):
    """The real-node cluster with Jarvis installed and rolled out (timings printed)."""
    cluster = RealNodeCluster(tmp_path_factory.mktemp("real-node"), image_archive)
    failures_before = request.session.testsfailed
    up_failed = True
    try:
        cluster.up()
        installed = time.monotonic()
        cluster.install()
        cluster.rollout = cluster.wait_rollout()
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.write_line(f"real node up in {cluster.up_seconds:.0f} s, Jarvis applied and rolled out in "
                                f"{time.monotonic() - installed:.0f} s")
        up_failed = False
        yield cluster
    finally:
        tear_down(request, tmp_path_factory, [cluster],
                  up_failed or request.session.testsfailed > failures_before)


@pytest.fixture
def markers(tmp_path):
    """A directory on the host the tests' commands write into through the agent's chroot to /host."""
    tmp_path.chmod(0o777)
    return tmp_path


def pods(node, selector):
    return node.kubectl_json("get", "pods", "-n", NAMESPACE, "-l", selector)["items"]


def only_pod(node, selector):
    found = [p for p in pods(node, selector) if not p["metadata"].get("deletionTimestamp")]
    assert len(found) == 1, [p["metadata"]["name"] for p in found]
    return found[0]


def leader_pod(node, timeout=120):
    """The controller pod that holds the Lease jarvis-controller (the manifests run two replicas, one leads; the
    real node's overlay runs one, since both would share the node's probe ports): its identity is
    the pod name (downward API) + "_" + a random suffix."""
    def holding():
        lease = node.kubectl("get", "lease", "jarvis-controller", "-n", NAMESPACE, "-o", "json", check=False)
        if lease.returncode != 0:
            return None
        holder = json.loads(lease.stdout)["spec"].get("holderIdentity", "")
        return next((p for p in pods(node, CONTROLLER) if holder.startswith(p["metadata"]["name"] + "_")
                     and not p["metadata"].get("deletionTimestamp")), None)
    return wait_until(holding, timeout, "a controller pod to hold the Lease jarvis-controller", interval=1.0)


def ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def wait_replacement_ready(node, selector, old, timeout=180, others=()):
    """The pod that replaced old (deleted) once it is Ready; others: pods that were there already (the
    controller's second replica), not a replacement."""
    known = {old["metadata"]["uid"]} | {p["metadata"]["uid"] for p in others}
    def replacement():
        return next((p for p in pods(node, selector) if p["metadata"]["uid"] not in known
                     and not p["metadata"].get("deletionTimestamp") and ready(p)), None)
    return wait_until(replacement, timeout, f"a Ready pod replacing {old['metadata']['name']}", interval=1.0)


def run_command(node, name, command, timeout=180):
    """Creates a Command (every node) and returns it once Succeeded or Failed."""
    node.kubectl("apply", "-f", "-", input={"apiVersion": "jarvis.io/v1", "kind": "Command",
                                            "metadata": {"name": name, "namespace": NAMESPACE},
                                            "spec": {"command": command}})
    return wait_for_phase(node, name, timeout)


def wait_for_phase(node, name, timeout=180):
    def finished():
        obj = node.kubectl_json("get", "command", name, "-n", NAMESPACE)
        status = obj.get("status", {})
        if status.get("observedGeneration") == obj["metadata"]["generation"] and \
                status.get("phase") in ("Succeeded", "Failed"):
            return obj
        return None
    return wait_until(finished, timeout, f"Command {name} to finish", interval=1.0)


def events_for(node, name):
    items = node.kubectl_json("get", "events", "-n", NAMESPACE, "--field-selector", f"involvedObject.name={name}")
    return items["items"]


def pod_log(node, workload):
    return node.kubectl("logs", "-n", NAMESPACE, workload).stdout


def log_records(text):
    records = []
    for line in text.splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return records


def wait_agent_serves_secret(node, timeout=240):
    """Waits until the agent presents the certificate of Secret jarvis-agent-tls: the kubelet refreshed the
    volume and the agent re-read it (every 60 s by default)."""
    wanted = wait_until(node.secret_certificate, 60, "Secret jarvis-agent-tls", interval=1.0)
    wait_until(lambda: node.agent_served_certificate() == wanted, timeout,
               "the agent to serve the certificate of Secret jarvis-agent-tls", interval=2.0)


def test_rollout_of_the_agent_daemonset_and_the_controller_deployment(node):
    agent_rollout, controller_rollout = node.rollout
    assert 'daemon set "jarvis-agent" successfully rolled out' in agent_rollout
    assert 'deployment "jarvis-controller" successfully rolled out' in controller_rollout
    for selector in (AGENT, CONTROLLER):
        pod = only_pod(node, selector)
        assert pod["spec"]["nodeName"] == REAL_NODE and pod["status"]["phase"] == "Running", pod["status"]
        # The image Containerfile builds, imported from the archive, never pulled.
        assert pod["status"]["containerStatuses"][0]["image"] == "localhost/jarvis:dev"
    described = node.kubectl("get", "daemonset", "jarvis-agent", "-n", NAMESPACE, "-o", "wide").stdout
    assert re.search(r"jarvis-agent\s+1\s+1\s+1\s+1\s+1", described), described


def test_agent_pod_is_ready_and_gets_its_node_name_from_the_downward_api(node):
    pod = only_pod(node, AGENT)
    assert ready(pod), pod["status"]
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    listening = [r for r in log_records(pod_log(node, "ds/jarvis-agent")) if r.get("msg") == "agent listening"]
    assert listening and listening[-1]["node_name"] == REAL_NODE, listening
    assert listening[-1]["transport"] == "mutual TLS"


def test_controller_uses_in_cluster_configuration(node):
    pod = leader_pod(node)
    container = pod["spec"]["containers"][0]
    assert not any("kubeconfig" in arg for arg in container["args"]), container["args"]
    assert "KUBECONFIG" not in {e["name"] for e in container.get("env", [])}
    # The ServiceAccount token the kubelet projects, with the kube-root-ca.crt the controller-manager publishes.
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/var/run/secrets/kubernetes.io/serviceaccount" in mounts, mounts
    assert pod["spec"]["serviceAccountName"] == "jarvis-controller"
    starting = [r for r in log_records(pod_log(node, "pod/" + pod["metadata"]["name"]))
                if r.get("msg") == "controller starting"]
    assert starting and starting[-1]["config"] == "in-cluster", starting


def test_seed_sample_runs_through_the_real_pods(node):
    node.kubectl("apply", "-f", SAMPLE)
    obj = wait_for_phase(node, "command-sample")
    status = obj["status"]
    assert status["phase"] == "Succeeded", status
    assert (status["targeted"], status["succeeded"], status["failed"]) == (1, 1, 0)
    result = status["nodes"][0]
    assert result["name"] == REAL_NODE and result["exitCode"] == 0 and "PID" in result["output"], result

    # The node's event and the run's summary (reason Completed).
    def both_events():
        found = events_for(node, "command-sample")
        return found if len(found) == 2 else None
    events = wait_until(both_events, 60, "the sample's two events", interval=1.0)
    assert sorted(e["reason"] for e in events) == sorted([f"command-sample-{REAL_NODE}", "Completed"])
    event = next(e for e in events if e["reason"] == f"command-sample-{REAL_NODE}")
    assert event["type"] == "Normal" and event["source"]["component"] == "command-controller"
    first, _, rest = event["message"].partition("\n")
    assert first == f"❯ {SAMPLE_COMMAND}"
    assert rest.split()[:4] == ["PID", "COMMAND", "%CPU", "%MEM"]


def test_kubectl_logs_show_the_audit_and_dispatch_lines(node):
    uid = node.kubectl_json("get", "command", "command-sample", "-n", NAMESPACE)["metadata"]["uid"]
    agent = log_records(pod_log(node, "ds/jarvis-agent"))
    started = [r for r in agent if r.get("msg") == "execution started" and r.get("origin_uid") == uid]
    finished = [r for r in agent if r.get("msg") == "execution finished" and r.get("origin_uid") == uid]
    assert len(started) == 1 and len(finished) == 1, agent
    assert started[0]["command"] == SAMPLE_COMMAND and started[0]["node"] == REAL_NODE
    assert started[0]["requested_by"] and started[0]["origin_name"] == "command-sample"
    controller = log_records(pod_log(node, "pod/" + leader_pod(node)["metadata"]["name"]))
    dispatched = [r for r in controller if r.get("msg") == "dispatching command" and r.get("uid") == uid]
    assert len(dispatched) == 1 and dispatched[0]["command"] == f"{NAMESPACE}/command-sample", controller
    # The readiness probe's TCP connects leave no trace in the agent's log.
    assert not [line for line in pod_log(node, "ds/jarvis-agent").splitlines() if "andshake" in line]


def test_ca_rotation_reaches_the_agent_through_the_kubelets_secret_volume(node):
    agent_before = only_pod(node, AGENT)
    old_certificate = node.secret_certificate()
    node.kubectl("delete", "secret", "jarvis-ca", "-n", NAMESPACE)
    old_controller = leader_pod(node)
    others = pods(node, CONTROLLER)
    node.kubectl("delete", "pod", old_controller["metadata"]["name"], "-n", NAMESPACE, "--wait=true")
    wait_replacement_ready(node, CONTROLLER, old_controller, others=others)
    wait_until(lambda: node.secret_certificate() not in (None, old_certificate), 120,
               "the new controller to issue the agents' certificate from a new CA", interval=1.0)
    wait_agent_serves_secret(node)

    obj = run_command(node, "after-ca-rotation", "echo rotated")
    assert obj["status"]["phase"] == "Succeeded", obj["status"]
    agent_after = only_pod(node, AGENT)
    assert agent_after["metadata"]["uid"] == agent_before["metadata"]["uid"]
    assert agent_after["status"]["containerStatuses"][0]["restartCount"] == \
        agent_before["status"]["containerStatuses"][0]["restartCount"]


class EndpointWatch:
    """`kubectl get endpointslices -w -o json` of the agent Service in the background; seen holds (pod, ready)
    for every endpoint of every update, in order. (A jsonpath template would end the watch at the first
    slice without endpoints.)"""

    def __init__(self, node):
        self._process = subprocess.Popen(
            node.in_netns([node.kubectl_path, f"--kubeconfig={node.admin_kubeconfig}", "get", "endpointslices",
                           "-n", NAMESPACE, "-l", "kubernetes.io/service-name=jarvis-agent", "--watch", "-o", "json"]),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.seen = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        decoder = json.JSONDecoder()
        pending = ""
        for line in self._process.stdout:
            pending += line
            while pending.strip():
                try:
                    update, end = decoder.raw_decode(pending.lstrip())
                except json.JSONDecodeError:
                    break  # the object continues on the next lines
                pending = pending.lstrip()[end:]
                for endpoint in update.get("endpoints") or []:
                    self.seen.append((endpoint["targetRef"]["name"], endpoint["conditions"].get("ready")))

    def stop(self):
        self._process.kill()
        self._process.wait(timeout=30)
        self._reader.join(timeout=30)


def test_deleted_agent_pod_is_recreated_turns_ready_and_serves(node, markers):
    old = only_pod(node, AGENT)
    watch = EndpointWatch(node)
    try:
        node.kubectl("delete", "pod", old["metadata"]["name"], "-n", NAMESPACE, "--wait=true")
        new_name = wait_replacement_ready(node, AGENT, old)["metadata"]["name"]
        wait_until(lambda: (new_name, True) in watch.seen, 60,
                   "the new pod's endpoint to be ready in the EndpointSlice", interval=0.5)
    finally:
        watch.stop()
    # The readiness probe at work: the new pod's endpoint was published not ready before it was ready.
    states = [state for name, state in watch.seen if name == new_name]
    assert False in states and states.index(False) < states.index(True), watch.seen
    slices = node.kubectl_json("get", "endpointslices", "-n", NAMESPACE, "-l",
                               "kubernetes.io/service-name=jarvis-agent")["items"]
    endpoints = [e for s in slices for e in s.get("endpoints") or []]
    assert [(e["targetRef"]["name"], e["conditions"]["ready"]) for e in endpoints] == [(new_name, True)]

    marker = markers / "after-agent-restart"
    obj = run_command(node, "after-agent-restart", f"echo ran >> {marker}")
    assert obj["status"]["phase"] == "Succeeded", obj["status"]
    assert marker.read_text() == "ran\n"


def test_controller_pod_deleted_mid_run_completes_exactly_once(node, markers):
    marker = markers / "executions"
    release = markers / "release"
    # Each execution appends a line, then waits (bounded) until the test releases it.
    command = (f"echo $$ >> {marker}; i=0; while [ ! -e {release} ] && [ $i -lt 600 ]; do sleep 0.1; "
               "i=$((i+1)); done; echo done")
    node.kubectl("apply", "-f", "-", input={"apiVersion": "jarvis.io/v1", "kind": "Command",
                                            "metadata": {"name": "controller-restart", "namespace": NAMESPACE},
                                            "spec": {"command": command}})
    wait_until(lambda: marker.exists() and marker.read_text(), 120, "the command to start on the node",
               interval=0.5)
    old = leader_pod(node)
    others = pods(node, CONTROLLER)
    node.kubectl("delete", "pod", old["metadata"]["name"], "-n", NAMESPACE, "--wait=true")
    wait_replacement_ready(node, CONTROLLER, old, others=others)
    release.touch()
    obj = wait_for_phase(node, "controller-restart")
    assert obj["status"]["phase"] == "Succeeded", obj["status"]
    assert obj["status"]["nodes"][0]["output"] == "done\n"
    assert len(marker.read_text().splitlines()) == 1, marker.read_text()
    agent = log_records(pod_log(node, "ds/jarvis-agent"))
    uid = obj["metadata"]["uid"]
    assert len([r for r in agent if r.get("msg") == "execution started" and r.get("origin_uid") == uid]) == 1
