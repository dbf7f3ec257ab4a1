"""Files that never half-exist: one write path, one read path, and locks.

Writing. A single file is written to a temporary file beside it, fsynced, then renamed into place. The outputs of
one command that belong together (a dataset with its -val file and sidecar, a checkpoint with its record, an
evaluation with its pictures) are committed as a set (`FileSet`): every member is staged as a temporary file
first; then a journal naming each rename is written; then the renames run, the set's manifest (a JSON file naming
each member's sha256) last; then the journal goes. Killed before the journal exists, the old set is untouched and
the temporary files are stale; killed after, `recover` finishes the renames. Either way the set is the old one
or the new one; `verify` detects any other state and says which command repairs it.

Reading. `read_regular` (regular files only, size-limited, never blocks on a FIFO), `read_json` (size, nesting and
a schema), `inspect_npz` / `read_npz_arrays` (the zip directory and every .npy header are checked before anything
is decompressed).

Locking. `Lock` is an flock on a file holding the owner's pid and host; a lock left by a dead process is free
(flock dies with its process) and is taken over with a message.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import fcntl
import hashlib
import io
import json
import os
import socket
import stat
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ethogram.errors import EthogramError

_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed zip timestamps: same arrays, same bytes
TMP_SUFFIX = ".ethogram-tmp"
JOURNAL_SUFFIX = ".ethogram-commit"
MAX_JSON_BYTES = 64 << 20
MAX_JSON_DEPTH = 64
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def umask() -> int:
    """The process's file-creation mask (read without changing it where the platform allows)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, and put it back at once
    os.umask(mask)
    return mask


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_error(path: Path, e: OSError, outcome: str = "Nothing was changed.") -> EthogramError:
    """The one message for a write that the file system refused, saying what was kept."""
    if e.errno in _NO_SPACE:
        return EthogramError(f"cannot write '{path}': {os.strerror(e.errno)} (the disk or a file-size limit is "
                             f"full). {outcome}", "free some space, or write somewhere else")
    return EthogramError(f"cannot write '{path}': {e.strerror or e}. {outcome}", "choose a place you can write to")


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _stage(path: Path, data: bytes) -> Path:
    """`data` in a fsynced temporary file beside `path` (with the mode of any file the user creates)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~umask())
            os.fsync(f.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


_ACTIVE: contextvars.ContextVar[FileSet | None] = contextvars.ContextVar("ethogram_file_set", default=None)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `path` whole or not at all (readers see the old file or the new one).

    Inside an open `FileSet` of the same directory the file is staged as a member of that set instead."""
    path = Path(path)
    active = _ACTIVE.get()
    if active is not None and active.owns(path):
        active.write(path, data)
        return
    try:
        tmp = _stage(path, data)
        try:
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as e:
        raise write_error(path, e) from None


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def json_bytes(obj: Any) -> bytes:
    try:
        return (json.dumps(obj, indent=2, allow_nan=False) + "\n").encode()
    except ValueError as e:  # NaN or inf: strict JSON has no such number
        raise EthogramError(f"refusing to write a record holding NaN or inf ({e}).",
                            "this is a bug in the caller: check the inputs for NaN") from None


