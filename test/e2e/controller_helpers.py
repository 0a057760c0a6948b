"""Helpers of the controller's end-to-end tests: Commands as kubectl sees them, and waits on conditions."""
import json
import re
import subprocess

from deadline import wait_until
from jarvis_cluster import REPO_ROOT

NAMESPACE = "jarvis"
MANIFESTS = REPO_ROOT / "manifests"
SAMPLES = MANIFESTS / "samples"


def command_object(name, command, selector=None, timeout_seconds=None, namespace=NAMESPACE, labels=None):
    spec = {"command": command}
    if selector is not None:
        spec["selector"] = selector
    if timeout_seconds is not None:
        spec["timeoutSeconds"] = timeout_seconds
    metadata = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "jarvis.io/v1", "kind": "Command", "metadata": metadata, "spec": spec}


def expressions(*exprs):
    """A NodeSelector with one term ANDing the given matchExpressions."""
    return {"nodeSelectorTerms": [{"matchExpressions": list(exprs)}]}


def apply(cluster, obj):
    cluster.kubectl("apply", "-f", "-", input=obj)


def get_command(cluster, name, namespace=NAMESPACE):
    result = cluster.kubectl("get", "command", name, "-n", namespace, "-o", "json", check=False)
    if result.returncode != 0:
        if "NotFound" in result.stderr:
            return None
        raise AssertionError(result.stderr)
    return json.loads(result.stdout)


def wait_for_phase(cluster, name, phases=("Succeeded", "Failed"), timeout=60, namespace=NAMESPACE, generation=None):
    """The Command once its status.phase is one of phases (for its current or the given generation)."""
    def reached():
        obj = get_command(cluster, name, namespace)
        if not obj:
            return None
        status = obj.get("status", {})
        wanted_generation = generation or obj["metadata"]["generation"]
        if status.get("observedGeneration") == wanted_generation and status.get("phase") in phases:
            return obj
        return None
    return wait_until(reached, timeout, f"Command {namespace}/{name} to reach {'/'.join(phases)}", interval=0.2)


def node_results(obj):
    return {n["name"]: n for n in obj["status"].get("nodes", [])}


# Reasons of the one summary event a finished run gets (README "Events"), besides its per-node events.
SUMMARY_REASONS = ("Completed", "Failed", "FailureBudgetExceeded")


def events_for(cluster, name, namespace=NAMESPACE, summaries=False):
    """The core/v1 Events whose involvedObject is the Command, oldest first; the run's summary event only with
    summaries=True."""
    out = cluster.kubectl("get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}",
                          "-o", "json").stdout
    events = [e for e in json.loads(out)["items"] if summaries or e["reason"] not in SUMMARY_REASONS]
    return sorted(events, key=lambda e: (e.get("firstTimestamp") or "", e["metadata"]["name"]))


def wait_for_events(cluster, name, count, timeout=30, namespace=NAMESPACE, summaries=False):
    return wait_until(lambda: (lambda ev: ev if len(ev) >= count else None)(
                          events_for(cluster, name, namespace, summaries)),
                      timeout, f"{count} event(s) for Command {namespace}/{name}", interval=0.2)


def processes_matching(pattern):
    """PIDs of processes whose command line contains pattern (never this test's own pgrep)."""
    result = subprocess.run(["pgrep", "-f", "--", pattern], capture_output=True, text=True)
    return [int(p) for p in result.stdout.split()]


def wait_reconciled(controller, name, resource_version, timeout=30, namespace=NAMESPACE):
    """Waits until the controller's debug log says it reconciled the Command at resource_version."""
    needle = re.compile(r'"msg":"reconciled","command":"%s/%s","resource_version":"%s"'
                        % (re.escape(namespace), re.escape(name), re.escape(resource_version)))
    return wait_until(lambda: needle.search(controller.log_text()), timeout,
                      f"the controller to reconcile {namespace}/{name} at resourceVersion {resource_version}")


def start_synced_controller(cluster, *flags, timeout=60):
    """Starts a controller with `flags` and returns it once its caches are synced."""
    controller = cluster.start_controller(list(flags))
    wait_until(lambda: '"msg":"caches synced' in controller.log_text(), timeout, "the controller to sync")
    return controller
