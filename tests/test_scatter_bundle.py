"""The map component's committed bundle (static/scatter/scatter.js) is what its source builds to:
`npm ci` from the lock file and the esbuild script, in a scratch copy of components/scatter,
byte for byte. Needs Node and npm (and the npm registry, or npm's cache); skipped without them on a
developer's machine, never in CI (CI=true), where scripts/install-system.sh installs them."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import ROOT

SOURCE = ROOT / "components" / "scatter"
BUNDLE = ROOT / "static" / "scatter" / "scatter.js"
INPUTS = ("package.json", "package-lock.json", "build.mjs", "src")


def tools() -> bool:
    return all(shutil.which(tool) for tool in ("node", "npm"))


@pytest.mark.skipif(not tools() and os.environ.get("CI") != "true", reason="node/npm not installed")
def test_committed_bundle_is_built_from_the_source(tmp_path):
    for name in INPUTS:
        (shutil.copytree if (SOURCE / name).is_dir() else shutil.copy)(SOURCE / name, tmp_path / name)
    # --ignore-scripts: esbuild's postinstall only checks its binary, which the platform package provides.
    subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=tmp_path, check=True,
                   capture_output=True, timeout=600)
    subprocess.run(["node", "build.mjs", str(tmp_path / "scatter.js")], cwd=tmp_path, check=True,
                   capture_output=True, timeout=300)
    built = (tmp_path / "scatter.js").read_bytes()
    assert built == BUNDLE.read_bytes(), ("static/scatter/scatter.js is not the build of components/scatter: "
                                          "run `npm ci && npm run build` there and commit the result")
