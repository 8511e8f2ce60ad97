"""One numba cache that any number of this project's processes can fill at once without breaking it.

librosa's kernels are `@guvectorize(cache=True)`: each one is cached as two entries (the kernel, and the gufunc wrapper
that calls it by its native name), and that name carries a counter of how many functions the process had compiled
before. When two processes compile at once (the app and its OpenVINO child, `tag` under torchrun, the tests' servers),
one can write the kernel and the other the wrapper; every later process then loads a wrapper that calls a kernel that
is not there, and dies with a segmentation fault on its first feature (numba issue #10128, unfixed in numba 0.68).
numba's index files are also read, updated and rewritten without a lock, so two processes can give one data file to
two signatures.

So every compilation (the whole of it: the cache lookup, the compile, the writes) holds an exclusive `flock` on a file
in the cache folder as well as numba's own in-process compiler lock: one process compiles and writes a kernel, and the
others wait and then load it. And the cache is this project's own folder (`~/.cache/genre-classifier/numba`, or under
`$XDG_CACHE_HOME`; `NUMBA_CACHE_DIR` when set wins), which stays writable where site-packages is not, and which no
cache broken before this fix can be in. The patch is installed when numba's compiler lock is first imported (numba
itself is imported lazily, by librosa's first use), so importing this package stays cheap.
"""

from __future__ import annotations

import importlib.util
import os
import sys

try:
    import fcntl
except ImportError:  # Windows: numba's own behaviour, unchanged
    fcntl = None

LOCK_NAME = "genre-classifier-compile.lock"
_COMPILER_LOCK_MODULE = "numba.core.compiler_lock"


def _default_dir() -> str | None:
    """The first of this project's cache folders that can be written, or None."""
    home_cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for path in (os.path.join(home_cache, "genre-classifier", "numba"), None):
        if path is None:  # no writable home: a temporary folder of this user's
            import tempfile

            path = os.path.join(tempfile.gettempdir(), f"genre-classifier-numba-{os.getuid()}")
        try:
            os.makedirs(path, exist_ok=True)
        except OSError:
            continue
        if os.access(path, os.W_OK | os.X_OK):
            return path
    return None


class _CrossProcessRLock:
    """numba's compiler `RLock`, which also holds an exclusive `flock` on `path` while a thread of this process holds
    it (the outermost acquire takes it, the matching release lets it go)."""

    def __init__(self, lock, path: str) -> None:
        self._lock = lock
        self._path = path
        self._depth = 0  # changed only by the thread that holds self._lock
        self._fd: int | None = None
        self._pid = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if not self._lock.acquire(blocking, timeout):
            return False
        self._depth += 1
        if self._depth == 1:
            self._flock(fcntl.LOCK_EX)
        return True

    def release(self) -> None:
        if self._depth > 0:
            self._depth -= 1
            if self._depth == 0:
                self._flock(fcntl.LOCK_UN)
        self._lock.release()

    __enter__ = acquire

    def __exit__(self, *exc) -> None:
        self.release()

    def _is_owned(self) -> bool:  # what numba's `require_global_compiler_lock` asks
        return self._lock._is_owned()

    def _flock(self, operation: int) -> None:
        # A forked child shares the parent's open file (and so its flock): it opens its own.
        if self._fd is None or self._pid != os.getpid():
            if operation == fcntl.LOCK_UN:
                return
            try:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            except OSError:  # no lock to take where nothing can be written: numba cannot write its cache there either
                self._fd = None
                return
            self._pid = os.getpid()
        try:
            fcntl.flock(self._fd, operation)
        except OSError:
            pass


def _patch(module) -> None:
    lock = module.global_compiler_lock
    if not isinstance(lock._lock, _CrossProcessRLock):
        lock._lock = _CrossProcessRLock(lock._lock, os.path.join(_cache_dir, LOCK_NAME))


class _PatchOnImport:
    """A `sys.meta_path` finder that patches numba's compiler lock as its module is imported."""

    _finding = False

    def find_spec(self, name, path=None, target=None):
        if name != _COMPILER_LOCK_MODULE or self._finding:
            return None
        self._finding = True
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._finding = False
        if spec is None or spec.loader is None:
            return None
        exec_module = spec.loader.exec_module

        def exec_and_patch(module) -> None:
            exec_module(module)
            _patch(module)

        spec.loader.exec_module = exec_and_patch
        return spec


_cache_dir = ""


def install() -> None:
    """Point numba at this project's cache (unless `NUMBA_CACHE_DIR` is set) and make its compilations take turns
    across processes. Idempotent; the package's `__init__` calls it before anything imports numba."""
    global _cache_dir
    if _cache_dir or fcntl is None:
        return
    _cache_dir = os.environ.get("NUMBA_CACHE_DIR") or _default_dir() or ""
    if not _cache_dir:
        return
    os.environ["NUMBA_CACHE_DIR"] = _cache_dir  # inherited by every child process too
    try:
        os.makedirs(_cache_dir, exist_ok=True)
    except OSError:  # numba then caches elsewhere, or not at all; a lock here would guard nothing
        return
    if "numba.core.config" in sys.modules:  # numba came first: it reads the variable again only when compiling
        sys.modules["numba.core.config"].reload_config()
    if _COMPILER_LOCK_MODULE in sys.modules:
        _patch(sys.modules[_COMPILER_LOCK_MODULE])
    else:
        sys.meta_path.insert(0, _PatchOnImport())
