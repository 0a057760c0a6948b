"""`kubectl jarvis` end to end (issue 15): the real kubectl (from JARVIS_K8S_BIN) finds the plugin through a
`kubectl-jarvis` symlink to the built jarvis on PATH, and runs commands through a real kube-apiserver, the real
controller and real agents on 3 simulated nodes. Terminal behaviour (progress line, Ctrl-C) is driven through a
pseudo-terminal that is the plugin's controlling terminal, so Ctrl-C is a real ^C typed on it.

    python3 -m pytest -v -p no:cacheprovider test/e2e/test_kubectl_plugin.py
"""
import json
import os
import pty
import select
import signal
import socket
import subprocess
import textwrap
import time
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from controller_helpers import MANIFESTS, NAMESPACE, get_command
from deadline import wait_until
from security_helpers import wait_agent_secret, wait_agents_serve

ALL_NODES = ["kind-control-plane", "kind-worker", "kind-worker2"]
# Prints the node's name: the simulated nodes share this machine's hostname, so this is what differs per node.
NODE_NAME = 'echo "${JARVIS_EXECUTION_ID##*.}"'


@pytest.fixture(scope="module")
def jarvis(cluster, tmp_path_factory):
    """The module's 3-node cluster with manifests/ installed, a controller whose certificates the agents serve,
    and a bin directory holding kubectl and the kubectl-jarvis symlink."""
    cluster.apply_manifests(MANIFESTS)
    cluster.kubectl("wait", "--for=condition=Established", "crd/commands.jarvis.io", "--timeout=60s")
    cluster.plugin_controller = cluster.start_controller()
    wait_agents_serve(cluster, wait_agent_secret(cluster)["tls.crt"])
    bin_dir = tmp_path_factory.mktemp("plugin-bin")
    (bin_dir / "kubectl-jarvis").symlink_to(cluster.jarvis)
    cluster.plugin_env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                          "KUBECONFIG": str(cluster.admin_kubeconfig)}
    yield cluster
    cluster.plugin_controller.stop()


