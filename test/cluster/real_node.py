"""A local Kubernetes cluster with one real node, for the real-node tests and demo: Jarvis deployed as a user
deploys it (`kubectl apply -k`), its pods run by a real kubelet and containerd from the image Containerfile
builds.

Runs, all inside network and mount namespaces of its own (node_namespaces.py), from the pinned release:
etcd, kube-apiserver (Node,RBAC authorization, ServiceAccount tokens), kube-scheduler,
kube-controller-manager (service-account credentials, kube-root-ca.crt, EndpointSlices), containerd and runc
(Debian's) with the project's pause image as sandbox image, and one kubelet (node REAL_NODE, client
certificate system:node:REAL_NODE from the cluster CA, cgroupfs driver, pods in a cgroup subtree of their
own). Then install() applies real_node_overlay/ (manifests/ plus what this machine forces).

    with RealNodeCluster("/tmp/c", image_archive="jarvis-image.tar") as cluster:
        cluster.install()
        cluster.kubectl("get", "pods", "-n", "jarvis")

Needs root (containerd, the kubelet, cgroups, mounts), cgroup v1, and Debian's containerd, runc and
containernetworking-plugins. A killed run leaves nothing running for long: its processes die with the
caller, and down_real_node_dir() (also called by the next up() in the same directory) kills what its pid
files and its cgroup subtree (pods, containers, shims) still hold.
"""
import base64
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import time
from pathlib import Path

from cluster_kubeconfig import write_kubeconfig
from cluster_pki import CertificateAuthority, create_service_account_keys
from cluster_process import ManagedProcess, kill_recorded, last_lines, process_start_time
from deadline import wait_until
from node_cgroups import NodeCgroups
from node_config import write_cni_config, write_containerd_config, write_kubelet_config
from node_namespaces import NODE_IP, NodeNamespaces
from pause_image import PAUSE_IMAGE, build_pause_image
from upstream_binaries import upstream_binaries

REAL_NODE = "real-node"
NAMESPACE = "jarvis"
OVERLAY = Path(__file__).resolve().parent / "real_node_overlay"
NODE_BUILD_SCRIPT = Path(__file__).resolve().parent / "upstream" / "build_node.sh"
MARKER_FILE = "jarvis-real-node.json"
# A node's cgroup subtree is named after the process holding its namespaces (pid and start time): when that
# process is gone, so is the node, and what is left in the subtree belongs to a run killed before its
# tear-down (a killed test run's pods and shims outlive it: they are not its children).
CGROUP_PREFIX = "jarvis-real-node-"
# Fixed ports: they are the network namespace's own, so no other cluster or host service can hold them.
ETCD_PORT, ETCD_PEER_PORT = 2379, 2380
APISERVER_PORT = 6443
KUBELET_PORT, KUBELET_HEALTHZ_PORT = 10250, 10248
SCHEDULER_PORT, CONTROLLER_MANAGER_PORT = 10259, 10257
AGENT_PORT = 50051  # manifests/agent_daemonset.yaml


class RealNodeError(Exception):
    pass


def node_binaries(build_timeout=3600):
    """The directory of the cached kubelet, kube-scheduler and kube-controller-manager (built on first use)."""
    result = subprocess.run([str(NODE_BUILD_SCRIPT)], stdout=subprocess.PIPE, stderr=None, text=True,
                            timeout=build_timeout)
    if result.returncode != 0:
        raise RealNodeError(f"{NODE_BUILD_SCRIPT} failed with status {result.returncode} (its output is above)")
    return Path(result.stdout.strip().splitlines()[-1])


def sweep_abandoned_nodes(timeout=30.0):
    """Kills what is left of every real node whose namespace holder is gone and removes its cgroups; returns
    their names."""
    swept = []
    for name in NodeCgroups.existing(CGROUP_PREFIX):
        owner = re.fullmatch(re.escape(CGROUP_PREFIX) + r"(\d+)-(\d+)", name)
        if owner and process_start_time(int(owner[1])) != int(owner[2]):
            NodeCgroups(name).remove(timeout)
            swept.append(name)
    return swept


