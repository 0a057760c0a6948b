#!/usr/bin/env python3
"""The kubelet's Secret volume, for the local cluster (which runs no kubelet): keeps a directory in step with
one Secret, the way the kubelet does for a pod that mounts it.

It watches the Secret with kubectl and, on every change, writes its data into a fresh hidden directory, points
the `..data` symlink at it with one rename, and keeps one symlink per key through `..data` (the kubelet's
atomic writer layout). Readers that open the files after a switch see the whole new set. When the Secret is
deleted the files stay, as with a running pod. Runs until killed; restarts the watch when it ends (for example
across an API server restart).

    secret_volume.py --kubectl KUBECTL --kubeconfig FILE --namespace NS --secret NAME --dir DIR
"""

import argparse
import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def log(message, **fields):
    print(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "msg": message, **fields}),
          flush=True)


def write_volume(directory, data, resource_version):
    """Writes {key: bytes} into directory atomically (..data switch); returns the new version's name."""
    directory.mkdir(parents=True, exist_ok=True)
    version = f"..{time.strftime('%Y_%m_%d_%H_%M_%S', time.gmtime())}.{time.monotonic_ns()}"
    version_dir = directory / version
    version_dir.mkdir(mode=0o700)
    for key, value in data.items():
        path = version_dir / key
        with open(path, "wb", opener=lambda p, flags: os.open(p, flags, 0o600)) as out:
            out.write(value)
            out.flush()
            os.fsync(out.fileno())
    previous = os.readlink(directory / "..data") if (directory / "..data").is_symlink() else None
    staging = directory / "..data_tmp"
    if staging.is_symlink():
        staging.unlink()
    os.symlink(version, staging)
    os.rename(staging, directory / "..data")
    for key in data:
        link = directory / key
        if not link.is_symlink():
            os.symlink(f"..data/{key}", link)
    for old in directory.glob("..*_*_*"):
        if old.name not in (version, previous) and old.is_dir() and not old.is_symlink():
            for f in old.iterdir():
                f.unlink()
            old.rmdir()
    log("secret volume updated", dir=str(directory), resource_version=resource_version, keys=sorted(data))
    return version


def watch(args, directory, last):
    """One kubectl watch; returns the last resourceVersion written when the watch ends."""
    command = [args.kubectl, "--kubeconfig", args.kubeconfig, "get", "secrets", "-n", args.namespace,
               "--field-selector", f"metadata.name={args.secret}", "--watch", "--output-watch-events", "-o", "json"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        decoder = json.JSONDecoder()
        buffer = ""
        for chunk in iter(lambda: process.stdout.readline(), ""):
            buffer += chunk
            while True:
                stripped = buffer.lstrip()
                try:
                    event, end = decoder.raw_decode(stripped)
                except ValueError:
                    break
                buffer = stripped[end:]
                obj = event.get("object", {})
                if event.get("type") not in ("ADDED", "MODIFIED"):
                    continue
                version = obj.get("metadata", {}).get("resourceVersion", "")
                if version == last:
                    continue
                data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
                write_volume(directory, data, version)
                last = version
        error = process.stderr.read().strip()
    if error:
        log("watch ended", error=error[-500:])
    return last


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubectl", required=True)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    directory = Path(args.dir)
    log("mounting secret", secret=f"{args.namespace}/{args.secret}", dir=str(directory))
    last = None
    while True:
        last = watch(args, directory, last)
        time.sleep(1)  # the API server may be restarting; kubectl's own retries are done


if __name__ == "__main__":
    sys.exit(main())