def plugin(cluster, *args, kubeconfig=None, timeout=120):
    """`kubectl jarvis ARGS...` with stdout and stderr to pipes; returns the CompletedProcess."""
    env = dict(cluster.plugin_env)
    if kubeconfig:
        env["KUBECONFIG"] = str(kubeconfig)
    return subprocess.run([str(cluster.kubectl_path), "jarvis", *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def groups_of(folded):
    """{header: output} of folded output (a header between two rules, then the output)."""
    lines = folded.splitlines()
    groups, i = {}, 0
    while i < len(lines):
        assert lines[i] == "---------------", folded
        header, body = lines[i + 1], []
        assert lines[i + 2] == "---------------", folded
        i += 3
        while i < len(lines) and lines[i] != "---------------":
            body.append(lines[i])
            i += 1
        groups[header] = "\n".join(body)
    return groups


class Terminal:
    """`kubectl jarvis ARGS...` on a pseudo-terminal that is its controlling terminal (its own session), so
    typing ^C sends SIGINT to it as a shell's terminal would."""

    def __init__(self, cluster, *args):
        master, slave = pty.openpty()
        self.master = master
        self.output = b""
        self.process = subprocess.Popen(
            [str(cluster.kubectl_path), "jarvis", *map(str, args)], env=cluster.plugin_env,
            stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
            preexec_fn=lambda: __import__("fcntl").ioctl(0, __import__("termios").TIOCSCTTY, 0))
        os.close(slave)

    def read_available(self, wait=0.1):
        while select.select([self.master], [], [], wait)[0]:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the other side is closed
                return
            if not chunk:
                return
            self.output += chunk
            wait = 0
        return self.output

    def wait_for(self, text, timeout=60):
        wait_until(lambda: text.encode() in (self.read_available() or b""), timeout,
                   f"{text!r} on the terminal; so far: {self.output[-2000:]!r}")

    def type(self, data):
        os.write(self.master, data)

    def finish(self, timeout=60):
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self.read_available()
        self.read_available()
        status = self.process.wait(timeout=max(1, deadline - time.monotonic()))
        os.close(self.master)
        return status, self.output.decode(errors="replace")


def wait_running_on_all(cluster, name):
    def running():
        obj = get_command(cluster, name)
        return obj and obj.get("status", {}).get("running") == len(ALL_NODES)
    wait_until(running, 60, f"Command {name} to run on every node")


# ---- run

def test_run_hostname_on_three_nodes_prints_it_once_folded(jarvis):
    result = plugin(jarvis, "run", "-n", NAMESPACE, "--all", "--", "hostname")
    assert result.returncode == 0, result.stderr
    # The simulated nodes are processes of this machine: every node prints its hostname.
    assert groups_of(result.stdout) == {"kind-control-plane,kind-worker,kind-worker2 (3)": socket.gethostname()}
    assert "Succeeded on 3 of 3 node(s)" in result.stderr


def test_different_outputs_fold_into_one_group_per_output(jarvis):
    result = plugin(jarvis, "run", "-n", NAMESPACE, "--all", "--", NODE_NAME)
    assert result.returncode == 0, result.stderr
    assert groups_of(result.stdout) == {f"{node} (1)": node for node in ALL_NODES}


def test_run_with_a_label_selector_runs_on_the_one_matching_node(jarvis):
    result = plugin(jarvis, "run", "-n", NAMESPACE, "-l", "kubernetes.io/hostname in (kind-worker2),!spot",
                    "-o", "lines", "--", NODE_NAME)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "kind-worker2: kind-worker2\n"


def test_a_bad_selector_is_a_usage_error_naming_the_part(jarvis):
    result = plugin(jarvis, "run", "-n", NAMESPACE, "-l", "zone=a,tier in (web", "--", "true")
    assert result.returncode == 2
    assert 'part "tier in (web": missing ")"' in result.stderr


def test_a_failing_command_exits_1_and_names_the_failing_nodes(jarvis):
    result = plugin(jarvis, "run", "-n", NAMESPACE, "--all", "--", "sh", "-c", "exit 3")
    assert result.returncode == 1, result.stderr
    assert groups_of(result.stdout) == {"kind-control-plane,kind-worker,kind-worker2 (3) Failed, exit code 3": ""}
    assert "3 failed (kind-control-plane,kind-worker,kind-worker2)" in result.stderr

    one = plugin(jarvis, "run", "-n", NAMESPACE, "--all", "--", f'[ "$({NODE_NAME})" != kind-worker ] || exit 3')
    assert one.returncode == 1, one.stderr
    assert set(groups_of(one.stdout)) == {"kind-control-plane,kind-worker2 (2)", "kind-worker (1) Failed, exit code 3"}
    assert "1 failed (kind-worker), 2 succeeded of 3 node(s)" in one.stderr


def test_json_and_yaml_output_parse(jarvis):
    result = plugin(jarvis, "run", "-n", NAMESPACE, "--all", "-o", "json", "--", "echo hi")
    assert result.returncode == 0, result.stderr
    obj = json.loads(result.stdout)
    assert obj["kind"] == "Command" and obj["metadata"]["name"].startswith("run-")
    assert obj["status"]["phase"] == "Succeeded"
    assert sorted(n["name"] for n in obj["status"]["nodes"]) == ALL_NODES

    shown = plugin(jarvis, "get", "-n", NAMESPACE, obj["metadata"]["name"], "-o", "yaml")
    assert shown.returncode == 0, shown.stderr
    assert yaml.safe_load(shown.stdout)["status"]["nodes"][0]["output"] == "hi\n"


def test_in_a_pipe_progress_is_one_plain_line_per_node(jarvis):
    result = plugin(jarvis, "run", "-n", NAMESPACE, "--all", "--", "true")
    assert result.returncode == 0, result.stderr
    progress = [line for line in result.stderr.splitlines() if "done)" in line]
    assert sorted(line.split(":")[0] for line in progress) == ALL_NODES
    assert all(": Succeeded (" in line for line in progress)
    assert "\r" not in result.stderr and "\x1b[" not in result.stderr


def test_on_a_terminal_progress_is_a_status_line_rewritten_in_place(jarvis):
    terminal = Terminal(jarvis, "run", "-n", NAMESPACE, "--all", "--", "sleep 1")
    status, output = terminal.finish()
    assert status == 0, output
    assert "\r\x1b[K" in output
    assert "3/3 nodes done, 0 failed" in output or "nodes done" in output
    assert "kind-control-plane,kind-worker,kind-worker2 (3)" in output
    assert "Succeeded (" not in output  # the per-node lines are for pipes


# ---- Ctrl-C

def test_ctrl_c_then_yes_cancels_and_deletes_the_command(jarvis):
    name = "ctrl-c-cancel"
    terminal = Terminal(jarvis, "run", "-n", NAMESPACE, "--all", "--name", name, "--", "sleep 120")
    wait_running_on_all(jarvis, name)
    terminal.type(b"\x03")
    terminal.wait_for("Cancel command jarvis/ctrl-c-cancel")
    terminal.type(b"y\n")
    status, output = terminal.finish()
    assert status == 130, output
    assert "command jarvis/ctrl-c-cancel deleted" in output
    wait_until(lambda: get_command(jarvis, name) is None, 60, f"Command {name} to be gone")


def test_a_second_ctrl_c_leaves_the_command_running(jarvis):
    name = "ctrl-c-leave"
    terminal = Terminal(jarvis, "run", "-n", NAMESPACE, "--all", "--name", name, "--", "sleep 120")
    wait_running_on_all(jarvis, name)
    terminal.type(b"\x03")
    terminal.wait_for("Ctrl-C again leaves it running")
    terminal.type(b"\x03")
    status, output = terminal.finish()
    assert status == 130, output
    assert "command jarvis/ctrl-c-leave left running" in output
    obj = get_command(jarvis, name)
    assert obj is not None and obj["status"]["running"] == 3
    jarvis.kubectl("delete", "command", name, "-n", NAMESPACE, "--wait=false")


# ---- get, describe, logs, rerun

def test_rerun_failed_only_targets_exactly_the_failed_nodes(jarvis):
    name = "partly-failing"
    first = plugin(jarvis, "run", "-n", NAMESPACE, "--all", "--name", name, "--",
                   f'[ "$({NODE_NAME})" = kind-control-plane ] || exit 4')
    assert first.returncode == 1, first.stderr

    rerun = plugin(jarvis, "rerun", "-n", NAMESPACE, name, "--failed-only", "-o", "json")
    assert rerun.returncode == 1, rerun.stderr
    obj = json.loads(rerun.stdout)
    assert obj["metadata"]["labels"]["jarvis.io/rerun-of"] == name
    assert obj["metadata"]["name"].startswith(f"{name}-rerun-")
    assert sorted(n["name"] for n in obj["status"]["nodes"]) == ["kind-worker", "kind-worker2"]
    terms = obj["spec"]["selector"]["nodeSelectorTerms"]
    assert sorted(t["matchFields"][0]["values"][0] for t in terms) == ["kind-worker", "kind-worker2"]
    assert all(t["matchFields"][0]["key"] == "metadata.name" and t["matchFields"][0]["operator"] == "In"
               for t in terms)

    everything = plugin(jarvis, "rerun", "-n", NAMESPACE, name, "-o", "json")
    assert sorted(n["name"] for n in json.loads(everything.stdout)["status"]["nodes"]) == ALL_NODES


def test_get_describe_and_logs_show_an_existing_command(jarvis):
    name = "to-show"
    assert plugin(jarvis, "run", "-n", NAMESPACE, "--all", "--name", name, "--",
                  f'{NODE_NAME}; echo second line').returncode == 0
    got = plugin(jarvis, "get", "-n", NAMESPACE, name)
    assert got.returncode == 0, got.stderr
    assert groups_of(got.stdout)["kind-worker (1)"] == "kind-worker\nsecond line"
    described = plugin(jarvis, "describe", "-n", NAMESPACE, name)
    assert described.returncode == 0, described.stderr
    assert "Phase:      Succeeded" in described.stdout and "3 targeted, 3 succeeded" in described.stdout
    logs = plugin(jarvis, "logs", "-n", NAMESPACE, name, "--node", "kind-worker2")
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout == "kind-worker2\nsecond line\n"
    missing = plugin(jarvis, "get", "-n", NAMESPACE, "no-such-command")
    assert missing.returncode == 1
    assert "command jarvis/no-such-command not found" in missing.stderr


def test_every_subcommand_has_help_with_examples_and_completion_scripts_exist(jarvis):
    for sub in ("run", "get", "describe", "logs", "rerun", "completion"):
        result = plugin(jarvis, sub, "--help")
        assert result.returncode == 0, result.stderr
        assert "Example" in result.stdout, sub
    bash = plugin(jarvis, "completion", "bash")
    assert "complete -F _kubectl_jarvis kubectl-jarvis" in bash.stdout
    assert "compdef" in plugin(jarvis, "completion", "zsh").stdout
    candidates = plugin(jarvis, "__complete", "run", "--max")
    assert candidates.stdout.split() == ["--max-concurrency", "--max-failures", ":4"]
    # The completion script works in bash: it asks the plugin for candidates.
    script = bash.stdout + 'COMP_WORDS=(kubectl-jarvis re); COMP_CWORD=1; _kubectl_jarvis; echo "${COMPREPLY[@]}"\n'
    ran = subprocess.run(["bash", "-c", script], env=jarvis.plugin_env, capture_output=True, text=True, timeout=30)
    assert ran.stdout.strip() == "rerun", ran.stderr


# ---- credentials and RBAC

def exec_kubeconfig(cluster, path, plugin_path, counter):
    admin = yaml.safe_load(cluster.admin_kubeconfig.read_text())
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "exec",
        "clusters": admin["clusters"],
        "contexts": [{"name": "exec", "context": {"cluster": admin["clusters"][0]["name"], "user": "exec-user",
                                                   "namespace": NAMESPACE}}],
        "users": [{"name": "exec-user", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin_path),
            "args": [str(counter)], "env": [{"name": "JARVIS_TEST_GREETING", "value": "hello"}],
            "interactiveMode": "Never"}}}],
    }
    path.write_text(yaml.safe_dump(config))
    return path


