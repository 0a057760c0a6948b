"""The cgroup subtree of one real test node (the kubelet's and runc's cgroupfs driver, cgroup v1 or v2).

The kubelet gets --cgroup-root=<this subtree> and containerd's shims ShimCgroup=<subtree>/shims, so every pod,
container, command an agent runs and shim lives below it: stopping the node kills exactly what is in the
subtree, also after a killed test run, and never touches a process of the host or of another test cluster.
The subtree is /<name> at the top of every v1 hierarchy (the kubelet's cgroupfs driver uses one path for all
of them, and the caller's own cgroups differ from one hierarchy to the next), or of the v2 hierarchy.
"""
import os
import re
import signal
from pathlib import Path

from deadline import wait_until

CGROUP_MOUNT = Path("/sys/fs/cgroup")
# The v1 controllers the kubelet cannot run without.
REQUIRED_CONTROLLERS = {"cpu", "cpuacct", "cpuset", "memory", "pids"}


class CgroupError(Exception):
    pass


def cgroup_version():
    """2 on a unified cgroup v2 host, 1 on a v1 (or hybrid) host."""
    return 2 if (CGROUP_MOUNT / "cgroup.controllers").exists() else 1


def _v1_hierarchies():
    """{mount point: its mount options} of every mounted v1 hierarchy, and of the v2 one a hybrid host mounts
    beside them (runc makes its cgroups there too). The kubelet wants its cgroup root in all of them, named
    ones (name=systemd) included; a v1 controller's name is one of its mount's options."""
    mounted = {}
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, mount_point, fs_type, options, *_ = line.split()
        if fs_type in ("cgroup", "cgroup2"):
            mounted[Path(mount_point)] = set(options.split(",")) if fs_type == "cgroup" else set()
    return mounted


class NodeCgroups:
    """The subtree /<name> in every mounted v1 hierarchy, or in the v2 hierarchy."""

    def __init__(self, name):
        if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
            raise CgroupError(f"cgroup name {name!r}: letters, digits, '.', '_' and '-' only")
        self.name = name
        self.path = "/" + name
        if cgroup_version() == 2:
            # runc and the kubelet enable the controllers they need along the path themselves.
            self._mount_points = [CGROUP_MOUNT]
            return
        hierarchies = _v1_hierarchies()
        self._mount_points = sorted(hierarchies)
        missing = REQUIRED_CONTROLLERS - set().union(*hierarchies.values())
        if missing:
            raise CgroupError(f"cgroup v1 controllers {sorted(missing)} are not mounted under {CGROUP_MOUNT}: the "
                              "kubelet needs them")

    @staticmethod
    def existing(prefix):
        """The names of the subtrees at the top of the hierarchy that start with prefix."""
        top = CGROUP_MOUNT / "pids" if cgroup_version() == 1 else CGROUP_MOUNT
        return sorted(d.name for d in top.iterdir() if d.is_dir() and d.name.startswith(prefix))

    def directories(self, relative=""):
        """The subtree's (or one of its children's) directory in each hierarchy."""
        return [m / (self.path + "/" + relative).strip("/") for m in self._mount_points]

    def create(self, *children):
        """Makes the subtree (and children, e.g. "shims") in every hierarchy. cpuset directories get their
        parent's cpus and mems, without which no process could join them."""
        for relative in ("", *children):
            for directory in self.directories(relative):
                directory.mkdir(exist_ok=True)
                if (directory / "cpuset.cpus").exists():
                    for name in ("cpuset.cpus", "cpuset.mems"):
                        (directory / name).write_text((directory.parent / name).read_text())
        return self

    def pids(self):
        """Every process in the subtree."""
        found = set()
        for directory in self.directories():
            if not directory.exists():
                continue
            for procs in directory.rglob("cgroup.procs"):
                try:
                    found.update(int(p) for p in procs.read_text().split())
                except (FileNotFoundError, ProcessLookupError):
                    pass
        return found

    def kill_all(self, timeout=30.0):
        """SIGKILLs every process in the subtree until none is left (a dying shim may still fork)."""
        def empty():
            remaining = self.pids()
            for pid in remaining:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            return not remaining
        wait_until(empty, timeout, f"every process in cgroup {self.path} to die", interval=0.1)

    def remove(self, timeout=30.0):
        """Kills what is left in the subtree and removes its directories, deepest first (runc may be removing
        some of them at the same time)."""
        self.kill_all(timeout)
        for top in self.directories():
            wait_until(lambda: _remove_tree(top), timeout, f"cgroup {top} to be removable", interval=0.1)


def _remove_tree(top):
    """Removes the cgroup directory top and those below it; False while one is still busy."""
    for directory, _, _ in os.walk(top, topdown=False):
        _rmdir(Path(directory))
    return not top.exists()


def _rmdir(directory):
    try:
        directory.rmdir()
    except OSError:
        pass  # gone already, or still busy: a process is leaving it (the caller retries)
