"""A real local Kubernetes control plane with simulated nodes, for the end-to-end tests, benchmarks and demo.

Runs etcd and kube-apiserver (built from the pinned releases by upstream/build.sh) on 127.0.0.1, and one
`jarvis --role=agent` process per simulated node on the node's own loopback address, standing in for the
agent DaemonSet's pods. kube-scheduler, kube-controller-manager and kubelet are not run: the harness writes
the Node objects and the agent Service's EndpointSlices that they would have produced.

    with Cluster("/tmp/c", nodes=3, jarvis="build/src/jarvis") as cluster:
        cluster.kubectl("get", "nodes")

Cluster is the one object the tests use; it puts together the cluster's parts, each in a module of its own:
cluster_control_plane (etcd, kube-apiserver, credentials, kubeconfigs, kubectl), cluster_nodes (Node objects,
agent processes, EndpointSlices) and cluster_agent_tls (the agents' TLS files from Secret jarvis-agent-tls, as
the kubelet's Secret volume would keep them). Controllers the tests start are processes of the cluster too.
"""
import json
import os
import shutil
import signal
import time
from pathlib import Path

from cluster_agent_tls import AgentTlsVolume
from cluster_control_plane import CONTROLLER_USER, ControlPlane
from cluster_errors import ClusterError, KubectlError
from cluster_net import free_port
from cluster_nodes import NodeFleet
from cluster_process import ProcessStarter, kill_recorded
from upstream_binaries import upstream_binaries

__all__ = ["CONTROLLER_USER", "DEFAULT_JARVIS", "MARKER_FILE", "REPO_ROOT", "Cluster", "ClusterError",
           "ControllerProcess", "KubectlError", "down_dir"]

MARKER_FILE = "jarvis-cluster.json"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_JARVIS = REPO_ROOT / "build" / "src" / "jarvis"


def down_dir(directory, timeout=10.0):
    """Stops every process a cluster in directory started (also one left by a killed run) and removes the
    directory. A missing directory is fine; a directory that holds something else is refused, untouched.
    Returns the names of the processes that were still running."""
    directory = Path(directory)
    if not directory.exists():
        return []
    _require_cluster_dir(directory)
    killed = kill_recorded(directory / "pids", timeout=timeout)
    shutil.rmtree(directory)
    return killed


def _require_cluster_dir(directory):
    if not directory.is_dir():
        raise ClusterError(f"{directory} is not a directory")
    if not (directory / MARKER_FILE).exists() and any(directory.iterdir()):
        raise ClusterError(f"{directory} is not empty and holds no test cluster (no {MARKER_FILE}): "
                           "refusing to touch it")


class _FromPart:
    """An attribute of Cluster (a value or a method) that one of its parts holds: `kubectl =
    _FromPart("_control_plane")` makes cluster.kubectl the control plane's kubectl."""

    def __init__(self, part, name=None):
        self.part = part
        self.name = name

    def __set_name__(self, owner, name):
        self.name = self.name or name

    def __get__(self, cluster, owner=None):
        if cluster is None:
            return self
        return getattr(getattr(cluster, self.part), self.name)


class ControllerProcess:
    """A `jarvis --role=controller` process the cluster started; its output goes to log_path."""

    def __init__(self, process, probe_address=None, metrics_address=None):
        self._process = process
        self.probe_address = probe_address      # "127.0.0.1:PORT" of /healthz and /readyz
        self.metrics_address = metrics_address  # "127.0.0.1:PORT" of /metrics

    @property
    def pid(self):
        return self._process.pid

    @property
    def log_path(self):
        return self._process.log_path

    @property
    def returncode(self):
        """The exit status once it exited (negative: killed by that signal), else None."""
        return self._process.returncode

    def alive(self):
        return self._process.alive()

    def log_text(self):
        return self.log_path.read_text(errors="replace")

    def send_signal(self, sig):
        self._process.send_signal(sig)

    def wait(self, timeout=30.0):
        """Waits for it to exit by itself; returns the exit status. subprocess.TimeoutExpired after timeout."""
        return self._process.wait(timeout)

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        """Sends sig and waits up to timeout for it to exit, then kills it; returns the exit status."""
        return self._process.stop(sig, timeout)

    def kill(self):
        return self._process.stop(signal.SIGKILL)


