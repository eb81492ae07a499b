"""Loading the compiled-kernel modules (numba), without ever making a call wait for the
compiler.

numba is a default dependency where its wheels exist, but nothing here imports it until
a kernel is wanted, so ``import unrolled`` never pays numba's import. Each compiled module
(``_numba_lstm``, ``_numba_cells``, ``_numba_cells_train``) is a :class:`CompiledModule`
in one of these states:

* ``absent`` -- numba or SciPy cannot be imported (:func:`missing_reason` says why);
* ``cold`` -- not loaded yet;
* ``building`` -- being compiled or loaded from numba's disk cache, in the background;
* ``ready`` -- loaded: the selector now picks the compiled kernels;
* ``failed`` -- the import or the compile raised (the error is kept and reported).

With ``UNROLLED_COMPILE=background`` (the default), the first call that wants a compiled
kernel starts the build and runs on the NumPy (or reference) kernel meanwhile. When no
disk cache from an earlier build is known (a first run), the compile runs in a separate
Python process (:mod:`.build`), on another core and without our GIL, which also fills the
cache when this process is short-lived; this process then loads the cache in a thread.
``UNROLLED_COMPILE=wait`` restores the old behaviour: the first call waits for the build.

Compiled code is cached on disk (numba's ``cache=True``): next to the modules when that
folder is writable, else in numba's per-user cache folder (or ``NUMBA_CACHE_DIR``).
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
import time
from types import ModuleType
from typing import Any, Callable

_PACKAGE = "unrolled.core.kernels"
_KERNELS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPILE_MODES = ("background", "wait")


def compile_mode() -> str:
    """``UNROLLED_COMPILE``: ``background`` (default) or ``wait``."""
    mode = os.environ.get("UNROLLED_COMPILE", "").strip().lower() or "background"
    if mode not in COMPILE_MODES:
        raise ValueError(f"UNROLLED_COMPILE must be one of {COMPILE_MODES}, got {mode!r}.")
    return mode


def missing_reason() -> str | None:
    """Why the compiled kernels cannot be used here (None: numba and SciPy are there)."""
    for name, why in (("numba", "numba not installed (pip install 'unrolled[fast]')"),
                      ("scipy", "scipy not installed; numba needs it for BLAS "
                                "(pip install 'unrolled[fast]')")):
        try:
            if importlib.util.find_spec(name) is None:
                return why
        except (ImportError, ValueError):   # an import hook refused it: treat as absent
            return why
    return None


def _writable(folder: str) -> bool:
    while not os.path.isdir(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            return False
        folder = parent
    return os.access(folder, os.W_OK)


def _fallback_cache_dir() -> str:
    import tempfile  # noqa: PLC0415

    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return os.path.join(tempfile.gettempdir(), f"unrolled-numba-cache-{uid}")


def choose_cache_dir() -> None:
    """Make sure numba has somewhere to write its cache (else ``cache=True`` raises).

    numba writes next to the kernels (``__pycache__``), else under the user's cache folder.
    When neither is writable (read-only site-packages, no home), use a per-user folder in
    the temp directory. ``NUMBA_CACHE_DIR`` always wins.
    """
    import numba  # noqa: PLC0415 - optional dependency

    if numba.config.CACHE_DIR:
        return
    here = os.path.join(_KERNELS_DIR, "__pycache__")
    user = os.path.join(os.path.expanduser("~"), ".cache")
    if _writable(here) or _writable(user):
        return
    numba.config.CACHE_DIR = _fallback_cache_dir()


def import_compiled(module: str, what: str) -> ModuleType:
    """Import one compiled-kernel module (``"._numba_lstm"``, ...) with a writable numba
    cache folder; without numba or SciPy, an ImportError that names the extra. ``what``
    starts that message, e.g. "the numba LSTM kernel needs"."""
    try:
        choose_cache_dir()
        return importlib.import_module(module, _PACKAGE)
    except ImportError as err:
        raise ImportError(f"{what} numba and scipy: {err}. "
                          "Install them with: pip install 'unrolled[fast]'") from err


# -- "a build of these sources was cached before" ------------------------------------------

def _marker_dir() -> str:
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        return env
    here = os.path.join(_KERNELS_DIR, "__pycache__")
    if _writable(here):
        return here
    user = os.path.join(os.path.expanduser("~"), ".cache", "unrolled")
    return user if _writable(user) else _fallback_cache_dir()


def _marker(module: str) -> str:
    """A file whose presence says this module's sources were compiled into the cache by
    this Python and numba (``module`` like ``"._numba_lstm"``)."""
    import hashlib  # noqa: PLC0415 - keep ``import unrolled`` light
    import importlib.metadata  # noqa: PLC0415

    src = os.path.join(_KERNELS_DIR, module.lstrip(".") + ".py")
    try:
        st = os.stat(src)
        numba_version = importlib.metadata.version("numba")
    except (OSError, importlib.metadata.PackageNotFoundError):
        return ""
    key = f"{src}:{st.st_size}:{st.st_mtime_ns}:{sys.version}:{numba_version}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    return os.path.join(_marker_dir(), f"unrolled{module}.{digest}.built")


def _mark_built(module: str) -> None:
    path = _marker(module)
    if not path:
        return
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write("compiled\n")
    except OSError:
        pass


def cache_known(module: str) -> bool:
    path = _marker(module)
    return bool(path) and os.path.exists(path)


# -- the modules -------------------------------------------------------------------------------

_generation = 0        # bumped on every state change, so memoised choices are redone
_build_lock = threading.Lock()   # one build at a time (numba compiles under one lock anyway)


def generation() -> int:
    return _generation


def _bump() -> None:
    global _generation
    _generation += 1


_instances: list["CompiledModule"] = []


def registered() -> list["CompiledModule"]:
    """The compiled-kernel modules (and float64 variants) registered so far: each kernel
    module registers its own when imported (:func:`..dispatch.compiled_modules` imports
    them all first, so this runtime layer never imports the kernels above it)."""
    return list(_instances)


class CompiledModule:
    """One compiled-kernel module: loaded once, on demand (:meth:`load`, blocking) or in
    the background (:meth:`start`); ``warm`` compiles (or loads) its signatures."""

    def __init__(self, module: str, what: str,
                 warm: Callable[[ModuleType], None] | None = None, variant: str = "") -> None:
        _instances.append(self)
        self.module, self.what, self.warm = module, what, warm
        self.variant = variant               # e.g. "float64": more signatures of a module
        self._mod: ModuleType | None = None
        self._lock = threading.RLock()
        self.state = "cold"
        self.error: str | None = None
        self.seconds: float | None = None    # import + compile/load time, once loaded
        self.started: float | None = None    # when the build began (perf_counter)
        self.how = ""                        # "in this process" / "in a build process"

    def __repr__(self) -> str:
        variant = f", {self.variant!r}" if self.variant else ""
        return f"CompiledModule({self.module!r}{variant}, state={self.status()!r})"

    @property
    def label(self) -> str:
        """The module's name, with its variant (``_numba_lstm``, ``_numba_lstm float64``)."""
        return self.module.lstrip(".") + (f" {self.variant}" if self.variant else "")

    def status(self) -> str:
        if self.state == "cold" and missing_reason() is not None:
            return "absent"
        return self.state

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def get(self) -> ModuleType:
        """The module, loading it now if needed (blocking; re-raises a failed build)."""
        mod = self._mod
        if mod is not None:
            return mod
        return self.load()

    def load(self) -> ModuleType:
        with self._lock:
            if self._mod is not None:
                return self._mod
            start = time.perf_counter()
            if self.started is None:
                self.started = start
                self.how = "in this process"
            self.state = "building"
            try:
                mod = import_compiled(self.module, self.what)
                self._mod = mod          # warm() calls the kernels, which call get()
                if self.warm is not None:
                    self.warm(mod)
            except BaseException as err:
                self._mod = None
                self.state, self.error = "failed", f"{type(err).__name__}: {err}"
                _bump()
                raise
            self.seconds = time.perf_counter() - start
            self.state = "ready"
            _mark_built(self.module)
            _bump()
            return mod

    def start(self) -> None:
        """Build in the background (once); calls keep running on the fallback kernel."""
        with self._lock:
            if self.state != "cold" or self._mod is not None:
                return
            self.state, self.started = "building", time.perf_counter()
            _bump()
        threading.Thread(target=self._build, name=f"unrolled-build{self.module}",
                         daemon=True).start()

    def _build(self) -> None:
        with _build_lock:
            if not cache_known(self.module):
                self.how = "in a build process, then loaded from the cache"
                _build_in_subprocess(self.module)
            else:
                self.how = "loaded from the cache in a background thread"
            try:
                self.load()
            except BaseException:  # noqa: BLE001 - kept in self.error, reported by the selector
                pass

    def describe(self) -> str:
        state = self.status()
        if state == "ready":
            return f"ready (built or loaded in {self.seconds:.2f} s, {self.how})"
        if state == "building":
            since = time.perf_counter() - (self.started or time.perf_counter())
            return f"building for {since:.1f} s ({self.how or 'starting'})"
        if state == "failed":
            return f"failed: {self.error}"
        if state == "absent":
            return f"absent: {missing_reason()}"
        return "cold (not needed yet)"


