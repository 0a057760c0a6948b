"""Bounded waiting: poll a condition until it holds or a deadline passes, never a fixed sleep."""
import time


class DeadlineExceeded(Exception):
    pass


def wait_until(condition, timeout, what, interval=0.05):
    """Calls condition() until it returns a truthy value, which is returned.

    condition may raise to abort the wait (e.g. the process it waits for exited). After timeout seconds
    DeadlineExceeded names `what` so the failure says what never happened.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise DeadlineExceeded(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
