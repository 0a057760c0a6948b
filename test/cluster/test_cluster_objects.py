"""Unit tests of the objects the harness writes for simulated nodes (no cluster needed).

    /usr/bin/python3 -m pytest -q test/cluster/test_cluster_objects.py
"""
import cluster_objects as objects
from cluster_net import node_address


def make_nodes(count):
    return [objects.SimulatedNode(objects.node_name(i), node_address(i), control_plane=i == 0) for i in range(count)]


def test_node_names_follow_kind():
    assert [objects.node_name(i) for i in range(5)] == [
        "kind-control-plane", "kind-worker", "kind-worker2", "kind-worker3", "kind-worker4"]


def test_node_addresses_are_distinct_loopback_addresses():
    addresses = [node_address(i) for i in range(600)]
    assert len(set(addresses)) == 600
    assert addresses[:2] == ["127.0.1.1", "127.0.1.2"]
    assert all(a.startswith("127.") and not a.endswith((".0", ".255")) for a in addresses)


def test_caller_labels_add_to_and_override_the_usual_labels():
    node = objects.SimulatedNode("kind-worker", "127.0.1.2", {"disk": "ssd", "kubernetes.io/arch": "arm64"})
    labels = objects.node(node)["metadata"]["labels"]
    assert labels["disk"] == "ssd"
    assert labels["kubernetes.io/arch"] == "arm64"
    assert labels["kubernetes.io/hostname"] == "kind-worker"
    assert "node-role.kubernetes.io/control-plane" not in labels


def test_endpoint_slices_hold_at_most_100_endpoints_each_in_node_order():
    nodes = make_nodes(250)
    nodes[120].endpoint_ready = False
    slices = objects.endpoint_slices(nodes, 4321)
    assert [len(s["endpoints"]) for s in slices] == [100, 100, 50]
    assert [s["metadata"]["name"] for s in slices] == ["jarvis-agent-0", "jarvis-agent-1", "jarvis-agent-2"]
    endpoints = [e for s in slices for e in s["endpoints"]]
    assert [e["nodeName"] for e in endpoints] == [n.name for n in nodes]
    assert [e["addresses"] for e in endpoints] == [[n.address] for n in nodes]
    assert [i for i, e in enumerate(endpoints) if not e["conditions"]["ready"]] == [120]
    for s in slices:
        assert s["metadata"]["labels"]["kubernetes.io/service-name"] == "jarvis-agent"
        assert s["ports"] == [{"name": "grpc", "port": 4321, "protocol": "TCP"}]


def test_no_nodes_no_slices():
    assert objects.endpoint_slices([], 4321) == []
