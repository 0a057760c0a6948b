#!/usr/bin/env python3
"""Brings a real-node cluster (real_node.py) up or down from the command line, for the real-node demo.

    real_node_cli.py up --dir DIR --image-archive ARCHIVE   # starts it; processes outlive this command
    real_node_cli.py down --dir DIR                         # stops everything it started, removes DIR

`up` writes DIR/kubectl, which runs the pinned kubectl as admin inside the cluster's network namespace.
"""
import argparse
import sys

from deadline import DeadlineExceeded
from real_node import RealNodeCluster, RealNodeError, down_real_node_dir


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start the cluster (control plane, containerd, kubelet)")
    up.add_argument("--dir", required=True, help="the cluster's directory (removed and made anew)")
    up.add_argument("--image-archive", required=True, help="the Jarvis image's OCI archive (test/image/build.sh)")
    down = commands.add_parser("down", help="stop the cluster and remove its directory")
    down.add_argument("--dir", required=True)
    args = parser.parse_args()
    try:
        if args.command == "down":
            stopped = down_real_node_dir(args.dir)
            print(f"stopped {', '.join(stopped) or 'nothing'}; removed {args.dir}")
            return 0
        cluster = RealNodeCluster(args.dir, args.image_archive, detached=True).up()
        wrapper = cluster.write_kubectl_wrapper(cluster.dir / "kubectl")
        print(f"real node up in {cluster.up_seconds:.0f} s; kubectl: {wrapper}")
        return 0
    except (RealNodeError, DeadlineExceeded) as error:
        print(f"real_node_cli: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
