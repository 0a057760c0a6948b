"""The control plane of a test cluster: etcd and kube-apiserver on 127.0.0.1, the credentials they trust, the
kubeconfigs that reach them, and the pinned kubectl.

In the cluster's directory: pki/ (CA, serving and client certificates, service-account keys, token file),
admin.kubeconfig, controller-cert.kubeconfig, controller-token.kubeconfig, users/*.kubeconfig, etcd-data/,
etcd.log and kube-apiserver.log.
"""
import http.client
import json
import re
import secrets
import signal
import ssl
import subprocess

import cluster_objects as objects
from cluster_errors import ClusterError, KubectlError
from cluster_kubeconfig import write_kubeconfig
from cluster_net import free_port
from cluster_pki import CertificateAuthority, create_service_account_keys
from cluster_process import last_lines
from deadline import wait_until

CONTROLLER_USER = "system:serviceaccount:jarvis:jarvis-controller"
FIELD_MANAGER = "jarvis-test-cluster"


def _safe_file_stem(text):
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


class ControlPlane:
    """etcd + kube-apiserver of the cluster living in directory, started by processes (a ProcessStarter)."""

    def __init__(self, directory, processes, timeout):
        self.dir = directory
        self._processes = processes
        self.timeout = timeout
        self._pki = directory / "pki"
        self.ca_cert = self._pki / "ca.crt"
        self.admin_kubeconfig = directory / "admin.kubeconfig"
        self.controller_cert_kubeconfig = directory / "controller-cert.kubeconfig"
        self.controller_token_kubeconfig = directory / "controller-token.kubeconfig"
        self.controller_token = None
        self.kubectl_path = None
        self.etcd_port = None
        self.apiserver_port = None
        self._user_kubeconfigs = {}
        self._etcd = None
        self._apiserver = None
        self._apiserver_argv = None

    @property
    def server(self):
        return f"https://127.0.0.1:{self.apiserver_port}"

    def start(self, binaries):
        """Makes the credentials, takes free ports and starts etcd and kube-apiserver (UpstreamBinaries); does not
        wait for them (wait_ready does), so the caller can start other processes meanwhile."""
        self.kubectl_path = binaries.kubectl
        self._make_credentials()
        self.etcd_port, etcd_peer_port, self.apiserver_port = free_port(), free_port(), free_port()
        self._start_etcd(binaries.etcd, etcd_peer_port)
        self._apiserver_argv = self._apiserver_command(binaries.kube_apiserver)
        self._start_apiserver_process()

    def wait_ready(self):
        """Returns once kube-apiserver's /readyz answers 200, with the kubeconfigs written; ClusterError names the
        process that exited meanwhile."""
        self._wait_apiserver_ready()
        self._write_kubeconfigs()

    def running(self):
        """The processes of the control plane, started and not yet stopped."""
        return [p for p in (self._etcd, self._apiserver) if p]

    def kill(self):
        for process in (self._apiserver, self._etcd):
            if process:
                process.stop(signal.SIGKILL)

    # ---- credentials

    def _make_credentials(self):
        self._ca = CertificateAuthority(self._pki).create()
        self._serving_cert, self._serving_key = self._ca.issue(
            "kube-apiserver", "kube-apiserver", server_names=("127.0.0.1", "localhost"))
        self._admin_cert, self._admin_key = self._ca.issue("admin", "jarvis-test-admin", ("system:masters",))
        self._controller_cert, self._controller_key = self._ca.issue("jarvis-controller", CONTROLLER_USER)
        self._sa_key, self._sa_pub = create_service_account_keys(self._pki)
        self.controller_token = secrets.token_hex(24)
        self._token_file = self._pki / "tokens.csv"
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

    def _start_etcd(self, etcd, peer_port):
        client = f"http://127.0.0.1:{self.etcd_port}"
        peer = f"http://127.0.0.1:{peer_port}"
        self._etcd = self._processes.start("etcd", [
            etcd, "--name=jarvis-test", f"--data-dir={self.dir / 'etcd-data'}",
            f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=jarvis-test={peer}", "--unsafe-no-fsync=true", "--log-level=warn",
        ], self.dir / "etcd.log")

    def _apiserver_command(self, kube_apiserver):
        return [
            kube_apiserver,
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            f"--secure-port={self.apiserver_port}", "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--cert-dir={self._pki / 'apiserver'}",
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
        self._apiserver = self._processes.start("kube-apiserver", self._apiserver_argv,
                                                self.dir / "kube-apiserver.log")

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

    def server_side_apply(self, items, *extra):
        """Applies items (objects) as the harness's field manager, as admin; extra: more kubectl arguments."""
        # --validate=false: kubectl would otherwise first fetch /openapi/v2, which a fresh kube-apiserver
        # builds lazily (seconds). The server still validates every object; only unknown fields would pass,
        # and the tests read back every field the harness writes.
        # In batches: one kubectl apply of 5,000 Nodes takes longer than a minute on a loaded machine.
        items = list(items)
        for start in range(0, len(items), 500):
            self.kubectl("apply", "--server-side", "--force-conflicts", f"--field-manager={FIELD_MANAGER}",
                         "--validate=false", *extra, "-f", "-", input=objects.object_list(items[start:start + 500]),
                         timeout=120.0)
