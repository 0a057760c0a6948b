"""Child processes of a test cluster: started with their log in a file and a pid file beside them.

A pid file holds the pid and the process's start time (from /proc), so a later run can stop what a killed run
left behind without ever signalling an unrelated process that reused the pid.
"""
import ctypes
import json
import os
import signal
import subprocess
from pathlib import Path

from deadline import DeadlineExceeded, wait_until

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    # Runs in the child between fork and exec: the kernel sends SIGKILL when the parent dies, so a killed
    # test runner leaves nothing behind.
    if _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")


def process_start_time(pid):
    """The start time of pid in clock ticks since boot, or None when there is no such live process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: the fields after it follow the last ')'.
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def last_lines(path, count=1):
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log)"
    lines = [line for line in lines if line.strip()]
    return "\n".join(lines[-count:]) if lines else "(empty log)"


class ManagedProcess:
    """One child process, its log file and its pid file."""

    def __init__(self, name, argv, log_path, pid_path, cwd, env=None, die_with_parent=True):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_path)
        self.pid_path = Path(pid_path)
        self.cwd = cwd
        self.env = env
        self.die_with_parent = die_with_parent
        self.popen = None

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    @property
    def returncode(self):
        return self.popen.poll() if self.popen else None

    def start(self):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd,
                env=self.env, start_new_session=True,
                preexec_fn=_die_with_parent if self.die_with_parent else None)
        record = {"name": self.name, "pid": self.popen.pid, "start_time": process_start_time(self.popen.pid),
                  "argv": self.argv}
        tmp = self.pid_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record) + "\n")
        tmp.replace(self.pid_path)
        return self

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def last_log_line(self):
        return last_lines(self.log_path)

    def send_signal(self, sig):
        if self.alive():
            self.popen.send_signal(sig)

    def wait(self, timeout):
        """Waits for the process to exit; returns its exit status (negative: killed by that signal)."""
        return self.popen.wait(timeout=timeout)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Sends sig, waits up to timeout, then kills the whole process group; returns the exit status."""
        if self.popen is None:
            return None
        if self.alive() and sig != signal.SIGKILL:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        _kill_group(self.popen.pid)
        status = self.popen.wait(timeout=timeout)
        self.pid_path.unlink(missing_ok=True)
        return status


def _kill_group(pgid):
    # Every process is the leader of its own session and group, so this also reaches what it spawned.
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def kill_recorded(pid_dir, timeout=10.0):
    """SIGKILLs the process group of every process recorded in pid_dir that is still the recorded process,
    waits until each is gone and removes the pid files. Returns the names of the processes it killed."""
    killed = []
    for pid_file in sorted(Path(pid_dir).glob("**/*.pid")):
        try:
            record = json.loads(pid_file.read_text())
        except (json.JSONDecodeError, OSError):
            pid_file.unlink(missing_ok=True)
            continue
        pid = record.get("pid")
        if isinstance(pid, int) and record.get("start_time") is not None \
                and process_start_time(pid) == record["start_time"]:
            # SIGTERM first: an agent stops the commands it runs (each in a session of its own) only then.
            try:
                os.kill(pid, signal.SIGTERM)
                wait_until(lambda: process_start_time(pid) != record["start_time"], 5.0, "exit after SIGTERM")
            except (OSError, DeadlineExceeded):
                pass
            _kill_group(pid)
            wait_until(lambda: process_start_time(pid) != record["start_time"], timeout,
                       f"{record.get('name', pid)} (pid {pid}) to die")
            killed.append(record.get("name", str(pid)))
        pid_file.unlink(missing_ok=True)
    return killed


class ProcessStarter:
    """Starts the processes of one cluster: working directory `directory`, pid files in `directory`/pids (so
    kill_recorded can stop what a killed run left), each tied to the caller by PR_SET_PDEATHSIG unless detached."""

    def __init__(self, directory, detached):
        self.directory = Path(directory)
        self.detached = detached

    def start(self, name, argv, log_path, env=None):
        """Starts argv as `name` with its output in log_path; env replaces the environment when given."""
        return ManagedProcess(name, argv, log_path, self.directory / "pids" / f"{name}.pid", cwd=self.directory,
                              env=env, die_with_parent=not self.detached).start()
