"""A content-addressed build cache: an expensive artefact is reused only when everything it is made from
is unchanged, so the deck re-renders in seconds and never shows a stale picture.

* ``digest(*parts)`` hashes Python values canonically (numpy arrays by dtype, shape and bytes; dataclasses,
  dicts, sequences, numbers, strings; functions by their compiled code, defaults, closure and the globals
  they read), so equal inputs give equal keys in every process and on every machine with the same versions;
* ``restore(key, outputs)`` / ``store(key, outputs)``: files kept under their key (an animation's video
  and still), copied back to where the deck wants them;
* ``memo(fn, *args, **kwargs)``: a computation (a network sweep) reused when the source of the modules
  of ``code/`` it runs, its arguments (data included) and the library versions are unchanged
  (``memoized(fn)``: the same, as a function to hand on);

The cache lives in ``.cache/`` at the project root (``$OPTIMIZERS_CACHE_DIR`` overrides it), ignored by
git; deleting it at any time only costs a slower render, never a different one: every artefact is built
deterministically, so a rebuilt file is byte-identical to the cached one. Nothing here draws or computes.
"""
from __future__ import annotations

import ast
import dataclasses
import enum
import functools
import hashlib
import importlib.metadata
import json
import os
import pickle
import platform
import re
import shutil
import stat
import struct
import sys
import tempfile
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CODE = Path(__file__).resolve().parent


def cache_dir() -> Path:
    """Where entries live: ``$OPTIMIZERS_CACHE_DIR``, else ``<project>/.cache`` (read at every call, so a
    test or a render may point it elsewhere)."""
    return Path(os.environ.get("OPTIMIZERS_CACHE_DIR") or ROOT / ".cache")


# ---------------------------------------------------------------------------------------------
# Canonical hashing
# ---------------------------------------------------------------------------------------------

def digest(*parts) -> str:
    """Hex SHA-256 of ``parts``, hashed canonically (``feed``): the same values give the same key in any
    process; a value of a type it cannot hash faithfully raises ``TypeError`` rather than hash its id."""
    h = hashlib.sha256()
    feed(h, parts)
    return h.hexdigest()


def _tag(h, tag: str, payload: bytes = b""):
    h.update(tag.encode() + b"\0" + struct.pack("<Q", len(payload)) + payload)


