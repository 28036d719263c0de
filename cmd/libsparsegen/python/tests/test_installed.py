#!/usr/bin/python3
"""Tests of an installed sparsegen (pip install --no-build-isolation ./cmd/libsparsegen/python):
the package is imported from the environment's site-packages, it loads the library it ships,
and `import sparsegen` still finds it when the current folder holds a clone of the
repository named sparsegen (which, with no package installed, Python imports as an empty
namespace package). Run them with the installed environment's python, from outside the
source folder:

    cd /tmp && ~/sparsegen/.venv/bin/python -m unittest discover -v -s ~/sparsegen/cmd/libsparsegen/python/tests
"""

import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

import sparsegen


def _inside(path, folder):
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


class Installed(unittest.TestCase):
    def test_imported_from_the_environment(self):
        self.assertTrue(
            _inside(sparsegen.__file__, sys.prefix),
            "sparsegen was imported from %s, not from the environment at %s (is the source "
            "folder on sys.path?)" % (sparsegen.__file__, sys.prefix),
        )
        self.assertTrue(sparsegen.__file__.endswith(os.path.join("sparsegen", "__init__.py")))

    def test_loads_the_library_it_ships(self):
        path = sparsegen.load_library()._name
        want = os.environ.get("SPARSEGEN_LIB") or os.path.join(os.path.dirname(sparsegen.__file__), "libsparsegen.so")
        self.assertEqual(os.path.realpath(path), os.path.realpath(want))
        with sparsegen.Plan.from_dense(np.eye(3, dtype=np.float32)) as p:
            x = np.arange(6, dtype=np.float32).reshape(3, 2)
            self.assertTrue(np.array_equal(p.mul(x), x))

    def test_import_beside_a_clone_named_sparsegen(self):
        """A folder named sparsegen in the current folder (a clone: no __init__.py) must not
        shadow the installed package; python -c puts the current folder first on sys.path."""
        with tempfile.TemporaryDirectory() as tmp:
            clone = os.path.join(tmp, "sparsegen")
            os.makedirs(os.path.join(clone, "cmd", "libsparsegen", "python"))
            with open(os.path.join(clone, "go.mod"), "w") as f:
                f.write("module github.com/sparsegen/sparsegen\n")
            env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
            code = "import sparsegen, sys; print(sys.path[0] == ''); print(sparsegen.__file__); sparsegen.Plan"
            r = subprocess.run([sys.executable, "-c", code], cwd=tmp, env=env, capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            first, file = r.stdout.split()
            self.assertEqual(first, "True", "the current folder was not first on sys.path")
            self.assertEqual(os.path.realpath(file), os.path.realpath(sparsegen.__file__))


if __name__ == "__main__":
    unittest.main()
