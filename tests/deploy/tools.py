"""The command-line tools the deployment tests run, found on PATH or failed for clearly.

They are prerequisites like Chromium (README.md; `.ci/run` installs them): Debian's
``prometheus`` package gives promtool, ``kubernetes-client`` gives kubectl.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"

PACKAGES = {"promtool": "prometheus", "kubectl": "kubernetes-client"}


def run_tool(name: str, *args: str, cwd: Path = REPO, timeout: float = 120) -> str:
    """Run ``name args``; fail the test with its output when it exits non-zero."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: install Debian's {PACKAGES[name]} package (README.md)")
    result = subprocess.run(
        [path, *args], capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd
    )
    if result.returncode != 0:
        pytest.fail(f"{name} {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout
