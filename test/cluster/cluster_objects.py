"""The Kubernetes objects a kind cluster running the agent DaemonSet would hold, for simulated nodes.

Without kubelet, kube-controller-manager and the endpoint-slice controller, the harness writes what they
would: Node objects (with a Ready status), and EndpointSlices of the headless jarvis-agent Service with one
endpoint per node, at most 100 endpoints per slice like the real controller.

One difference: the agents listen on loopback addresses, which the API server refuses in IPv4 slices
(ValidateEndpointIP: "may not be in the loopback range"), so the slices have addressType FQDN and carry
each agent's address in its dotted form (a valid DNS name): dialled as written, it reaches the agent.
"""
from dataclasses import dataclass, field

NAMESPACE = "jarvis"
AGENT_SERVICE = "jarvis-agent"
AGENT_SERVICE_PORT = 50051
AGENT_SELECTOR = {"app.kubernetes.io/name": "jarvis-agent"}
MAX_ENDPOINTS_PER_SLICE = 100


def node_name(index):
    """kind's node names: kind-control-plane, kind-worker, kind-worker2, kind-worker3, ..."""
    if index == 0:
        return "kind-control-plane"
    return "kind-worker" if index == 1 else f"kind-worker{index}"


@dataclass
class SimulatedNode:
    name: str
    address: str
    labels: dict = field(default_factory=dict)
    control_plane: bool = False
    endpoint_ready: bool = True

    def all_labels(self):
        labels = {
            "beta.kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
        }
        if self.control_plane:
            labels["node-role.kubernetes.io/control-plane"] = ""
        labels.update(self.labels)
        return labels


def namespace():
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}


def agent_service():
    """The headless Service as manifests/agent_service.yaml declares it. Its target port is the agent pods'
    port named grpc, which the EndpointSlices resolve to the port the agent processes listen on."""
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": AGENT_SERVICE, "namespace": NAMESPACE,
                     "labels": {**AGENT_SELECTOR, "app.kubernetes.io/part-of": "jarvis"}},
        "spec": {
            "clusterIP": "None",
            "selector": dict(AGENT_SELECTOR),
            "ports": [{"name": "grpc", "port": AGENT_SERVICE_PORT, "targetPort": "grpc", "protocol": "TCP"}],
        },
    }


def node(simulated):
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": simulated.name, "labels": simulated.all_labels()}}


def node_status(simulated):
    """The status kubelet would report: Ready, with the node's address. Applied to the status subresource."""
    return {
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": simulated.name},
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "simulated by the jarvis test cluster"}],
            "addresses": [{"type": "InternalIP", "address": simulated.address},
                          {"type": "Hostname", "address": simulated.name}],
        },
    }


def slice_name(index):
    return f"{AGENT_SERVICE}-{index}"


def endpoint_slices(nodes, agent_port):
    """The EndpointSlices for nodes (in order), MAX_ENDPOINTS_PER_SLICE endpoints each."""
    slices = []
    for start in range(0, len(nodes), MAX_ENDPOINTS_PER_SLICE):
        chunk = nodes[start:start + MAX_ENDPOINTS_PER_SLICE]
        slices.append({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {
                "name": slice_name(len(slices)), "namespace": NAMESPACE,
                "labels": {"kubernetes.io/service-name": AGENT_SERVICE,
                           "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
            },
            "addressType": "FQDN",
            "ports": [{"name": "grpc", "port": agent_port, "protocol": "TCP"}],
            "endpoints": [{
                "addresses": [n.address],
                "nodeName": n.name,
                "conditions": {"ready": n.endpoint_ready, "serving": n.endpoint_ready, "terminating": False},
            } for n in chunk],
        })
    return slices


def object_list(items):
    return {"apiVersion": "v1", "kind": "List", "items": list(items)}
