"""A real local Kubernetes control plane with simulated nodes, for the end-to-end tests, benchmarks and demo.

Runs etcd and kube-apiserver (built from the pinned releases by upstream/build.sh) on 127.0.0.1, and one
`jarvis --role=agent` process per simulated node on the node's own loopback address, standing in for the
agent DaemonSet's pods. kube-scheduler, kube-controller-manager and kubelet are not run: the harness writes
the Node objects and the agent Service's EndpointSlices that they would have produced.

    with Cluster("/tmp/c", nodes=3, jarvis="build/src/jarvis") as cluster:
        cluster.kubectl("get", "nodes")
"""
import base64
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import ssl
import subprocess
import time
from pathlib import Path

import cluster_objects as objects
from cluster_kubeconfig import write_kubeconfig
from cluster_net import accepts_connections, free_port, node_address, port_free_on, port_free_on_all
from cluster_pki import CertificateAuthority, create_service_account_keys
from cluster_process import ManagedProcess, kill_recorded, last_lines
from deadline import wait_until
from upstream_binaries import upstream_binaries

CONTROLLER_USER = "system:serviceaccount:jarvis:jarvis-controller"
MARKER_FILE = "jarvis-cluster.json"
FIELD_MANAGER = "jarvis-test-cluster"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_JARVIS = REPO_ROOT / "build" / "src" / "jarvis"


class ClusterError(Exception):
    pass


class KubectlError(ClusterError):
    def __init__(self, message, result):
        super().__init__(message)
        self.result = result


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


def _safe_file_stem(text):
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


