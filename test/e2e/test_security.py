"""Security end-to-end tests (issue 6): mutual TLS between the real controller and real agents with the
certificates the controller makes and keeps in Secrets, RBAC of manifests/ for users and for the controller,
the commands' environment, and the audit trail. Real kube-apiserver + etcd + kubectl; the controller runs as
system:serviceaccount:jarvis:jarvis-controller with exactly the RBAC in manifests/. The local cluster has no
kubelet: test/cluster/secret_volume.py plays its part for the agents' Secret volume.

    /usr/bin/python3 -m pytest -q test/e2e/test_security.py
"""
import json
import re
import signal
import socket
import subprocess
import urllib.request

import pytest

from controller_helpers import (MANIFESTS, NAMESPACE, command_object, events_for, node_results,
                                start_synced_controller, wait_for_phase)
from deadline import wait_until
from security_helpers import (Pki, fingerprint, log_lines, secret_data, wait_agent_secret, wait_agents_serve)

ALL_NODES = ["kind-control-plane", "kind-worker", "kind-worker2"]
# What a command's environment may hold: the agent's documented variables, plus what /bin/sh itself sets.
DOCUMENTED_ENVIRONMENT = {"PATH", "HOME", "LANG", "JARVIS_EXECUTION_ID"}
SHELL_ENVIRONMENT = {"PWD", "OLDPWD", "SHLVL", "_"}


def stop(controller):
    if controller.alive():
        assert controller.stop(signal.SIGTERM) == 0, controller.log_text()[-3000:]


def run_command(cluster, name, command, namespace=NAMESPACE, timeout=90, kubeconfig=None, **kwargs):
    cluster.kubectl("apply", "-f", "-", input=json.dumps(command_object(name, command, namespace=namespace,
                                                                        **kwargs)),
                    kubeconfig=kubeconfig)
    return wait_for_phase(cluster, name, timeout=timeout, namespace=namespace)


@pytest.fixture(scope="module")
def jarvis(cluster):
    """The module's cluster (agents serving mutual TLS) with manifests/ installed and a controller that has
    made the CA and the certificates; returns once every agent serves the agents' certificate."""
    cluster.apply_manifests(MANIFESTS)
    cluster.kubectl("wait", "--for=condition=Established", "crd/commands.jarvis.io", "--timeout=60s")
    cluster.controller = start_synced_controller(cluster, "--log-level=debug")
    wait_agents_serve(cluster, wait_agent_secret(cluster)["tls.crt"])
    yield cluster
    stop(cluster.controller)


def replace_controller(cluster, *flags):
    stop(cluster.controller)
    cluster.controller = start_synced_controller(cluster, "--log-level=debug", *flags)
    return cluster.controller


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path / "pki")


def agentctl_start(agentctl, cluster, node, execution_id, command, *security):
    return agentctl(cluster.agent_target(node), *security, "start", "--id", execution_id, "--command", command,
                    "--timeout", "30", "--wait")


# ---- mutual TLS: the agent

