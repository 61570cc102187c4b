"""bandit (scripts/lint) has no unreviewed finding: each reviewed one is marked on its line with
the check it silences and why, and the configuration silences no check wholesale."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BANDIT = Path(sys.executable).parent / "bandit"
# `# nosec B608 # why`: the check's id (one or more, comma-separated), then a reason in words.
REVIEWED = re.compile(r"#\s*nosec\s+B\d{3}(?:\s*,\s*B\d{3})*\s+#\s*\S.{5,}")


def _nosec_lines() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted((ROOT / "overworld").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"#\s*nosec", line):
                found.append((str(path.relative_to(ROOT)), number, line))
    return found


def test_every_suppression_names_its_check_and_gives_a_reason():
    lines = _nosec_lines()
    assert len(lines) > 10  # the store's SQL at least: the pattern below is really applied
    bad = [f"{path}:{number}: {line.strip()}" for path, number, line in lines if not REVIEWED.search(line)]
    assert not bad, "a `# nosec` without its check's id and a reason:\n" + "\n".join(bad)


def test_the_configuration_skips_no_check():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["bandit"]
    assert not config.get("skips") and not config.get("tests"), config
    assert config.get("exclude_dirs") == ["overworld/protocol/pb"]  # protoc's output only


@pytest.mark.skipif(not BANDIT.exists(), reason="bandit is installed by scripts/install")
def test_bandit_fails_on_a_new_unreviewed_finding(tmp_path: Path):
    """scripts/lint's command, on the package plus one new unreviewed finding: it fails and names
    it; the same line marked as reviewed passes."""
    package = tmp_path / "overworld"
    shutil.copytree(ROOT / "overworld", package, ignore=shutil.ignore_patterns("__pycache__", "pb"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    command = [str(BANDIT), "-q", "-c", "pyproject.toml", "-r", "overworld", "-f", "custom",
               "--msg-template", "{relpath}:{line}: {test_id}"]  # fmt: skip
    clean = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    new = package / "new_code.py"
    new.write_text("def table(db, name):\n    return db.fetch(f'SELECT * FROM {name}')\n")
    dirty = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert dirty.returncode == 1 and "overworld/new_code.py:2: B608" in dirty.stdout, dirty.stdout
    new.write_text(
        "def table(db, name):\n    return db.fetch(f'SELECT * FROM {name}')  # nosec B608 # a fixed name\n"
    )
    reviewed = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert reviewed.returncode == 0, reviewed.stdout
