"""manifests/ against the real kube-apiserver: it installs with `kubectl apply -k`, the Command CRD explains
itself, defaults and rejects invalid Commands naming the field, the samples apply, `kubectl get commands`
shows the printer columns, and the RBAC gives the controller's identity exactly what it needs and the user
roles exactly what they promise.

    /usr/bin/python3 -m pytest -q test/e2e/test_manifests.py
"""
import json
import re

import pytest

from deadline import wait_until
from jarvis_cluster import REPO_ROOT

MANIFESTS = REPO_ROOT / "manifests"
SAMPLES = MANIFESTS / "samples"
TEST_NAMESPACE = "manifests-test"

INSTALLED_OBJECTS = [
    "namespace/jarvis",
    "customresourcedefinition.apiextensions.k8s.io/commands.jarvis.io",
    "serviceaccount/jarvis-controller",
    "serviceaccount/jarvis-agent",
    "clusterrole.rbac.authorization.k8s.io/jarvis-controller",
    "clusterrolebinding.rbac.authorization.k8s.io/jarvis-controller",
    "role.rbac.authorization.k8s.io/jarvis-controller",
    "rolebinding.rbac.authorization.k8s.io/jarvis-controller",
    "clusterrole.rbac.authorization.k8s.io/jarvis-command-editor",
    "clusterrole.rbac.authorization.k8s.io/jarvis-command-viewer",
    "deployment.apps/jarvis-controller",
    "daemonset.apps/jarvis-agent",
    "service/jarvis-agent",
]


def command(name, spec, namespace=TEST_NAMESPACE):
    return {"apiVersion": "jarvis.io/v1", "kind": "Command", "metadata": {"name": name, "namespace": namespace},
            "spec": spec}


def selector(*terms):
    return {"nodeSelectorTerms": list(terms)}


def expression(key, operator, values=None):
    requirement = {"key": key, "operator": operator}
    if values is not None:
        requirement["values"] = values
    return requirement


def get_json(cluster, *args):
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


@pytest.fixture(scope="module")
def installed(cluster):
    """The cluster with manifests/ applied, the CRD established and a namespace for this module's objects."""
    cluster.apply_manifests(MANIFESTS)
    cluster.kubectl("wait", "--for=condition=Established", "crd/commands.jarvis.io", "--timeout=60s")
    cluster.kubectl("create", "namespace", TEST_NAMESPACE)
    # Discovery and the published OpenAPI lag the Established condition by a moment.
    wait_until(lambda: cluster.kubectl("get", "commands", "-n", TEST_NAMESPACE, check=False).returncode == 0,
               60, "the Command resource to be served")
    return cluster


# ---- installing

def test_server_dry_run_accepts_every_object(cluster):
    result = cluster.kubectl("apply", "-k", MANIFESTS, "--dry-run=server")
    for obj in INSTALLED_OBJECTS:
        assert re.search(rf"^{re.escape(obj)} \w+ \(server dry run\)$", result.stdout, re.M), result.stdout


def test_kustomization_lists_every_manifest_and_no_sample():
    listed = set(re.findall(r"^  - (\S+)$", (MANIFESTS / "kustomization.yaml").read_text(), re.M))
    on_disk = {p.name for p in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk
    assert not any(name.startswith("samples") for name in listed)


def test_apply_installs_every_object(installed):
    for obj in INSTALLED_OBJECTS:
        kind, _, name = obj.partition("/")
        namespace = [] if kind.startswith(("namespace", "customresource", "clusterrole")) else ["-n", "jarvis"]
        installed.kubectl("get", kind, name, *namespace)


def test_apply_is_idempotent(installed):
    result = installed.apply_manifests(MANIFESTS)
    changed = [line for line in result.stdout.splitlines() if not line.endswith(" unchanged")]
    assert changed == []


# ---- the Command CRD

def test_crd_names(installed):
    names = get_json(installed, "crd", "commands.jarvis.io")["spec"]["names"]
    assert names == {"kind": "Command", "listKind": "CommandList", "plural": "commands", "singular": "command",
                     "shortNames": ["cmd"], "categories": ["jarvis"]}
    installed.kubectl("get", "cmd", "-n", TEST_NAMESPACE)
    installed.kubectl("get", "jarvis", "-n", TEST_NAMESPACE)


def test_every_schema_field_has_a_description(installed):
    version = get_json(installed, "crd", "commands.jarvis.io")["spec"]["versions"][0]
    assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
    assert version["subresources"] == {"status": {}}
    missing = []

    def walk(schema, path):
        if path != ".metadata" and not schema.get("description", "").strip():
            missing.append(path or "<root>")
        for name, child in schema.get("properties", {}).items():
            walk(child, f"{path}.{name}")
        if "items" in schema:
            walk(schema["items"], f"{path}[]")
    walk(version["schema"]["openAPIV3Schema"], "")
    assert missing == []


@pytest.mark.parametrize("field, phrases", [
    ("command.spec", ["command\t<string> -required-", "/bin/sh -c", "selector\t<Object>", "ORed",
                      "timeoutSeconds\t<integer>", "defaults to 300"]),
    ("command.spec.selector.nodeSelectorTerms.matchFields.key", ["Only metadata.name is supported"]),
    ("command.spec.selector.nodeSelectorTerms.matchExpressions.operator",
     ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]),
    ("command.status", ["phase", "observedGeneration", "outputBytesPerNode", "nodes\t<[]Object>"]),
    ("command.status.nodes.reason", ["AgentNotFound", "TimedOut", "AgentTLSFailed"]),
])
def test_kubectl_explain_describes_the_fields(installed, field, phrases):
    def explained():
        result = installed.kubectl("explain", field, check=False)
        return result.stdout if result.returncode == 0 else None
    text = wait_until(explained, 60, f"kubectl explain {field}")
    for phrase in phrases:
        assert phrase in text, text