def feed(h, obj, _seen=None):
    """Add ``obj`` to hash ``h``: every value is tagged with its kind and, for variable-size data, its length,
    so that different structures never give the same byte stream."""
    seen = _seen if _seen is not None else set()
    if obj is None or obj is Ellipsis or isinstance(obj, (bool, np.bool_, enum.Enum)):
        _tag(h, type(obj).__qualname__, repr(bool(obj) if isinstance(obj, np.bool_) else obj).encode())
    elif isinstance(obj, (int, np.integer)):
        _tag(h, "int", str(int(obj)).encode())
    elif isinstance(obj, (float, np.floating)):
        _tag(h, "float", float(obj).hex().encode())  # exact, and 0.1 == np.float64(0.1)
    elif isinstance(obj, complex):
        _tag(h, "complex", f"{obj.real.hex()},{obj.imag.hex()}".encode())
    elif isinstance(obj, str):
        _tag(h, "str", obj.encode("utf-8", "surrogatepass"))
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        _tag(h, "bytes", bytes(obj))
    elif isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            _tag(h, "object-array", repr(obj.shape).encode())
            for item in obj.ravel():
                feed(h, item, seen)
        else:
            _tag(h, "array", f"{obj.dtype.str}{obj.shape}".encode())
            h.update(np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, Path):
        _tag(h, "path", str(obj).encode())
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        _tag(h, "dataclass", f"{type(obj).__module__}.{type(obj).__qualname__}".encode())
        for f in dataclasses.fields(obj):
            feed(h, f.name, seen)
            feed(h, getattr(obj, f.name), seen)
    elif isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a NamedTuple: its class and fields
        _tag(h, "namedtuple", f"{type(obj).__module__}.{type(obj).__qualname__}".encode())
        feed(h, dict(zip(obj._fields, obj)), seen)
    elif isinstance(obj, (list, tuple)):
        _tag(h, type(obj).__name__, str(len(obj)).encode())
        for item in obj:
            feed(h, item, seen)
    elif isinstance(obj, dict):  # in insertion order: the order is part of what is drawn (labels, colours)
        _tag(h, "dict", str(len(obj)).encode())
        for k, v in obj.items():
            feed(h, k, seen)
            feed(h, v, seen)
    elif isinstance(obj, (set, frozenset)):
        _tag(h, "set", str(len(obj)).encode())
        for d in sorted(digest(item) for item in obj):
            h.update(d.encode())
    elif isinstance(obj, range):
        _tag(h, "range", f"{obj.start},{obj.stop},{obj.step}".encode())
    elif isinstance(obj, slice):
        _tag(h, "slice")
        feed(h, (obj.start, obj.stop, obj.step), seen)
    elif isinstance(obj, functools.partial):
        _tag(h, "partial")
        feed(h, (obj.func, obj.args, obj.keywords), seen)
    elif isinstance(obj, (types.FunctionType, types.MethodType)):
        _feed_function(h, obj, seen)
    elif isinstance(obj, types.CodeType):
        _feed_code(h, obj, seen)
    elif isinstance(obj, (types.ModuleType, types.BuiltinFunctionType, type, np.ufunc)):
        # By name: third-party code is covered by the versions in the key, the project's by its source.
        _tag(h, "named", f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', obj.__name__)}".encode())
    elif isinstance(obj, np.dtype):
        _tag(h, "dtype", obj.str.encode())
    else:
        raise TypeError(f"cache.digest cannot hash a {type(obj).__qualname__} faithfully; pass its data instead")


def _feed_code(h, code: types.CodeType, seen):
    """A compiled function body: bytecode, constants (nested bodies included) and the names it reads;
    not line numbers, so moving a function in its file keeps its key."""
    _tag(h, "code", code.co_code)
    feed(h, code.co_names, seen)
    feed(h, code.co_varnames, seen)
    _tag(h, "consts", str(len(code.co_consts)).encode())
    for c in code.co_consts:
        feed(h, c, seen)


def _global_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _global_names(c)
    return names


def _feed_function(h, fn, seen):
    """A function by what it computes: its code, defaults, closure and every global it reads (functions
    recursively, data by value, modules by name), so a change in a helper it calls changes its key."""
    if isinstance(fn, types.MethodType):
        _tag(h, "method")
        feed(h, (fn.__func__, fn.__self__), seen)
        return
    ident = id(fn)
    _tag(h, "function", f"{fn.__module__}.{fn.__qualname__}".encode())
    if ident in seen:  # recursion: the name is enough the second time
        return
    seen.add(ident)
    _feed_code(h, fn.__code__, seen)
    feed(h, (fn.__defaults__, fn.__kwdefaults__ or {}), seen)
    feed(h, tuple(c.cell_contents for c in fn.__closure__ or ()), seen)
    for name in sorted(_global_names(fn.__code__)):
        if name in fn.__globals__:
            value = fn.__globals__[name]
            feed(h, name, seen)
            try:
                sub = hashlib.sha256()
                feed(sub, value, seen)
                h.update(sub.digest())
            except TypeError:  # an object the function only passes on (a logger, a lock): its type
                _tag(h, "opaque", type(value).__qualname__.encode())


def file_digest(*paths) -> str:
    """SHA-256 over the names and bytes of ``paths`` (files, or folders read recursively in sorted order)."""
    h = hashlib.sha256()
    for p in paths:
        p = Path(p)
        for f in sorted(p.rglob("*")) if p.is_dir() else [p]:
            if f.is_file() and "__pycache__" not in f.parts:
                _tag(h, "file", str(f.relative_to(p.parent) if p.is_dir() else f.name).encode())
                h.update(f.read_bytes())
    return h.hexdigest()


def versions(*dists: str) -> dict[str, str]:
    """Installed versions of ``dists`` (``"missing"`` when one is not installed), with Python's."""
    out = {"python": platform.python_version()}
    for d in dists:
        try:
            out[d] = importlib.metadata.version(d)
        except importlib.metadata.PackageNotFoundError:
            out[d] = "missing"
    return out


def local_sources(module_file: Path) -> list[Path]:
    """``module_file`` and every module of ``code/`` it imports, directly or through another: the source a
    computation in that module may run (third-party libraries are covered by their versions)."""
    found, todo = [], [Path(module_file).resolve()]
    while todo:
        path = todo.pop()
        if path in found:
            continue
        found.append(path)
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            todo += [CODE / f"{n.split('.')[0]}.py" for n in names if (CODE / f"{n.split('.')[0]}.py").exists()]
    return sorted(found)


# ---------------------------------------------------------------------------------------------
# Entries: files kept under a key
# ---------------------------------------------------------------------------------------------

def _entry(kind: str, key: str) -> Path:
    return cache_dir() / kind / key[:2] / key


def _entry_name(index: int, output) -> str:
    """An entry's file for its ``index``-th output: by place, not by suffix alone, since two outputs may
    share one (a deck's PDF and its notes PDF)."""
    return f"file{index}{Path(output).suffix}"


def restore(key: str, outputs, kind: str = "media") -> bool:
    """Copy the entry ``key``'s files to ``outputs`` (paths; an entry file is named by its output's
    place and suffix) and return True, or return False when the entry is missing or incomplete. An output
    that already holds the same bytes is left untouched (its modification time too)."""
    entry = _entry(kind, key)
    sources = [entry / _entry_name(i, o) for i, o in enumerate(outputs)]
    if not all(s.is_file() for s in sources):
        return False
    for src, out in zip(sources, outputs):
        out = Path(out)
        data = src.read_bytes()
        if out.is_file() and out.stat().st_size == len(data) and out.read_bytes() == data:
            continue
        _write_atomic(out, data)
    return True


def store(key: str, outputs, kind: str = "media"):
    """Keep copies of ``outputs`` as the entry ``key``: written to a temporary folder and renamed into
    place whole, so a reader never sees half an entry, and two writers of one key do not clash."""
    entry = _entry(kind, key)
    if entry.is_dir():
        return
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=entry.parent))
    try:
        for i, out in enumerate(outputs):
            shutil.copyfile(out, tmp / _entry_name(i, out))
        os.replace(tmp, entry)
    except OSError:
        if not entry.is_dir():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Computations
