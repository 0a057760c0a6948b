#!/usr/bin/env python3
"""Every dependency() of the meson build is either provided by a wrap in subprojects/ (which meson uses only when
the system lacks the package) or named in SYSTEM_ONLY below with the reason it has none; every wrap is
well-formed (a pinned source with its sha256, and a [provide] section).

    python3 test/dependencies/check_dependencies.py [REPO]    # prints one line per problem; exit status 1 if any
"""
import configparser
import re
import sys
from pathlib import Path

# Dependencies taken from the system only (Debian's packages, scripts/install-deps.sh), and why.
SYSTEM_ONLY = {
    "threads": "built into meson, not a package",
    "boost": "the meson wrap database has no Boost (only single header-only parts such as boost-mp11)",
    "openssl": "the wrap database's openssl wrap builds with the database's own meson port (patch files), "
               "which this repository does not carry",
    "protobuf": "the wrap database's protobuf wrap (3.12) builds with the database's own meson port, not carried "
                "here, and the build also needs protoc",
    "grpc++": "the wrap database's grpc wrap builds with the database's own meson port, not carried here, and the "
              "build also needs grpc_cpp_plugin",
    "absl_synchronization": "part of the abseil that gRPC is built against: it must be the very copy Debian's gRPC "
                            "links, so it comes with the grpc++ package (libabsl-dev)",
    "yaml-cpp": "the wrap database's yaml-cpp wrap builds with the database's own meson port, not carried here",
    "catch2": "the wrap database carries Catch2 v3, whose headers differ (catch2/catch_all.hpp); "
              "the tests are written for Catch2 v2 (catch2/catch.hpp)",
}

WRAP_FILE_KEYS = {"directory", "source_url", "source_filename", "source_hash", "patch_directory", "diff_files"}
REQUIRED_KEYS = ("directory", "source_url", "source_filename", "source_hash")
SHA256 = re.compile(r"[0-9a-f]{64}")
DEPENDENCY_CALL = re.compile(r"\bdependency\(\s*'([^']+)'")


def meson_files(repo):
    """The project's own meson.build files (not build directories, not unpacked subprojects)."""
    found = []
    for path in sorted(repo.rglob("meson.build")):
        top = path.relative_to(repo).parts[0]
        if top.startswith(("build", ".")) or top == "subprojects":
            continue
        found.append(path)
    return found


def dependency_calls(repo):
    """[(file, line number, dependency name)] of every dependency('name', ...) call."""
    calls = []
    for path in meson_files(repo):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            code = line.split("#", 1)[0]
            calls += [(path, number, name) for name in DEPENDENCY_CALL.findall(code)]
    return calls


def read_wrap(path):
    """(the names it provides, its problems)."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(), source=str(path))
    except configparser.Error as error:
        return set(), [f"{path}: not a wrap file: {error}"]
    problems = []
    if parser.sections()[:1] != ["wrap-file"]:
        problems.append(f"{path}: the first section must be [wrap-file] (a pinned source archive)")
        return set(), problems
    source = parser["wrap-file"]
    problems += [f"{path}: [wrap-file] lacks {key}" for key in REQUIRED_KEYS if key not in source]
    problems += [f"{path}: [wrap-file] has an unknown key {key}" for key in source if key not in WRAP_FILE_KEYS]
    if "source_url" in source and not source["source_url"].startswith("https://"):
        problems.append(f"{path}: source_url must be https")
    if "source_hash" in source and not SHA256.fullmatch(source["source_hash"]):
        problems.append(f"{path}: source_hash must be a sha256 (64 lowercase hex digits), not {source['source_hash']!r}")
    if "patch_directory" in source:
        overlay = path.parent / "packagefiles" / source["patch_directory"] / "meson.build"
        if not overlay.is_file():
            problems.append(f"{path}: patch_directory {source['patch_directory']} has no {overlay}")
    provided = set()
    if parser.has_section("provide"):
        for key, value in parser["provide"].items():
            if key == "dependency_names":
                provided |= {name.strip().lower() for name in value.split(",") if name.strip()}
            elif key != "program_names":
                provided.add(key.lower())
    if not provided:
        problems.append(f"{path}: no [provide] section naming the dependencies it provides")
    return provided, problems


def problems(repo):
    """Every problem found in repo, as lines naming the file and the fix; empty when all is well."""
    repo = Path(repo)
    found = []
    provided = {}
    for wrap in sorted((repo / "subprojects").glob("*.wrap")):
        names, wrap_problems = read_wrap(wrap)
        found += wrap_problems
        provided.update({name: wrap for name in names})
    used = set()
    for path, number, name in dependency_calls(repo):
        key = name.lower()
        used.add(key)
        if key in provided and key in SYSTEM_ONLY:
            found.append(f"{path}:{number}: dependency('{name}') is provided by {provided[key].name} and also "
                         "listed as system-only in SYSTEM_ONLY: drop one")
        elif key not in provided and key not in SYSTEM_ONLY:
            found.append(f"{path}:{number}: dependency('{name}') has no wrap in subprojects/ and is not in "
                         "SYSTEM_ONLY: add subprojects/<name>.wrap providing it, or list it as system-only with "
                         "the reason")
    found += [f"SYSTEM_ONLY names {name!r}, which no meson.build uses: remove it" for name in SYSTEM_ONLY
              if name not in used]
    return found


def main(argv):
    repo = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[2]
    found = problems(repo)
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