def test_timeout_defaults_to_300_seconds(installed):
    created = installed.kubectl("create", "--dry-run=server", "-o", "json", "-f", "-",
                                input=command("defaulted", {"command": "true"}))
    assert json.loads(created.stdout)["spec"] == {"command": "true", "timeoutSeconds": 300}


@pytest.mark.parametrize("spec", [
    {"command": "uname -a"},
    {"command": "x" * 65536, "timeoutSeconds": 1},
    {"command": "uptime", "timeoutSeconds": 86400, "selector": selector()},
    {"command": "uptime", "selector": selector(
        {"matchExpressions": [expression("kubernetes.io/hostname", "In", ["kind-worker", "kind-worker2"]),
                              expression("example.com/cores", "Gt", ["4"]),
                              expression("example.com/cores", "Lt", ["128"])]},
        {"matchExpressions": [expression("node-role.kubernetes.io/control-plane", "DoesNotExist")],
         "matchFields": [expression("metadata.name", "NotIn", ["kind-worker"])]},
        {"matchExpressions": [expression("kubernetes.io/os", "Exists")]},
        {"matchFields": [expression("metadata.name", "In", ["kind-control-plane"])]})},
], ids=["no-selector", "longest-command", "empty-term-list", "every-operator"])
def test_valid_commands_are_accepted(installed, spec):
    installed.kubectl("create", "--dry-run=server", "-f", "-", input=command("valid", spec))


