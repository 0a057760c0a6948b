"""The agents' TLS files in a test cluster, kept as the kubelet keeps the agent DaemonSet's Secret volume: a
secret_volume.py process mirrors Secret jarvis/jarvis-agent-tls (which the controller makes) into DIR/agent-tls,
which every agent re-reads each second. Its log is DIR/secret-volume.log.
"""
import base64
import signal
import ssl
import sys
from pathlib import Path

from cluster_errors import ClusterError
from deadline import wait_until

NAMESPACE = "jarvis"
SECRET = "jarvis-agent-tls"
SECRET_VOLUME_SCRIPT = Path(__file__).resolve().parent / "secret_volume.py"


class AgentTlsVolume:
    """DIR/agent-tls of the cluster living in directory. processes: a ProcessStarter; control_plane: where the
    Secret is read (a ControlPlane)."""

    def __init__(self, directory, processes, control_plane):
        self.dir = directory / "agent-tls"
        self._log = directory / "secret-volume.log"
        self._processes = processes
        self._control_plane = control_plane
        self._keeper = None

    def start(self):
        """Starts keeping the directory in step with the Secret."""
        if self._keeper and self._keeper.alive():
            raise ClusterError("the secret volume is already being kept")
        self._keeper = self._processes.start("secret-volume", [
            sys.executable, SECRET_VOLUME_SCRIPT, "--kubectl", self._control_plane.kubectl_path,
            "--kubeconfig", self._control_plane.admin_kubeconfig, "--namespace", NAMESPACE, "--secret", SECRET,
            "--dir", self.dir,
        ], self._log)

    def stop(self):
        """Stops updating the directory: the agents keep the files they have, like a node whose kubelet has not
        caught up yet."""
        if self._keeper is None:
            raise ClusterError("the secret volume is not being kept")
        self._keeper.stop(signal.SIGKILL)
        self._keeper = None

    def running(self):
        """The process keeping the directory, when there is one."""
        return [self._keeper] if self._keeper else []

    def secret_certificate(self):
        """The DER certificate in the Secret, or None while there is no such Secret."""
        result = self._control_plane.kubectl("get", "secret", SECRET, "-n", NAMESPACE,
                                             "-o", "jsonpath={.data.tls\\.crt}", check=False)
        if result.returncode != 0 or not result.stdout:
            return None
        return ssl.PEM_cert_to_DER_cert(base64.b64decode(result.stdout).decode())

    def wait_agents_serve_secret(self, fleet, timeout):
        """Waits until every agent of fleet (a NodeFleet) presents the certificate in the Secret: it exists,
        reached the agents' files and they re-read them."""
        wanted = wait_until(self.secret_certificate, timeout,
                            f"the controller to create Secret {NAMESPACE}/{SECRET}", interval=0.2)
        for node in fleet.nodes:
            wait_until(lambda: fleet.agent_served_certificate(node.name) == wanted, timeout,
                       f"the agent of {node.name} to serve the certificate of Secret {NAMESPACE}/{SECRET}",
                       interval=0.2)
