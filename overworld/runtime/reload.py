"""Development hot reload: poll the server code folder and reload the code when a file changes.

Polling the modification times of the folder's `*.py` files costs a few stat calls per interval
and works on every file system (including mounted folders, where change notifications may not
arrive).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from overworld.runtime.runtime import Runtime

log = structlog.get_logger(__name__)
Snapshot = dict[Path, tuple[int, int]]


def snapshot(root: Path) -> Snapshot:
    """Modification time and size of every `*.py` file under `root`."""
    files: Snapshot = {}
    for path in root.rglob("*.py"):
        try:
            stat = path.stat()
        except OSError:  # removed meanwhile
            continue
        files[path] = (stat.st_mtime_ns, stat.st_size)
    return files


async def watch(runtime: Runtime, root: Path, interval_sec: float) -> None:
    seen = await asyncio.to_thread(snapshot, root)
    log.info("watching server code for changes", runtime_path=str(root))
    while True:
        await asyncio.sleep(interval_sec)
        try:
            now = await asyncio.to_thread(snapshot, root)
            if now == seen:
                continue
            changed = sorted(p for p in now.keys() | seen.keys() if now.get(p) != seen.get(p))
            seen = now
            for path in changed:
                _forget_bytecode(path)
            log.info("server code changed, reloading", files=[str(p) for p in changed])
            await runtime.reload()
        except Exception:
            log.exception("server code reload failed")


def _forget_bytecode(path: Path) -> None:
    # Python trusts a cached .pyc whose source has the same size and modification second, which
    # a quick edit can have: remove it so the changed file is compiled again.
    with contextlib.suppress(OSError, ValueError, NotImplementedError):
        Path(importlib.util.cache_from_source(str(path))).unlink(missing_ok=True)