@pytest.mark.parametrize("spec, field, phrase", [
    ({"timeoutSeconds": 5}, "spec.command", "Required value"),
    ({"command": ""}, "spec.command", "at least 1 chars long"),
    ({"command": "x" * 65537}, "spec.command", "Too long"),
    ({"command": "true", "timeoutSeconds": 0}, "spec.timeoutSeconds", "greater than or equal to 1"),
    ({"command": "true", "timeoutSeconds": 100000}, "spec.timeoutSeconds", "less than or equal to 86400"),
    ({"command": "true", "selector": selector({"matchExpressions": [expression("a", "Like", ["b"])]})},
     "spec.selector.nodeSelectorTerms[0].matchExpressions[0].operator", 'Unsupported value: "Like"'),
    ({"command": "true", "selector": selector({"matchExpressions": [expression("a", "In")]})},
     "spec.selector.nodeSelectorTerms[0].matchExpressions[0].values", "In and NotIn need at least one value"),
    ({"command": "true", "selector": selector({"matchExpressions": [expression("a", "NotIn", [])]})},
     "spec.selector.nodeSelectorTerms[0].matchExpressions[0].values", "In and NotIn need at least one value"),
    ({"command": "true", "selector": selector({"matchExpressions": [expression("a", "Exists", ["b"])]})},
     "spec.selector.nodeSelectorTerms[0].matchExpressions[0].values", "Exists and DoesNotExist take no values"),
    ({"command": "true", "selector": selector({}, {"matchExpressions": [expression("a", "Gt", ["four"])]})},
     "spec.selector.nodeSelectorTerms[1].matchExpressions[0].values", "Gt and Lt need exactly one value"),
    ({"command": "true", "selector": selector({"matchExpressions": [expression("a", "Lt", ["1", "2"])]})},
     "spec.selector.nodeSelectorTerms[0].matchExpressions[0].values", "Gt and Lt need exactly one value"),
    ({"command": "true", "selector": selector({"matchExpressions": [expression("no spaces", "Exists")]})},
     "spec.selector.nodeSelectorTerms[0].matchExpressions[0].key", "should match"),
    ({"command": "true", "selector": selector({"matchFields": [expression("metadata.labels", "In", ["a"])]})},
     "spec.selector.nodeSelectorTerms[0].matchFields[0].key", 'supported values: "metadata.name"'),
    ({"command": "true", "selector": selector({"matchFields": [expression("metadata.name", "Exists")]})},
     "spec.selector.nodeSelectorTerms[0].matchFields[0].operator", 'supported values: "In", "NotIn"'),
    ({"command": "true", "selector": selector({"matchFields": [expression("metadata.name", "In", ["a", "b"])]})},
     "spec.selector.nodeSelectorTerms[0].matchFields[0].values", "must have at most 1 item"),
    ({"command": "true", "selector": selector({})},
     "spec.selector.nodeSelectorTerms[0]", "needs at least one requirement"),
    ({"command": "true", "selector": {}}, "spec.selector.nodeSelectorTerms", "Required value"),
    ({"command": "true", "selectr": {}}, "spec.selectr", "unknown field"),
], ids=["missing-command", "empty-command", "command-too-long", "timeout-0", "timeout-100000",
        "unknown-operator", "in-without-values", "notin-empty-values", "exists-with-values", "gt-not-integer",
        "lt-two-values", "bad-label-key", "match-field-not-name", "match-field-exists", "match-field-two-names",
        "empty-term", "selector-without-terms", "misspelt-field"])
def test_invalid_commands_are_rejected_naming_the_field(installed, spec, field, phrase):
    result = installed.kubectl("create", "-f", "-", input=command("invalid", spec), check=False)
    assert result.returncode != 0
    assert field in result.stderr and phrase in result.stderr, result.stderr
    assert installed.kubectl("get", "command", "invalid", "-n", TEST_NAMESPACE, check=False).returncode != 0


def test_status_subresource_validates_the_status(installed):
    installed.kubectl("create", "-f", "-", input=command("status-check", {"command": "true"}))
    bad_phase = installed.kubectl("patch", "command", "status-check", "-n", TEST_NAMESPACE, "--subresource=status",
                                  "--type=merge", "-p", '{"status": {"phase": "Done"}}', check=False)
    assert bad_phase.returncode != 0 and "status.phase" in bad_phase.stderr, bad_phase.stderr
    nameless_node = installed.kubectl("patch", "command", "status-check", "-n", TEST_NAMESPACE,
                                      "--subresource=status", "--type=merge",
                                      "-p", '{"status": {"nodes": [{"phase": "Running"}]}}', check=False)
    assert nameless_node.returncode != 0 and "status.nodes[0].name" in nameless_node.stderr, nameless_node.stderr


def test_get_commands_shows_the_printer_columns(installed):
    installed.kubectl("create", "-f", "-", input=command("columns", {"command": "uname -r"}))
    status = {"phase": "Failed", "observedGeneration": 1, "targeted": 3, "succeeded": 2, "failed": 1,
              "running": 0, "outputBytesPerNode": 4096,
              "nodes": [{"name": "kind-worker", "phase": "Failed", "reason": "Exited", "exitCode": 1,
                         "output": "", "outputBytes": 0, "truncated": False}]}
    installed.kubectl("patch", "command", "columns", "-n", TEST_NAMESPACE, "--subresource=status", "--type=merge",
                      "-p", json.dumps({"status": status}))
    lines = installed.kubectl("get", "commands", "columns", "-n", TEST_NAMESPACE).stdout.splitlines()
    assert lines[0].split() == ["NAME", "COMMAND", "PHASE", "TARGETED", "SUCCEEDED", "RUNNING", "FAILED", "AGE"]
    assert re.match(r"^columns\s+uname -r\s+Failed\s+3\s+2\s+0\s+1\s+\d+s$", lines[1]), lines
    wide = installed.kubectl("get", "commands", "columns", "-n", TEST_NAMESPACE, "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "COMMAND", "PHASE", "TARGETED", "SUCCEEDED", "RUNNING", "PENDING", "FAILED",
                               "SKIPPED", "AGE"]