def test_agent_serves_only_the_controllers_certificate_from_the_jarvis_ca(jarvis, agentctl, pki, tmp_path):
    tmp_path.chmod(0o777)
    ca = secret_data(jarvis, "jarvis-ca")
    agents = secret_data(jarvis, "jarvis-agent-tls")
    jarvis_ca = (pki.write("jarvis-ca.crt", ca["ca.crt"]), pki.write("jarvis-ca.key", ca["ca.key"]))
    other_ca = pki.certificate_authority("other-ca")
    node_key = (pki.write("node.crt", agents["tls.crt"]), pki.write("node.key", agents["tls.key"]))
    trust = ["--ca", jarvis_ca[0]]

    def with_cert(pair):
        return [*trust, "--cert", pair[0], "--key", pair[1]]
    refused_clients = {
        "plaintext": ["--insecure"],
        "no-certificate": trust,
        "self-signed": with_cert(pki.self_signed("self-signed", "jarvis-controller")),
        "another-ca": with_cert(pki.issue("another-ca", *other_ca, "jarvis-controller")),
        "the-agents-certificate": with_cert(node_key),
        "jarvis-ca-wrong-identity": with_cert(pki.issue("wrong-identity", *jarvis_ca, "jarvis-admin")),
    }
    expected_reasons = {
        "plaintext": "plaintext (not TLS)",
        "no-certificate": "no client certificate",
        "self-signed": "certificate not issued by the Jarvis CA",
        "another-ca": "certificate not issued by the Jarvis CA",
        "the-agents-certificate": "certificate not meant for this side (key usage)",
        "jarvis-ca-wrong-identity": "wrong identity (the certificate does not name the expected peer)",
    }
    node = "kind-worker"
    lines_before = len(log_lines(jarvis.agent_log(node)))
    for case, flags in refused_clients.items():
        result = agentctl_start(agentctl, jarvis, node, f"refused-{case}", f"touch {tmp_path}/ran-{case}", *flags)
        assert result.returncode != 0, f"{case}: the agent served it: {result.stdout}"
        assert "UNAVAILABLE" in result.stderr, f"{case}: {result.stderr}"
    # Each refusal is an audit line naming the client's address (this test runs on 127.0.0.1) and the reason.
    refusals = [line for line in log_lines(jarvis.agent_log(node))[lines_before:]
                if line.get("msg") == "refused a TLS connection"]
    assert set(expected_reasons.values()) <= {line["reason"] for line in refusals}, refusals
    for line in refusals:
        assert line["level"] == "warn" and line["detail"], line
        assert re.fullmatch(r"127\.0\.0\.1:\d{1,5}", line["peer"]), line

    # A client with the controller's identity from the Jarvis CA gets through: the refusals were about who
    # asked, and the agent was up all along.
    controller_cert = pki.issue("controller", *jarvis_ca, "jarvis-controller")
    accepted = agentctl_start(agentctl, jarvis, node, "accepted", f"touch {tmp_path}/ran-accepted",
                              *with_cert(controller_cert))
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["state"] == "STATE_SUCCEEDED"
    assert (tmp_path / "ran-accepted").exists()
    assert sorted(p.name for p in tmp_path.glob("ran-*")) == ["ran-accepted"], "a refused client's command ran"
    started = [line["execution_id"] for line in log_lines(jarvis.agent_log(node))
               if line.get("msg") == "execution started"]
    assert not [i for i in started if i.startswith("refused-")]

    # The client also checks the agent: trusting another CA, it refuses the agent's certificate.
    wrong_trust = agentctl_start(agentctl, jarvis, node, "wrong-trust", "true", "--ca", other_ca[0],
                                 "--cert", controller_cert[0], "--key", controller_cert[1])
    assert wrong_trust.returncode != 0 and "UNAVAILABLE" in wrong_trust.stderr


def test_the_ca_key_stays_in_its_own_secret(jarvis):
    ca = secret_data(jarvis, "jarvis-ca")
    agents = secret_data(jarvis, "jarvis-agent-tls")
    assert sorted(ca) == ["ca.crt", "ca.key"]
    assert sorted(agents) == ["ca.crt", "tls.crt", "tls.key"]
    assert agents["ca.crt"] == ca["ca.crt"]
    assert ca["ca.key"] not in agents.values()
    # The agents' files are that Secret's, and only its keys.
    files = {p.name for p in jarvis.agent_tls_dir.iterdir() if not p.name.startswith("..")}
    assert files == {"ca.crt", "tls.crt", "tls.key"}
    # The agents' certificate names the agent identity and serves only as a server.
    text = subprocess.run(["openssl", "x509", "-noout", "-text"], input=agents["tls.crt"], capture_output=True,
                          text=True, check=True).stdout
    assert "DNS:jarvis-agent" in text and "TLS Web Server Authentication" in text
    assert "TLS Web Client Authentication" not in text


# ---- who can run what