def write_credential_plugin(directory, tokens):
    """A credential plugin that appends a line to the counter file (its first argument) on every call and
    prints an ExecCredential with tokens[call number] (the last one once they run out), valid for an hour."""
    expires = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    script = directory / "credential-plugin"
    script.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        [ "$JARVIS_TEST_GREETING" = hello ] || {{ echo "env not passed" >&2; exit 1; }}
        echo call >> "$1"
        n=$(wc -l < "$1")
        set -- {' '.join(tokens)}
        while [ "$n" -gt 1 ] && [ $# -gt 1 ]; do shift; n=$((n - 1)); done
        printf '{{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",'
        printf '"status":{{"token":"%s","expirationTimestamp":"{expires}"}}}}' "$1"
        """))
    script.chmod(0o755)
    return script


@pytest.fixture(scope="module")
def editor_token(jarvis):
    """A ServiceAccount token bound to jarvis-command-editor in the jarvis namespace."""
    jarvis.kubectl("create", "serviceaccount", "plugin-user", "-n", NAMESPACE)
    jarvis.kubectl("create", "rolebinding", "plugin-user-editor", "--clusterrole=jarvis-command-editor",
                   f"--serviceaccount={NAMESPACE}:plugin-user", "-n", NAMESPACE)
    return jarvis.kubectl("create", "token", "plugin-user", "-n", NAMESPACE, "--duration=1h").stdout.strip()


def test_an_exec_credential_plugin_authenticates_and_runs_once_per_token_lifetime(jarvis, editor_token, tmp_path):
    counter = tmp_path / "calls"
    kubeconfig = exec_kubeconfig(jarvis, tmp_path / "exec.kubeconfig",
                                 write_credential_plugin(tmp_path, [editor_token]), counter)
    result = plugin(jarvis, "run", "--all", "--", "true", kubeconfig=kubeconfig)
    assert result.returncode == 0, result.stderr
    # The run made several requests (create, list, watch) with one token: the plugin ran once.
    assert counter.read_text().splitlines() == ["call"]


def test_a_token_refused_with_401_is_fetched_again_once(jarvis, editor_token, tmp_path):
    counter = tmp_path / "calls"
    kubeconfig = exec_kubeconfig(jarvis, tmp_path / "exec.kubeconfig",
                                 write_credential_plugin(tmp_path, ["revoked-token", editor_token]), counter)
    result = plugin(jarvis, "get", "no-such-command", kubeconfig=kubeconfig)
    assert "not found" in result.stderr  # authenticated: the API server looked for it
    assert counter.read_text().splitlines() == ["call", "call"]


def test_a_viewer_is_told_which_role_creating_commands_needs(jarvis):
    jarvis.kubectl("create", "rolebinding", "plugin-viewer", "--clusterrole=jarvis-command-viewer", "--user=vic",
                   "-n", NAMESPACE)
    viewer = jarvis.user_kubeconfig("vic")
    refused = plugin(jarvis, "run", "-n", NAMESPACE, "--all", "--", "id", kubeconfig=viewer)
    assert refused.returncode == 1
    assert "forbidden: create commands in namespace jarvis" in refused.stderr
    assert "ClusterRole jarvis-command-editor" in refused.stderr
    # What the viewer may do works.
    jarvis.kubectl("apply", "-f", "-", input={"apiVersion": "jarvis.io/v1", "kind": "Command",
                                              "metadata": {"name": "for-viewer", "namespace": NAMESPACE},
                                              "spec": {"command": "true"}})
    wait_until(lambda: (get_command(jarvis, "for-viewer") or {}).get("status", {}).get("phase") == "Succeeded", 60,
               "Command for-viewer to succeed")
    shown = plugin(jarvis, "get", "-n", NAMESPACE, "for-viewer", kubeconfig=viewer)
    assert shown.returncode == 0, shown.stderr


def test_the_controller_authenticates_with_an_exec_plugin_too(jarvis, tmp_path):
    """Replaces the module's controller (for the tests after it too) by one whose kubeconfig has an exec
    plugin printing the controller's token."""
    counter = tmp_path / "calls"
    kubeconfig = exec_kubeconfig(jarvis, tmp_path / "controller.kubeconfig",
                                 write_credential_plugin(tmp_path, [jarvis.controller_token]), counter)
    jarvis.plugin_controller.stop()
    jarvis.plugin_controller = controller = jarvis.start_controller(kubeconfig=kubeconfig)
    wait_until(lambda: '"msg":"caches synced' in controller.log_text(), 60, "the exec-authenticated controller to sync")
    result = plugin(jarvis, "run", "-n", NAMESPACE, "--all", "--", "true")
    assert result.returncode == 0, result.stderr + controller.log_text()[-3000:]
    # Lists, watches, status writes and events, all with the one token the plugin printed.
    assert counter.read_text().splitlines() == ["call"]


def test_rollout_flags_reach_the_spec_and_the_window_and_budget_hold(jarvis):
    """--max-concurrency, --max-failures and --ttl land in the Command's spec (issue 14's fields), and the
    controller honours them: one node at a time, no failure allowed, so the first failure stops the rollout."""
    result = plugin(jarvis, "run", "-n", NAMESPACE, "--all", "--max-concurrency", "1", "--max-failures", "0",
                    "--ttl", "1h", "-o", "json", "--", "true")
    assert result.returncode == 0, result.stderr
    obj = json.loads(result.stdout)
    assert obj["spec"]["maxConcurrency"] == 1 and obj["spec"]["maxFailures"] == 0, obj["spec"]
    assert obj["spec"]["ttlSecondsAfterFinished"] == 3600, obj["spec"]
    assert obj["status"]["succeeded"] == 3, obj["status"]

    failing = plugin(jarvis, "run", "-n", NAMESPACE, "--all", "--max-concurrency", "1", "--max-failures", "0",
                     "-o", "json", "--", "exit 3")
    assert failing.returncode == 1, failing.stderr
    status = json.loads(failing.stdout)["status"]
    assert status["failed"] == 1 and status["skipped"] == 2, status
    assert any(c["type"] == "FailureBudgetExceeded" and c["status"] == "True" for c in status["conditions"]), status

    percent = plugin(jarvis, "run", "-n", NAMESPACE, "--all", "--max-concurrency", "50%", "-o", "json", "--", "true")
    assert percent.returncode == 0, percent.stderr
    assert json.loads(percent.stdout)["spec"]["maxConcurrency"] == "50%"
