"""Put this folder on PYTHONPATH to run Python as if numba (and llvmlite) were not
installed: importing them raises ModuleNotFoundError, as on a slim install. Used by
``.ci/run``'s second pytest run (the kernels against the reference without numba)."""
import sys

BLOCKED = ("numba", "llvmlite")


class _Absent:
    """A meta-path finder that refuses the blocked packages before any real finder."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by "
                                      ".ci/without_numba/sitecustomize.py)", name=name)
        return None


sys.meta_path.insert(0, _Absent())
