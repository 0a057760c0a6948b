"""The pinned etcd, kube-apiserver and kubectl: upstream/build.sh builds them once and prints their cache dir."""
import subprocess
from dataclasses import dataclass
from pathlib import Path

BUILD_SCRIPT = Path(__file__).resolve().parent / "upstream" / "build.sh"


@dataclass(frozen=True)
class UpstreamBinaries:
    directory: Path

    @property
    def etcd(self):
        return self.directory / "etcd"

    @property
    def kube_apiserver(self):
        return self.directory / "kube-apiserver"

    @property
    def kubectl(self):
        return self.directory / "kubectl"


def upstream_binaries(build_timeout=3600):
    """Returns the cached binaries, building them first when the cache has none (minutes, once)."""
    result = subprocess.run([str(BUILD_SCRIPT)], stdout=subprocess.PIPE, stderr=None, text=True,
                            timeout=build_timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{BUILD_SCRIPT} failed with status {result.returncode} (its output is above)")
    return UpstreamBinaries(Path(result.stdout.strip().splitlines()[-1]))