def test_viewer_cannot_create_a_command_and_an_editor_can_and_it_runs(jarvis):
    namespace = "team-security"
    jarvis.kubectl("create", "namespace", namespace)
    jarvis.kubectl("create", "rolebinding", "vera-viewer", "--clusterrole=jarvis-command-viewer", "--user=vera",
                   "-n", namespace)
    jarvis.kubectl("create", "rolebinding", "eddie-editor", "--clusterrole=jarvis-command-editor", "--user=eddie",
                   "-n", namespace)
    viewer = jarvis.user_kubeconfig("vera")
    editor = jarvis.user_kubeconfig("eddie")
    obj = json.dumps(command_object("by-viewer", "id", namespace=namespace))
    refused = jarvis.kubectl("create", "-f", "-", input=obj, kubeconfig=viewer, check=False)
    assert refused.returncode != 0
    assert "Forbidden" in refused.stderr and "vera" in refused.stderr, refused.stderr
    assert jarvis.kubectl("get", "commands", "-n", namespace, kubeconfig=viewer).returncode == 0

    done = run_command(jarvis, "by-editor", "echo ran-for-eddie", namespace=namespace, kubeconfig=editor)
    status = done["status"]
    assert status["phase"] == "Succeeded", status
    assert status["targeted"] == 3 and status["succeeded"] == 3
    assert all(n["output"] == "ran-for-eddie\n" for n in node_results(done).values())
    # The viewer reads the results; the editor still cannot touch other namespaces.
    seen = jarvis.kubectl("get", "command", "by-editor", "-n", namespace, "-o", "json", kubeconfig=viewer)
    assert json.loads(seen.stdout)["status"]["succeeded"] == 3
    elsewhere = jarvis.kubectl("create", "-f", "-", input=json.dumps(command_object("elsewhere", "id")),
                               kubeconfig=editor, check=False)
    assert elsewhere.returncode != 0 and "Forbidden" in elsewhere.stderr


def test_controller_restricted_to_a_namespace_ignores_commands_elsewhere(jarvis):
    jarvis.kubectl("create", "namespace", "team-only")
    jarvis.kubectl("create", "namespace", "team-other")
    controller = replace_controller(jarvis, "--namespace=team-only")
    try:
        ran = run_command(jarvis, "here", "true", namespace="team-only")
        assert ran["status"]["phase"] == "Succeeded"
        jarvis.kubectl("apply", "-f", "-", input=json.dumps(command_object("there", "true", namespace="team-other")))
        # Wait for the controller to have handled a later Command in its namespace: "there" came first.
        assert run_command(jarvis, "here-again", "true", namespace="team-only")["status"]["phase"] == "Succeeded"
        there = json.loads(jarvis.kubectl("get", "command", "there", "-n", "team-other", "-o", "json").stdout)
        assert "status" not in there or not there["status"].get("phase"), there.get("status")
        assert '"team-other' not in controller.log_text()
    finally:
        replace_controller(jarvis)


# ---- what a command sees, and the audit trail

def test_commands_get_the_documented_environment_not_the_agents(jarvis):
    done = run_command(jarvis, "environment", "env", selector={"nodeSelectorTerms": [{"matchFields": [
        {"key": "metadata.name", "operator": "In", "values": ["kind-worker"]}]}]})
    result = node_results(done)["kind-worker"]
    assert result["phase"] == "Succeeded", result
    seen = {line.split("=", 1)[0] for line in result["output"].splitlines() if "=" in line}
    assert DOCUMENTED_ENVIRONMENT <= seen
    assert seen <= DOCUMENTED_ENVIRONMENT | SHELL_ENVIRONMENT, seen - DOCUMENTED_ENVIRONMENT - SHELL_ENVIRONMENT
    # The agent itself has more (this runner's environment): none of it reached the command.
    agent_pid = jarvis.agent_pid("kind-worker")
    agent_environment = {entry.split(b"=", 1)[0].decode() for entry in
                         open(f"/proc/{agent_pid}/environ", "rb").read().split(b"\0") if b"=" in entry}
    assert agent_environment - DOCUMENTED_ENVIRONMENT - SHELL_ENVIRONMENT, "the test cannot tell: agent env too small"
    assert not (agent_environment - DOCUMENTED_ENVIRONMENT - SHELL_ENVIRONMENT) & seen


def test_every_execution_leaves_an_audit_trail(jarvis):
    done = run_command(jarvis, "audited", "echo audit; exit 4")
    meta = done["metadata"]
    for node in ALL_NODES:
        lines = [line for line in log_lines(jarvis.agent_log(node))
                 if line.get("msg") in ("execution started", "execution finished")
                 and line.get("origin_uid") == meta["uid"]]
        assert [line["msg"] for line in lines] == ["execution started", "execution finished"], lines
        for line in lines:
            assert (line["origin_namespace"], line["origin_name"], line["origin_generation"]) == \
                (NAMESPACE, "audited", meta["generation"])
            assert line["node"] == node and line["command"] == "echo audit; exit 4"
            assert line["requested_by"].startswith("CN=jarvis-controller "), line["requested_by"]
        finished = lines[1]
        assert finished["exit_code"] == 4 and finished["state"] == "failed"
        assert isinstance(finished["duration_ms"], int) and finished["duration_ms"] >= 0
    events = events_for(jarvis, "audited")
    assert sorted(e["reason"] for e in events) == sorted(f"audited-{n}" for n in ALL_NODES)
    assert all(e["type"] == "Warning" and e["message"].startswith("❯ echo audit; exit 4") for e in events)


