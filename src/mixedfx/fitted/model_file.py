"""The container of a saved model: a zip of `.npy` arrays with a SHA-256 over its content.

Writing: `write_container(path, meta, arrays)` stores `meta` (a dict) as UTF-8 JSON in the
uint8 array `meta.json`, each array as `<name>.npy` (deflate-compressed, as
`numpy.savez_compressed`), and `sha256`: the hex SHA-256 digest of the canonical payload

    for each member name in sorted order (meta.json included, sha256 excluded):
        name, NUL, dtype string (e.g. "<f8"), NUL, shape as "3,4", NUL, the C-order bytes

so any change to a stored value, name, type or shape is detected.

Reading is bounded in memory and time: `ModelFileReader` opens the zip, reads only the `.npy`
headers (each at most `MAX_HEADER` bytes, by `numpy.lib.format`), refuses object (pickled)
dtypes, and checks every member's declared size against the zip directory and against what
deflate can physically expand to (at most ~1032 bytes per compressed byte), and the total
against `max_total_bytes(file size)`, before anything is allocated. `read(name, shape, kind)`
then checks that member's declared shape and dtype against what the model's structure
requires before reading it (`numpy.lib.format.read_array(..., allow_pickle=False)`); the
checksum is verified once every member is read. Every failure is a `DataError` naming the
member (the field of the model file) and what was expected.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from mixedfx.errors import DataError, MixedfxError

MAGIC_NPY = b"\x93NUMPY"
MAX_HEADER = 10_000                 # bytes of one .npy header (numpy's own default limit)
MAX_MEMBERS = 20_000             # a model frame's columns plus a few dozen arrays
MAX_DIRECTORY = MAX_MEMBERS * 1024  # zip central directory: ~50 bytes + a name per member
EOCD_SEARCH = 22 + 65535 + 20       # the end record, its longest comment, zip64's locator
MAX_META_BYTES = 64 << 20           # meta.json: formula, column names and category labels
DEFLATE_RATIO = 1100                # deflate expands one byte to at most ~1032
TOTAL_FLOOR = 256 << 20             # any file may declare this much content in total
TOTAL_RATIO = 256                   # beyond the floor: at most this × the file size
CHECKSUM = "sha256"
META = "meta.json"
_KINDS = {"f": "float", "i": "int", "b": "bool", "U": "str", "u": "uint8"}


def max_total_bytes(file_size: int) -> int:
    """The most uncompressed content a model file of `file_size` bytes may declare: real
    model frames compress far less than `TOTAL_RATIO`; a file declaring more is refused
    before anything is read (a small file cannot make `load` allocate gigabytes)."""
    return max(TOTAL_FLOOR, TOTAL_RATIO * file_size)


def _canonical(name: str, arr: np.ndarray, h: Any) -> None:
    arr = np.ascontiguousarray(arr)
    h.update(name.encode() + b"\0" + arr.dtype.str.encode() + b"\0"
             + ",".join(str(s) for s in arr.shape).encode() + b"\0")
    h.update(arr.tobytes())


def checksum(arrays: dict[str, np.ndarray]) -> str:
    """The SHA-256 of the canonical payload of `arrays` (see the module docstring)."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        if name != CHECKSUM:
            _canonical(name, arrays[name], h)
    return h.hexdigest()


def meta_array(meta: dict[str, Any]) -> np.ndarray:
    """`meta` as UTF-8 JSON bytes in a uint8 array (no NaN / Infinity tokens)."""
    return np.frombuffer(json.dumps(meta, allow_nan=False).encode("utf-8"), np.uint8)