# ---------------------------------------------------------------------------------------------

MEMO_VERSIONS = ("numpy", "scikit-learn", "scipy")
HITS: list[str] = []  # what this process took from the cache, and what it computed (for tests)
MISSES: list[str] = []


def memo_key(fn, *args, **kwargs) -> str:
    """The key of ``fn(*args, **kwargs)``: the source of ``fn``'s module and of every module of ``code/``
    it imports, ``fn``'s name, the arguments by value, and the versions of the numeric libraries."""
    module = sys.modules.get(fn.__module__)
    module_file = Path(getattr(module, "__file__", "") or "")
    if module_file.parent.resolve() != CODE:
        raise ValueError(f"fn must be a function of a module in {CODE}, got {fn.__module__}.{fn.__qualname__}")
    sources = local_sources(module_file)
    return digest("memo", fn.__module__, fn.__qualname__, file_digest(*sources), args, kwargs,
                  versions(*MEMO_VERSIONS))


def memo(fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, computed once and then read back from the cache while the source of the
    code it runs (its module in ``code/`` and the modules of ``code/`` that imports), its arguments and
    the library versions are unchanged. ``fn`` must be deterministic and its result picklable."""
    key = memo_key(fn, *args, **kwargs)
    path = _entry("memo", key) / "result.pickle"
    label = f"{fn.__qualname__}:{key[:12]}"
    if path.is_file():
        try:
            with open(path, "rb") as f:
                result = pickle.load(f)
            HITS.append(label)
            return result
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            pass  # a damaged or outdated entry: computed again below
    MISSES.append(label)
    result = fn(*args, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    with open(tmp, "wb") as f:
        pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    return result


def memoized(fn):
    """``fn`` as a function whose calls ``memo`` computes once: ``memoized(f)(*args)`` is ``memo(f, *args)``.
    For code that takes a function to call (``network.sweep``'s ``trainer``); picklable, so that worker
    processes can run it."""
    return functools.partial(memo, fn)


# ---------------------------------------------------------------------------------------------
# Cells: a deck's cells replayed from the cache when nothing they run changed
# ---------------------------------------------------------------------------------------------

CELL_CACHE_ENV = "OPTIMIZERS_CELL_CACHE"  # "0": every cell executes (the escape hatch)
CELL_VERSIONS = ("numpy", "matplotlib", "scipy", "scikit-learn", "imageio-ffmpeg", "colorspacious", "ipython",
                 "ipykernel")
CELL_SOURCES = ("code", "fonts", "requirements.txt")  # under the project root: what every cell may run or read
MEDIA_LINK = re.compile(r"""media/([\w./-]+\.(?:mp4|png|svg|jpg))""")


def _blob(sha: str) -> Path:
    return cache_dir() / "blobs" / sha[:2] / sha


def partial_path(path) -> Path:
    """Where a file is written before it is renamed to ``path``: ``.<name>.<pid>.part`` beside it, so that a
    reader never takes a half-written file for a whole one (``is_partial``) and two processes never share one."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.part")


def is_partial(path) -> bool:
    """Whether ``path`` may be a file still being written (``partial_path``: a dot file), not a result."""
    return Path(path).name.startswith(".")


def _write_atomic(path: Path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _is_reset(source: str) -> bool:
    """Whether a (transformed) cell runs ``%reset``: Quarto's cleanup cell, after the deck's last cell."""
    return re.search(r"^get_ipython\(\)\.run_line_magic\('reset',", source, re.M) is not None


class _Tee:
    """A stand-in for ``sys.stdout``/``sys.stderr`` while a cell is recorded: writes go through to the real
    stream and into the record, in order with the cell's displays."""

    def __init__(self, stream, name: str, events: list):
        self._stream, self._name, self._events = stream, name, events

    def write(self, text):
        if text:
            self._events.append({"kind": "stream", "name": self._name, "text": str(text)})
        return self._stream.write(text)

    def __getattr__(self, attr):
        return getattr(self._stream, attr)


class _Result:
    """What a replayed cell ends with when the cell ended with a shown value: the same data, shown again."""

    def __init__(self, data, metadata):
        self.data, self.metadata = data, metadata

    def _repr_mimebundle_(self, include=None, exclude=None):
        return self.data, self.metadata


class CellCache:
    """Runs a deck's cells through the cache (``enable_cell_cache`` installs it in the IPython kernel).

    Each cell's key is a running hash: the context (the source of ``code/``, the fonts, the pins, the
    library versions, matplotlib's settings, the setup cell) followed by the source of every cell run so
    far in this kernel, in order, this one included. A cell whose key is in the cache is not executed:
    what it showed (its stdout and stderr text, displays and shown value, in order) is shown again and the
    media files it wrote are put back, byte for byte. The first cell that misses first re-executes,
    silently, every cell skipped before it (their variables are needed; their outputs were already shown),
    then runs and is recorded for the next render; so is every cell after it until one hits again. A note
    edit changes no cell, so every cell hits; a changed cell re-runs itself and those after it."""

    def __init__(self, shell, context: str, media: Path):
        self.shell, self.media = shell, Path(media)
        self.chain = hashlib.sha256(context.encode())
        self.pending: dict[str, tuple] = {}  # key -> (chain after the cell, source), set when transformed
        self.skipped: list[str] = []  # sources of replayed cells not yet executed in this kernel
        self.recording = None
        self.replayed, self.executed = [], []  # keys, for tests and the benchmark

    # --- IPython's hooks ---------------------------------------------------------------------
    def transform(self, lines: list[str]) -> list[str]:
        """An ``input_transformers_post`` entry: the cell's code becomes a replay when it hits, a
        catch-up and a recording in front of the cell's own code when it misses. Pure: IPython may call it
        more than once for a cell; the state changes only when the cell runs."""
        source = "".join(lines)
        if not source.strip():  # an empty request (Quarto's inline expressions): nothing to run
            return lines
        if "get_ipython()" in source:  # magics act outside Python: run as they are, never replayed
            if _is_reset(source):
                # Quarto's cleanup cell, after the last cell: nothing to catch up on; and the kernel is
                # reset (Quarto may keep it for the next render), so this deck's cache steps aside
                self.uninstall()
                return lines
            return ["_cell_cache.catch_up()\n", *lines]
        after = self.chain.copy()
        after.update(struct.pack("<Q", len(source.encode())) + source.encode())
        key = after.hexdigest()
        self.pending[key] = (after, source)
        if self._entry(key).is_file():
            return [f"_cell_cache.replay({key!r})\n"]
        return [f"_cell_cache.begin({key!r})\n", *lines]

    def uninstall(self):
        """Stop running cells through this cache."""
        if self.transform in self.shell.input_transformers_post:
            self.shell.input_transformers_post.remove(self.transform)
        if self.post_run_cell in self.shell.events.callbacks["post_run_cell"]:
            self.shell.events.unregister("post_run_cell", self.post_run_cell)

    def post_run_cell(self, result):
        """End the recording of a cell: kept only when the cell ran to its end."""
        record, self.recording = self.recording, None
        if record is None:
            return
        key, events, before, streams = record
        sys.stdout, sys.stderr = streams
        del self.shell.display_pub.publish, self.shell.displayhook.write_format_data
        if result.error_before_exec is None and result.error_in_exec is None:
            # the media a background job is still writing are recorded when it is done
            now = self._media_state()
            touched = {p for p, state in now.items() if before.get(p) != state}
            after_background(lambda: self._store(key, events, touched))

    # --- what the transformed code calls -------------------------------------------------------
    def replay(self, key: str):
        """Show the cell's recorded outputs again and put its media back; it is not executed."""
        after, source = self.pending.pop(key)
        entry = json.loads(self._entry(key).read_text())
        for rel, sha in entry["media"].items():
            out, data = Path(rel), _blob(sha).read_bytes()
            if not (out.is_file() and out.stat().st_size == len(data) and out.read_bytes() == data):
                _write_atomic(out, data)
        self.chain = after
        self.skipped.append(source)
        self.replayed.append(key)
        for e in entry["events"]:
            if e["kind"] == "stream":
                (sys.stdout if e["name"] == "stdout" else sys.stderr).write(e["text"])
            elif e["kind"] == "display":
                self.shell.display_pub.publish(data=e["data"], metadata=e["metadata"])
            else:  # the value the cell ended with, shown where it was (before any figure shown after it)
                self.shell.displayhook(_Result(e["data"], e["metadata"]))

    def catch_up(self):
        """Execute, silently and in order, every cell replayed since the last executed one."""
        import io

        todo, self.skipped = self.skipped, []
        if not todo:
            return
        streams = (sys.stdout, sys.stderr)
        sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
        self.shell.display_pub.publish = lambda *a, **k: None
        try:
            for source in todo:
                code = self.shell.input_transformer_manager.transform_cell(source)
                exec(compile(code, "<cached cell>", "exec"), self.shell.user_ns)
                if "matplotlib.pyplot" in sys.modules:  # as the inline backend does after every cell
                    sys.modules["matplotlib.pyplot"].close("all")
        finally:
            sys.stdout, sys.stderr = streams
            del self.shell.display_pub.publish

    def begin(self, key: str):
        """Catch up, then record what this cell shows and which media files it writes."""
        after, source = self.pending.pop(key)
        self.catch_up()
        self.chain = after
        self.executed.append(key)
        events: list = []
        pub, hook = self.shell.display_pub, self.shell.displayhook
        publish, write_format_data = pub.publish, hook.write_format_data

        def recorded_publish(data, metadata=None, *args, **kwargs):
            events.append({"kind": "display", "data": data, "metadata": metadata or {}})
            return publish(data, metadata, *args, **kwargs)

        def recorded_result(format_dict, md_dict=None):
            events.append({"kind": "result", "data": format_dict, "metadata": md_dict or {}})
            return write_format_data(format_dict, md_dict)

        pub.publish, hook.write_format_data = recorded_publish, recorded_result
        streams = (sys.stdout, sys.stderr)
        sys.stdout, sys.stderr = _Tee(sys.stdout, "stdout", events), _Tee(sys.stderr, "stderr", events)
        self.recording = (key, events, self._media_state(), streams)

    # --- entries -----------------------------------------------------------------------------
    def _entry(self, key: str) -> Path:
        return _entry("cells", key).with_suffix(".json")

    def _media_state(self) -> dict:
        """``{path: (mtime, size)}`` of the media files. A background job may be writing some meanwhile: a
        partial file (``is_partial``, renamed when complete) is not media, and a file that is renamed or
        removed between the listing and its ``stat`` is passed over."""
        if not self.media.is_dir():
            return {}
        state = {}
        for p in self.media.rglob("*"):
            if is_partial(p):
                continue
            try:
                s = p.stat()
            except FileNotFoundError:
                continue
            if stat.S_ISREG(s.st_mode):
                state[p] = (s.st_mtime_ns, s.st_size)
        return state

    def _store(self, key: str, events: list, touched: set):
        """Keep the cell's events and the media files it wrote (``touched``) or shows (content-addressed,
        once each)."""
        shown = "".join(json.dumps(e.get("data", "")) + e.get("text", "") for e in events)
        touched |= {p for name in MEDIA_LINK.findall(shown) for p in [self.media / name] if p.is_file()}
        media = {}
        for p in sorted(touched):
            if is_partial(p):  # a partial file another writer left
                continue
            data = p.read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            if not _blob(sha).is_file():
                _write_atomic(_blob(sha), data)
            media[os.path.relpath(p)] = sha
        _write_atomic(self._entry(key), json.dumps({"events": events, "media": media}).encode())


def enable_cell_cache(setup_source: str, media, sources=None, shell=None):
    """Run the following cells of this IPython kernel through a ``CellCache`` (call it at the end of the
    deck's setup cell); ``setup_source`` is that cell's code, ``media`` the folder its cells write media
    to, ``sources`` the files and folders every cell may run or read (default ``CELL_SOURCES`` under the
    project root). The cache is the kernel's ``_cell_cache`` (hidden from ``%who``). Does nothing outside
    IPython or with ``$OPTIMIZERS_CELL_CACHE=0``."""
    if os.environ.get(CELL_CACHE_ENV, "1") == "0":
        return
    if shell is None:
        try:
            shell = get_ipython()  # noqa: F821 (IPython's builtin)
        except NameError:
            return
    for t in list(shell.input_transformers_post):  # a setup cell run twice installs one cache
        if isinstance(getattr(t, "__self__", None), CellCache):
            t.__self__.uninstall()
    import matplotlib

    sources = [ROOT / s for s in CELL_SOURCES] if sources is None else [Path(s) for s in sources]
    env = {k: v for k, v in sorted(os.environ.items()) if k.startswith(("QUARTO_FIG_", "DECK_"))}
    context = digest("cells", file_digest(*[s for s in sources if s.exists()]), setup_source,
                     {k: repr(v) for k, v in sorted(matplotlib.rcParams.items())}, env,
                     os.path.relpath(Path(media)), versions(*CELL_VERSIONS))
    cells = CellCache(shell, context, Path(media))
    shell.user_ns["_cell_cache"] = cells
    shell.user_ns_hidden["_cell_cache"] = cells
    shell.input_transformers_post.append(cells.transform)
    shell.events.register("post_run_cell", cells.post_run_cell)


# ---------------------------------------------------------------------------------------------
# Background jobs: an artefact built in a forked process while the deck's next cells run
# ---------------------------------------------------------------------------------------------

_JOBS: list = []  # (pid, label, report file, the run slots' write end) of the jobs not yet waited for
_AFTER: list = []  # what waits for them (a cell's cache entry, which records the media they write)
_SLOTS: dict = {}  # (this process, limit) -> (read end, write end) of a pipe holding one byte per free run slot
MAX_WAITING = 16  # jobs that may wait for a run slot at once: each holds the memory it was forked with


def _slots(limit: int) -> tuple[int, int]:
    """The run slots of this process's jobs: a pipe with ``limit`` bytes in it. A job takes a byte before it
    starts and puts it back when it ends, so at most ``limit`` jobs run at once while the others wait."""
    key = (os.getpid(), limit)
    if key not in _SLOTS:
        r, w = os.pipe()
        os.write(w, b"x" * limit)
        _SLOTS[key] = (r, w)
    return _SLOTS[key]


def background(fn, label: str, limit: int | None = None):
    """Run ``fn()`` in a forked copy of this process (nothing is pickled: the child sees this process's
    state as it is now) and return at once. At most ``limit`` (default: the machine's cores) jobs run at
    a time, at a lower priority than this process (``nice`` 10); a job forked while they run waits for
    a free slot. So the deck's next cells go on at once and keep the cores the jobs leave: the jobs fill
    the rest, also while the cells compute alone. Only when ``MAX_WAITING`` jobs wait does a new one
    first wait for the oldest to end. What the child writes to stdout or stderr, and the error it
    raises, are reported by ``wait_background``. Not on platforms without ``fork``."""
    limit = limit or os.cpu_count() or 1
    for job in list(_JOBS):  # collect the jobs that ended, so that their errors surface early
        _wait_one(job, block=False)
    while len(_JOBS) >= limit + MAX_WAITING:
        _wait_one(_JOBS[0])
    slot_r, slot_w = _slots(limit)
    report = Path(tempfile.mkstemp(prefix="job-", suffix=".txt")[1])
    sys.stdout.flush(), sys.stderr.flush()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: never returns, never touches the parent's streams or sockets
        import io
        import traceback

        code, out, slot = 1, io.StringIO(), b""
        sys.stdout = sys.stderr = out
        try:
            _end_with(parent)
            os.nice(10)
            slot = os.read(slot_r, 1)  # waits for a run slot
            fn()
            code = 0
        except BaseException as e:  # noqa: BLE001 (reported to the parent, which raises it)
            out.write(f"{label}: {type(e).__name__}: {e}\n{traceback.format_exc()}")
        finally:
            try:
                report.write_text(out.getvalue())
            finally:
                os.write(slot_w, slot)  # the slot back, if it got one
                os._exit(code)
    _JOBS.append((pid, label, report, slot_w))
    _wait_before_cleanup()


def _end_with(parent: int):
    """In a job: on Linux, be killed when ``parent`` (the kernel that forked it) dies, as when a render is
    stopped and its kernel ended, instead of building on for nobody; exit at once if it died already.
    Elsewhere jobs run to their end."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # no C library to ask: the job runs to its end
        return
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)


def _wait_before_cleanup():
    """In an IPython kernel, make Quarto's cleanup cell (``%reset``, run after the deck's last cell and
    before Quarto collects the media) wait for the background jobs first, and fail if one failed."""
    try:
        shell = get_ipython()  # noqa: F821 (IPython's builtin)
    except NameError:
        return
    if _wait_transform not in shell.input_transformers_post:
        shell.input_transformers_post.insert(0, _wait_transform)


def _wait_transform(lines: list[str]) -> list[str]:
    if _is_reset("".join(lines)) and _JOBS + _FAILED + _AFTER:
        return [f"__import__('sys').modules[{__name__!r}].wait_background()\n", *lines]
    return lines


_FAILED: list[str] = []


def _wait_one(job, block: bool = True):
    """Collect ``job`` once it ended (at once if not ``block`` and it has not): record its failure or
    pass on what it printed."""
    pid, label, report, slot_w = job
    done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
    if done == 0:
        return
    _JOBS.remove(job)
    text = report.read_text() if report.is_file() else ""
    report.unlink(missing_ok=True)
    if os.WIFSIGNALED(status):  # killed: it may have died holding a run slot; give one back (never fewer)
        os.write(slot_w, b"x")
    if os.waitstatus_to_exitcode(status) != 0:
        _FAILED.append(text.strip() or f"{label}: the job ended with status {status}")
    elif text:
        sys.stderr.write(text)  # a warning the job printed, shown as the serial build would show it


def wait_background():
    """Wait for every background job; then run what waited for them (``after_background``). Raises
    ``RuntimeError`` with each failed job's error (its artefact is then not kept) after all have ended."""
    while _JOBS:
        _wait_one(_JOBS[0])
    after, _AFTER[:] = list(_AFTER), []
    failed, _FAILED[:] = list(_FAILED), []
    if failed:
        raise RuntimeError("background build failed:\n" + "\n".join(failed))
    for fn in after:
        fn()


def after_background(fn):
    """Call ``fn()`` now if no background job runs, else once they all ended well (``wait_background``)."""
    if _JOBS or _FAILED:
        _AFTER.append(fn)
    else:
        fn()