def down_real_node_dir(directory, timeout=30.0):
    """Stops everything a real-node cluster in directory started (also one left by a killed run), removes
    its cgroups and the directory (what it mounted lived in its own mount namespace, gone with its last
    process). A missing directory is fine; a directory that holds something else is refused, untouched.
    Returns the names of the processes that were still running."""
    directory = Path(directory)
    if not directory.exists():
        return []
    marker = directory / MARKER_FILE
    if not marker.exists():
        if any(directory.iterdir()):
            raise RealNodeError(f"{directory} is not empty and holds no real-node cluster (no {MARKER_FILE}): "
                                "refusing to touch it")
        directory.rmdir()
        return []
    state = json.loads(marker.read_text())
    # The kubelet first, so it does not restart what is killed next; then every pod, container and shim.
    killed = kill_recorded(directory / "pids" / "node", timeout=timeout)
    if state.get("cgroup"):
        NodeCgroups(state["cgroup"]).kill_all(timeout)
    killed += kill_recorded(directory / "pids", timeout=timeout)
    if state.get("cgroup"):
        NodeCgroups(state["cgroup"]).remove(timeout)
    # --one-file-system: should anything be mounted below after all, it is left alone rather than emptied.
    subprocess.run(["rm", "-rf", "--one-file-system", str(directory)], check=True, timeout=300)
    return killed