class ControllerProcess:
    """A `jarvis --role=controller` process the cluster started; its output goes to log_path."""

    def __init__(self, process):
        self._process = process

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
    """

    def __init__(self, directory, nodes=3, labels=None, jarvis=DEFAULT_JARVIS, detached=False,
                 binaries=None, timeout=120.0, transport="mtls"):
        if nodes < 1:
            raise ClusterError("a cluster needs at least one node")
        if transport not in ("mtls", "insecure"):
            raise ClusterError(f"transport must be 'mtls' or 'insecure', not {transport!r}")
        # "mtls" (the product's default): agents serve mutual TLS from DIR/agent-tls, which a stand-in for the
        # kubelet's Secret volume keeps in step with Secret jarvis/jarvis-agent-tls (made by the controller);
        # until a controller has run, agents refuse every connection. "insecure": agents and controllers all
        # get --insecure (for tests of the harness itself, which talk to agents without a controller).
        self.transport = transport
        self.dir = Path(directory).resolve()
        self.jarvis = Path(jarvis).resolve()
        self.detached = detached
        self.timeout = timeout
        self._binaries = binaries
        labels = dict(labels or {})
        self._nodes = {}
        for index in range(nodes):
            name = objects.node_name(index)
            self._nodes[name] = objects.SimulatedNode(name, node_address(index), dict(labels.pop(name, {})),
                                                      control_plane=index == 0)
        if labels:
            raise ClusterError(f"labels for unknown nodes {sorted(labels)}; the nodes are {list(self._nodes)}")
        self._agents = {}
        self._controllers = []
        self._secret_volume = None
        self.agent_tls_dir = self.dir / "agent-tls"
        self._user_kubeconfigs = {}
        self._slice_count = 0
        self._etcd = None
        self._apiserver = None
        self.up_seconds = None

        pki = self.dir / "pki"
        self.ca_cert = pki / "ca.crt"
        self.admin_kubeconfig = self.dir / "admin.kubeconfig"
        self.controller_cert_kubeconfig = self.dir / "controller-cert.kubeconfig"
        self.controller_token_kubeconfig = self.dir / "controller-token.kubeconfig"
        self.kubectl_path = None
        self.etcd_port = None
        self.apiserver_port = None
        self.agent_port = None

    # ---- life cycle

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        self.down()

    @property
    def server(self):
        return f"https://127.0.0.1:{self.apiserver_port}"

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
            binaries = self._binaries or upstream_binaries()
            self.kubectl_path = binaries.kubectl
            self._make_credentials()
            self.etcd_port, etcd_peer_port, self.apiserver_port = free_port(), free_port(), free_port()
            self.agent_port = port_free_on_all([n.address for n in self._nodes.values()])
            self._start_etcd(binaries.etcd, etcd_peer_port)
            self._apiserver_argv = self._apiserver_command(binaries.kube_apiserver)
            self._start_apiserver_process()
            for node in self._nodes.values():
                self._start_agent_process(node)
            self._wait_apiserver_ready()
            self._write_kubeconfigs()
            self._create_objects()
            if self.transport == "mtls":
                self.start_secret_volume()
            for node in self._nodes.values():
                self._wait_agent_ready(node)
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
        # Agents get SIGTERM first: a SIGKILLed agent cannot kill the commands it runs (each in a session of
        # its own), and they would outlive the cluster.
        for agent in self._agents.values():
            agent.stop(signal.SIGTERM, timeout=10.0)
        processes = [c._process for c in self._controllers] + \
            [p for p in (self._secret_volume, self._apiserver, self._etcd) if p]
        for process in processes:
            process.stop(signal.SIGKILL)

    def _write_marker(self):
        state = {"pid_of_creator": os.getpid(), "server": self.server if self.apiserver_port else None,
                 "admin_kubeconfig": str(self.admin_kubeconfig), "agent_port": self.agent_port,
                 "nodes": [{"name": n.name, "address": n.address} for n in self._nodes.values()]}
        (self.dir / MARKER_FILE).write_text(json.dumps(state, indent=2) + "\n")

    # ---- credentials

    def _make_credentials(self):
        pki = self.dir / "pki"
        self._ca = CertificateAuthority(pki).create()
        self._serving_cert, self._serving_key = self._ca.issue(
            "kube-apiserver", "kube-apiserver", server_names=("127.0.0.1", "localhost"))
        self._admin_cert, self._admin_key = self._ca.issue("admin", "jarvis-test-admin", ("system:masters",))
        self._controller_cert, self._controller_key = self._ca.issue("jarvis-controller", CONTROLLER_USER)
        self._sa_key, self._sa_pub = create_service_account_keys(pki)
        self.controller_token = secrets.token_hex(24)
        self._token_file = pki / "tokens.csv"
        # token,user,uid and no groups column: the controller gets no group beyond system:authenticated.
        self._token_file.write_text(f"{self.controller_token},{CONTROLLER_USER},jarvis-controller\n")
        self._token_file.chmod(0o600)

    def _write_kubeconfigs(self):
        write_kubeconfig(self.admin_kubeconfig, self.server, self.ca_cert, "jarvis-test-admin",
                         client_cert=self._admin_cert, client_key=self._admin_key)
        write_kubeconfig(self.controller_cert_kubeconfig, self.server, self.ca_cert, "jarvis-controller",
                         client_cert=self._controller_cert, client_key=self._controller_key)
        write_kubeconfig(self.controller_token_kubeconfig, self.server, self.ca_cert, "jarvis-controller",
                         token=self.controller_token)

    def user_kubeconfig(self, user, groups=()):
        """A kubeconfig authenticating as user in groups (client certificate, CN=user, O=each group)."""
        key = (user, tuple(groups))
        if key not in self._user_kubeconfigs:
            stem = _safe_file_stem(user + "".join("+" + g for g in groups))
            cert, private_key = self._ca.issue(f"users/{stem}", user, tuple(groups))
            self._user_kubeconfigs[key] = write_kubeconfig(
                self.dir / "users" / f"{stem}.kubeconfig", self.server, self.ca_cert, _safe_file_stem(user),
                client_cert=cert, client_key=private_key)
        return self._user_kubeconfigs[key]

    # ---- etcd and kube-apiserver

    def _process(self, name, argv, log_path):
        return ManagedProcess(name, argv, log_path, self.dir / "pids" / f"{name}.pid", cwd=self.dir,
                              die_with_parent=not self.detached)

    def _start_etcd(self, etcd, peer_port):
        client = f"http://127.0.0.1:{self.etcd_port}"
        peer = f"http://127.0.0.1:{peer_port}"
        self._etcd = self._process("etcd", [
            etcd, "--name=jarvis-test", f"--data-dir={self.dir / 'etcd-data'}",
            f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=jarvis-test={peer}", "--unsafe-no-fsync=true", "--log-level=warn",
        ], self.dir / "etcd.log").start()

    def _apiserver_command(self, kube_apiserver):
        pki = self.dir / "pki"
        return [
            kube_apiserver,
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            f"--secure-port={self.apiserver_port}", "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--cert-dir={pki / 'apiserver'}",
            f"--tls-cert-file={self._serving_cert}", f"--tls-private-key-file={self._serving_key}",
            f"--client-ca-file={self.ca_cert}", f"--token-auth-file={self._token_file}",
            "--authorization-mode=RBAC",
            "--service-cluster-ip-range=10.0.0.0/24", "--allow-privileged=true",
            f"--service-account-issuer=https://127.0.0.1:{self.apiserver_port}/",
            f"--service-account-key-file={self._sa_pub}",
            f"--service-account-signing-key-file={self._sa_key}",
            "--disable-admission-plugins=ServiceAccount",
            # The kubernetes Service's endpoint would be 127.0.0.1, which Endpoints validation refuses.
            "--endpoint-reconciler-type=none",
        ]

    def _start_apiserver_process(self):
        self._apiserver = self._process("kube-apiserver", self._apiserver_argv,
                                        self.dir / "kube-apiserver.log").start()

    def _readyz_status(self):
        context = ssl.create_default_context(cafile=str(self.ca_cert))
        context.load_cert_chain(str(self._admin_cert), str(self._admin_key))
        connection = http.client.HTTPSConnection("127.0.0.1", self.apiserver_port, context=context, timeout=2)
        try:
            connection.request("GET", "/readyz")
            return connection.getresponse().status
        except OSError:
            return None
        finally:
            connection.close()

    def _wait_apiserver_ready(self):
        def ready():
            for process in (self._etcd, self._apiserver):
                if not process.alive():
                    raise ClusterError(f"{process.name} exited with status {process.returncode}: "
                                       f"{last_lines(process.log_path, 5)}\n(log: {process.log_path})")
            return self._readyz_status() == 200
        wait_until(ready, self.timeout, f"kube-apiserver /readyz (log: {self.dir / 'kube-apiserver.log'})",
                   interval=0.1)

    def stop_apiserver(self, timeout=30.0):
        """Stops kube-apiserver (SIGTERM, then SIGKILL after timeout); etcd keeps the data."""
        self._apiserver.stop(signal.SIGTERM, timeout)

    def start_apiserver(self):
        """Starts kube-apiserver again on the same port with the same etcd; returns once /readyz is 200."""
        if self._apiserver.alive():
            raise ClusterError("kube-apiserver is already running")
        self._start_apiserver_process()
        self._wait_apiserver_ready()

    def restart_apiserver(self):
        self.stop_apiserver()
        self.start_apiserver()

    # ---- kubectl

    def kubectl(self, *args, kubeconfig=None, check=True, input=None, timeout=60.0):
        """Runs the pinned kubectl (as admin unless kubeconfig says otherwise); returns the CompletedProcess
        with text stdout/stderr. input may be text or an object sent as JSON. With check, a non-zero exit
        raises KubectlError carrying the result."""
        if input is not None and not isinstance(input, str):
            input = json.dumps(input)
        argv = [str(self.kubectl_path), f"--kubeconfig={kubeconfig or self.admin_kubeconfig}",
                f"--cache-dir={self.dir / 'kubectl-cache'}", *[str(a) for a in args]]
        result = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise KubectlError(f"kubectl {' '.join(map(str, args))} failed with status {result.returncode}: "
                               f"{result.stderr.strip()}", result)
        return result

    def apply_manifests(self, path):
        """kubectl apply -k path, as admin."""
        return self.kubectl("apply", "-k", str(path))

    def _server_side_apply(self, items, *extra):
        # --validate=false: kubectl would otherwise first fetch /openapi/v2, which a fresh kube-apiserver
        # builds lazily (seconds). The server still validates every object; only unknown fields would pass,
        # and the tests read back every field the harness writes.
        self.kubectl("apply", "--server-side", "--force-conflicts", f"--field-manager={FIELD_MANAGER}",
                     "--validate=false", *extra, "-f", "-", input=objects.object_list(items))

    def _create_objects(self):
        nodes = list(self._nodes.values())
        slices = objects.endpoint_slices(nodes, self.agent_port)
        self._server_side_apply([objects.namespace(), objects.agent_service(), *map(objects.node, nodes), *slices])
        self._server_side_apply([objects.node_status(n) for n in nodes], "--subresource=status")
        self._slice_count = len(slices)

    def _apply_endpoint_slices(self):
        slices = objects.endpoint_slices(list(self._nodes.values()), self.agent_port)
        if slices:
            self._server_side_apply(slices)
        surplus = [objects.slice_name(i) for i in range(len(slices), self._slice_count)]
        if surplus:
            self.kubectl("delete", "endpointslice", "-n", objects.NAMESPACE, "--ignore-not-found", *surplus)
        self._slice_count = len(slices)

    # ---- nodes and agents

    @property
    def nodes(self):
        """The simulated nodes, in order (SimulatedNode: name, address, labels, endpoint_ready)."""
        return list(self._nodes.values())

    def node(self, name):
        try:
            return self._nodes[name]
        except KeyError:
            raise ClusterError(f"no node {name!r}; the nodes are {list(self._nodes)}") from None

    def agent_target(self, name):
        """host:port of the node's agent, as published in its EndpointSlice."""
        return f"{self.node(name).address}:{self.agent_port}"

    def agent_log(self, name):
        return self.dir / "agents" / f"{name}.log"

    def agent_state_dir(self, name):
        return self.dir / "agents" / f"{name}.state"

    def _start_agent_process(self, node):
        if self.transport == "mtls":
            security = ["--tls-dir", self.agent_tls_dir, "--tls-refresh-interval", "1"]
        else:
            security = ["--insecure"]
        # The node's journal stays across stop_agent()/start_agent(), as the DaemonSet's hostPath does.
        self._agents[node.name] = self._process(f"agent-{node.name}", [
            self.jarvis, "--role=agent", "--listen", f"{node.address}:{self.agent_port}",
            "--node-name", node.name, "--host-root", "/", "--state-dir", self.agent_state_dir(node.name), *security,
        ], self.agent_log(node.name)).start()

    # ---- the kubelet's part for the agents' Secret volume

    def start_secret_volume(self):
        """Starts keeping DIR/agent-tls in step with Secret jarvis/jarvis-agent-tls (what the kubelet does for
        the DaemonSet's volume); the agents re-read it every second."""
        if self._secret_volume and self._secret_volume.alive():
            raise ClusterError("the secret volume is already being kept")
        self._secret_volume = self._process("secret-volume", [
            sys.executable, Path(__file__).resolve().parent / "secret_volume.py", "--kubectl", self.kubectl_path,
            "--kubeconfig", self.admin_kubeconfig, "--namespace", "jarvis", "--secret", "jarvis-agent-tls",
            "--dir", self.agent_tls_dir,
        ], self.dir / "secret-volume.log").start()

    def agent_served_certificate(self, name):
        """The DER certificate the node's agent presents in a TLS handshake (TLS 1.3 sends it before the agent
        checks the client's), or None when no handshake got that far."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(["h2"])
        try:
            with socket.create_connection((self.node(name).address, self.agent_port), timeout=5) as raw, \
                    context.wrap_socket(raw, server_hostname="jarvis-agent") as tls:
                return tls.getpeercert(binary_form=True)
        except (OSError, ssl.SSLError):
            return None

    def wait_agents_trust_controller(self, timeout=60.0):
        """Waits until every agent presents the certificate in Secret jarvis/jarvis-agent-tls (the Secret
        exists, reached the agents' files and they re-read them): from then on the controller's calls succeed."""
        def secret_certificate():
            result = self.kubectl("get", "secret", "jarvis-agent-tls", "-n", "jarvis",
                                  "-o", "jsonpath={.data.tls\\.crt}", check=False)
            if result.returncode != 0 or not result.stdout:
                return None
            return ssl.PEM_cert_to_DER_cert(base64.b64decode(result.stdout).decode())
        wanted = wait_until(secret_certificate, timeout, "the controller to create Secret jarvis/jarvis-agent-tls",
                            interval=0.2)
        for node in self.nodes:
            wait_until(lambda: self.agent_served_certificate(node.name) == wanted, timeout,
                       f"the agent of {node.name} to serve the certificate of Secret jarvis/jarvis-agent-tls",
                       interval=0.2)

    def stop_secret_volume(self):
        """Stops updating DIR/agent-tls: the agents keep the files they have, like a node whose kubelet has
        not caught up yet."""
        if self._secret_volume is None:
            raise ClusterError("the secret volume is not being kept")
        self._secret_volume.stop(signal.SIGKILL)
        self._secret_volume = None

    def _wait_agent_ready(self, node):
        process = self._agents[node.name]

        def ready():
            if not process.alive():
                raise ClusterError(f"agent for {node.name} exited: {process.last_log_line()}")
            if self.transport == "mtls" and '"msg":"waiting for TLS files' in process.log_path.read_text(errors="replace"):
                return True  # it listens once a controller has made Secret jarvis-agent-tls
            return accepts_connections(node.address, self.agent_port, timeout=0.5)
        wait_until(ready, self.timeout, f"the agent for {node.name} to listen on {self.agent_target(node.name)}")

    def stop_agent(self, name, sig=signal.SIGTERM, timeout=10.0):
        """Stops the node's agent (sig, then SIGKILL after timeout); returns its exit status. Its Node and
        endpoint stay as they are: set_endpoint_ready() changes the endpoint."""
        self.node(name)
        process = self._agents.pop(name, None)
        if process is None:
            raise ClusterError(f"the agent for {name} is not running")
        return process.stop(sig, timeout)

    def start_agent(self, name):
        """Starts the node's agent again (same address and port); returns once it accepts connections."""
        node = self.node(name)
        if name in self._agents and self._agents[name].alive():
            raise ClusterError(f"the agent for {name} is already running")
        self._start_agent_process(node)
        self._wait_agent_ready(node)

    def agent_pid(self, name):
        process = self._agents.get(name)
        return process.pid if process else None

    def set_endpoint_ready(self, name, ready):
        """Marks the node's endpoint in the jarvis-agent EndpointSlices ready (and serving) or not."""
        self.node(name).endpoint_ready = bool(ready)
        self._apply_endpoint_slices()

    def add_node(self, name, labels=None):
        """Adds a node: its Node object, its agent (waits until it listens) and its ready endpoint."""
        if name in self._nodes:
            raise ClusterError(f"node {name} already exists")
        used = {n.address for n in self._nodes.values()}
        address = next(a for a in map(node_address, range(len(used) + 1)) if a not in used)
        if not port_free_on(self.agent_port, [address]):
            raise ClusterError(f"port {self.agent_port} is taken on {address}: cannot add node {name}")
        node = objects.SimulatedNode(name, address, dict(labels or {}))
        self._nodes[name] = node
        self._server_side_apply([objects.node(node)])
        self._server_side_apply([objects.node_status(node)], "--subresource=status")
        self._start_agent_process(node)
        self._wait_agent_ready(node)
        self._apply_endpoint_slices()
        self._write_marker()
        return node

    def remove_node(self, name):
        """Removes a node: stops its agent, drops its endpoint and deletes its Node object."""
        self.node(name)
        if name in self._agents:
            self.stop_agent(name)
        del self._nodes[name]
        self._apply_endpoint_slices()
        self.kubectl("delete", "node", name)
        self._write_marker()

    # ---- controller

    def start_controller(self, extra_args=(), kubeconfig=None, env=None):
        """Starts `jarvis --role=controller --kubeconfig KUBECONFIG extra_args...` (the controller's token
        kubeconfig by default) with its output in DIR/controller-N.log; returns its ControllerProcess.
        env: variables added to the inherited environment."""
        number = len(self._controllers) + 1
        if self.transport == "mtls":
            security = ["--tls-dir", self.dir / f"controller-{number}-tls"]
        else:
            security = ["--insecure"]
        process = ManagedProcess(
            f"controller-{number}",
            [self.jarvis, "--role=controller", "--kubeconfig", kubeconfig or self.controller_token_kubeconfig,
             *security, *extra_args],
            self.dir / f"controller-{number}.log", self.dir / "pids" / f"controller-{number}.pid", cwd=self.dir,
            env={**os.environ, **(env or {})}, die_with_parent=not self.detached).start()
        controller = ControllerProcess(process)
        self._controllers.append(controller)
        return controller

    def save_logs(self, destination):
        """Copies every log of the cluster (etcd, kube-apiserver, agents, controllers) to destination, keeping
        their relative paths, so they outlive down(); returns destination."""
        destination = Path(destination)
        for log in self.dir.glob("**/*.log"):
            target = destination / log.relative_to(self.dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log, target)
        return destination

    def processes(self):
        """{name: pid} of every process of the cluster now running (etcd, kube-apiserver, agents, controllers)."""
        running = [p for p in (self._etcd, self._apiserver, self._secret_volume) if p] + list(self._agents.values()) \
            + [c._process for c in self._controllers]
        return {p.name: p.pid for p in running if p.alive()}