# ---- CA agreement, creation races, renewal

def test_a_controller_with_a_different_ca_refuses_the_agents_and_says_so(jarvis):
    """The agents keep their files (their kubelet has not caught up) while the controller starts over with a
    new CA: each side refuses the other, the Command says why, and once the agents get the new Secret, commands
    run again."""
    before = secret_data(jarvis, "jarvis-agent-tls")
    jarvis.stop_secret_volume()
    try:
        stop(jarvis.controller)
        jarvis.kubectl("delete", "secret", "jarvis-ca", "-n", NAMESPACE)
        jarvis.controller = start_synced_controller(jarvis, "--log-level=debug")
        assert fingerprint(secret_data(jarvis, "jarvis-ca")["ca.crt"]) != fingerprint(before["ca.crt"])
        renewed = wait_agent_secret(jarvis, other_than=before["tls.crt"])
        assert renewed["ca.crt"] != before["ca.crt"]

        done = run_command(jarvis, "other-ca", "true", timeout=120)
        status = done["status"]
        assert status["phase"] == "Failed" and status["failed"] == 3, status
        for node, result in node_results(done).items():
            assert result["reason"] == "AgentTLSFailed", result
            assert "TLS handshake" in result["message"] and "jarvis-agent-tls" in result["message"], result
        events = events_for(jarvis, "other-ca")
        assert len(events) == 3 and all(e["type"] == "Warning" and "TLS handshake" in e["message"] for e in events)
    finally:
        jarvis.start_secret_volume()
    wait_agents_serve(jarvis, secret_data(jarvis, "jarvis-agent-tls")["tls.crt"])
    assert run_command(jarvis, "same-ca-again", "true")["status"]["phase"] == "Succeeded"


def test_two_controllers_starting_at_once_make_one_ca(jarvis):
    stop(jarvis.controller)
    jarvis.kubectl("delete", "secret", "jarvis-ca", "jarvis-agent-tls", "-n", NAMESPACE)
    first = jarvis.start_controller(["--log-level=debug"])
    second = jarvis.start_controller(["--log-level=debug"])
    try:
        def using_ca(controller):
            used = [line["sha256"] for line in log_lines(controller.log_path) if line.get("msg") == "using the Jarvis CA"]
            return used or None
        first_ca = wait_until(lambda: using_ca(first), 60, "the first controller to use a CA")
        second_ca = wait_until(lambda: using_ca(second), 60, "the second controller to use a CA")
        stored = fingerprint(secret_data(jarvis, "jarvis-ca")["ca.crt"])
        assert first_ca == second_ca == [stored]
        created = [c for c in (first, second) if '"msg":"created the Jarvis CA"' in c.log_text()]
        assert len(created) >= 1
        # Both controllers' agents' certificates chain to that one CA.
        wait_until(lambda: all('"msg":"caches synced' in c.log_text() for c in (first, second)), 60, "both to sync")
        agents = secret_data(jarvis, "jarvis-agent-tls")
        assert agents["ca.crt"] == secret_data(jarvis, "jarvis-ca")["ca.crt"]
    finally:
        stop(second)
    jarvis.controller = first
    wait_agents_serve(jarvis, secret_data(jarvis, "jarvis-agent-tls")["tls.crt"])
    assert run_command(jarvis, "after-the-race", "true")["status"]["phase"] == "Succeeded"