def test_samples_apply(installed):
    installed.kubectl("apply", "-f", SAMPLES)
    try:
        names = installed.kubectl("get", "commands", "-n", "jarvis", "-o", "name").stdout.split()
        assert sorted(names) == sorted(f"command.jarvis.io/{n}" for n in [
            "command-sample", "sample-command", "disk-usage", "uptime-workers", "timeout-example"])
        seed_sample = get_json(installed, "command", "command-sample", "-n", "jarvis")["spec"]
        assert seed_sample["command"] == "ps -eo pid,comm,%cpu,%mem --sort=-%cpu | head -n 10"
        one_node = get_json(installed, "command", "sample-command", "-n", "jarvis")["spec"]
        assert one_node["selector"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["kind-worker"]
    finally:
        installed.kubectl("delete", "-f", SAMPLES, "--wait=false")


# ---- the workloads

def test_agent_daemonset_runs_on_every_node_with_the_host_root(installed):
    daemonset = get_json(installed, "daemonset", "jarvis-agent", "-n", "jarvis")
    pod = daemonset["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert (pod["hostNetwork"], pod["hostPID"], pod["dnsPolicy"]) == (True, True, "ClusterFirstWithHostNet")
    assert pod["automountServiceAccountToken"] is False and pod["serviceAccountName"] == "jarvis-agent"
    assert container["args"] == ["--role=agent", "--listen=0.0.0.0:50051", "--host-root=/host",
                                 "--tls-dir=/var/run/jarvis/tls", "--state-dir=/var/lib/jarvis",
                                 "--health-probe-bind-address=:50052"]
    assert {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}} \
        in container["env"]
    volumes = {v["name"]: v["hostPath"]["path"] if "hostPath" in v else f"secret {v['secret']['secretName']}"
               for v in pod["volumes"]}
    assert {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]} == \
        {"/host": "/", "/var/run/jarvis/tls": "secret jarvis-agent-tls", "/var/lib/jarvis": "/var/lib/jarvis"}
    # The journal is on the node, not in the pod: it outlives agent restarts and upgrades.
    assert next(v for v in pod["volumes"] if v["name"] == "state")["hostPath"]["type"] == "DirectoryOrCreate"
    # The agents get their own certificate only: never the CA key, which stays in Secret jarvis-ca.
    tls_mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/var/run/jarvis/tls")
    assert tls_mount["readOnly"] is True
    assert not any(v.get("secret", {}).get("secretName") == "jarvis-ca" for v in pod["volumes"])
    assert container["ports"] == [{"name": "grpc", "containerPort": 50051, "protocol": "TCP"},
                                  {"name": "metrics", "containerPort": 50052, "protocol": "TCP"}]
    # Probes on the agent's HTTP port: ready once it serves gRPC with usable TLS files, live while its loop runs.
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["port"] == container["livenessProbe"]["httpGet"]["port"] == "metrics"
    assert container["resources"]["limits"] and container["resources"]["requests"]
    account = get_json(installed, "serviceaccount", "jarvis-agent", "-n", "jarvis")
    assert account["automountServiceAccountToken"] is False
    service = get_json(installed, "service", "jarvis-agent", "-n", "jarvis")["spec"]
    assert service["clusterIP"] == "None"
    assert service["selector"].items() <= daemonset["spec"]["template"]["metadata"]["labels"].items()
    assert [(p["name"], p["port"]) for p in service["ports"]] == [("grpc", 50051)]


def test_controller_deployment_is_locked_down(installed):
    deployment = get_json(installed, "deployment", "jarvis-controller", "-n", "jarvis")
    assert deployment["spec"]["replicas"] == 2  # a leader and a warm standby (--leader-elect)
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["serviceAccountName"] == "jarvis-controller"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["args"] == ["--role=controller", "--tls-dir=/var/run/jarvis/tls", "--leader-elect",
                                 "--health-probe-bind-address=:8081", "--metrics-bind-address=:8080"]
    assert container["env"] == [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                                                "fieldPath": "metadata.name"}}}]
    assert [(p["name"], p["containerPort"]) for p in container["ports"]] == [("metrics", 8080), ("health", 8081)]
    assert (container["livenessProbe"]["httpGet"]["path"], container["livenessProbe"]["httpGet"]["port"]) == \
        ("/healthz", "health")
    assert (container["readinessProbe"]["httpGet"]["path"], container["readinessProbe"]["httpGet"]["port"]) == \
        ("/readyz", "health")
    tls_volume = next(v for v in pod["volumes"] if v["name"] == "tls")
    assert tls_volume["emptyDir"]["medium"] == "Memory"
    assert container["volumeMounts"] == [{"name": "tls", "mountPath": "/var/run/jarvis/tls"}]
    assert (container["image"], container["imagePullPolicy"]) == ("jarvis:dev", "IfNotPresent")
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"]["limits"] and container["resources"]["requests"]