class FileSet:
    """Files of one directory committed together, with `manifest` (a JSON record) written last.

        with FileSet(run_dir / "checkpoint.json") as fs:
            fs.write(run_dir / "checkpoint.safetensors", data)
            fs.commit({"step": 1000})

    The manifest gets a "files" entry: each member's name and sha256. Leaving the block without `commit` (an
    exception) removes what was staged and changes nothing. While the block is open, `atomic_write_bytes` of a
    path in the directory stages that file in the set (so plotting code writes pictures as members), and writing
    the manifest path itself sets the record."""

    def __init__(self, manifest: str | Path, remove: tuple[str | Path, ...] = ()):
        self.manifest = Path(manifest)
        self.directory = self.manifest.parent
        self.staged: dict[str, tuple[Path, str]] = {}
        self.remove = [Path(p).name for p in remove]
        self.record: dict | None = None
        self._token = None

    def owns(self, path: Path) -> bool:
        return path.parent.resolve() == self.directory.resolve()

    def write(self, path: str | Path, data: bytes) -> None:
        path = Path(path)
        if not self.owns(path):
            raise ValueError(f"{path} is not in {self.directory}")
        if path.name == self.manifest.name:
            obj = json.loads(data)
            if not isinstance(obj, dict):
                raise ValueError("a manifest is a JSON object")
            self.record = obj
            return
        old = self.staged.pop(path.name, None)
        if old:
            old[0].unlink(missing_ok=True)
        try:
            self.staged[path.name] = (_stage(path, data), sha256(data))
        except OSError as e:
            raise write_error(path, e) from None
        if path.name in self.remove:
            self.remove.remove(path.name)

    def __enter__(self) -> FileSet:
        self._token = _ACTIVE.set(self)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        _ACTIVE.reset(self._token)
        if exc_type is None and self.record is not None:
            self.commit(self.record)
        self.discard()

    def discard(self) -> None:
        for tmp, _ in self.staged.values():
            tmp.unlink(missing_ok=True)
        self.staged.clear()

    def commit(self, record: dict) -> None:
        """Make the staged members and the manifest the current set, all or nothing."""
        record = {k: v for k, v in record.items() if k != "files"}
        record["files"] = {name: digest for name, (_, digest) in sorted(self.staged.items())}
        man_tmp = None
        try:
            man_tmp = _stage(self.manifest, json_bytes(record))
            renames = [[tmp.name, name] for name, (tmp, _) in sorted(self.staged.items())]
            renames.append([man_tmp.name, self.manifest.name])
            journal = {"renames": renames, "remove": self.remove}
            journal_path = self.directory / f".{self.manifest.name}{JOURNAL_SUFFIX}"
            tmp = _stage(journal_path, json_bytes(journal))
            os.replace(tmp, journal_path)  # from here on the new set is the one `recover` completes
        except OSError as e:
            self.discard()
            if man_tmp is not None:
                man_tmp.unlink(missing_ok=True)
            raise write_error(self.manifest, e) from None
        except BaseException:
            self.discard()
            raise
        _fsync_dir(self.directory)
        _replay(self.directory, journal_path, journal)
        self.staged.clear()
        self.record = None


def _replay(directory: Path, journal_path: Path, journal: dict) -> None:
    for tmp, name in journal["renames"]:
        if (directory / tmp).exists():
            os.replace(directory / tmp, directory / name)
    for name in journal["remove"]:
        (directory / name).unlink(missing_ok=True)
    _fsync_dir(directory)
    journal_path.unlink(missing_ok=True)
    _fsync_dir(directory)


def _journal(path: Path) -> dict | None:
    try:
        j = json.loads(read_regular(path, "a commit journal", max_bytes=1 << 20))
        names = [n for pair in j["renames"] for n in pair] + list(j["remove"])
        if all(isinstance(n, str) and n and "/" not in n and n not in (".", "..") for n in names) and all(
                len(pair) == 2 for pair in j["renames"]):
            return j
    except (EthogramError, ValueError, KeyError, TypeError):
        pass
    return None


def pending(directory: str | Path, names: set[str] | None = None) -> list[Path]:
    """Journals and stale temporary files left in `directory` by an interrupted write (of `names` only)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    out = []
    for p in sorted(directory.iterdir()):
        n = p.name
        if n.startswith(".") and (n.endswith(TMP_SUFFIX) or n.endswith(JOURNAL_SUFFIX)):
            member = n[1:].rsplit(".", 2)[0] if n.endswith(TMP_SUFFIX) else n  # .NAME.XXXXXXXX.ethogram-tmp
            if member.endswith(JOURNAL_SUFFIX):  # a journal, or a journal's temporary file: its manifest
                member = member[1:-len(JOURNAL_SUFFIX)]
            if names is None or member in names or member == "write-probe":
                out.append(p)
    return out


def recover(directory: str | Path, names: set[str] | None = None) -> list[str]:
    """Finish interrupted commits and delete stale temporary files (of the members `names` only, when given).

    Call it only while holding the directory's lock. Returns what was done, for a message."""
    directory = Path(directory)
    done = []
    for p in pending(directory, names):
        if p.name.endswith(JOURNAL_SUFFIX):
            j = _journal(p)
            if j is not None:
                _replay(directory, p, j)
                done.append(f"completed the interrupted write of {', '.join(n for _, n in j['renames'])}")
            else:
                p.unlink(missing_ok=True)
    for p in pending(directory, names):
        p.unlink(missing_ok=True)
        done.append(f"deleted the stale temporary file {p.name}")
    return done


