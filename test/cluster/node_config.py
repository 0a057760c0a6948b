"""Configuration files of the real test node: containerd's, the CNI network's and the kubelet's.

Everything the node keeps lives under its own directory, so several test clusters (and the host) never
share a socket, a state directory or an image store.
"""
import json
from pathlib import Path

# The node's only network: the loopback device of its network namespace. Pods with hostNetwork (the agent
# DaemonSet, and the controller in the test overlay) share it; any other pod would get just its own lo.
CNI_NETWORK = {
    "cniVersion": "1.0.0",
    "name": "jarvis-node-loopback",
    "plugins": [{"type": "loopback"}],
}
CNI_PLUGIN_DIR = "/usr/lib/cni"  # Debian's containernetworking-plugins


def _toml_string(value):
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def write_cni_config(directory):
    """The CNI configuration containerd reads: without one, the runtime reports its network not ready and
    the node never becomes Ready."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "10-jarvis-loopback.conflist"
    path.write_text(json.dumps(CNI_NETWORK, indent=2) + "\n")
    return path


def write_containerd_config(path, root, state, socket, cni_conf_dir, sandbox_image, shim_cgroup):
    """containerd 1.6 (configuration version 2) with its CRI plugin: its own root, state and socket, the
    project's pause image as sandbox image (never pulled), overlayfs, runc with cgroupfs (not systemd:
    the kubelet's driver), shims in shim_cgroup, the CRI streaming server on the namespace's loopback only."""
    cri = '[plugins."io.containerd.grpc.v1.cri"]'
    runc = f'{cri[:-1]}.containerd.runtimes.runc]'
    lines = [
        "version = 2",
        f"root = {_toml_string(root)}",
        f"state = {_toml_string(state)}",
        # Snapshotters this node does not use stay off (they probe their kernel support noisily).
        'disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", '
        '"io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]',
        "[grpc]",
        f"  address = {_toml_string(socket)}",
        "[ttrpc]",
        f"  address = {_toml_string(str(socket) + '.ttrpc')}",
        '[plugins."io.containerd.internal.v1.opt"]',
        f"  path = {_toml_string(Path(root) / 'opt')}",
        cri,
        f"  sandbox_image = {_toml_string(sandbox_image)}",
        '  stream_server_address = "127.0.0.1"',
        '  stream_server_port = "0"',
        # A pod without host networking gets its network namespace mounted under state, not /var/run/netns.
        "  netns_mounts_under_state_dir = true",
        # No process may lower its OOM score below containerd's on a machine that withholds CAP_SYS_RESOURCE
        # (as this project's CI machine does): the sandbox's -998 would make runc fail ("failed to update
        # /proc/self/oom_score_adj: Permission denied"). Clamped instead, as containerd does for rootless use.
        "  restrict_oom_score_adj = true",
        f'{cri[:-1]}.containerd]',
        '  snapshotter = "overlayfs"',
        '  default_runtime_name = "runc"',
        runc,
        '  runtime_type = "io.containerd.runc.v2"',
        f'{runc[:-1]}.options]',
        "  SystemdCgroup = false",
        f"  Root = {_toml_string(Path(state) / 'runc')}",
        f"  ShimCgroup = {_toml_string(shim_cgroup)}",
        f'{cri[:-1]}.cni]',
        f"  bin_dir = {_toml_string(CNI_PLUGIN_DIR)}",
        f"  conf_dir = {_toml_string(cni_conf_dir)}",
    ]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def write_kubelet_config(path, *, node_ip, port, healthz_port, client_ca, serving_cert, serving_key, runtime_socket,
                         cgroup_root, pod_logs_dir, volume_plugin_dir):
    """The KubeletConfiguration (JSON is YAML). Choices forced by a test node, each explained:
    - cgroupfs driver: the host has no systemd managing cgroups (cgroup v1, cgroupfs), as containerd's runc;
    - failSwapOn false: a developer machine may have swap;
    - eviction and image GC thresholds at their minimum: a test machine's disk may be fuller than a node's
      and the only images are local ones that could never be pulled back;
    - oomScoreAdj 0: the kubelet's own -999 needs CAP_SYS_RESOURCE, which a test machine may withhold;
    - syncFrequency 10s: the kubelet refreshes Secret volumes on each pod sync; a minute (the default) would
      make the CA rotation tests wait a minute each."""
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": node_ip,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "tlsCertFile": str(serving_cert),
        "tlsPrivateKeyFile": str(serving_key),
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(client_ca)}},
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{runtime_socket}",
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": cgroup_root,
        "failSwapOn": False,
        "failCgroupV1": False,
        "podLogsDir": str(pod_logs_dir),
        "volumePluginDir": str(volume_plugin_dir),
        "syncFrequency": "10s",
        "evictionHard": {"memory.available": "1Mi", "nodefs.available": "1%", "nodefs.inodesFree": "1%",
                         "imagefs.available": "1%", "imagefs.inodesFree": "1%"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "maxPods": 16,
        "oomScoreAdj": 0,
        "serializeImagePulls": False,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path
