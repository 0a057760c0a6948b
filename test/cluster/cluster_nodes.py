"""The simulated nodes of a test cluster and their agents: the Node objects, one `jarvis --role=agent` process
per node on the node's own loopback address (standing in for the agent DaemonSet's pods), and the EndpointSlices
of the jarvis-agent Service that publish them (what kubelet and the endpoint-slice controller would write).

Agents log to DIR/agents/<node>.log.
"""
import signal
import socket
import ssl

import cluster_objects as objects
from cluster_errors import ClusterError
from cluster_net import accepts_connections, node_address, port_free_on, port_free_on_all
from deadline import wait_until


class NodeFleet:
    """The nodes and agents of the cluster living in directory.

    count, labels ({node name: {label: value}}): the nodes. jarvis: the executable the agents run. transport:
    "mtls" (agents serve the TLS files in tls_dir) or "insecure". processes: a ProcessStarter. control_plane:
    where the objects are written (a ControlPlane).
    """

    def __init__(self, directory, count, labels, jarvis, transport, tls_dir, processes, control_plane, timeout,
                 tls_refresh_seconds):
        self.dir = directory
        self._tls_refresh_seconds = tls_refresh_seconds
        self._jarvis = jarvis
        self._transport = transport
        self._tls_dir = tls_dir
        self._processes = processes
        self._control_plane = control_plane
        self.timeout = timeout
        labels = dict(labels or {})
        self._nodes = {}
        for index in range(count):
            name = objects.node_name(index)
            self._nodes[name] = objects.SimulatedNode(name, node_address(index), dict(labels.pop(name, {})),
                                                      control_plane=index == 0)
        if labels:
            raise ClusterError(f"labels for unknown nodes {sorted(labels)}; the nodes are {list(self._nodes)}")
        self._agents = {}
        self._slice_count = 0
        self.agent_port = None
        self.agent_http_port = None

    @property
    def nodes(self):
        """The simulated nodes, in order (SimulatedNode: name, address, labels, endpoint_ready)."""
        return list(self._nodes.values())

    def node(self, name):
        try:
            return self._nodes[name]
        except KeyError:
            raise ClusterError(f"no node {name!r}; the nodes are {list(self._nodes)}") from None

    def start_agents(self):
        """Takes a port free on every node's address and starts every node's agent on it; does not wait for
        them (wait_agents_ready does)."""
        addresses = [n.address for n in self._nodes.values()]
        self.agent_port = port_free_on_all(addresses)
        # /healthz, /readyz and /metrics of every agent, on its own address (the DaemonSet's :50052).
        self.agent_http_port = port_free_on_all(addresses)
        while self.agent_http_port == self.agent_port:
            self.agent_http_port = port_free_on_all(addresses)
        for node in self._nodes.values():
            self._start_agent_process(node)

    def write_objects(self):
        """Writes the namespace, the agent Service, the Node objects (Ready) and the EndpointSlices."""
        nodes = self.nodes
        slices = objects.endpoint_slices(nodes, self.agent_port)
        self._control_plane.server_side_apply(
            [objects.namespace(), objects.agent_service(), *map(objects.node, nodes), *slices])
        self._control_plane.server_side_apply([objects.node_status(n) for n in nodes], "--subresource=status")
        self._slice_count = len(slices)

    def wait_agents_ready(self):
        for node in self._nodes.values():
            self._wait_agent_ready(node)

    def running(self):
        """The agent processes, started and not yet stopped."""
        return list(self._agents.values())

    def terminate_agents(self):
        # SIGTERM first: a SIGKILLed agent cannot kill the commands it runs (each in a session of its own), and
        # they would outlive the cluster.
        for agent in self._agents.values():
            agent.stop(signal.SIGTERM, timeout=10.0)

    # ---- agents

    def agent_target(self, name):
        """host:port of the node's agent, as published in its EndpointSlice."""
        return f"{self.node(name).address}:{self.agent_port}"

    def agent_http_address(self, name):
        """host:port of the node's agent's /healthz, /readyz and /metrics."""
        return f"{self.node(name).address}:{self.agent_http_port}"

    def agent_log(self, name):
        return self.dir / "agents" / f"{name}.log"

    def agent_pid(self, name):
        process = self._agents.get(name)
        return process.pid if process else None

    def agent_state_dir(self, name):
        return self.dir / "agents" / f"{name}.state"

    def _start_agent_process(self, node):
        if self._transport == "mtls":
            security = ["--tls-dir", self._tls_dir, "--tls-refresh-interval", str(self._tls_refresh_seconds)]
        else:
            security = ["--insecure"]
        # The node's journal stays across stop_agent()/start_agent(), as the DaemonSet's hostPath does.
        self._agents[node.name] = self._processes.start(f"agent-{node.name}", [
            self._jarvis, "--role=agent", "--listen", f"{node.address}:{self.agent_port}",
            "--node-name", node.name, "--host-root", "/", "--state-dir", self.agent_state_dir(node.name), *security,
            "--health-probe-bind-address", f"{node.address}:{self.agent_http_port}",
        ], self.agent_log(node.name))

    def _wait_agent_ready(self, node):
        process = self._agents[node.name]

        def ready():
            if not process.alive():
                raise ClusterError(f"agent for {node.name} exited: {process.last_log_line()}")
            if self._transport == "mtls" and '"msg":"waiting for TLS files' in process.log_path.read_text(errors="replace"):
                return True  # it listens once a controller has made Secret jarvis-agent-tls
            return accepts_connections(node.address, self.agent_port, timeout=0.5)
        wait_until(ready, self.timeout, f"the agent for {node.name} to listen on {self.agent_target(node.name)}")

    def stop_agent(self, name, sig=signal.SIGTERM, timeout=10.0):
        """Stops the node's agent (sig, then SIGKILL after timeout); returns its exit status. Its Node and
        endpoint stay as they are: set_endpoint_ready() changes the endpoint."""
        self.node(name)
        process = self._agents.pop(name, None)
        if process is None:
            raise ClusterError(f"the agent for {name} is not running")
        return process.stop(sig, timeout)

    def start_agent(self, name):
        """Starts the node's agent again (same address and port); returns once it accepts connections."""
        node = self.node(name)
        if name in self._agents and self._agents[name].alive():
            raise ClusterError(f"the agent for {name} is already running")
        self._start_agent_process(node)
        self._wait_agent_ready(node)

    def agent_served_certificate(self, name):
        """The DER certificate the node's agent presents in a TLS handshake (TLS 1.3 sends it before the agent
        checks the client's), or None when no handshake got that far."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(["h2"])
        try:
            with socket.create_connection((self.node(name).address, self.agent_port), timeout=5) as raw, \
                    context.wrap_socket(raw, server_hostname="jarvis-agent") as tls:
                return tls.getpeercert(binary_form=True)
        except (OSError, ssl.SSLError):
            return None

    # ---- nodes and endpoints

    def set_endpoint_ready(self, name, ready):
        """Marks the node's endpoint in the jarvis-agent EndpointSlices ready (and serving) or not."""
        self.node(name).endpoint_ready = bool(ready)
        self._apply_endpoint_slices()

    def add_node(self, name, labels=None):
        """Adds a node: its Node object, its agent (waits until it listens) and its ready endpoint."""
        if name in self._nodes:
            raise ClusterError(f"node {name} already exists")
        used = {n.address for n in self._nodes.values()}
        address = next(a for a in map(node_address, range(len(used) + 1)) if a not in used)
        if not port_free_on(self.agent_port, [address]):
            raise ClusterError(f"port {self.agent_port} is taken on {address}: cannot add node {name}")
        node = objects.SimulatedNode(name, address, dict(labels or {}))
        self._nodes[name] = node
        self._control_plane.server_side_apply([objects.node(node)])
        self._control_plane.server_side_apply([objects.node_status(node)], "--subresource=status")
        self._start_agent_process(node)
        self._wait_agent_ready(node)
        self._apply_endpoint_slices()
        return node

    def remove_node(self, name):
        """Removes a node: stops its agent, drops its endpoint and deletes its Node object."""
        self.node(name)
        if name in self._agents:
            self.stop_agent(name)
        del self._nodes[name]
        self._apply_endpoint_slices()
        self._control_plane.kubectl("delete", "node", name)

    def _apply_endpoint_slices(self):
        slices = objects.endpoint_slices(self.nodes, self.agent_port)
        if slices:
            self._control_plane.server_side_apply(slices)
        surplus = [objects.slice_name(i) for i in range(len(slices), self._slice_count)]
        if surplus:
            self._control_plane.kubectl("delete", "endpointslice", "-n", objects.NAMESPACE, "--ignore-not-found",
                                        *surplus)
        self._slice_count = len(slices)
