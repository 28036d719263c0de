"""Builds libsparsegen.so into the sparsegen package (metadata: pyproject.toml).

build_py runs `go build -buildmode=c-shared` in the Go module this folder belongs to and
writes the library next to the package's __init__.py, so the wheel ships it and the
installed package loads it from there. Needs Go (on PATH, $GO, or /usr/local/go/bin) and a C
compiler for cgo. The wheel holds a native library, so it is tagged for this platform.
"""

import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

MODULE = "github.com/sparsegen/sparsegen"


def module_root():
    """The nearest folder at or above this one whose go.mod declares MODULE."""
    d = os.path.dirname(os.path.abspath(__file__))
    while True:
        try:
            with open(os.path.join(d, "go.mod")) as f:
                if any(line.split() == ["module", MODULE] for line in f):
                    return d
        except OSError:
            pass
        parent = os.path.dirname(d)
        if parent == d:
            raise SystemExit(
                "sparsegen: no go.mod of %s above %s; build this package from a clone of the "
                "repository (pip install --no-build-isolation ./cmd/libsparsegen/python)"
                % (MODULE, os.path.dirname(os.path.abspath(__file__)))
            )
        d = parent


def go_command():
    for go in (os.environ.get("GO"), shutil.which("go"), "/usr/local/go/bin/go"):
        if go and os.access(go, os.X_OK):
            return go
    raise SystemExit("sparsegen: the build needs Go (https://go.dev/dl) on PATH or in $GO")


class BuildWithLibrary(build_py):
    """build_py, then go build -buildmode=c-shared into the built package."""

    def run(self):
        super().run()
        dest = os.path.join(os.path.abspath(self.build_lib), "sparsegen")
        os.makedirs(dest, exist_ok=True)
        lib = os.path.join(dest, "libsparsegen.so")
        cmd = [go_command(), "build", "-buildmode=c-shared", "-trimpath", "-o", lib, "./cmd/libsparsegen"]
        self.announce("running %s" % " ".join(cmd), level=2)
        env = dict(os.environ, CGO_ENABLED="1")
        subprocess.run(cmd, cwd=module_root(), env=env, check=True)
        os.remove(os.path.join(dest, "libsparsegen.h"))  # cgo's list of exports; not for users


class BinaryDistribution(Distribution):
    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildWithLibrary}, distclass=BinaryDistribution)