_builder: Any = None   # the build process (subprocess.Popen), once started


def _build_in_subprocess(module: str) -> None:
    """Compile the kernel modules in a separate process (it fills numba's disk cache,
    ``module`` first) and wait until ``module`` is in the cache. The process survives this
    one, so a short run still leaves a cache behind for the next."""
    import subprocess  # noqa: PLC0415

    global _builder
    if _builder is None:
        env = dict(os.environ)
        src = os.path.dirname(os.path.dirname(os.path.dirname(_KERNELS_DIR)))
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        try:
            _builder = subprocess.Popen(
                [sys.executable, "-m", "unrolled.core.kernels.runtime.build", module], env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True)
        except OSError:
            return       # no subprocess here: load() compiles in this process instead
    while _builder.poll() is None and not cache_known(module):
        time.sleep(0.05)


def _after_fork_in_child() -> None:
    """A forked child (multiprocessing's fork start method) has no build thread: fresh
    locks, and a module the parent was still building starts cold again."""
    global _build_lock, _builder
    _build_lock = threading.Lock()
    _builder = None
    for module in _instances:
        module._lock = threading.RLock()
        if module.state != "ready":   # also a module imported but still warming up (the
            module._mod = None        # parent's build thread had set _mod): redo it here
            module.state, module.started, module.how = "cold", None, ""


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