def test_certificates_renew_without_restarting_the_agents(jarvis):
    agent_pids = {node: jarvis.agent_pid(node) for node in ALL_NODES}
    long_lived = secret_data(jarvis, "jarvis-agent-tls")["tls.crt"]
    controller = replace_controller(jarvis, "--cert-lifetime=30s")
    # Issued anew at once: the stored certificate outlives the shorter --cert-lifetime.
    first = wait_agent_secret(jarvis, other_than=long_lived)
    wait_agents_serve(jarvis, first["tls.crt"])
    served = [fingerprint(first["tls.crt"])]
    previous = first["tls.crt"]
    for renewal in range(2):
        renewed = wait_agent_secret(jarvis, timeout=60, other_than=previous)
        wait_agents_serve(jarvis, renewed["tls.crt"])
        served.append(fingerprint(renewed["tls.crt"]))
        done = run_command(jarvis, f"after-renewal-{renewal}", "true")
        assert done["status"]["phase"] == "Succeeded", done["status"]
        previous = renewed["tls.crt"]
    assert len(set(served)) == 3
    issued_to_itself = [line for line in log_lines(controller.log_path)
                        if line.get("msg") == "issued the controller certificate"]
    assert len(issued_to_itself) >= 3
    # By now the first certificates have expired: a controller that connects afresh still gets through.
    text = subprocess.run(["openssl", "x509", "-noout", "-checkend", "0"], input=first["tls.crt"],
                          capture_output=True, text=True)
    assert text.returncode == 1, "the first agent certificate has not expired yet"
    replace_controller(jarvis)
    assert run_command(jarvis, "after-expiry", "true")["status"]["phase"] == "Succeeded"
    assert {node: jarvis.agent_pid(node) for node in ALL_NODES} == agent_pids
    assert all(jarvis.processes()[f"agent-{node}"] == pid for node, pid in agent_pids.items())


# ---- --insecure must be asked for, and says so

