"""Find and import the server code under `runtime_path`.

    runtime_path/
      echo.py            shared: its init runs for every title
      helpers/           a package (has __init__.py): imported only by the modules that use it
      default/           the title named "default": its modules' init runs for that title only
        rewards.py

The folder becomes a package with a private name, so modules import their neighbours with
relative imports (`from . import helpers`, and `from .. import helpers` in a title's folder)
without anything being added to `sys.path`. Every module is imported at start, so an error in
any of them (even in the folder of a title that does not exist yet) stops the start with a
`RuntimeLoadError` naming the file and line.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from overworld.titles.service import NAME_RULE

PACKAGE = "overworld_modules"


class RuntimeLoadError(Exception):
    """Server code could not be loaded: names the file and line where it failed."""

    def __init__(self, message: str, path: str = "", line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line


@dataclass(slots=True)
class LoadedModule:
    name: str  # "echo", or "default/rewards" for a title's module
    path: Path
    module: ModuleType
    init: Callable[..., Any] | None


@dataclass(slots=True)
class LoadedCode:
    package: str = ""  # the private package name the folder was imported under
    root: Path | None = None
    shared: list[LoadedModule] = field(default_factory=list)
    titles: dict[str, list[LoadedModule]] = field(default_factory=dict)  # by title name

    def unload(self) -> None:
        """Forget the imported modules, so another node in this process can load its own."""
        if not self.package:
            return
        for name in [n for n in sys.modules if n == self.package or n.startswith(self.package + ".")]:
            del sys.modules[name]


def load_error(exc: BaseException, root: Path, doing: str) -> RuntimeLoadError:
    """A one-line account of `exc`: the last frame of the traceback inside the server code."""
    if isinstance(exc, SyntaxError) and exc.filename:
        path, line, where = exc.filename, exc.lineno or 0, ""
        detail = f"{type(exc).__name__}: {exc.msg}"
    else:
        frames = traceback.extract_tb(exc.__traceback__)
        ours = [f for f in frames if _inside(f.filename, root)]
        frame = (ours or frames)[-1] if frames else None
        path = frame.filename if frame else ""
        line = (frame.lineno or 0) if frame else 0
        where = f", in {frame.name}" if frame and frame.name != "<module>" else ""
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return RuntimeLoadError(f"{doing}: {path}, line {line}{where}: {detail}", path, line)


def _inside(filename: str, root: Path) -> bool:
    try:
        return Path(filename).resolve().is_relative_to(root)
    except (OSError, ValueError):
        return False


def import_code(runtime_path: str) -> LoadedCode:
    if not runtime_path:
        return LoadedCode()
    root = Path(runtime_path).resolve()
    if not root.is_dir():
        raise RuntimeLoadError(f"runtime_path {runtime_path!r} is not a folder", str(root))
    package = PACKAGE
    n = 1
    while package in sys.modules:
        n += 1
        package = f"{PACKAGE}_{n}"
    spec = importlib.util.spec_from_loader(package, loader=None, is_package=True)
    if spec is None:
        raise RuntimeError(f"cannot make a package spec for {package}")
    top = importlib.util.module_from_spec(spec)
    top.__path__ = [str(root)]
    sys.modules[package] = top
    code = LoadedCode(package=package, root=root)
    try:
        for file in _modules_in(root):
            code.shared.append(_import(package, root, file, file.stem))
        for folder in sorted(p for p in root.iterdir() if _is_title_folder(p)):
            code.titles[folder.name] = [
                _import(package, root, file, f"{folder.name}/{file.stem}") for file in _modules_in(folder)
            ]
    except BaseException:
        code.unload()
        raise
    return code


def _modules_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.py") if p.is_file() and not p.name.startswith(("_", ".")))


def _is_title_folder(path: Path) -> bool:
    return path.is_dir() and NAME_RULE.match(path.name) is not None and not (path / "__init__.py").exists()


def _import(package: str, root: Path, file: Path, name: str) -> LoadedModule:
    dotted = f"{package}.{name.replace('/', '.')}"
    try:
        module = importlib.import_module(dotted)
    except Exception as exc:
        raise load_error(exc, root, f"cannot import server module {name!r}") from None
    init = getattr(module, "init", None)
    if init is not None and not callable(init):
        raise RuntimeLoadError(f"server module {name!r} ({file}): `init` is not a function", str(file))
    return LoadedModule(name=name, path=file, module=module, init=init)
