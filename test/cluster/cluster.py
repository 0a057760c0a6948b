#!/usr/bin/env python3
"""Brings a local test cluster (etcd, kube-apiserver, simulated nodes with jarvis agents) up or down.

    python3 test/cluster/cluster.py up --dir /tmp/jarvis-cluster [--nodes 3] [--jarvis build/src/jarvis]
                                       [--label kind-worker=disk=ssd ...]
    python3 test/cluster/cluster.py down --dir /tmp/jarvis-cluster
"""
import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from jarvis_cluster import DEFAULT_JARVIS, MARKER_FILE, Cluster, ClusterError, down_dir  # noqa: E402
from deadline import DeadlineExceeded, wait_until  # noqa: E402


def node_label(text):
    node, _, label = text.partition("=")
    key, equals, value = label.partition("=")
    if not node or not key or not equals:
        raise argparse.ArgumentTypeError(f"{text!r} is not NODE=KEY=VALUE")
    return node, key, value


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="cluster.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start a cluster in DIR (a stale one there is removed first)")
    up.add_argument("--dir", required=True, type=Path)
    up.add_argument("--nodes", type=int, default=3, help="simulated nodes (default 3)")
    up.add_argument("--jarvis", type=Path, default=Path(os.environ.get("JARVIS_BINARY", DEFAULT_JARVIS)),
                    help=f"jarvis executable (default $JARVIS_BINARY, else {DEFAULT_JARVIS})")
    up.add_argument("--label", type=node_label, action="append", default=[], metavar="NODE=KEY=VALUE",
                    help="add a label to a node (repeatable)")
    up.add_argument("--manifests", type=Path, metavar="DIR",
                    help="install these manifests (kubectl apply -k DIR) once the cluster is up")
    up.add_argument("--controller", action="store_true",
                    help="start `jarvis --role=controller` as the controller's own identity (log: DIR/controller-1.log)")
    down = commands.add_parser("down", help="stop the cluster in DIR and remove DIR")
    down.add_argument("--dir", required=True, type=Path)
    return parser.parse_args(argv)


def up(args):
    labels = {}
    for node, key, value in args.label:
        labels.setdefault(node, {})[key] = value
    try:
        cluster = Cluster(args.dir, nodes=args.nodes, labels=labels, jarvis=args.jarvis, detached=True)
    except ClusterError as error:
        print(f"cluster.py: {error}", file=sys.stderr)
        return 2
    try:
        cluster.up()
        if args.manifests:
            cluster.apply_manifests(args.manifests)
            cluster.kubectl("wait", "--for=condition=Established", "crd/commands.jarvis.io", "--timeout=60s")
        if args.controller:
            controller = cluster.start_controller()
            wait_until(lambda: '"msg":"caches synced' in controller.log_text() or not controller.alive(), 60,
                       "the controller to sync its caches")
            if not controller.alive():
                raise ClusterError(f"the controller exited: {controller.log_text()[-2000:]}")
            cluster.wait_agents_trust_controller()
    except (ClusterError, DeadlineExceeded) as error:
        print(f"cluster.py: {error}", file=sys.stderr)
        if (cluster.dir / MARKER_FILE).exists():
            print(f"The logs are in {cluster.dir}; remove it with: {sys.argv[0]} down --dir {cluster.dir}",
                  file=sys.stderr)
        return 1
    print(f"cluster up in {cluster.up_seconds:.1f} s: {cluster.server}, {len(cluster.nodes)} nodes")
    for node in cluster.nodes:
        print(f"  {node.name:<24} agent {cluster.agent_target(node.name)}  log {cluster.agent_log(node.name)}")
    print(f"controller kubeconfigs: {cluster.controller_cert_kubeconfig} (client certificate), "
          f"{cluster.controller_token_kubeconfig} (token)")
    if args.controller:
        print(f"controller log: {cluster.dir / 'controller-1.log'}")
    print(f"kubectl: {cluster.kubectl_path}")
    print(f"admin kubeconfig: {cluster.admin_kubeconfig}")
    print(f"export KUBECONFIG={cluster.admin_kubeconfig}")
    return 0


def down(args):
    started = time.monotonic()
    try:
        killed = down_dir(args.dir)
    except ClusterError as error:
        print(f"cluster.py: {error}", file=sys.stderr)
        return 1
    print(f"cluster down in {time.monotonic() - started:.1f} s"
          + (f" (stopped {', '.join(killed)})" if killed else ""))
    return 0


def main(argv):
    args = parse_args(argv)
    return up(args) if args.command == "up" else down(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
