"""A generated corpus of hostile model files (built on the fly from valid saves): truncated,
bit-flipped, wrong types, huge declared shapes, pickled arrays, missing / extra keys, wrong
versions, bad JSON / UTF-8, an empty file, a plain .npy, a directory, tampered estimates.
Each raises a `MixedfxError` naming the field, within bounded memory and time; tampered
fields are refused even when the checksum is recomputed, and edits the model does not
check are caught by the checksum."""

from __future__ import annotations

import io
import json
import time
import tracemalloc
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.errors import MixedfxError
from mixedfx.fitted import model_file
from mixedfx.fitted.model_file import checksum

PEAK_BYTES = 64 << 20        # far below what the hostile sizes would allocate (≥ 160 MB)
SECONDS = 30.0               # generous on a loaded machine; a valid load takes well under 1 s


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


WIDE = [f"x{i}" if i else "x" for i in range(20)]


def _wide_data() -> pd.DataFrame:
    rng = np.random.default_rng(8)
    return pd.DataFrame(rng.normal(size=(30, 21)), columns=["y", *WIDE])


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, tuple[Path, object]]:
    d = tmp_path_factory.mktemp("models")
    sl, cb = mfx.datasets.load("sleepstudy"), mfx.datasets.load("cbpp")
    orth = mfx.datasets.load("Orthodont")
    rng = np.random.default_rng(3)
    g = cb.assign(y=rng.gamma(4, 0.25 * (1 + cb["incidence"]), len(cb)))
    models = {
        "lmer": _quiet(mfx.lmer, "Reaction ~ Days + (Days | Subject)", sl),
        "glmer": _quiet(mfx.glmer, "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                        cb),
        "agq": _quiet(mfx.glmer, "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                      cb, nAGQ=3),
        "gamma": _quiet(mfx.glmer, "y ~ period + (1 | herd)", g,
                        family=mfx.families.Gamma(link="log")),
        "vi": _quiet(mfx.lmer, "distance ~ age + (1 | Subject)", orth,
                     weights=mfx.var_ident("~ 1 | Sex")),
        "gls": _quiet(mfx.gls, "distance ~ age", orth, weights=mfx.var_ident("~ 1 | Sex")),
        "lm": _quiet(mfx.lm, "distance ~ age", orth),
        # 20 stored predictors (a formula edited to a*b*...*t must be refused unexpanded)
        "wide": _quiet(mfx.lm, "y ~ " + " + ".join(WIDE), _wide_data()),
        # a datetime grouping column (stored as ticks with unit and time zone)
        "dt": _quiet(mfx.lmer, "y ~ x + (1 | day)", _wide_data().assign(day=pd.Series(
            pd.to_datetime(["2020-01-01", "2020-05-01", "2021-01-01"] * 10)).dt.tz_localize(
            "UTC"))),
    }
    return {k: (m.save(d / k), m) for k, m in models.items()}


def _members(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _meta(members: dict[str, np.ndarray]) -> dict:
    return json.loads(members["meta.json"].tobytes().decode())


def _write(path: Path, members: dict[str, np.ndarray], fix_checksum: bool = True) -> Path:
    members = dict(members)
    if fix_checksum:
        members.pop("sha256", None)
        members["sha256"] = np.frombuffer(checksum(members).encode(), np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **members)
    path.write_bytes(buf.getvalue())
    return path


def _with_meta(path: Path, src: Path, edit: Callable[[dict], None], fix: bool = True) -> Path:
    members = _members(src)
    meta = _meta(members)
    edit(meta)
    members["meta.json"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    return _write(path, members, fix)


def _with_array(path: Path, src: Path, name: str, value: np.ndarray | None,
                fix: bool = True) -> Path:
    members = _members(src)
    if value is None:
        members.pop(name)
    else:
        members[name] = value
    return _write(path, members, fix)


def _refused(path: Path, match: str) -> None:
    """load(path) raises a MixedfxError matching `match`, in bounded memory and time."""
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(MixedfxError, match=match):
            mfx.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BYTES, f"peak {peak:,} bytes"
    assert time.perf_counter() - t0 < SECONDS


def _set(key, value):
    return lambda m: m.__setitem__(key, value)


def _drop(key):
    return lambda m: m.pop(key)


def _set_column(name, key, value):
    def edit(m):
        next(c for c in m["columns"] if c["name"] == name)[key] = value
    return edit


META_CASES = [
    ("wide", _set("formula", "y ~ " + "*".join(WIDE)), "more than 2,000 terms"),
    ("wide", _set("formula", "y ~ (" + "+".join(WIDE) + ")^20"), "more than 2,000 terms"),
    ("dt", _set_column("day", "unit", "ps"), r"columns\[2\]\.unit"),
    ("dt", _set_column("day", "tz", "Mars/Olympus_Mons"), "not a time zone"),
    ("dt", _set_column("day", "kind", "str"), "unexpected field"),
    ("lmer", _set("REML", "no"), "'REML' must be true or false"),
    ("lmer", _set("kind", "evil"), "'kind' must be one of"),
    ("lmer", _set("version", "2"), "'version' must be an integer"),
    ("lmer", _set("version", 99), "format version 99"),
    ("lmer", _set("version", 1), "older mixedfx"),
    ("lmer", _set("format", "other"), "not a mixedfx model file"),
    ("lmer", _drop("formula"), "'formula' is missing"),
    ("lmer", _drop("REML"), "'REML' is missing"),
    ("lmer", _set("surprise", 1), r"unexpected field\(s\) \['surprise'\]"),
    ("lmer", _set("nobs", 179), "col/0"),
    ("lmer", _set("nobs", -1), "'nobs' must be an integer"),
    ("lmer", _set("control", {"bogus": 1}), "'control' is not valid"),
    ("lmer", _set("control", [1]), "'control' must be an object"),
    ("lmer", _set("criterion", "nan"), "'criterion' must be a finite number"),
    ("lmer", _set("criterion", 1.0), "'criterion' does not match"),
    ("lmer", _set("formula", "Reaction ~ Days"), "do not rebuild the model"),
    ("lmer", _set("formula", 3), "'formula' must be a string"),
    ("lmer", _set("messages", "x"), "'messages' must be a list of strings"),
    ("lmer", lambda m: m["columns"][0].__setitem__("kind", "complex"), r"columns\[0\].kind"),
    ("lmer", lambda m: m["columns"].pop(), "do not rebuild the model"),
    ("lmer", lambda m: m["optimization"]["stage1"].__setitem__("evaluations", -5),
     "optimization.stage1.evaluations"),
    ("lmer", _set("REML", False), "'criterion' does not match"),
    ("vi", _set("REML", False), "'criterion' does not match"),
    ("gls", _set("REML", False), "'criterion' does not match"),
    ("glmer", _set("family", "poisson"), "do not rebuild|'family'|'objective' does not match"),
    ("gamma", _set("dispersion", None), r"'stage2/x' has shape \(6,\); expected \(5,\)"),
    ("gamma", _set("link", "inverse"), "'objective' does not match|'eta' does not match"),
    ("glmer", _set("nAGQ", -3), "'nAGQ' must be an integer in \\[0, 100\\]"),
    ("glmer", _set("nAGQ", 10**9), "'nAGQ' must be an integer in \\[0, 100\\]"),
    ("glmer", _set("nAGQ", 1.5), "'nAGQ' must be an integer"),
    ("glmer", _set("nAGQ", 0), "optimization.stage2"),
    ("glmer", _set("family", "evil"), "'family' / 'link' are not valid"),
    ("glmer", _set("link", "cauchit2"), "'family' / 'link' are not valid"),
    ("glmer", _set("dispersion", 2.0), "'dispersion'"),
    ("glmer", _set("nb_theta", 2.0), "'nb_theta'"),
    ("glmer", _set("objective", 1.0), "'objective' does not match"),
    ("gamma", _set("dispersion", -1.0), "'dispersion' must be a positive"),
    ("gamma", _set("dispersion", 0.5), "'objective' does not match"),
    ("agq", _set("nAGQ", 5), "'objective' does not match"),
    ("vi", _set("residual", {"weights": {"name": "varEvil", "form": "~ 1 | Sex"},
                             "correlation": None}), "residual.weights.name"),
    ("vi", _set("residual", None), r"'opt/x' has shape \(2,\); expected \(1,\)"),
    ("vi", lambda m: m["residual"].__setitem__("weights", {"name": "varIdent",
                                                           "form": "~ 1 | Nope"}),
     "do not rebuild"),
    ("gls", _set("residual", None), "'residual' is missing"),
    ("vi", _set("weights", True), "'weights' is (set|missing)"),
    ("glmer", lambda m: m.update(family="gaussian", link="identity"), "an lmer, not a glmer"),
    ("lm", _set("call", None), "'call' must be a string"),
    ("lm", _set("kind", "glm"), "unexpected field|'family' is missing"),
]


@pytest.mark.parametrize(("model", "edit", "match"), META_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(META_CASES)])
def test_tampered_fields_are_refused(saved, tmp_path, model, edit, match) -> None:
    """Each field is validated even when the checksum was recomputed after the edit."""
    _refused(_with_meta(tmp_path / "t.npz", saved[model][0], edit), match)


def _pickled_object_array() -> np.ndarray:
    return np.array([{"a": 1}, None], dtype=object)


ARRAY_CASES = [
    ("lmer", "beta", np.array([np.nan, 10.0]), "'beta' has non-finite values"),
    ("lmer", "beta", np.array([250.0, 10.0]), "'beta' does not match"),
    ("lmer", "beta", np.array([250.0]), r"'beta' has shape \(1,\); expected \(2,\)"),
    ("lmer", "beta", np.array([1, 2]), "'beta' has dtype int64; expected float"),
    ("lmer", "beta", np.array([250.0, 10.0], np.float32), "'beta' has dtype float32"),
    ("lmer", "col/2", np.zeros(180, np.int8), "'col/2 .Subject.' has dtype int8"),
    ("lmer", "theta", np.array([0.967, 0.0152, 0.230]), "'sigma' does not match"),
    ("vi", "psi", np.array([-0.3]), "'(sigma|criterion|beta)' does not match"),
    ("lmer", "theta", np.array([1.0, 0.1]), r"'theta' has shape \(2,\); expected \(3,\)"),
    ("lmer", "theta", np.array([-1.0, 0.0, 0.2]), "'theta' lies outside"),
    ("lmer", "theta", None, "'theta' is missing"),
    ("lmer", "extra", np.zeros(3), r"unexpected field\(s\) \['extra'\]"),
    ("lmer", "col/0", np.zeros(180, dtype=np.int64), "'col/0 .Reaction.' has dtype int64"),
    ("lmer", "col/0", np.zeros((180, 2)), "shape"),
    ("lmer", "col/2", np.full(180, 99, dtype=np.int64), "category codes"),
    ("glmer", "hessian", np.eye(3), r"'hessian' has shape \(3, 3\); expected \(5, 5\)"),
    ("glmer", "hessian", np.triu(np.ones((5, 5))), "'hessian' is not symmetric"),
    ("glmer", "u/0", np.full((15, 1), np.inf), "non-finite"),
    ("glmer", "eta", np.zeros(56), "'eta' does not match"),
    ("vi", "psi", np.array([0.1, 0.2]), r"'psi' has shape \(2,\); expected \(1,\)"),
    ("gls", "psi", np.array([np.nan]), "'psi' has non-finite"),
    ("lm", "beta", np.array([1.0, 2.0]), "'beta' does not match"),
    ("lmer", "meta.json", np.frombuffer(b'{"format": "mixedfx-fit", ', np.uint8),
     "not valid JSON"),
    ("lmer", "meta.json", np.frombuffer(b'\xff\xfe{}', np.uint8), "not valid UTF-8"),
    ("lmer", "meta.json", np.frombuffer(b'[1, 2]', np.uint8), "holds a list"),
    ("lmer", "meta.json", np.frombuffer(b'{"format": NaN}', np.uint8), "not valid JSON"),
    ("lmer", "meta.json", np.zeros(3), "'meta.json' has dtype float64"),
]


@pytest.mark.parametrize(("model", "name", "value", "match"), ARRAY_CASES,
                         ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(ARRAY_CASES)])
def test_tampered_arrays_are_refused(saved, tmp_path, model, name, value, match) -> None:
    _refused(_with_array(tmp_path / "t.npz", saved[model][0], name, value), match)


def test_pickled_object_array_is_refused_without_unpickling(saved, tmp_path) -> None:
    members = _members(saved["lmer"][0])
    path = tmp_path / "pickled.npz"
    buf = io.BytesIO()
    np.savez(buf, **members, evil=_pickled_object_array())     # savez pickles object arrays
    path.write_bytes(buf.getvalue())
    _refused(path, "never pickled objects")


def test_checksum_catches_edits_the_model_does_not_check(saved, tmp_path) -> None:
    src = saved["lmer"][0]
    _refused(_with_meta(tmp_path / "a.npz", src, _set("data_name", "other"), fix=False),
             "checksum")
    _refused(_with_meta(tmp_path / "b.npz", src, _set("messages", ["x"]), fix=False),
             "checksum")
    _refused(_with_array(tmp_path / "c.npz", src, "sha256", None, fix=False),
             "'sha256' is missing")
    _refused(_with_array(tmp_path / "d.npz", src, "sha256", np.zeros(64, np.uint8),
                         fix=False), "checksum")


def test_not_model_files(saved, tmp_path) -> None:
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    _refused(empty, "is empty")
    npy = tmp_path / "plain.npy"
    np.save(npy, np.arange(4.0))
    _refused(npy, r"single \.npy array")
    _refused(tmp_path, "is a directory")
    _refused(tmp_path / "missing.npz", "does not exist")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(np.random.default_rng(0).bytes(5000))
    _refused(junk, "cannot be read as a model file")
    other = tmp_path / "other.npz"
    np.savez(other, a=np.arange(3))
    _refused(other, "no meta.json")
    text = tmp_path / "text.npz"
    with zipfile.ZipFile(text, "w") as z:
        z.writestr("meta.json.npy", b"hello")
        z.writestr("notes.txt", b"hello")
    _refused(text, "not a .npy array|no valid .npy header")
    with pytest.raises(MixedfxError, match="path must be a str"):
        mfx.load(3)


@pytest.mark.parametrize("fraction", [0.02, 0.3, 0.6, 0.95, -1])
def test_truncated_files(saved, tmp_path, fraction) -> None:
    raw = saved["glmer"][0].read_bytes()
    cut = len(raw) - 1 if fraction == -1 else int(len(raw) * fraction)
    path = tmp_path / "cut.npz"
    path.write_bytes(raw[:cut])
    _refused(path, "model file")


@pytest.mark.parametrize("seed", range(12))
def test_bit_flips_are_refused_or_harmless(saved, tmp_path, seed) -> None:
    """A flipped bit is refused, unless it hit bytes that hold no content (zip timestamps,
    padding): then the model loads with identical numbers."""
    src, m = saved["glmer"]
    raw = bytearray(src.read_bytes())
    rng = np.random.default_rng(seed)
    for pos in rng.integers(0, len(raw), 3):
        raw[pos] ^= 1 << int(rng.integers(0, 8))
    path = tmp_path / "flip.npz"
    path.write_bytes(bytes(raw))
    tracemalloc.start()
    try:
        try:
            m2 = mfx.load(path)
        except MixedfxError:
            pass
        else:
            assert str(m2.summary()) == str(m.summary())
            np.testing.assert_array_equal(m2.fitted(), m.fitted())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BYTES


def _zeros_member(n: int) -> np.ndarray:
    return np.zeros(n)


def test_huge_declared_shape_fails_before_allocating(saved, tmp_path) -> None:
    """A header declaring 300M floats over a few bytes of data is refused from the header;
    a real, highly compressible 20M-float column (160 MB in a ~160 kB member) is refused
    from its declared shape before it is read."""
    members = _members(saved["lmer"][0])
    path = tmp_path / "lying.npz"
    buf = io.BytesIO()
    np.savez_compressed(buf, **members)
    fake = io.BytesIO()
    np.lib.format.write_array_header_1_0(fake, {"descr": "<f8", "fortran_order": False,
                                                "shape": (300_000_000,)})
    with zipfile.ZipFile(buf, "a", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("big.npy", fake.getvalue() + b"\0" * 64)
    path.write_bytes(buf.getvalue())
    _refused(path, "declares shape")
    members["col/0"] = _zeros_member(20_000_000)
    _refused(_write(tmp_path / "big.npz", members), r"'col/0 \(Reaction\)' has shape")
    members = _members(saved["lmer"][0])
    members["meta.json"] = np.zeros(80 << 20, np.uint8)         # 80 MB of JSON declared
    _refused(_write(tmp_path / "bigmeta.npz", members), "meta.json declares")


def test_declared_content_is_bounded_by_the_file_size(saved, tmp_path, monkeypatch) -> None:
    """Content declared far beyond what the file's size makes plausible is refused before
    anything is read (the floor is lowered here so that the test file stays small)."""
    members = _members(saved["lmer"][0])
    members["col/0"] = _zeros_member(2_000_000)
    path = _write(tmp_path / "bomb.npz", members)
    monkeypatch.setattr(model_file, "TOTAL_FLOOR", 1 << 20)
    _refused(path, "declares .* bytes of content")


def test_valid_files_load(saved) -> None:
    for path, m in saved.values():
        assert str(mfx.load(path).summary()) == str(m.summary())


def _as_zip64(raw: bytes) -> bytes:
    """The same zip with its end record replaced by a zip64 end record, locator and an end
    record whose fields say "see zip64" (as zipfile writes for very large archives)."""
    import struct

    at = raw.rfind(b"PK\x05\x06")
    _, disk, disk_cd, n_disk, n_total, cd_size, cd_offset, _ = struct.unpack(
        "<4s4H2LH", raw[at:at + 22])
    z64 = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, disk, disk_cd, n_disk,
                      n_total, cd_size, cd_offset)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, at, 1)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", disk, disk_cd, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                      0xFFFFFFFF, 0)
    return raw[:at] + z64 + locator + end


def test_zip_directory_size_is_checked_before_parsing(saved, tmp_path, monkeypatch) -> None:
    """The central directory's declared size is read from the end record (plain or zip64)
    before zipfile parses it; an oversized directory is refused."""
    src, m = saved["lmer"]
    with zipfile.ZipFile(src) as z:
        expected = sum(46 + len(i.filename.encode()) + len(i.extra) + len(i.comment)
                       for i in z.infolist())
    assert model_file.central_directory_size(src, src.stat().st_size) == expected
    z64 = tmp_path / "zip64.npz"
    z64.write_bytes(_as_zip64(src.read_bytes()))
    assert model_file.central_directory_size(z64, z64.stat().st_size) == expected
    assert str(mfx.load(z64).summary()) == str(m.summary())
    monkeypatch.setattr(model_file, "MAX_DIRECTORY", expected - 1)
    _refused(src, "zip directory of")
    _refused(z64, "zip directory of")
