#!/usr/bin/env python3
"""Adds up the results of every test stage (meson testlog.json files, pytest JUnit XML, the image suite's
`ok`/`not ok` lines) and prints the failures, then one line `N passed, N failed[, N skipped]`.
Exits non-zero when anything failed or when no test ran at all."""
import json
import pathlib
import re
import sys
import xml.etree.ElementTree as ET


def main(results_dir: str) -> int:
    passed, failed, skipped, failures = 0, 0, 0, []
    for path in sorted(pathlib.Path(results_dir).glob("*.testlog.json")):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            test = json.loads(line)
            result = test.get("result", "FAIL")
            name = f"{path.name.split('.')[0]}: {test.get('name')}"
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
                failures.append(f"{name} ({result})")
    for path in sorted(pathlib.Path(results_dir).glob("*.xml")):
        for case in ET.parse(path).getroot().iter("testcase"):
            name = f"e2e: {case.get('classname')}::{case.get('name')}"
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
                failures.append(name)
            elif case.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1
    for path in sorted(pathlib.Path(results_dir).glob("*.log")):
        for line in path.read_text().splitlines():
            if m := re.match(r"^(not ok|ok) - (.*)$", line):
                if m.group(1) == "ok":
                    passed += 1
                else:
                    failed += 1
                    failures.append(f"image: {m.group(2)}")
    for name in failures:
        print(f"FAILED {name}")
    summary = f"{passed} passed, {failed} failed"
    if skipped:
        summary += f", {skipped} skipped"
    print(summary)
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