def test_the_controllers_metrics_have_a_service(installed):
    service = get_json(installed, "service", "jarvis-controller-metrics", "-n", "jarvis")["spec"]
    labels = get_json(installed, "deployment", "jarvis-controller", "-n", "jarvis")["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= labels.items()
    assert [(p["name"], p["port"], p["targetPort"]) for p in service["ports"]] == [("metrics", 8080, "metrics")]


# ---- RBAC

def rules_of(cluster, kind, name, namespace=None):
    args = [kind, name] + (["-n", namespace] if namespace else [])
    return get_json(cluster, *args)["rules"]


@pytest.mark.parametrize("kind, name, namespace", [
    ("clusterrole", "jarvis-controller", None), ("role", "jarvis-controller", "jarvis"),
    ("clusterrole", "jarvis-command-editor", None), ("clusterrole", "jarvis-command-viewer", None)])
def test_no_role_uses_a_wildcard(installed, kind, name, namespace):
    for rule in rules_of(installed, kind, name, namespace):
        for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
            assert not any("*" in item for item in rule.get(field, [])), rule


def can_i(cluster, kubeconfig, *question):
    result = cluster.kubectl("auth", "can-i", *question, kubeconfig=kubeconfig, check=False)
    assert result.stdout.strip() in ("yes", "no"), result.stderr
    return result.stdout.strip() == "yes"


CONTROLLER_MAY = [
    ("list", "commands.jarvis.io", "--all-namespaces"), ("watch", "commands.jarvis.io", "--all-namespaces"),
    ("get", "commands.jarvis.io", "-n", "team-a"), ("update", "commands.jarvis.io", "-n", "team-a"),
    ("patch", "commands.jarvis.io", "-n", "team-a"), ("delete", "commands.jarvis.io", "-n", "team-a"),
    ("get", "commands.jarvis.io", "--subresource=status", "-n", "team-a"),
    ("update", "commands.jarvis.io", "--subresource=status", "-n", "team-a"),
    ("patch", "commands.jarvis.io", "--subresource=status", "-n", "team-a"),
    ("update", "commands.jarvis.io", "--subresource=finalizers", "-n", "team-a"),
    ("list", "nodes"), ("watch", "nodes"), ("get", "nodes"),
    ("create", "events", "-n", "team-a"), ("patch", "events", "-n", "team-a"),
    ("list", "endpointslices.discovery.k8s.io", "-n", "jarvis"),
    ("watch", "endpointslices.discovery.k8s.io", "-n", "jarvis"),
    ("get", "secrets/jarvis-ca", "-n", "jarvis"), ("update", "secrets/jarvis-ca", "-n", "jarvis"),
    ("get", "secrets/jarvis-agent-tls", "-n", "jarvis"), ("update", "secrets/jarvis-agent-tls", "-n", "jarvis"),
    ("create", "secrets", "-n", "jarvis"),
    ("get", "leases.coordination.k8s.io/jarvis-controller", "-n", "jarvis"),
    ("update", "leases.coordination.k8s.io/jarvis-controller", "-n", "jarvis"),
    ("create", "leases.coordination.k8s.io", "-n", "jarvis"),
]
CONTROLLER_MAY_NOT = [
    ("create", "commands.jarvis.io", "-n", "team-a"),
    ("delete", "commands.jarvis.io", "--subresource=status", "-n", "team-a"),
    ("patch", "commands.jarvis.io", "--subresource=finalizers", "-n", "team-a"),
    ("delete", "nodes"), ("update", "nodes"), ("patch", "nodes"),
    ("list", "secrets", "-n", "jarvis"), ("watch", "secrets", "-n", "jarvis"),
    ("get", "secrets", "-n", "jarvis"), ("get", "secrets/someone-elses", "-n", "jarvis"),
    ("update", "secrets/someone-elses", "-n", "jarvis"), ("create", "secrets", "-n", "default"),
    ("delete", "secrets", "-n", "jarvis"), ("get", "secrets", "-n", "default"),
    ("list", "secrets", "--all-namespaces"),
    ("list", "endpointslices.discovery.k8s.io", "-n", "default"),
    ("create", "pods", "-n", "jarvis"), ("create", "pods/exec", "-n", "jarvis"),
    ("delete", "events", "-n", "team-a"), ("create", "events.events.k8s.io", "-n", "team-a"),
    ("update", "customresourcedefinitions.apiextensions.k8s.io"),
    ("bind", "clusterroles.rbac.authorization.k8s.io"), ("escalate", "clusterroles.rbac.authorization.k8s.io"),
    ("impersonate", "users"), ("*", "*"),
    ("get", "leases.coordination.k8s.io/someone-elses", "-n", "jarvis"),
    ("update", "leases.coordination.k8s.io/someone-elses", "-n", "jarvis"),
    ("list", "leases.coordination.k8s.io", "-n", "jarvis"), ("watch", "leases.coordination.k8s.io", "-n", "jarvis"),
    ("delete", "leases.coordination.k8s.io/jarvis-controller", "-n", "jarvis"),
    ("create", "leases.coordination.k8s.io", "-n", "default"),
    ("update", "leases.coordination.k8s.io/jarvis-controller", "-n", "default"),
]


@pytest.mark.parametrize("question", CONTROLLER_MAY, ids=" ".join)
def test_controller_identity_may(installed, question):
    assert can_i(installed, installed.controller_token_kubeconfig, *question)


@pytest.mark.parametrize("question", CONTROLLER_MAY_NOT, ids=" ".join)
def test_controller_identity_may_not(installed, question):
    assert not can_i(installed, installed.controller_token_kubeconfig, *question)


def bind(cluster, role, user, namespace):
    cluster.kubectl("create", "rolebinding", f"{user}-{role}", f"--clusterrole={role}", f"--user={user}",
                    "-n", namespace)


def test_user_roles_say_that_creating_a_command_is_root(installed):
    for role in ("jarvis-command-editor", "jarvis-command-viewer"):
        metadata = get_json(installed, "clusterrole", role)["metadata"]
        assert "jarvis.io/description" in metadata["annotations"]
        assert not any(label.startswith("rbac.authorization.k8s.io/aggregate-to") for label in metadata["labels"])
    assert "root" in get_json(installed, "clusterrole", "jarvis-command-editor")["metadata"]["annotations"][
        "jarvis.io/description"]


def test_viewer_reads_but_cannot_create_commands(installed):
    bind(installed, "jarvis-command-viewer", "vera", TEST_NAMESPACE)
    kubeconfig = installed.user_kubeconfig("vera")
    installed.kubectl("get", "commands", "-n", TEST_NAMESPACE, kubeconfig=kubeconfig)
    result = installed.kubectl("create", "-f", "-", input=command("by-viewer", {"command": "id"}),
                               kubeconfig=kubeconfig, check=False)
    assert result.returncode != 0 and "Forbidden" in result.stderr, result.stderr
    assert can_i(installed, kubeconfig, "watch", "commands.jarvis.io", "--subresource=status", "-n", TEST_NAMESPACE)
    assert not can_i(installed, kubeconfig, "delete", "commands.jarvis.io", "-n", TEST_NAMESPACE)
    assert not can_i(installed, kubeconfig, "patch", "commands.jarvis.io", "--subresource=status",
                     "-n", TEST_NAMESPACE)
    assert not can_i(installed, kubeconfig, "get", "commands.jarvis.io", "-n", "default")


def test_editor_creates_commands_only_where_bound(installed):
    bind(installed, "jarvis-command-editor", "eddie", TEST_NAMESPACE)
    kubeconfig = installed.user_kubeconfig("eddie")
    installed.kubectl("create", "-f", "-", input=command("by-editor", {"command": "id"}), kubeconfig=kubeconfig)
    installed.kubectl("delete", "command", "by-editor", "-n", TEST_NAMESPACE, "--wait=false", kubeconfig=kubeconfig)
    elsewhere = installed.kubectl("create", "-f", "-", input=command("by-editor", {"command": "id"}, "default"),
                                  kubeconfig=kubeconfig, check=False)
    assert elsewhere.returncode != 0 and "Forbidden" in elsewhere.stderr, elsewhere.stderr
    assert can_i(installed, kubeconfig, "get", "commands.jarvis.io", "--subresource=status", "-n", TEST_NAMESPACE)
    assert not can_i(installed, kubeconfig, "update", "commands.jarvis.io", "--subresource=status",
                     "-n", TEST_NAMESPACE)