class RealNodeCluster:
    """One real-node cluster living in directory. up() starts it, install() deploys Jarvis, down() stops
    everything and removes directory.

    image_archive: the OCI archive of the Jarvis image (test/image/build.sh), imported as localhost/jarvis:dev.
    detached: False (tests) ties the processes to the caller (PR_SET_PDEATHSIG); True (the demo) lets them
      outlive it until down().
    """

    def __init__(self, directory, image_archive, detached=False, binaries=None, kube_node_binaries=None,
                 timeout=180.0):
        self.dir = Path(directory).resolve()
        self.image_archive = Path(image_archive).resolve()
        self.detached = detached
        self.timeout = timeout
        self._binaries = binaries
        self._node_binaries = kube_node_binaries
        self._cgroups = None  # named once the namespaces' holder runs
        self._namespaces = NodeNamespaces(self._process)
        self._processes = {}
        self.pki = self.dir / "pki"
        self.ca_cert = self.pki / "ca.crt"
        self.admin_kubeconfig = self.dir / "admin.kubeconfig"
        self.containerd_socket = self.dir / "containerd" / "containerd.sock"
        self.kubectl_path = None
        self.ctr_path = shutil.which("ctr")
        self.up_seconds = None

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        self.down()

    # ---- life cycle

    def up(self):
        """Starts the control plane, containerd and the kubelet; returns once node REAL_NODE is Ready. On
        failure everything started is stopped, the directory (with the logs) is kept and RealNodeError says
        what failed; down() removes it."""
        started = time.monotonic()
        down_real_node_dir(self.dir)
        sweep_abandoned_nodes()
        for program in ("containerd", "runc", "ctr", "nsenter", "unshare"):
            if not shutil.which(program):
                raise RealNodeError(f"{program} not found: the real node needs Debian's containerd, runc and "
                                    "containernetworking-plugins (apt-get install containerd runc "
                                    "containernetworking-plugins)")
        if not self.image_archive.is_file():
            raise RealNodeError(f"Jarvis image archive {self.image_archive} not found: build it with "
                                "test/image/build.sh ARCHIVE")
        self.dir.mkdir(parents=True)
        self._write_marker()
        try:
            binaries = self._binaries or upstream_binaries()
            node_dir = self._node_binaries or node_binaries()
            self.kubectl_path = binaries.kubectl
            self._make_credentials()
            holder = self._namespaces.start(self.dir, self.dir / "logs" / "namespaces.log", self.timeout).holder
            self._cgroups = NodeCgroups(f"{CGROUP_PREFIX}{holder.pid}-{process_start_time(holder.pid)}")
            self._start("etcd", [
                binaries.etcd, "--name=real-node", f"--data-dir={self.dir / 'etcd-data'}",
                f"--listen-client-urls=http://127.0.0.1:{ETCD_PORT}",
                f"--advertise-client-urls=http://127.0.0.1:{ETCD_PORT}",
                f"--listen-peer-urls=http://127.0.0.1:{ETCD_PEER_PORT}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{ETCD_PEER_PORT}",
                f"--initial-cluster=real-node=http://127.0.0.1:{ETCD_PEER_PORT}",
                "--unsafe-no-fsync=true", "--log-level=warn"])
            self._start("kube-apiserver", self._apiserver_command(binaries.kube_apiserver))
            self._write_kubeconfigs()
            self._wait_apiserver_ready()
            self._start("kube-scheduler", [
                node_dir / "kube-scheduler", f"--kubeconfig={self.dir / 'scheduler.kubeconfig'}",
                "--bind-address=127.0.0.1", f"--secure-port={SCHEDULER_PORT}", "--leader-elect=false"])
            self._start("kube-controller-manager", self._controller_manager_command(node_dir))
            self._cgroups.create("shims")
            self._write_marker()
            self._start_containerd()
            self._import_images()
            self._start_kubelet(node_dir / "kubelet")
            self.wait_node_ready()
        except BaseException:
            self._stop_all()
            raise
        self.up_seconds = time.monotonic() - started
        return self

    def down(self):
        """Stops everything the cluster started and removes its directory. Safe to call more than once."""
        self._stop_all()
        down_real_node_dir(self.dir)

    def _stop_all(self):
        kubelet = self._processes.pop("kubelet", None)
        if kubelet:
            kubelet.stop(signal.SIGKILL)
        if self._cgroups:
            self._cgroups.kill_all()
        # Then containerd, the control plane and last the network namespace's holder, newest first.
        for name in reversed(list(self._processes)):
            self._processes.pop(name).stop(signal.SIGKILL)

    def _write_marker(self):
        state = {"pid_of_creator": os.getpid(), "cgroup": self._cgroups.name if self._cgroups else None,
                 "node": REAL_NODE,
                 "node_ip": NODE_IP, "admin_kubeconfig": str(self.admin_kubeconfig)}
        (self.dir / MARKER_FILE).write_text(json.dumps(state, indent=2) + "\n")

    def _process(self, name, argv, log_path, pid_group=""):
        process = ManagedProcess(name, argv, log_path, self.dir / "pids" / pid_group / f"{name}.pid",
                                 cwd=self.dir, die_with_parent=not self.detached).start()
        self._processes[name] = process
        return process

    def _start(self, name, argv, pid_group=""):
        return self._process(name, self._namespaces.enter(argv), self.dir / "logs" / f"{name}.log", pid_group)

    def log_path(self, name):
        """The log of one of the cluster's programs: etcd, kube-apiserver, kube-scheduler,
        kube-controller-manager, containerd, kubelet."""
        return self.dir / "logs" / f"{name}.log"

    def _check_running(self):
        for name, process in self._processes.items():
            if not process.alive():
                raise RealNodeError(f"{name} exited with status {process.returncode}: "
                                    f"{last_lines(process.log_path, 5)}\n(log: {process.log_path})")

    # ---- credentials

    def _make_credentials(self):
        ca = CertificateAuthority(self.pki).create()
        self._ca = ca
        self._apiserver_cert = ca.issue("kube-apiserver", "kube-apiserver", server_names=(
            "127.0.0.1", NODE_IP, "10.0.0.1", "localhost", "kubernetes", "kubernetes.default",
            "kubernetes.default.svc"))
        self._apiserver_kubelet_client = ca.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client",
                                                  ("system:masters",))
        self._admin = ca.issue("admin", "jarvis-test-admin", ("system:masters",))
        self._scheduler = ca.issue("kube-scheduler", "system:kube-scheduler")
        self._controller_manager = ca.issue("kube-controller-manager", "system:kube-controller-manager")
        self._kubelet_client = ca.issue("kubelet-client", f"system:node:{REAL_NODE}", ("system:nodes",))
        self._kubelet_serving = ca.issue("kubelet-serving", f"system:node:{REAL_NODE}",
                                         server_names=(NODE_IP, REAL_NODE))
        self._sa_key, self._sa_pub = create_service_account_keys(self.pki)

    def _write_kubeconfigs(self):
        server = f"https://127.0.0.1:{APISERVER_PORT}"
        for path, user, (cert, key) in ((self.admin_kubeconfig, "jarvis-test-admin", self._admin),
                                        (self.dir / "scheduler.kubeconfig", "kube-scheduler", self._scheduler),
                                        (self.dir / "controller-manager.kubeconfig", "kube-controller-manager",
                                         self._controller_manager),
                                        (self.dir / "kubelet.kubeconfig", "kubelet", self._kubelet_client)):
            write_kubeconfig(path, server, self.ca_cert, user, client_cert=cert, client_key=key)

    # ---- control plane

    def _apiserver_command(self, kube_apiserver):
        cert, key = self._apiserver_cert
        kubelet_cert, kubelet_key = self._apiserver_kubelet_client
        return [
            kube_apiserver,
            f"--etcd-servers=http://127.0.0.1:{ETCD_PORT}",
            f"--secure-port={APISERVER_PORT}", "--bind-address=0.0.0.0", f"--advertise-address={NODE_IP}",
            f"--cert-dir={self.pki / 'apiserver'}", f"--tls-cert-file={cert}", f"--tls-private-key-file={key}",
            f"--client-ca-file={self.ca_cert}",
            "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
            "--service-cluster-ip-range=10.0.0.0/24", "--allow-privileged=true",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={self._sa_pub}", f"--service-account-signing-key-file={self._sa_key}",
            # kubectl logs: the API server calls the kubelet at the node's InternalIP, verifying its serving
            # certificate against the cluster CA and authenticating with a client certificate.
            f"--kubelet-client-certificate={kubelet_cert}", f"--kubelet-client-key={kubelet_key}",
            f"--kubelet-certificate-authority={self.ca_cert}", "--kubelet-preferred-address-types=InternalIP",
        ]

    def _controller_manager_command(self, node_dir):
        kubeconfig = self.dir / "controller-manager.kubeconfig"
        return [
            node_dir / "kube-controller-manager", f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1", f"--secure-port={CONTROLLER_MANAGER_PORT}", "--leader-elect=false",
            # One ServiceAccount per controller (as kubeadm), the key that signs the legacy tokens, and the CA
            # every namespace's kube-root-ca.crt ConfigMap carries (the pods' in-cluster CA).
            "--use-service-account-credentials=true", f"--service-account-private-key-file={self._sa_key}",
            f"--root-ca-file={self.ca_cert}",
            f"--cluster-signing-cert-file={self.ca_cert}", f"--cluster-signing-key-file={self._ca.key}",
        ]

    def _wait_apiserver_ready(self):
        def ready():
            self._check_running()
            return self.kubectl("get", "--raw", "/readyz", check=False, timeout=10).returncode == 0
        wait_until(ready, self.timeout, f"kube-apiserver /readyz (log: {self.log_path('kube-apiserver')})",
                   interval=0.5)

    # ---- the node

    def _start_containerd(self):
        base = self.dir / "containerd"
        config = write_containerd_config(base / "config.toml", base / "root", base / "state", self.containerd_socket,
                                         write_cni_config(self.dir / "cni").parent, PAUSE_IMAGE,
                                         self._cgroups.path + "/shims")
        self._start("containerd", ["containerd", "--config", config])

        def serving():
            self._check_running()
            return self.ctr("version", check=False).returncode == 0
        wait_until(serving, self.timeout, f"containerd to serve (log: {self.log_path('containerd')})", interval=0.2)

    def ctr(self, *args, check=True, timeout=300.0):
        """Runs Debian's ctr against the node's containerd, in the Kubernetes namespace k8s.io."""
        result = subprocess.run([self.ctr_path, "--address", str(self.containerd_socket), "--namespace", "k8s.io",
                                 *map(str, args)], capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise RealNodeError(f"ctr {' '.join(map(str, args))} failed: {result.stderr.strip()}")
        return result

    def _import_images(self):
        pause = build_pause_image(self.dir / "images")
        self.ctr("images", "import", "--snapshotter", "overlayfs", pause)
        # The archive names its image localhost/jarvis:dev (test/image/build.sh).
        self.ctr("images", "import", "--snapshotter", "overlayfs", self.image_archive)
        listed = self.ctr("images", "list", "--quiet").stdout.split()
        for image in (PAUSE_IMAGE, "localhost/jarvis:dev"):
            if image not in listed:
                raise RealNodeError(f"image {image} is not in containerd after the import (images: {listed})")

    def _start_kubelet(self, kubelet):
        serving_cert, serving_key = self._kubelet_serving
        config = write_kubelet_config(
            self.dir / "kubelet" / "config.json", node_ip=NODE_IP, port=KUBELET_PORT,
            healthz_port=KUBELET_HEALTHZ_PORT, client_ca=self.ca_cert, serving_cert=serving_cert,
            serving_key=serving_key, runtime_socket=self.containerd_socket, cgroup_root=self._cgroups.path,
            pod_logs_dir=self.dir / "pod-logs", volume_plugin_dir=self.dir / "kubelet" / "volume-plugins")
        self._start("kubelet", [
            kubelet, f"--config={config}", f"--kubeconfig={self.dir / 'kubelet.kubeconfig'}",
            f"--root-dir={self.dir / 'kubelet' / 'root'}", f"--hostname-override={REAL_NODE}",
            f"--node-ip={NODE_IP}", f"--cert-dir={self.dir / 'kubelet' / 'pki'}", "--v=1",
        ], pid_group="node")

    def wait_node_ready(self, timeout=None):
        def ready():
            self._check_running()
            result = self.kubectl("get", "node", REAL_NODE, "-o",
                                  'jsonpath={.status.conditions[?(@.type=="Ready")].status}', check=False)
            return result.returncode == 0 and result.stdout == "True"
        wait_until(ready, timeout or self.timeout,
                   f"node {REAL_NODE} to be Ready (log: {self.log_path('kubelet')})", interval=1.0)

    # ---- kubectl and Jarvis

    def in_netns(self, argv):
        """argv run inside the cluster's network namespace (where its addresses are reachable)."""
        return self._namespaces.enter(argv, mount=False)

    def kubectl(self, *args, check=True, input=None, timeout=120.0):
        """Runs the pinned kubectl as admin inside the cluster's network namespace; returns the
        CompletedProcess (text). With check, a non-zero exit raises RealNodeError."""
        if input is not None and not isinstance(input, str):
            input = json.dumps(input)
        argv = self.in_netns([self.kubectl_path, f"--kubeconfig={self.admin_kubeconfig}",
                              f"--cache-dir={self.dir / 'kubectl-cache'}", *args])
        result = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise RealNodeError(f"kubectl {' '.join(map(str, args))} failed with status {result.returncode}: "
                                f"{result.stderr.strip()}")
        return result

    def kubectl_json(self, *args):
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def write_kubectl_wrapper(self, path):
        """Writes an executable that runs kubectl against this cluster from any shell (the demo's)."""
        path = Path(path)
        path.write_text("#!/bin/sh\n# kubectl of the real-node cluster in " + str(self.dir) + "\n"
                        f"exec nsenter --net={self._namespaces.net_path} -- {self.kubectl_path} "
                        f"--kubeconfig={self.admin_kubeconfig} \"$@\"\n")
        path.chmod(0o755)
        return path

    def install(self):
        """kubectl apply -k real_node_overlay/ (manifests/ plus this machine's overlay)."""
        return self.kubectl("apply", "-k", OVERLAY)

    def wait_rollout(self, timeout=300):
        """kubectl rollout status of the agent DaemonSet and the controller Deployment; returns their output."""
        outputs = []
        for workload in ("daemonset/jarvis-agent", "deployment/jarvis-controller"):
            outputs.append(self.kubectl("rollout", "status", "-n", NAMESPACE, workload, f"--timeout={timeout}s",
                                        timeout=timeout + 30).stdout)
        return outputs

    def agent_served_certificate(self):
        """The DER certificate the agent presents on NODE_IP:AGENT_PORT (TLS 1.3 sends it before checking the
        client's), or None when no handshake got that far."""
        result = subprocess.run(self.in_netns(["openssl", "s_client", "-connect", f"{NODE_IP}:{AGENT_PORT}",
                                               "-servername", "jarvis-agent", "-alpn", "h2"]),
                                input="", capture_output=True, text=True, timeout=30)
        found = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", result.stdout, re.S)
        return ssl.PEM_cert_to_DER_cert(found.group(0)) if found else None

    def secret_certificate(self, name="jarvis-agent-tls"):
        """The DER certificate tls.crt of a Secret in the jarvis namespace, or None when there is none."""
        result = self.kubectl("get", "secret", name, "-n", NAMESPACE, "-o", "jsonpath={.data.tls\\.crt}",
                              check=False)
        if result.returncode != 0 or not result.stdout:
            return None
        return ssl.PEM_cert_to_DER_cert(base64.b64decode(result.stdout).decode())

    def save_logs(self, destination):
        """Copies the cluster's logs (programs and pod logs) to destination; returns destination."""
        destination = Path(destination)
        for log in list(self.dir.glob("logs/*.log")) + list(self.dir.glob("pod-logs/**/*.log")):
            target = destination / log.relative_to(self.dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log, target)
        return destination