def write_container(path: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Write `meta` and `arrays` (plain numeric / bool / str dtypes) with their checksum."""
    members = {META: meta_array(meta), **arrays}
    for name, arr in members.items():
        if arr.dtype.hasobject:
            raise TypeError(f"model file member {name!r} has an object dtype")
    digest = checksum(members)
    members[CHECKSUM] = np.frombuffer(digest.encode("ascii"), np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **members)
    path.write_bytes(buf.getvalue())


class ModelFileReader:
    """Bounded, validated reading of a model container (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.label = str(path)
        self.arrays: dict[str, np.ndarray] = {}
        self._open()

    def fail(self, message: str) -> DataError:
        return DataError(f"model file {self.label!r}: {message}")

    def _open(self) -> None:
        p = self.path
        if not p.exists():
            raise DataError(f"model file {self.label!r} does not exist")
        if p.is_dir():
            raise self.fail("is a directory, not a model file written by model.save()")
        self.size = p.stat().st_size
        if self.size == 0:
            raise self.fail("is empty (0 bytes), not a model file written by model.save()")
        with open(p, "rb") as f:
            head = f.read(len(MAGIC_NPY))
        if head == MAGIC_NPY:
            raise self.fail("is a single .npy array, not a model file (.npz) written by "
                            "model.save()")
        directory = central_directory_size(p, self.size)
        if directory is not None and directory > MAX_DIRECTORY:
            raise self.fail(f"has a zip directory of {directory:,} bytes; a model file's is "
                            f"at most {MAX_DIRECTORY:,}")
        try:
            self.zip = zipfile.ZipFile(p)
            infos = self.zip.infolist()
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise self.fail(f"cannot be read as a model file (.npz, a zip of .npy arrays): "
                            f"{exc}") from None
        if len(infos) > MAX_MEMBERS:
            raise self.fail(f"has {len(infos)} members; a model file has far fewer")
        self.members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise self.fail(f"member {info.filename!r} is not a .npy array")
            name = info.filename[:-4]
            if name in self.members:
                raise self.fail(f"member {name!r} occurs twice")
            self.members[name] = info
        if META not in self.members:
            raise self.fail("is not a mixedfx model file (no meta.json member)")
        self.headers = {name: self._header(name) for name in self.members}
        total = sum(self._nbytes(h) for h in self.headers.values())
        if total > max_total_bytes(self.size):
            raise self.fail(f"declares {total:,} bytes of content in a file of {self.size:,} "
                            f"bytes (at most {max_total_bytes(self.size):,} are accepted): "
                            "corrupted or not written by model.save()")

    @staticmethod
    def _nbytes(header: tuple[tuple[int, ...], bool, np.dtype]) -> int:
        shape, _, dtype = header
        return math.prod(shape) * dtype.itemsize

    def _header(self, name: str) -> tuple[tuple[int, ...], bool, np.dtype]:
        info = self.members[name]
        fmt = np.lib.format
        try:
            with self.zip.open(info) as f:
                version = fmt.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = fmt.read_array_header_1_0(
                        f, max_header_size=MAX_HEADER)
                elif version in ((2, 0), (3, 0)):
                    shape, fortran, dtype = fmt.read_array_header_2_0(
                        f, max_header_size=MAX_HEADER)
                else:
                    raise ValueError(f"unknown .npy format version {version}")
                offset = f.tell()
        except MixedfxError:
            raise
        except Exception as exc:      # zip, zlib, encryption, numpy's header parser
            raise self.fail(f"member {name!r} has no valid .npy header: {exc}") from None
        if dtype.hasobject or dtype.kind not in _KINDS or dtype.fields is not None \
                or dtype.subdtype is not None:
            raise self.fail(f"member {name!r} has dtype {dtype}; model files hold only plain "
                            "float, int, bool and str arrays (never pickled objects)")
        header = (tuple(int(s) for s in shape), bool(fortran), dtype)
        nbytes = self._nbytes(header)
        if offset + nbytes != info.file_size:
            raise self.fail(f"member {name!r} declares shape {header[0]} of {dtype} "
                            f"({nbytes:,} bytes) but holds {info.file_size - offset:,}: "
                            "truncated or corrupted")
        if info.file_size > DEFLATE_RATIO * max(info.compress_size, 1) + MAX_HEADER:
            raise self.fail(f"member {name!r} declares {info.file_size:,} bytes from "
                            f"{info.compress_size:,} compressed: corrupted")
        return header

    def names(self) -> set[str]:
        return set(self.members) - {CHECKSUM}

    def read(self, name: str, shape: tuple[int | None, ...] | None, kind: str,
             what: str | None = None) -> np.ndarray:
        """Member `name`, after checking its declared dtype kind ("float", "int", "bool",
        "str", "uint8") and `shape` (None entries: any length; None: any shape)."""
        label = what or name
        if name not in self.members:
            raise self.fail(f"field {label!r} is missing")
        dims, _, dtype = self.headers[name]
        width = {"float": 8, "int": 8, "bool": 1, "uint8": 1}.get(kind)
        if _KINDS[dtype.kind] != kind or (width is not None and dtype.itemsize != width):
            want = f"{kind} ({width * 8}-bit)" if kind in ("float", "int") else kind
            raise self.fail(f"field {label!r} has dtype {dtype}; expected {want}")
        if shape is not None and (len(dims) != len(shape) or any(
                s is not None and d != s for d, s in zip(dims, shape, strict=True))):
            want = tuple("n" if s is None else s for s in shape)
            raise self.fail(f"field {label!r} has shape {dims}; expected {want}")
        if name not in self.arrays:
            try:
                with self.zip.open(self.members[name]) as f:
                    arr = np.lib.format.read_array(f, allow_pickle=False,
                                                   max_header_size=MAX_HEADER)
            except Exception as exc:  # zip, zlib, truncated or corrupted data
                raise self.fail(f"field {label!r} cannot be read: {exc}") from None
            self.arrays[name] = arr
        return self.arrays[name]

    def meta(self) -> dict[str, Any]:
        """The JSON header of the model file (a dict)."""
        declared = self._nbytes(self.headers[META])
        if declared > MAX_META_BYTES:
            raise self.fail(f"meta.json declares {declared:,} bytes; at most "
                            f"{MAX_META_BYTES:,}")
        raw = self.read(META, (None,), "uint8", "meta.json")
        try:
            text = raw.tobytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail(f"meta.json is not valid UTF-8: {exc}") from None
        try:
            meta = json.loads(text, parse_constant=_no_constant)
        except (ValueError, RecursionError) as exc:
            raise self.fail(f"meta.json is not valid JSON: {exc}") from None
        if not isinstance(meta, dict):
            raise self.fail(f"meta.json holds a {type(meta).__name__}, expected an object")
        return meta

    def verify(self) -> None:
        """Refuse members nobody read (extra keys) and check the content checksum."""
        extra = sorted(self.names() - set(self.arrays))
        if extra:
            raise self.fail(f"unexpected field(s) {extra} for this model")
        stored = self.read(CHECKSUM, (64,), "uint8", CHECKSUM).tobytes()
        members = {k: v for k, v in self.arrays.items() if k != CHECKSUM}
        if stored != checksum(members).encode("ascii"):
            raise self.fail("content checksum (sha256) does not match: the file is corrupted "
                            "or was edited after model.save()")

    def close(self) -> None:
        self.zip.close()


def central_directory_size(path: Path, size: int) -> int | None:
    """The size the zip's end-of-central-directory record (zip64's when present) declares
    for the central directory, read from the file's tail before `zipfile` parses (and
    allocates for) the directory; None when there is no such record (not a zip)."""
    with open(path, "rb") as f:
        tail_start = max(0, size - EOCD_SEARCH)
        f.seek(tail_start)
        tail = f.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            return None
        _, _, _, _, _, cd_size, _, _ = struct.unpack("<4s4H2LH", tail[at:at + 22])
        if cd_size != 0xFFFFFFFF or at < 20:
            return int(cd_size)
        sig, _, z64_offset, _ = struct.unpack("<4sLQL", tail[at - 20:at])
        if sig != b"PK\x06\x07" or z64_offset > size - 56:
            return None
        f.seek(z64_offset)
        record = f.read(56)
        if len(record) < 56 or record[:4] != b"PK\x06\x06":
            return None
        return int(struct.unpack("<Q", record[40:48])[0])


def _no_constant(token: str) -> Any:
    raise ValueError(f"non-standard JSON constant {token}")
