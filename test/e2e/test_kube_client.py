"""The controller's own Kubernetes client (src/kube/) against the real local kube-apiserver.

Runs the Catch2 binary test/kube/kube_integration_test (build it first: ninja -C build
test/kube/kube_integration_test) once per tag, with the cluster's kubeconfigs and etcd URL in its
environment. The restart test hand-shakes through files: the binary says when its informer is watching, this
side restarts kube-apiserver and says when it is back.

    python3 -m pytest -q test/e2e/test_kube_client.py
    (JARVIS_KUBE_INTEGRATION_TEST=path/to/kube_integration_test to use another build)
"""
import base64
import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from deadline import wait_until
from jarvis_cluster import CONTROLLER_USER, REPO_ROOT

BINARY = Path(os.environ.get("JARVIS_KUBE_INTEGRATION_TEST",
                             REPO_ROOT / "build" / "test" / "kube" / "kube_integration_test")).resolve()


@pytest.fixture(scope="module")
def integration_binary():
    if not os.access(BINARY, os.X_OK):
        pytest.fail(f"{BINARY} not found: build it (ninja -C build test/kube/kube_integration_test) or set "
                    "JARVIS_KUBE_INTEGRATION_TEST")
    return BINARY


def binary_env(cluster, signal_dir=None):
    env = dict(os.environ)
    env.update({
        "JARVIS_TEST_KUBECONFIG": str(cluster.admin_kubeconfig),
        "JARVIS_TEST_TOKEN_KUBECONFIG": str(cluster.controller_token_kubeconfig),
        "JARVIS_TEST_TOKEN_USER": CONTROLLER_USER,
    })
    if signal_dir is not None:
        env["JARVIS_TEST_SIGNAL_DIR"] = str(signal_dir)
    return env


def catch2_argv(binary, tag):
    # -w NoTests: a tag that matches nothing fails instead of passing vacuously.
    return [str(binary), tag, "-w", "NoTests", "--durations", "yes"]


def run_tag(binary, cluster, tag, timeout=300):
    result = subprocess.run(catch2_argv(binary, tag), env=binary_env(cluster), capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{tag} failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


def etcd_call(cluster, path, body):
    request = urllib.request.Request(f"http://127.0.0.1:{cluster.etcd_port}{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def advance_and_compact_etcd(cluster):
    """Writes a key outside Kubernetes' /registry prefix twice and compacts etcd's history up to the last
    revision: every resourceVersion the API server handed out before is gone from history."""
    key = base64.b64encode(b"jarvis-test/kube-client-marker").decode()
    for value in (b"1", b"2"):
        revision = etcd_call(cluster, "/v3/kv/put", {"key": key, "value": base64.b64encode(value).decode()})[
            "header"]["revision"]
    etcd_call(cluster, "/v3/kv/compaction", {"revision": revision, "physical": True})


@pytest.mark.parametrize("tag", ["[auth]", "[values]", "[list]", "[watch]"])
def test_kube_client(integration_binary, cluster, tag):
    run_tag(integration_binary, cluster, tag)


def test_informer_across_apiserver_restart(integration_binary, cluster, tmp_path):
    signals = tmp_path / "signals"
    signals.mkdir()
    log_path = tmp_path / "restart.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(catch2_argv(integration_binary, "[restart]"), env=binary_env(cluster, signals),
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            def watching():
                if process.poll() is not None:
                    raise AssertionError(f"the binary exited early:\n{log_path.read_text()}")
                return (signals / "watching").exists()
            wait_until(watching, 120, "the informer to be watching")
            cluster.stop_apiserver()
            advance_and_compact_etcd(cluster)
            cluster.start_apiserver()
            (signals / "restarted").write_text("restarted\n")
            returncode = process.wait(timeout=240)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    output = log_path.read_text()
    assert returncode == 0, f"[restart] failed (exit {returncode}):\n{output}"
    assert '"msg":"restart test stats"' in output, output