def test_insecure_is_explicit_and_warns(jarvis, jarvis_binary, tmp_path):
    agent = subprocess.Popen([jarvis_binary, "--role=agent", "--insecure", "--listen=127.0.0.1:0", "--host-root=/",
                              "--health-probe-bind-address=127.0.0.1:0",
                              "--node-name=insecure-dev", "--state-dir", str(tmp_path / "state")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in agent.stdout:
            lines.append(json.loads(line))
            if lines[-1]["msg"] == "agent listening":
                break
        warnings = [line for line in lines if line["level"] == "warn" and "--insecure" in line["msg"]]
        assert warnings, lines
        assert lines[-1]["transport"] == "plaintext"
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)
    # Without --insecure a controller's agents never speak plaintext: shown by the refusals above. A controller
    # with --insecure warns too (it is not left running: it would race the module's controller).
    # Synced: by then it has its SIGTERM handler (the warning comes before it, and a SIGTERM right after the
    # warning could kill it).
    controller = start_synced_controller(jarvis, "--insecure", "--namespace=nothing-here")
    try:
        warned = [line for line in log_lines(controller.log_path) if line.get("level") == "warn"]
        assert any("--insecure" in line["msg"] and "Development only" in line["msg"] for line in warned)
    finally:
        stop(controller)


# ---- the agent's TLS front: refused connections' audit lines

def start_standalone_agent(jarvis_binary, tls_dir, directory, *flags):
    """An agent of its own (not the cluster's) serving mutual TLS with the cluster's agent files; returns
    (process, log path, gRPC port, probe/metrics port) once it listens."""
    log_path = directory / "agent.log"
    with open(log_path, "w") as out:
        agent = subprocess.Popen([jarvis_binary, "--role=agent", "--listen=127.0.0.1:0", "--host-root=/",
                                  "--health-probe-bind-address=127.0.0.1:0", "--node-name=tls-front",
                                  "--state-dir", str(directory / "state"), "--tls-dir", str(tls_dir), *flags],
                                 stdout=out, stderr=subprocess.STDOUT)

    def listening():
        if agent.poll() is not None:
            pytest.fail(f"the agent exited: {log_path.read_text()[-2000:]}")
        lines = log_lines(log_path)
        grpc = [line["port"] for line in lines if line.get("msg") == "agent listening"]
        http = [line["port"] for line in lines if line.get("msg") == "serving endpoints"]
        return (grpc[0], http[0]) if grpc and http else None
    grpc_port, http_port = wait_until(listening, 60, "the standalone agent to listen")
    return agent, log_path, grpc_port, http_port


def raw_connection(source, port, send=b""):
    """Connects from address `source` to the agent on 127.0.0.1:port, sends `send`, and waits (60 s at most)
    until the agent closes the connection; returns the client's host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        client.bind((source, 0))
        client.connect(("127.0.0.1", port))
        address = "%s:%d" % client.getsockname()
        if send:
            client.sendall(send)
        client.settimeout(60)
        try:
            while client.recv(4096):
                pass
        except ConnectionResetError:
            pass
        return address


def refusals_from(log_path, address_prefix):
    return [line for line in log_lines(log_path)
            if line.get("msg") == "refused a TLS connection" and line["peer"].startswith(address_prefix)]


def refusals_counted(http_port, reason):
    text = urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10).read().decode()
    match = re.search(r'^jarvis_tls_handshake_failures_total\{reason="%s"\} (\d+)$' % re.escape(reason), text, re.M)
    return int(match.group(1)) if match else 0


def test_refused_connections_are_audited_with_the_clients_address_and_rate_limited_per_client(
        jarvis, jarvis_binary, tmp_path):
    agent, log_path, port, http_port = start_standalone_agent(jarvis_binary, jarvis.agent_tls_dir, tmp_path,
                                                              "--tls-handshake-timeout=1", "--tls-max-handshakes=1")
    try:
        assert urllib.request.urlopen(f"http://127.0.0.1:{http_port}/readyz", timeout=10).status == 200
        # Each client has an address of its own (127.0.3.x), so each line can be told apart.
        plaintext = raw_connection("127.0.3.1", port, b"GET / HTTP/1.1\r\nHost: agent\r\n\r\n")
        [line] = wait_until(lambda: refusals_from(log_path, "127.0.3.1:") or None, 30, "the plaintext refusal")
        assert (line["peer"], line["reason"], line["level"]) == (plaintext, "plaintext (not TLS)", "warn"), line
        assert "GET / HTTP/1.1" in line["detail"], line

        # A client that sends nothing is cut off at the handshake deadline (1 s here, 10 s by default).
        silent = raw_connection("127.0.3.2", port)
        [line] = wait_until(lambda: refusals_from(log_path, "127.0.3.2:") or None, 30, "the silent client's refusal")
        assert (line["peer"], line["reason"]) == (silent, "TLS handshake timed out"), line

        # 15 refused connections in a row from one client (a new port each): all counted, 10 lines a minute.
        flood = [raw_connection("127.0.3.3", port, b"GET / HTTP/1.1\r\n\r\n") for _ in range(15)]
        wait_until(lambda: refusals_counted(http_port, "plaintext (not TLS)") >= 16, 30, "16 plaintext refusals")
        lines = refusals_from(log_path, "127.0.3.3:")
        assert len(lines) == 10, lines
        assert [line["peer"] for line in lines] == flood[:10]
        assert all(line["suppressed"] == 0 for line in lines)
        # The flood silenced neither another client nor the first one's other reasons.
        assert len(refusals_from(log_path, "127.0.3.1:")) == 1
        raw_connection("127.0.3.3", port)
        wait_until(lambda: [line for line in refusals_from(log_path, "127.0.3.3:")
                            if line["reason"] == "TLS handshake timed out"] or None, 30, "the flooder's timeout line")

        # Beyond --tls-max-handshakes (1 here) a connection is closed at once: one silent client holds the only
        # handshake slot (for 1 s), the next one is refused.
        with socket.create_connection(("127.0.0.1", port), source_address=("127.0.3.4", 0)):
            beyond = raw_connection("127.0.3.5", port)
        [line] = wait_until(lambda: refusals_from(log_path, "127.0.3.5:") or None, 30, "the refusal beyond the bound")
        assert (line["peer"], line["reason"]) == (beyond, "too many handshakes in progress"), line
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=30) == 0, log_path.read_text()[-2000:]
    assert log_lines(log_path)[-1]["msg"] == "agent stopped"


# ---- logs

def test_every_line_the_agents_and_controllers_wrote_is_json(jarvis):
    """Everything above (refused clients, CAs replaced, renewals, controllers racing) left JSON lines only, gRPC's
    own lines included, and each kind of refused client is one audit line on the agent naming its reason."""
    logs = sorted(jarvis.dir.glob("controller-*.log")) + [jarvis.agent_log(node) for node in ALL_NODES]
    for path in logs:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            try:
                assert isinstance(json.loads(line), dict)
            except ValueError:
                pytest.fail(f"{path.name}:{number} is not JSON: {line[:300]}")
    refusals = [line for line in log_lines(jarvis.agent_log("kind-worker"))
                if line.get("msg") == "refused a TLS connection"]
    assert all(line["level"] == "warn" and line["detail"] for line in refusals), refusals
    assert all(re.fullmatch(r"127\.0\.0\.1:\d{1,5}", line["peer"]) for line in refusals), refusals
    assert {"plaintext (not TLS)", "no client certificate", "certificate not issued by the Jarvis CA",
            "wrong identity (the certificate does not name the expected peer)"} <= \
        {line["reason"] for line in refusals}, refusals