def verify(manifest: str | Path, repair: str, data: dict[str, bytes] | None = None) -> None:
    """Refuse a set that is not whole: an unfinished commit, or a member that is not the one its manifest names.

    `data`: members already read (name -> bytes), so that they are not read twice."""
    manifest = Path(manifest)
    journal = manifest.parent / f".{manifest.name}{JOURNAL_SUFFIX}"
    if journal.exists():
        raise EthogramError(f"the write of '{manifest}' and the files beside it was interrupted and is not "
                            "finished.", repair)
    if not manifest.exists():
        return
    record = read_json(manifest, "a manifest", repair)
    files = record.get("files") if isinstance(record, dict) else None
    if files is None:
        return  # written before sets had manifests
    if not isinstance(files, dict):
        raise EthogramError(f"'{manifest}': 'files' must be an object of sha256 digests.", repair)
    for name, digest in files.items():
        member = manifest.parent / str(name)
        if "/" in str(name) or not member.is_file():
            raise EthogramError(f"'{member}', named in '{manifest.name}', is missing.", repair)
        got = sha256(data[name]) if data and name in data else file_sha256(member)
        if got != digest:
            raise EthogramError(f"'{member}' does not belong with '{manifest.name}': the files are a mixture of two "
                                "writes (an interrupted command, or a file copied in by hand).", repair)


# ------------------------------------------------------------------------------------------- reading

def read_regular(path: str | Path, what: str, max_bytes: int, fix: str | None = None) -> bytes:
    """The bytes of a regular file of at most `max_bytes`; anything else (missing, a directory, a FIFO, a device,
    too large) is a clear error. Never blocks."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise EthogramError(f"{what} '{path}' does not exist.", fix) from None
    except IsADirectoryError:
        raise EthogramError(f"{what} '{path}' is a directory, not a file.", fix) from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise EthogramError(f"{what} '{path}' is a symbolic link loop.", fix) from None
        raise EthogramError(f"cannot read {what} '{path}': {e.strerror or e}.", fix) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise EthogramError(f"{what} '{path}' is a directory, not a file.", fix)
        if not stat.S_ISREG(st.st_mode):
            raise EthogramError(f"{what} '{path}' is not a regular file (a FIFO, socket or device).", fix)
        if st.st_size > max_bytes:
            raise EthogramError(f"{what} '{path}' is {st.st_size / 2**20:.1f} MiB, more than the "
                                f"{max_bytes / 2**20:.1f} MiB such a file can be.", fix)
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise EthogramError(f"{what} '{path}' grew past {max_bytes} bytes while it was read.", fix)
        return data
    except OSError as e:
        raise EthogramError(f"cannot read {what} '{path}': {e.strerror or e}.", fix) from None
    finally:
        os.close(fd)


def _depth(obj, limit: int) -> int:
    stack, deepest = [(obj, 1)], 0
    while stack:
        x, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(x, dict):
            stack.extend((v, d + 1) for v in x.values())
        elif isinstance(x, list):
            stack.extend((v, d + 1) for v in x)
    return deepest


def read_json(path: str | Path, what: str, fix: str | None = None, max_bytes: int = MAX_JSON_BYTES,
              schema=None):
    """A JSON file, read through `read_regular`: valid UTF-8 JSON (no NaN), nested at most 64 levels, and, with
    `schema` (a pydantic TypeAdapter or type), every field of the right type and range."""
    path = Path(path)
    raw = read_regular(path, what, max_bytes, fix)
    try:
        text = raw.decode("utf-8")
        # Nesting is bounded before parsing: the parser recurses.
        if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _bracket_depth(text) > MAX_JSON_DEPTH:
            raise EthogramError(f"{what} '{path}' is malformed: nested more than {MAX_JSON_DEPTH} levels deep.", fix)
        obj = json.loads(text, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise EthogramError(f"{what} '{path}' is malformed: not UTF-8 text.", fix) from None
    except (json.JSONDecodeError, RecursionError, ValueError) as e:
        raise EthogramError(f"{what} '{path}' is malformed: not valid JSON ({e}).", fix) from None
    if schema is not None:
        check_schema(obj, schema, f"{what} '{path}'", fix)
    return obj


def check_schema(obj, schema, where: str, fix: str | None = None):
    """Validate `obj` strictly against `schema` (extra fields allowed); a clear error naming the first fields
    that are wrong."""
    from pydantic import TypeAdapter, ValidationError

    adapter = schema if isinstance(schema, TypeAdapter) else TypeAdapter(schema)
    try:
        return adapter.validate_python(obj, strict=True)
    except ValidationError as e:
        parts = []
        for err in e.errors()[:3]:
            field = ".".join(str(x) for x in err["loc"]) or "(top level)"
            parts.append(f"'{field}': {err['msg'].lower()} (got {_short(err.get('input'))})")
        raise EthogramError(f"{where} is malformed: " + "; ".join(parts) + ".", fix) from None


def _short(x) -> str:
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _bracket_depth(text: str) -> int:
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_JSON_DEPTH:
                return deepest
        elif ch in "]}":
            depth -= 1
    return deepest


def memory_bytes() -> int:
    """Physical memory of the machine (what a size estimate is compared with)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 16 << 30


