"""The fleet benchmark (bench/fleet_bench.py) at a tiny size, as a smoke test: it runs end to end against the
real control plane and writes a complete results table. Its figures are printed, never asserted (the machine is
shared and noisy); what is checked is that every run completed and was measured."""
import re
import subprocess
import sys

from jarvis_cluster import REPO_ROOT

BENCH = REPO_ROOT / "bench" / "fleet_bench.py"


def row_cells(line):
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def test_benchmark_runs_a_fleet_and_a_burst_and_writes_its_table(jarvis_binary, tmp_path):
    output = tmp_path / "results.md"
    result = subprocess.run(
        [sys.executable, str(BENCH), "--nodes", "3", "--burst", "3x2", "--settings", "raised",
         "--jarvis", str(jarvis_binary), "--timeout", "180", "--output", str(output)],
        capture_output=True, text=True, timeout=600)
    print(result.stdout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    text = output.read_text()
    assert re.search(r"^Machine: \d+ × .+, [\d.]+ GiB, Linux ", text, re.M), text
    header = next(line for line in text.splitlines() if line.startswith("| nodes"))
    rows = [row_cells(line) for line in text.splitlines() if re.match(r"^\| \d+ × \d+ \|", line)]
    columns = row_cells(header)
    assert [(r[0], r[1]) for r in rows] == [("3 × 1", "raised"), ("2 × 3", "raised")]
    for cells in rows:
        row = dict(zip(columns, cells))
        nodes, commands = (int(x) for x in row["nodes × Commands"].split(" × "))
        floor = float(row["floor s"])
        status = float(row["results in status s (× floor)"].split()[0])
        events = float(row["all events s (× floor)"].split()[0])
        assert floor > 0 and status > 0 and events > 0
        before, peak = (float(x) for x in row["controller MiB before → peak"].split(" → "))
        assert 0 < before <= peak
        assert float(row["agents PSS MiB (per agent)"].split()[0]) > 0
        requests = dict(re.findall(r"(\w+ [\w/]+) (\d+)", row["API requests"]))
        # Every node's result became one event: at least nodes × commands event POSTs (retries may add more).
        assert int(requests.get("POST events", 0)) >= nodes * commands, row["API requests"]
        assert int(requests.get("PUT commands/status", 0)) >= commands, row["API requests"]
        assert int(row["status bytes written"]) > 0
