"""Fixtures of the end-to-end tests: a real local control plane with simulated nodes (test/cluster/).

Options (or environment variables):
  --jarvis-binary   (JARVIS_BINARY)   the jarvis executable; default <repo>/build/src/jarvis
  --jarvis-agentctl (JARVIS_AGENTCTL) the gRPC test client; default <repo>/build/test/agent/jarvis-agentctl
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "test" / "cluster"))

from jarvis_cluster import Cluster  # noqa: E402


def pytest_addoption(parser):
    group = parser.getgroup("jarvis")
    group.addoption("--jarvis-binary", default=os.environ.get("JARVIS_BINARY", str(REPO_ROOT / "build/src/jarvis")),
                    help="the jarvis executable (env JARVIS_BINARY; default <repo>/build/src/jarvis)")
    group.addoption("--jarvis-agentctl",
                    default=os.environ.get("JARVIS_AGENTCTL", str(REPO_ROOT / "build/test/agent/jarvis-agentctl")),
                    help="the jarvis-agentctl gRPC client (env JARVIS_AGENTCTL; "
                         "default <repo>/build/test/agent/jarvis-agentctl)")


@pytest.fixture(scope="session")
def jarvis_binary(request):
    return Path(request.config.getoption("--jarvis-binary")).resolve()


@pytest.fixture(scope="session")
def agentctl_binary(request):
    path = Path(request.config.getoption("--jarvis-agentctl")).resolve()
    if not os.access(path, os.X_OK):
        pytest.fail(f"jarvis-agentctl not found at {path}: build it (ninja -C build test/agent/jarvis-agentctl) "
                    "or pass --jarvis-agentctl / set JARVIS_AGENTCTL")
    return path


@pytest.fixture(scope="session")
def agentctl(agentctl_binary):
    """agentctl(target, *args, timeout=30) runs `jarvis-agentctl --target TARGET ARGS...`; returns the
    CompletedProcess (text output)."""
    def run(target, *args, timeout=30.0):
        return subprocess.run([str(agentctl_binary), "--target", target, *map(str, args)],
                              capture_output=True, text=True, timeout=timeout)
    return run


def tear_down(request, tmp_path_factory, clusters, keep_logs):
    """Removes the clusters; with keep_logs (a test failed), their logs are first copied to pytest's temporary
    directory (pytest keeps the last three runs) and the place is printed."""
    errors = []
    for made in clusters:
        try:
            if keep_logs and made.dir.exists():
                kept = made.save_logs(tmp_path_factory.mktemp(f"logs-{made.dir.name}"))
                reporter = request.config.pluginmanager.get_plugin("terminalreporter")
                if reporter:
                    reporter.write_line(f"cluster logs kept in {kept}")
            made.down()
        except Exception as error:  # every cluster gets its tear-down; the first failure is reported
            errors.append(error)
    if errors:
        raise errors[0]


def shared_cluster(request, jarvis_binary, tmp_path_factory, **kwargs):
    """The body of a module-scoped cluster fixture; kwargs go to Cluster (nodes=3, transport=...)."""
    kwargs.setdefault("nodes", 3)
    shared = Cluster(tmp_path_factory.mktemp("cluster"), jarvis=jarvis_binary, **kwargs)
    failures_before = request.session.testsfailed
    up_failed = True
    try:
        shared.up()
        up_failed = False
        yield shared
    finally:
        tear_down(request, tmp_path_factory, [shared], up_failed or request.session.testsfailed > failures_before)


@pytest.fixture(scope="module")
def cluster(request, jarvis_binary, tmp_path_factory):
    """A 3-node cluster shared by the tests of one module; torn down after them, also when they fail.
    Tests that stop agents or mark endpoints not ready put them back before they finish. Agents serve mutual
    TLS: they refuse every connection until a controller has made the certificates."""
    yield from shared_cluster(request, jarvis_binary, tmp_path_factory)


@pytest.fixture
def make_cluster(request, jarvis_binary, tmp_path_factory):
    """make_cluster(nodes=3, labels=None, **Cluster keyword arguments) starts a cluster of the test's own;
    every cluster made is torn down after the test."""
    made = []
    failures_before = request.session.testsfailed

    def make(nodes=3, labels=None, **kwargs):
        made.append(Cluster(tmp_path_factory.mktemp("cluster"), nodes=nodes, labels=labels, jarvis=jarvis_binary,
                            **kwargs))
        return made[-1].up()

    yield make
    tear_down(request, tmp_path_factory, made, request.session.testsfailed > failures_before)


@pytest.fixture
def workdir(tmp_path):
    """A temporary directory anyone may write: the agents' commands drop marker files there."""
    tmp_path.chmod(0o777)
    return tmp_path