def check_memory(estimate: int, what: str, fix: str) -> None:
    """Refuse up front a job whose arrays would need more than half the machine's memory."""
    limit = memory_bytes() // 2
    if estimate > limit:
        raise EthogramError(f"{what} would need about {estimate / 2**30:.1f} GiB of memory; this machine has "
                            f"{memory_bytes() / 2**30:.1f} GiB (at most half of it is used for one job).", fix)


# ------------------------------------------------------------------------------------------------ npz

def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A compressed .npz (readable by np.load and ogbench.load_dataset) whose bytes depend only on the arrays."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, value in arrays.items():
            arr = io.BytesIO()
            np.lib.format.write_array(arr, np.ascontiguousarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, arr.getvalue())
    return buf.getvalue()


class NpyMember:
    """What the zip directory and the .npy header say about one member, before its data is decompressed."""

    def __init__(self, key: str, dtype: np.dtype, shape: tuple[int, ...], fortran: bool):
        self.key, self.dtype, self.shape, self.fortran = key, dtype, shape, fortran

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=object)) * self.dtype.itemsize


def _zip_error(path: Path, problem: str, fix: str) -> EthogramError:
    return EthogramError(f"'{path}' is not a readable .npz file ({problem}); it may be truncated or corrupted.", fix)


def inspect_npz(zf: zipfile.ZipFile, path: Path, fix: str) -> dict[str, NpyMember]:
    """Every member checked from the zip directory and its .npy header alone: a name ending in .npy, a plain
    numeric dtype (never objects), and an uncompressed size equal to the header's plus the shape's bytes."""
    out = {}
    for info in zf.infolist():
        if not info.filename.endswith(".npy") or "/" in info.filename:
            raise EthogramError(f"'{path}': member '{info.filename}' is not an .npy array.",
                                "save every array with np.savez, or collect the dataset again")
        key = info.filename[:-4]
        try:
            with zf.open(info) as f:
                head = f.read(16 + 65536)
            bio = io.BytesIO(head)
            if head[:6] != b"\x93NUMPY":
                raise EthogramError(f"'{path}': member '{key}' is not an .npy array (it does not start with the "
                                    "npy magic bytes).", "save every array with np.savez, or collect the dataset "
                                    "again")
            version = np.lib.format.read_magic(bio)
            reader = {(1, 0): np.lib.format.read_array_header_1_0,
                      (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if reader is None:
                raise ValueError(f"npy format version {version} is not supported")
            shape, fortran, dtype = reader(bio)  # refuses headers beyond numpy's safety limit
        except EthogramError:
            raise
        except Exception as e:  # zlib.error, BadZipFile, ValueError from the header parser, ...
            raise _zip_error(path, f"member '{info.filename}': {type(e).__name__}: {e}", fix) from None
        if dtype.hasobject:
            raise EthogramError(f"'{path}' holds Python objects (pickled arrays) in '{key}'; ethogram never loads "
                                "pickles.", "save plain numeric arrays")
        member = NpyMember(key, dtype, tuple(int(s) for s in shape), fortran)
        if info.file_size != bio.tell() + member.nbytes:
            raise _zip_error(path, f"member '{info.filename}' says it holds {info.file_size} bytes, but its header "
                             f"describes {bio.tell() + member.nbytes}", fix)
        out[key] = member
    return out


def read_npz_arrays(path: str | Path, what: str, fix: str, keys: tuple[str, ...] | None = None,
                    max_bytes: int | None = None, max_rows: int | None = None,
                    raw: bytes | None = None) -> tuple[dict[str, np.ndarray], bytes]:
    """(arrays, file bytes) of an .npz, read through `read_regular` and `inspect_npz`; only `keys` (all when
    None) are decompressed, after their total size is checked against `max_bytes` (half the machine's memory by
    default) and their length against `max_rows`. Never unpickles."""
    path = Path(path)
    limit = max_bytes or memory_bytes() // 2
    data = raw if raw is not None else read_regular(path, what, limit, fix)
    if data[:4] != b"PK\x03\x04":
        if data[:6] == b"\x93NUMPY":
            raise EthogramError(f"'{path}' is a single .npy array, not an .npz file.",
                                "save it with np.savez(path, observations=..., ...)")
        if data[:2] == b"PK" or len(data) < 4:
            raise _zip_error(path, "it does not hold a zip archive", fix)
        raise EthogramError(f"'{path}' is not an .npz file (it does not start like a zip archive).", fix)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except Exception as e:  # BadZipFile, ValueError, struct.error...
        raise _zip_error(path, f"{type(e).__name__}: {e}", fix) from None
    with zf:
        members = inspect_npz(zf, path, fix)
        chosen = [k for k in members if keys is None or k in keys]
        total = sum(m.nbytes for m in members.values())  # unused members too: nothing may claim more
        if total > limit:
            raise EthogramError(f"'{path}': its arrays would take {total / 2**30:.2f} GiB once decompressed, more "
                                f"than the {limit / 2**30:.2f} GiB allowed.", "use a smaller file")
        if max_rows is not None:
            for k in chosen:
                if members[k].shape and members[k].shape[0] > max_rows:
                    raise EthogramError(f"'{path}': '{k}' has {members[k].shape[0]} rows, more than the {max_rows} "
                                        f"such a file may hold.", f"give at most {max_rows} rows")
        arrays = {}
        for k in chosen:
            try:
                with zf.open(f"{k}.npy") as f:
                    arrays[k] = np.lib.format.read_array(f, allow_pickle=False)
            except Exception as e:
                raise _zip_error(path, f"member '{k}.npy': {type(e).__name__}: {e}", fix) from None
    return arrays, data


# --------------------------------------------------------------------------------------------- output

def check_writable_output(path: str | Path, force: bool) -> None:
    """Refuse to overwrite an existing file unless forced; make sure we will be able to write there."""
    path = Path(path)
    if path.is_dir():
        raise EthogramError(f"output path '{path}' is a directory.", "give a file path, for example data/x.npz")
    if path.exists() and not force:
        raise EthogramError(f"output '{path}' already exists; refusing to overwrite it.",
                            "choose another path, or pass --force to replace it")
    check_writable_dir(path.parent)


def check_writable_dir(directory: str | Path) -> None:
    """Create `directory` if needed and prove we can write into it."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", suffix=TMP_SUFFIX, dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise EthogramError(f"cannot write to directory '{directory}': {e.strerror or e}.",
                            "choose a directory you can write to") from None


# ---------------------------------------------------------------------------------------------- locks

_HELD: dict[str, list] = {}  # lock path -> [fd, count]: the same process may take a lock it holds again


class Lock:
    """An exclusive lock on `path` (a file beside what it protects) for the life of a `with` block.

    The file holds the owner's pid, host and command. A second process is refused with that owner named. A lock
    whose owner died is free (the kernel drops an flock with its process) and is taken over with a message. The
    file is deleted when the lock is released, so a finished command leaves nothing behind."""

    def __init__(self, path: str | Path, what: str, log=None):
        self.path = Path(path)
        self.what = what
        self.log = log or (lambda m: print(m, file=sys.stderr))

    def __enter__(self) -> Lock:
        key = str(self.path.resolve())
        if key in _HELD:
            _HELD[key][1] += 1
            return self
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666 & ~umask())
            except OSError as e:
                raise EthogramError(f"cannot lock {self.what}: {e.strerror or e} ('{self.path}').",
                                    "choose a place you can write to") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                owner = _read_owner(fd)
                os.close(fd)
                raise EthogramError(f"{self.what} is in use by another ethogram process ({owner}).",
                                    "wait for it to finish, or use another path") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:  # not a file its previous owner unlinked between our open and our flock
                break
            os.close(fd)
        previous = _read_owner(fd)
        if previous:
            self.log(f"note: took over the lock of {self.what} left by a process that is gone ({previous})")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                  "command": " ".join(sys.argv[:3])}).encode(), 0)
        _HELD[key] = [fd, 1]
        return self

    def __exit__(self, *exc) -> None:
        key = str(self.path.resolve())
        entry = _HELD[key]
        entry[1] -= 1
        if entry[1]:
            return
        del _HELD[key]
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(entry[0])


def _read_owner(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"null")
        return f"pid {int(info['pid'])} on {info['host']}: {info.get('command', '')}".strip()
    except (ValueError, TypeError, KeyError, OSError):
        return ""
