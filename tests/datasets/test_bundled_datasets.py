"""Tests of ``mixedfx.datasets``: loading, types, R's level orders, names and errors.

The level orders are checked against the reference case files in ``tests/reference`` (their
``columns``, ``factor_levels`` and ``expected.ranef.<factor>.levels`` were recorded in R), and
the values against the reference CSV copies in ``tests/reference/data`` where present.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mixedfx import datasets

REFERENCE = Path(__file__).resolve().parent.parent / "reference"

# Row counts of the R data sets (nrow() in R 4.2.2 with lme4 1.1-31 / nlme 3.1-162).
R_NROW = {
    "sleepstudy": 180,
    "Dyestuff": 30,
    "Dyestuff2": 30,
    "Penicillin": 144,
    "Pastes": 60,
    "InstEval": 73421,
    "cbpp": 56,
    "grouseticks": 403,
    "VerbAgg": 7584,
    "Orthodont": 108,
    "hsb": 7185,
    # M. Clark's "Mixed Models with R" (R's nrow() of its .RData files)
    "gpa": 1200,
    "nurses": 1000,
    "pupils": 1000,
    "sociometric": 1106,
    "biomass_sim": 100,             # the reference cases' simulation (set.seed(10))
    # the R package mmrm 0.3.18's example data (nrow() of data/*.rda)
    "fev_data": 800,
    "bcva_data": 8605,
}
MMRM_DATA = ("fev_data", "bcva_data")
# tutorial data sets without a reference case (used in the tutorial's exercises only)
NO_CASE = {"sociometric", "fev_data", "bcva_data"}   # mmrm's: tests/reference/mmrm

# Reference CSV file of each bundled data set.
CSV_OF = {name: f"{name}.csv" for name in R_NROW}
CSV_OF["hsb"] = "HSB.csv"
DATASET_OF_CSV = {csv: name for name, csv in CSV_OF.items()}

# Columns present in a reference CSV but not part of R's data set.
CSV_ONLY_COLUMNS = {"cbpp": {"failures"}}

# Values whose reference-CSV text reads back (with a correctly rounding parser) one ulp away
# from R's double; the bundled file holds R's double (see CORRECTIONS in
# tools/build_datasets.py).
ONE_ULP_FIXES = {("hsb", "cses"): 1}

EXPECTED_DTYPE_KIND = {"numeric": "f", "integer": "i", "logical": "b", "character": "O"}


def _case_files() -> list[Path]:
    return sorted(REFERENCE.glob("*.json"))


def _cases_for_bundled_data() -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for path in _case_files():
        case = json.loads(path.read_text())
        name = DATASET_OF_CSV.get(case.get("data"))
        if name is not None:
            out.append((path.stem, name, case))
    return out


CASES = _cases_for_bundled_data()


def test_names() -> None:
    assert datasets.names() == list(R_NROW)


def test_names_returns_fresh_list() -> None:
    first = datasets.names()
    first.append("bogus")
    assert "bogus" not in datasets.names()


@pytest.mark.parametrize("name", list(R_NROW))
def test_load_row_count_and_types(name: str) -> None:
    df = datasets.load(name)
    assert isinstance(df, pd.DataFrame)
    assert len(df) == R_NROW[name]
    assert isinstance(df.index, pd.RangeIndex)
    info = datasets.metadata(name)
    assert list(df.columns) == list(info["columns"])
    for col, spec in info["columns"].items():
        r_type = spec["r_type"]
        if r_type in ("factor", "ordered factor"):
            assert isinstance(df[col].dtype, pd.CategoricalDtype), col
            assert list(df[col].cat.categories) == spec["levels"], col
            assert df[col].cat.ordered == (r_type == "ordered factor"), col
            assert all(isinstance(c, str) for c in df[col].cat.categories), col
        else:
            assert df[col].dtype.kind == EXPECTED_DTYPE_KIND[r_type], (col, df[col].dtype)
        if spec["missing"] == 0:
            assert not df[col].isna().any(), col
        assert int(df[col].isna().sum()) == spec["missing"], col


@pytest.mark.parametrize("name", list(R_NROW))
def test_load_returns_fresh_copy(name: str) -> None:
    df = datasets.load(name)
    first_col = df.columns[0]
    original = df[first_col].copy()
    df[first_col] = df[first_col].iloc[::-1].to_numpy()
    del df[df.columns[-1]]
    df2 = datasets.load(name)
    assert df2 is not df
    assert len(df2.columns) == len(datasets.metadata(name)["columns"])
    pd.testing.assert_series_equal(df2[first_col], original)


@pytest.mark.parametrize(("case_id", "name", "case"), CASES, ids=[c[0] for c in CASES])
def test_types_and_levels_match_case_file(case_id: str, name: str, case: dict[str, Any]) -> None:
    df = datasets.load(name)
    skip = CSV_ONLY_COLUMNS.get(name, set())
    assert set(case["columns"]) - skip == set(df.columns)
    for col, r_type in case["columns"].items():
        if col in skip:
            continue
        assert datasets.metadata(name)["columns"][col]["r_type"] == r_type, col
        if r_type in ("factor", "ordered factor"):
            assert df[col].cat.ordered == (r_type == "ordered factor"), col
    for col, levels in (case.get("factor_levels") or {}).items():
        assert list(df[col].cat.categories) == levels, col
    for grp, re in (case["expected"].get("ranef") or {}).items():
        if grp in df.columns:  # simple grouping factors; interactions like cask:batch skipped
            col = df[grp]
            levels = (list(col.cat.categories) if isinstance(col.dtype, pd.CategoricalDtype)
                      else [f"{v:g}" for v in sorted(col.unique())])   # numeric ids (nurses)
            assert levels == re["levels"], grp


def test_every_bundled_dataset_has_a_case_file() -> None:
    if not _case_files():
        pytest.skip("no reference case files")
    assert {name for _, name, _ in CASES} == set(R_NROW) - NO_CASE


@pytest.mark.parametrize("name", list(R_NROW))
def test_values_match_reference_csv(name: str) -> None:
    path = REFERENCE / "data" / f"{CSV_OF[name]}.gz"
    if not path.exists():
        pytest.skip(f"{path} not present")
    ref = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    ref = ref.drop(columns=list(CSV_ONLY_COLUMNS.get(name, ())))
    df = datasets.load(name)
    assert list(ref.columns) == list(df.columns)
    for col in df.columns:
        if isinstance(df[col].dtype, pd.CategoricalDtype):
            # missing labels compared as None: pandas 2.1's astype(str) spells them 'nan'
            ours = [None if pd.isna(v) else str(v) for v in df[col]]
            assert ours == [None if pd.isna(v) else v for v in ref[col]], col
        else:
            ours = df[col].to_numpy(dtype=float)
            theirs = ref[col].astype(float).to_numpy()
            np.testing.assert_allclose(ours, theirs, rtol=2e-16, atol=0, err_msg=col)
            n_differ = int(np.sum(ours != theirs))
            assert n_differ == ONE_ULP_FIXES.get((name, col), 0), (col, n_differ)


def test_r_specific_level_orders() -> None:
    orth = datasets.load("Orthodont")
    assert orth["Subject"].cat.ordered
    assert list(orth["Subject"].cat.categories[:3]) == ["M16", "M05", "M02"]
    assert list(orth["Subject"].cat.categories[-3:]) == ["F03", "F04", "F11"]
    assert list(orth["Sex"].cat.categories) == ["Male", "Female"]
    assert not orth["Sex"].cat.ordered

    inst = datasets.load("InstEval")
    assert list(inst["dept"].cat.categories) == [
        "15",
        "5",
        "10",
        "12",
        "6",
        "7",
        "4",
        "8",
        "9",
        "14",
        "1",
        "3",
        "11",
        "2",
    ]
    assert list(inst["studage"].cat.categories) == ["2", "4", "6", "8"]
    assert inst["studage"].cat.ordered and inst["lectage"].cat.ordered
    assert list(inst["d"].cat.categories[:4]) == ["1", "6", "7", "8"]
    assert len(inst["s"].cat.categories) == 2972
    assert len(inst["d"].cat.categories) == 1128
    assert inst["y"].dtype == np.int64

    va = datasets.load("VerbAgg")
    assert list(va["resp"].cat.categories) == ["no", "perhaps", "yes"]
    assert va["resp"].cat.ordered
    assert list(va["mode"].cat.categories) == ["want", "do"]
    assert list(va["Gender"].cat.categories) == ["F", "M"]
    assert va["item"].cat.categories[9] == "S4wantCurse"  # R's spelling, lower-case "want"
    assert va["Anger"].dtype == np.int64
    # r2 is 0/1 in the source CSV: bundled as integers, R's form recorded in the metadata
    assert va["r2"].dtype == np.int64
    assert set(va["r2"].unique()) == {0, 1}
    assert (va["r2"] == (va["resp"] != "no").astype(int)).all()
    r2 = datasets.metadata("VerbAgg")["columns"]["r2"]
    assert r2["r_original"] == {"r_type": "factor", "levels": ["N", "Y"]}

    hsb = datasets.load("hsb")
    assert list(hsb["sector"].cat.categories) == ["Public", "Catholic"]
    assert list(hsb["sex"].cat.categories) == ["Male", "Female"]
    assert list(hsb["minority"].cat.categories) == ["No", "Yes"]
    assert list(hsb["himinty"].cat.categories) == ["0", "1"]
    assert hsb["school"].nunique() == 160
    np.testing.assert_array_equal(hsb["cses"], hsb["ses"] - hsb["meanses"])

    grouse = datasets.load("grouseticks")
    assert list(grouse["YEAR"].cat.categories) == ["95", "96", "97"]
    assert len(grouse["BROOD"].cat.categories) == 118
    assert len(grouse["LOCATION"].cat.categories) == 63

    cbpp = datasets.load("cbpp")
    assert list(cbpp.columns) == ["herd", "incidence", "size", "period"]
    assert list(cbpp["herd"].cat.categories) == [str(i) for i in range(1, 16)]
    assert (cbpp["incidence"] <= cbpp["size"]).all()

    pastes = datasets.load("Pastes")
    assert list(pastes["sample"].cat.categories[:4]) == ["A:a", "A:b", "A:c", "B:a"]


def test_known_values() -> None:
    sleep = datasets.load("sleepstudy")
    assert sleep["Reaction"].iloc[0] == 249.56
    assert sleep["Days"].tolist()[:10] == list(range(10))
    assert sleep["Reaction"].sum() == pytest.approx(53731.4205, abs=1e-4)
    dyes = datasets.load("Dyestuff")
    assert dyes["Yield"].mean() == pytest.approx(1527.5)
    assert datasets.load("Penicillin")["diameter"].sum() == 3308.0


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("dyestuff", "Dyestuff"),
        ("DYESTUFF2", "Dyestuff2"),
        ("SleepStudy", "sleepstudy"),
        ("HSB", "hsb"),
        ("insteval", "InstEval"),
        ("verbagg", "VerbAgg"),
        ("orthodont", "Orthodont"),
        ("CBPP", "cbpp"),
    ],
)
def test_case_insensitive_names(spelling: str, canonical: str) -> None:
    pd.testing.assert_frame_equal(datasets.load(spelling), datasets.load(canonical))
    assert datasets.describe(spelling) == datasets.describe(canonical)
    assert datasets.metadata(spelling)["name"] == canonical


def test_unknown_name_raises_value_error_listing_names() -> None:
    with pytest.raises(ValueError, match="unknown data set 'nosuchdata'") as info:
        datasets.load("nosuchdata")
    message = str(info.value)
    for name in R_NROW:
        assert name in message
    with pytest.raises(ValueError, match="available"):
        datasets.describe("nosuchdata")
    with pytest.raises(ValueError):
        datasets.load("")


def test_non_string_name_raises_type_error() -> None:
    with pytest.raises(TypeError):
        datasets.load(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(R_NROW))
def test_describe(name: str) -> None:
    text = datasets.describe(name)
    info = datasets.metadata(name)
    assert isinstance(text, str)
    assert text.startswith(f"{name}: ")
    assert f"{R_NROW[name]} rows" in text
    for col, spec in info["columns"].items():
        assert f"  {col} " in text
        assert spec["r_type"] in text
    assert info["description"] and info["citation"]
    if "licence" in info:          # the tutorial data: source and licence are stated
        assert "\nSource: " in text and "\nLicence: " in text
        if name in MMRM_DATA:
            assert "R package mmrm" in text and "openpharma/mmrm" in text
            assert "Licence: Apache License 2.0" in text
        elif name != "biomass_sim":
            assert "Mixed Models with R" in text and "Hox" in text
            assert "Licence: CC BY-SA 4.0" in text
    else:
        assert info["source_package"] in text
        assert info["source_package"] in {"lme4", "nlme"}


def test_tutorial_data_not_bundled_say_where_to_get_them() -> None:
    for name in ("speed_dating", "patents"):
        assert name not in datasets.names()
        with pytest.raises(ValueError, match=r"is not bundled; get it from .*mixed-models-with-R"):
            datasets.load(name)
        assert "redistribution" in datasets.NOT_BUNDLED[name]


def test_describe_mentions_r2_recoding() -> None:
    text = datasets.describe("VerbAgg")
    assert "0/1" in text
    assert "N, Y" in text


def test_metadata_is_a_fresh_copy() -> None:
    info = datasets.metadata("Orthodont")
    info["columns"]["Subject"]["levels"].reverse()
    assert datasets.load("Orthodont")["Subject"].cat.categories[0] == "M16"


def test_no_io_at_import() -> None:
    code = (
        "import mixedfx.datasets as d\n"
        "assert d._metadata_text.cache_info().currsize == 0\n"
        "d.names()\n"
        "assert d._metadata_text.cache_info().currsize == 1\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=_env_with_src())


def _env_with_src() -> dict[str, str]:
    import os

    import mixedfx

    env = dict(os.environ)
    src = str(Path(next(iter(mixedfx.__path__))).parent)
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    return env


@pytest.mark.parametrize("case_id", ["gpa_intercept_reml", "pupils_crossed_reml",
                                     "nurses_nested_slash_reml"])
def test_tutorial_models_on_bundled_data_match_r(case_id: str) -> None:
    """The tutorial's models fitted to the bundled data give lme4's numbers (R's values in
    the reference case files)."""
    import mixedfx as mfx

    case = json.loads((REFERENCE / f"{case_id}.json").read_text())
    name = DATASET_OF_CSV[case["data"]]
    m = mfx.lmer(case["formula"], datasets.load(name), REML=True)
    exp = case["expected"]
    assert m.nobs == exp["nobs"]
    assert m.deviance == pytest.approx(exp["deviance"], rel=1e-7)   # reference README
    np.testing.assert_allclose(m.fixef[list(exp["fixef"])], list(exp["fixef"].values()),
                               rtol=1e-4)                        # reference README
    assert m.data_name == name      # printed as "Data: gpa" as R prints the data's name


@pytest.mark.parametrize("name", MMRM_DATA)
def test_mmrm_data_match_the_reference_export(name: str) -> None:
    """The bundled mmrm data hold R's doubles exactly (verified bit for bit by
    tools/build_datasets.py --r-doubles); tests/reference/mmrm/<name>.csv is R's write.csv
    export with 15 significant digits, so the values agree to 15 digits and the factor
    levels (export_data.R's sidecar file) exactly."""
    df = datasets.load(name)
    ref = pd.read_csv(REFERENCE / "mmrm" / f"{name}.csv", float_precision="round_trip")
    assert list(df.columns) == list(ref.columns)
    for col in df.columns:
        if df[col].dtype.kind == "f":
            np.testing.assert_allclose(df[col].to_numpy(), ref[col].to_numpy(), rtol=5e-15,
                                       atol=0)
        else:
            assert df[col].astype(str).tolist() == ref[col].astype(str).tolist(), col
    for line in (REFERENCE / "mmrm" / f"{name}_levels.tsv").read_text().splitlines():
        col, *levels = line.split("\t")
        assert list(df[col].cat.categories) == levels, col


@pytest.mark.parametrize("case_id", ["us_reml", "us_ml"])
def test_mmrm_example_on_bundled_data_matches_sas(case_id: str) -> None:
    """mmrm's FEV1 models on the bundled data give SAS's −2 log-likelihood and estimates
    (tests/reference/mmrm/sas_cases.json: SAS values from mmrm's tests, with their
    tolerances)."""
    import warnings

    import mixedfx as mfx

    cases = json.loads((REFERENCE / "mmrm" / "sas_cases.json").read_text())["cases"]
    case = next(c for c in cases if c["id"] == case_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mfx.mmrm(case["formula"], datasets.load("fev_data"), reml=case["reml"])
    checks = {c["what"]: c for c in case["checks"]}
    dev = checks["deviance"]
    assert m.deviance == pytest.approx(dev["values"][0], rel=dev["rtol"])
    beta = checks["beta"]
    assert m.beta[beta["index"]] == pytest.approx(beta["values"][0], rel=beta["rtol"])
