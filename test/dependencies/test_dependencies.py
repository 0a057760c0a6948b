"""subprojects/ holds meson wraps for the dependencies that have one; meson uses them only when the system lacks
the package. These tests check the wraps and the list of system-only dependencies (check_dependencies.py), show
that the check catches what it is for, and that an offline setup with Debian's packages uses no wrap at all.

    python3 -m pytest -q test/dependencies
"""
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from check_dependencies import SYSTEM_ONLY, dependency_calls, problems

REPO = Path(__file__).resolve().parents[2]
GOOD_HASH = "0" * 64


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def wrap(name, hash=GOOD_HASH, provide=True, extra=""):
    text = (f"[wrap-file]\ndirectory = {name}-1.0\nsource_url = https://example.invalid/{name}-1.0.tar.gz\n"
            f"source_filename = {name}-1.0.tar.gz\nsource_hash = {hash}\n{extra}")
    if provide:
        text += f"\n[provide]\n{name} = {name}_dep\n"
    return text


@pytest.fixture
def tree(tmp_path):
    """A project using every system-only dependency and one more, zlib; zlib's wrap is for each test to write."""
    uses = "\n".join(f"dep_{i} = dependency('{name}')" for i, name in enumerate(SYSTEM_ONLY))
    write(tmp_path / "meson.build", uses + "\nzlib_dep = dependency('zlib', include_type: 'system')\n")
    return tmp_path


def test_every_dependency_of_the_build_has_a_wrap_or_is_system_only():
    assert problems(REPO) == []


def test_the_wraps_provide_what_the_build_asks_for():
    # [provide] names are matched without regard to case, like meson does: 'CLI11' is provided by cli11.wrap.
    assert not [line for line in problems(REPO) if "CLI11" in line or "RapidJSON" in line]
    assert (REPO / "subprojects" / "cli11.wrap").is_file()
    assert (REPO / "subprojects" / "rapidjson.wrap").is_file()


def test_a_wrapped_dependency_passes(tree):
    write(tree / "subprojects" / "zlib.wrap", wrap("zlib"))
    assert problems(tree) == []


def test_a_dependency_with_neither_wrap_nor_reason_is_reported(tree):
    assert len(found := problems(tree)) == 1
    assert "dependency('zlib') has no wrap in subprojects/" in found[0]
    assert found[0].startswith(f"{tree / 'meson.build'}:{len(SYSTEM_ONLY) + 1}:")


@pytest.mark.parametrize("text, message", [
    (wrap("zlib", hash="abc123"), "source_hash must be a sha256"),
    (wrap("zlib", hash="A" * 64), "source_hash must be a sha256"),
    (wrap("zlib", provide=False), "no [provide] section"),
    (wrap("zlib", extra="patch_directory = zlib\n"), "patch_directory zlib has no"),
    (wrap("zlib", extra="source_hsah = x\n"), "unknown key source_hsah"),
    (wrap("zlib").replace("https://", "http://"), "source_url must be https"),
    (wrap("zlib").replace("source_filename", "filename"), "lacks source_filename"),
    ("[wrap-git]\nurl = https://example.invalid/zlib.git\n[provide]\nzlib = zlib_dep\n", "must be [wrap-file]"),
    ("not a wrap", "not a wrap file"),
])
def test_a_malformed_wrap_is_reported(tree, text, message):
    write(tree / "subprojects" / "zlib.wrap", text)
    assert any(message in line for line in problems(tree)), problems(tree)


def test_a_dependency_both_wrapped_and_system_only_is_reported(tree):
    write(tree / "subprojects" / "zlib.wrap", wrap("zlib"))
    write(tree / "subprojects" / "boost.wrap", wrap("boost"))
    assert any("dependency('boost') is provided by boost.wrap and also listed as system-only" in line
               for line in problems(tree))


def test_a_system_only_name_no_build_uses_is_reported(tree):
    write(tree / "subprojects" / "zlib.wrap", wrap("zlib"))
    write(tree / "meson.build", "zlib_dep = dependency('zlib')\n")
    assert len(problems(tree)) == len(SYSTEM_ONLY)


def test_offline_setup_uses_the_system_packages_and_no_wrap(tmp_path):
    meson = shutil.which("meson")
    if meson is None:
        pytest.fail("meson is not installed (scripts/install-deps.sh installs it)")
    result = subprocess.run([meson, "setup", "--wrap-mode=nodownload", str(tmp_path / "build"), str(REPO)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Executing subproject" not in result.stdout
    for name in {name for _, _, name in dependency_calls(REPO)}:
        assert re.search(rf"dependency {re.escape(name)} found: YES", result.stdout, re.IGNORECASE), name
