"""The Dockerfile: hadolint finds nothing, the final stage is slim and unprivileged, and its port,
health check and command are the server's. No Docker engine runs here, so the image itself is not
built by the tests (docs/deployment.md); the health check's command is run against a real server."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field

import pytest

from overworld.config import FIELDS, Settings
from tests.deploy.conftest import Served
from tests.deploy.support import tool
from tests.support import ROOT, free_port

pytestmark = pytest.mark.deploy

DOCKERFILE = ROOT / "Dockerfile"


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARGs and the stages of a Dockerfile, continuation lines joined, comments dropped."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    logical = re.sub(r"\\\n(?:\s*#[^\n]*\n)*", " ", text)
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), " ".join(rest.split())
        if keyword == "FROM":
            base, _, name = rest.partition(" AS ")
            stages.append(Stage(base=base, name=name))
        elif not stages and keyword == "ARG":
            key, _, value = rest.partition("=")
            args[key] = value
        else:
            stages[-1].instructions.append((keyword, rest))
    return args, stages


def resolve(base: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base)


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return parse(DOCKERFILE.read_text())


def exec_form(args: str) -> list[str]:
    words = json.loads(args)
    assert isinstance(words, list)
    return [str(w) for w in words]


def test_hadolint_finds_nothing() -> None:
    hadolint = tool("hadolint", "lints the Dockerfile")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_hadolint_catches_a_careless_dockerfile(tmp_path) -> None:
    hadolint = tool("hadolint", "lints the Dockerfile")
    careless = tmp_path / "Dockerfile"
    careless.write_text(
        "FROM python:latest\nRUN apt-get update && apt-get install -y gcc\nRUN pip install overworld\n"
    )
    result = subprocess.run([hadolint, str(careless)], capture_output=True, text=True)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3008", "DL3013"):  # latest tag, unpinned apt and pip packages
        assert rule in result.stdout, result.stdout


def test_two_stages_on_a_slim_base_and_nothing_built_in_the_final_one(dockerfile) -> None:
    args, stages = dockerfile
    assert len(stages) >= 2
    build, final = stages[0], stages[-1]
    assert resolve(final.base, args) == resolve(build.base, args)  # the venv's python is the same
    assert re.fullmatch(r"python:3\.\d+-slim(-\w+)?", resolve(final.base, args))
    assert final.all("RUN"), "the final stage makes its user"
    for command in final.all("RUN"):
        assert not re.search(r"\b(apt-get|apt|pip|gcc|make|cc)\b", command), command
    for copy in final.all("COPY"):
        assert copy.startswith(f"--from={build.name} "), copy
    # the dependencies are installed at the pinned versions, and the installers removed
    (install,) = [r for r in build.all("RUN") if "pip install" in r]
    assert "--constraint requirements.lock" in install and "pip uninstall --yes pip setuptools" in install


def test_runs_as_an_unprivileged_user(dockerfile) -> None:
    _, stages = dockerfile
    (user,) = stages[-1].all("USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000
    assert f"--uid {uid}" in stages[-1].all("RUN")[0]


def test_port_command_and_settings_are_the_servers(dockerfile) -> None:
    _, stages = dockerfile
    final = stages[-1]
    assert final.all("EXPOSE") == [str(Settings().port)]
    command = exec_form(final.all("CMD")[0])
    assert command == ["overworld", "serve"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["overworld"] == "overworld.cli:main"
    for env in final.all("ENV") + stages[0].all("ENV"):
        for name in re.findall(r"(OVERWORLD_\w+)=", env):
            assert name[10:].lower() in FIELDS, name


def test_health_check_probes_healthz_of_a_running_server(dockerfile, served: Served) -> None:
    _, stages = dockerfile
    (check,) = stages[-1].all("HEALTHCHECK")
    options, _, command = check.partition("CMD ")
    assert "--interval" in options and "--timeout" in options
    argv = exec_form(command)
    assert argv[:2] == ["python", "-c"]
    assert "/healthz" in argv[2] and f"'{Settings().port}'" in argv[2]
    assert served.status["/healthz"] == 200
    argv[0] = sys.executable
    env = dict(os.environ)
    healthy = subprocess.run(argv, env={**env, "OVERWORLD_PORT": str(served.port)}, capture_output=True)
    assert healthy.returncode == 0, healthy.stderr
    down = subprocess.run(argv, env={**env, "OVERWORLD_PORT": str(free_port())}, capture_output=True)
    assert down.returncode != 0


def ignored(path: str, patterns: list[str]) -> bool:
    """.dockerignore matching (the last matching pattern wins; `!` re-includes; a folder's
    exclusion covers what is in it)."""
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if pattern.startswith("**/"):
            hit = any(fnmatch.fnmatch(p, pattern[3:]) for p in parts)
        else:
            hit = any(fnmatch.fnmatch(p, pattern) for p in prefixes)
        if hit:
            result = not negate
    return result


def test_build_context_holds_what_the_build_copies_and_nothing_else(dockerfile) -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    _, stages = dockerfile
    for copy in stages[0].all("COPY"):
        *sources, _ = copy.split()
        for source in sources:
            assert (ROOT / source).exists(), source
            assert not ignored(source, patterns), f"{source} is excluded by .dockerignore"
            assert not ignored(f"{source}/cli.py" if (ROOT / source).is_dir() else source, patterns)
    for path in (".venv/bin/python", ".git/HEAD", "data/overworld.db", "tests/conftest.py", "bench/x.py"):
        assert ignored(path, patterns), path
    assert ignored("overworld/__pycache__/cli.cpython-311.pyc", patterns)
