"""The network and mount namespaces of one real test node: every process of the cluster (etcd,
kube-apiserver, the scheduler, the controller-manager, containerd, the kubelet, the shims and the pods)
runs in them, so the node reaches nothing and changes nothing outside.

Network: only a loopback device, up, carrying 127.0.0.1 and the node's address NODE_IP. No packet can leave
it, no port it uses can clash with the host's or another test cluster's, and the agent DaemonSet listens on
0.0.0.0:50051 exactly as manifests/ says. NODE_IP is needed because the kubelet refuses a loopback node
address (127.0.0.0/8); it comes from the benchmarking range 198.18.0.0/15 (RFC 2544), never routed here.

Mounts: a private copy of the host's mount table, so the kubelet's Secret volumes and containerd's root
filesystems are mounted there only and vanish with the namespace. Three places the kubelet and containerd
would otherwise write on the host are covered:
- /run (tmpfs): containerd 1.6 keeps its shims' sockets in /run/containerd/s whatever its state directory;
- /var/log (tmpfs): the kubelet links every container log into /var/log/containers whatever its podLogsDir;
- the kernel settings the kubelet sets at start (vm.overcommit_memory, kernel.panic, kernel.panic_on_oops,
  ...) are global, not per namespace: a kubelet on a shared test machine must not change how that machine
  panics or overcommits. Each one whose host value differs from the kubelet's wish is covered by a file
  holding that wish, so the kubelet reads it as already set and writes nothing.
"""
from pathlib import Path

from deadline import wait_until

NODE_IP = "198.18.0.1"
_READY = "node namespaces ready"
# What the kubelet (pkg/kubelet/cm, setupKernelTunables) wants, as /proc/sys paths.
KUBELET_KERNEL_SETTINGS = {
    "vm/overcommit_memory": 1,
    "vm/panic_on_oom": 0,
    "kernel/panic": 10,
    "kernel/panic_on_oops": 1,
    "kernel/keys/root_maxkeys": 1000000,
    "kernel/keys/root_maxbytes": 25000000,
}


class NodeNamespaces:
    """Held open by a small process (`unshare --net --mount`); `enter(argv)` is argv run inside (nsenter)."""

    def __init__(self, make_process):
        # make_process(name, argv, log_path) -> a started ManagedProcess
        self._make_process = make_process
        self._holder = None

    def start(self, directory, log_path, timeout):
        steps = ["set -e", "ip link set lo up", f"ip addr add {NODE_IP}/32 dev lo",
                 "mount -t tmpfs -o mode=0755,size=64m jarvis-node-run /run",
                 "mount -t tmpfs -o mode=0755,size=64m jarvis-node-log /var/log"]
        settings = Path(directory) / "kernel-settings"
        settings.mkdir(parents=True, exist_ok=True)
        for name, wanted in KUBELET_KERNEL_SETTINGS.items():
            if int(Path("/proc/sys", name).read_text().split()[0]) == wanted:
                continue
            cover = settings / name.replace("/", ".")
            cover.write_text(f"{wanted}\n")
            steps.append(f"mount --bind '{cover}' /proc/sys/{name}")
        steps += [f"echo '{_READY}'", "exec sleep infinity"]
        self._holder = self._make_process(
            "namespaces", ["unshare", "--net", "--mount", "--propagation", "private", "sh", "-c", "\n".join(steps)],
            log_path)
        wait_until(lambda: self._ready(log_path), timeout, f"the node's namespaces (log: {log_path})")
        return self

    def _ready(self, log_path):
        if not self._holder.alive():
            raise RuntimeError(f"making the node's namespaces failed: {log_path.read_text(errors='replace')}")
        return _READY in log_path.read_text(errors="replace")

    @property
    def holder(self):
        """The process holding the namespaces open: the node lives as long as it does."""
        return self._holder

    @property
    def net_path(self):
        return f"/proc/{self._holder.pid}/ns/net"

    def enter(self, argv, mount=True):
        """argv run inside the namespaces (with mount=False, only the network namespace: kubectl's case).
        nsenter execs argv in place, so the pid stays the program's."""
        namespaces = [f"--net={self.net_path}"] + ([f"--mount=/proc/{self._holder.pid}/ns/mnt"] if mount else [])
        return ["nsenter", *namespaces, "--", *map(str, argv)]
