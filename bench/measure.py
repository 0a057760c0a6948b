"""What the benchmark reads about processes and the API server: CPU seconds, resident memory, proportional
set size, and the API server's request counters (its /metrics), plus a description of the machine."""
import os
import platform
import re
import subprocess
from collections import Counter
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU seconds pid has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def status_kib(pid, field):
    """A field of /proc/PID/status in KiB (VmHWM: peak resident, VmRSS: resident now)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(f"{field} not in /proc/{pid}/status")


def pss_kib(pid):
    """Proportional set size: the process's share of the memory it maps (shared pages divided among their
    users), so the sum over many processes of one executable is the memory they really take."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise KeyError(f"Pss not in /proc/{pid}/smaps_rollup")


_REQUEST = re.compile(r'^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$')
_BODY_SUM = re.compile(r'^apiserver_request_body_size_bytes_sum\{(?P<labels>[^}]*)\} (?P<value>\S+)$')
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def _labels(text):
    return dict(_LABEL.findall(text))


def api_counters(metrics_text):
    """From the API server's /metrics: (requests, bytes) where requests counts apiserver_request_total by
    (verb, resource[/subresource], code) and bytes sums apiserver_request_body_size_bytes by
    (verb, resource)."""
    requests, body = Counter(), Counter()
    for line in metrics_text.splitlines():
        match = _REQUEST.match(line)
        if match:
            labels = _labels(match.group("labels"))
            resource = labels.get("resource", "")
            if labels.get("subresource"):
                resource += "/" + labels["subresource"]
            requests[(labels.get("verb", ""), resource, labels.get("code", ""))] += float(match.group("value"))
            continue
        match = _BODY_SUM.match(line)
        if match:
            labels = _labels(match.group("labels"))
            body[(labels.get("verb", ""), labels.get("resource", ""))] += float(match.group("value"))
    return requests, body


def difference(after, before):
    return Counter({key: after[key] - before.get(key, 0) for key in after if after[key] - before.get(key, 0) > 0})


def machine_description():
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kib = int(line.split()[1])
    load = os.getloadavg()
    return (f"{os.cpu_count()} × {cpu}, {memory_kib / 1048576:.1f} GiB, Linux {platform.release()}, "
            f"load average at start {load[0]:.2f}")


def git_commit(repo):
    result = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True)
    return result.stdout.strip() or "unknown"