class Cluster:
    """One test cluster living in directory. up() starts it, down() stops it and removes directory.

    nodes: how many simulated nodes (kind-control-plane, kind-worker, kind-worker2, ...).
    labels: {node name: {label: value}} added to those nodes' usual labels.
    jarvis: the jarvis executable the agents (and controllers) run.
    detached: False (tests) ties every process to the caller with PR_SET_PDEATHSIG so none outlives it;
      True (the command-line tool) lets them outlive the caller until `down`.
    transport: "mtls" (the product's default): agents serve mutual TLS from DIR/agent-tls, kept in step with
      Secret jarvis/jarvis-agent-tls (made by the controller); until a controller has run, agents refuse every
      connection. "insecure": agents and controllers all get --insecure (for tests of the harness itself, which
      talk to agents without a controller).
    tls_refresh_seconds: the agents' --tls-refresh-interval; 1 (tests of certificate rotation want it quick);
      the benchmark gives the agent's own default, 60, as a fleet runs it.
    """

    def __init__(self, directory, nodes=3, labels=None, jarvis=DEFAULT_JARVIS, detached=False,
                 binaries=None, timeout=120.0, transport="mtls", tls_refresh_seconds=1):
        if nodes < 1:
            raise ClusterError("a cluster needs at least one node")
        if transport not in ("mtls", "insecure"):
            raise ClusterError(f"transport must be 'mtls' or 'insecure', not {transport!r}")
        self.transport = transport
        self.dir = Path(directory).resolve()
        self.jarvis = Path(jarvis).resolve()
        self.detached = detached
        self.timeout = timeout
        self._binaries = binaries
        self._processes = ProcessStarter(self.dir, detached)
        self._control_plane = ControlPlane(self.dir, self._processes, timeout)
        self._agent_tls = AgentTlsVolume(self.dir, self._processes, self._control_plane)
        self._fleet = NodeFleet(self.dir, nodes, labels, self.jarvis, transport, self._agent_tls.dir,
                                self._processes, self._control_plane, timeout, tls_refresh_seconds)
        self._controllers = []
        self.up_seconds = None

    # ---- life cycle

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        self.down()

    def up(self):
        """Starts etcd, kube-apiserver and the agents and writes the cluster's objects; returns once /readyz
        answers 200 and every agent accepts connections. A stale cluster in the directory is removed first.
        On failure everything started is stopped, the directory (with the logs) is kept and ClusterError
        says which process failed; down() removes it."""
        started = time.monotonic()
        down_dir(self.dir)
        if not os.access(self.jarvis, os.X_OK):
            raise ClusterError(f"jarvis executable {self.jarvis} not found: build it (meson setup build && "
                               "ninja -C build src/jarvis) or pass its path (--jarvis, JARVIS_BINARY)")
        self.dir.mkdir(parents=True)
        self._write_marker()
        try:
            self._control_plane.start(self._binaries or upstream_binaries())
            self._fleet.start_agents()
            self._control_plane.wait_ready()
            self._fleet.write_objects()
            if self.transport == "mtls":
                self._agent_tls.start()
            self._fleet.wait_agents_ready()
            self._write_marker()
        except BaseException:
            self._stop_all()
            raise
        self.up_seconds = time.monotonic() - started
        return self

    def down(self):
        """Stops every process the cluster started (controllers and agents included) and removes its
        directory. Safe to call more than once and after a failed up()."""
        self._stop_all()
        down_dir(self.dir)

    def _stop_all(self):
        self._fleet.terminate_agents()
        for controller in self._controllers:
            controller.kill()
        for process in self._agent_tls.running():
            process.stop(signal.SIGKILL)
        self._control_plane.kill()

    def _write_marker(self):
        state = {"pid_of_creator": os.getpid(), "server": self.server if self.apiserver_port else None,
                 "admin_kubeconfig": str(self.admin_kubeconfig), "agent_port": self.agent_port,
                 "nodes": [{"name": n.name, "address": n.address} for n in self.nodes]}
        (self.dir / MARKER_FILE).write_text(json.dumps(state, indent=2) + "\n")

    def processes(self):
        """{name: pid} of every process of the cluster now running (etcd, kube-apiserver, the secret volume,
        agents, controllers)."""
        running = self._control_plane.running() + self._agent_tls.running() + self._fleet.running() \
            + [c._process for c in self._controllers]
        return {p.name: p.pid for p in running if p.alive()}

    def save_logs(self, destination):
        """Copies every log of the cluster (etcd, kube-apiserver, agents, controllers) to destination, keeping
        their relative paths, so they outlive down(); returns destination."""
        destination = Path(destination)
        for log in self.dir.glob("**/*.log"):
            target = destination / log.relative_to(self.dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log, target)
        return destination

    # ---- what the parts answer themselves (see their modules for what each does)

    server = _FromPart("_control_plane")
    etcd_port = _FromPart("_control_plane")
    apiserver_port = _FromPart("_control_plane")
    ca_cert = _FromPart("_control_plane")
    admin_kubeconfig = _FromPart("_control_plane")
    controller_cert_kubeconfig = _FromPart("_control_plane")
    controller_token_kubeconfig = _FromPart("_control_plane")
    controller_token = _FromPart("_control_plane")
    kubectl_path = _FromPart("_control_plane")
    user_kubeconfig = _FromPart("_control_plane")
    kubectl = _FromPart("_control_plane")
    apply_manifests = _FromPart("_control_plane")
    stop_apiserver = _FromPart("_control_plane")
    start_apiserver = _FromPart("_control_plane")
    restart_apiserver = _FromPart("_control_plane")

    nodes = _FromPart("_fleet")
    agent_port = _FromPart("_fleet")
    node = _FromPart("_fleet")
    agent_target = _FromPart("_fleet")
    agent_http_address = _FromPart("_fleet")
    agent_log = _FromPart("_fleet")
    agent_state_dir = _FromPart("_fleet")
    agent_pid = _FromPart("_fleet")
    agent_served_certificate = _FromPart("_fleet")
    stop_agent = _FromPart("_fleet")
    start_agent = _FromPart("_fleet")
    set_endpoint_ready = _FromPart("_fleet")

    agent_tls_dir = _FromPart("_agent_tls", "dir")
    start_secret_volume = _FromPart("_agent_tls", "start")
    stop_secret_volume = _FromPart("_agent_tls", "stop")

    # ---- what takes more than one part

    def add_node(self, name, labels=None):
        """NodeFleet.add_node, and the cluster's marker file lists the new node."""
        node = self._fleet.add_node(name, labels)
        self._write_marker()
        return node

    def remove_node(self, name):
        """NodeFleet.remove_node, and the cluster's marker file no longer lists the node."""
        self._fleet.remove_node(name)
        self._write_marker()

    def wait_agents_trust_controller(self, timeout=60.0):
        """Waits until every agent presents the certificate in Secret jarvis/jarvis-agent-tls (the Secret
        exists, reached the agents' files and they re-read them): from then on the controller's calls succeed."""
        self._agent_tls.wait_agents_serve_secret(self._fleet, timeout)

    # ---- controllers

    def start_controller(self, extra_args=(), kubeconfig=None, env=None, binary=None):
        """Starts `jarvis --role=controller --kubeconfig KUBECONFIG extra_args...` (the controller's token
        kubeconfig by default) with its output in DIR/controller-N.log; returns its ControllerProcess.
        env: variables added to the inherited environment. binary: another jarvis executable (e.g. the
        AddressSanitizer build) than the cluster's."""
        number = len(self._controllers) + 1
        if self.transport == "mtls":
            security = ["--tls-dir", self.dir / f"controller-{number}-tls"]
        else:
            security = ["--insecure"]
        # Loopback ports of their own for the probes and metrics (the defaults :8081/:8080 would clash between
        # controllers and with whatever else runs on the machine); extra_args may give others.
        probe_address, metrics_address = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        endpoints = [f"--health-probe-bind-address={probe_address}", f"--metrics-bind-address={metrics_address}"]
        process = self._processes.start(
            f"controller-{number}",
            [binary or self.jarvis, "--role=controller", "--kubeconfig", kubeconfig or self.controller_token_kubeconfig,
             *security, *endpoints, *extra_args],
            self.dir / f"controller-{number}.log", env={**os.environ, **(env or {})})
        controller = ControllerProcess(process, probe_address, metrics_address)
        self._controllers.append(controller)
        return controller
