"""Loopback addresses and ports for a test cluster."""
import socket


def node_address(index):
    """The loopback address of the index-th simulated node: 127.0.1.1, 127.0.1.2, ... 127.0.1.254, 127.0.2.1..."""
    if not 0 <= index < 254 * 254:
        raise ValueError(f"no loopback address for node index {index}")
    return f"127.0.{1 + index // 254}.{1 + index % 254}"


def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_free_on(port, hosts):
    # One socket at a time: thousands of simulated nodes must not need thousands of descriptors at once.
    for host in hosts:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def port_free_on_all(hosts, attempts=50):
    """A port no one listens on at any of hosts (the agents share one port on their own addresses)."""
    for _ in range(attempts):
        port = free_port(hosts[0])
        if port_free_on(port, hosts):
            return port
    raise RuntimeError(f"found no port free on all of {len(hosts)} loopback addresses")


def accepts_connections(host, port, timeout=1.0):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
