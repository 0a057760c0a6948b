"""What the test cluster harness raises when it cannot do what was asked."""


class ClusterError(Exception):
    pass


class KubectlError(ClusterError):
    """kubectl exited with a non-zero status; result is its CompletedProcess."""

    def __init__(self, message, result):
        super().__init__(message)
        self.result = result
