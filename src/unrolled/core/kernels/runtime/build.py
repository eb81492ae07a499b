"""``python -m unrolled.core.kernels.runtime.build``: compile every kernel module into
numba's disk cache (what a first run starts in the background; also usable ahead of time,
e.g. in a Docker build step). Prints each module's time. Each module's cache marker is
written as soon as it is built, so a waiting process can load it before the rest is done."""
from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    """Build the modules named in ``argv`` (e.g. ``._numba_cells``) first, then the rest."""
    from ..dispatch import compiled_modules  # noqa: PLC0415 - an entry point, imported by none

    modules = compiled_modules()         # float32 first, then the float64 variants
    modules.sort(key=lambda m: (m.module not in argv, bool(m.variant)))
    for compiled in modules:
        compiled.load()
        print(f"{compiled.label}: {compiled.seconds:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
