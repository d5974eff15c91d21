"""build_design: R's model.matrix names, values, assign and new-data encoding.

Two kinds of checks: small cases whose expected values follow from R's
definitions (written out by hand), and a table of right-hand sides compared with
the output of R 4 ``model.matrix`` stored in ``data/design_reference.json``
(regenerate with ``data/make_design_reference.R``; R is not needed to run the tests).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mixedfx.formula import DesignSpec, FormulaError, NewLevelError, build_design

DATA_DIR = Path(__file__).parent / "data"


# ----------------------------------------------------------------------------- helpers
def load_reference_data() -> pd.DataFrame:
    d = pd.read_csv(DATA_DIR / "design_data.csv")
    d["sex"] = pd.Categorical(d["sex"], categories=["F", "M"])
    d["sector"] = pd.Categorical(d["sector"], categories=["Public", "Catholic"])
    d["f"] = pd.Categorical(d["f"], categories=["c", "a", "b"])
    d["temp"] = pd.Categorical(
        d["temp"], categories=["lo", "mid", "hi", "vhi", "xhi"], ordered=True
    )
    d["b"] = d["b"].astype(bool)
    return d


def reference_newdata() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": [1.0, 2.0, 10.0],
            "z": [0.0, 1.0, 3.0],
            "age": [30.0, 40.0, 50.0],
            "f": ["a", "b", "a"],
            "sex": pd.Categorical(["M", "F", "M"]),
            "sector": ["Public", "Public", "Catholic"],
            "temp": pd.Categorical(["hi", "lo", "xhi"]),
            "b": [True, False, True],
            "k": [3, 1, 2],
            "Sepal.Length": [4.0, 5.0, 6.0],
        }
    )


REFERENCE = json.loads((DATA_DIR / "design_reference.json").read_text())


@pytest.fixture(scope="module")
def ref_data() -> pd.DataFrame:
    return load_reference_data()


# ------------------------------------------------------------- comparison with R output
@pytest.mark.parametrize("rhs", list(REFERENCE))
def test_matches_r_model_matrix(rhs: str, ref_data: pd.DataFrame) -> None:
    ref = REFERENCE[rhs]
    X, spec = build_design(rhs, ref_data)
    assert spec.names == ref["names"]
    assert spec.assign.tolist() == ref["assign"]
    assert spec.term_names == ref["term_labels"]
    expected = np.array(ref["X"], dtype=float)
    assert X.dtype == np.float64
    np.testing.assert_allclose(X, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rhs", list(REFERENCE))
def test_new_data_matches_r_predict_encoding(rhs: str, ref_data: pd.DataFrame) -> None:
    _, spec = build_design(rhs, ref_data)
    M = spec.matrix(reference_newdata())
    expected = np.array(REFERENCE[rhs]["newX"], dtype=float)
    np.testing.assert_allclose(M, expected, rtol=1e-12, atol=1e-12)


def test_reencoding_training_data_is_identity(ref_data: pd.DataFrame) -> None:
    for rhs in REFERENCE:
        X, spec = build_design(rhs, ref_data)
        np.testing.assert_array_equal(spec.matrix(ref_data), X)


# ----------------------------------------------------------------- hand-derived cases
@pytest.fixture
def small() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Days": [0.0, 1.0, 2.0, 3.0],
            "age": [20.0, 30.0, 40.0, 50.0],
            "x": [1.0, 2.0, 4.0, 8.0],
            "sex": pd.Categorical(["F", "M", "M", "F"], categories=["F", "M"]),
            "f": pd.Categorical(["A", "B", "A", "B"]),
            "temp": pd.Categorical(
                ["lo", "mid", "hi", "mid"], categories=["lo", "mid", "hi"], ordered=True
            ),
        }
    )


def test_intercept_and_numeric(small: pd.DataFrame) -> None:
    X, spec = build_design("1 + Days", small)
    assert spec.names == ["(Intercept)", "Days"]
    np.testing.assert_array_equal(X, [[1, 0], [1, 1], [1, 2], [1, 3]])
    assert spec.assign.tolist() == [0, 1]
    assert spec.intercept


def test_intercept_implied_and_leading_tilde(small: pd.DataFrame) -> None:
    _, spec = build_design("Days", small)
    assert spec.names == ["(Intercept)", "Days"]
    _, spec = build_design("~ Days", small)
    assert spec.names == ["(Intercept)", "Days"]


def test_intercept_only_and_empty(small: pd.DataFrame) -> None:
    X, spec = build_design("1", small)
    assert spec.names == ["(Intercept)"] and X.shape == (4, 1)
    X, spec = build_design("0", small)
    assert spec.names == [] and X.shape == (4, 0)
    X, spec = build_design("-1", small)
    assert X.shape == (4, 0)


def test_treatment_contrast_names(small: pd.DataFrame) -> None:
    X, spec = build_design("sex + age", small)
    assert spec.names == ["(Intercept)", "sexM", "age"]
    np.testing.assert_array_equal(X[:, 1], [0, 1, 1, 0])
    assert spec.contrasts == {"sex": "contr.treatment"}
    assert spec.column_terms == ["(Intercept)", "sex", "age"]


def test_full_dummy_without_intercept(small: pd.DataFrame) -> None:
    X, spec = build_design("0 + f", small)
    assert spec.names == ["fA", "fB"]
    np.testing.assert_array_equal(X, [[1, 0], [0, 1], [1, 0], [0, 1]])
    _, spec = build_design("f - 1", small)
    assert spec.names == ["fA", "fB"]
    assert spec.contrasts == {}


def test_only_first_factor_gets_full_dummies(small: pd.DataFrame) -> None:
    _, spec = build_design("0 + f + sex", small)
    assert spec.names == ["fA", "fB", "sexM"]


def test_interaction_names_and_order(small: pd.DataFrame) -> None:
    # R puts main effects first, then two-way interactions in formula order
    _, spec = build_design("age * Days + sex * Days", small)
    assert spec.names == ["(Intercept)", "age", "Days", "sexM", "age:Days", "Days:sexM"]
    assert spec.term_names == ["age", "Days", "sex", "age:Days", "Days:sex"]
    assert spec.assign.tolist() == [0, 1, 2, 3, 4, 5]


def test_interaction_label_follows_variable_order(small: pd.DataFrame) -> None:
    # variables are numbered by first appearance: sex before Days here
    _, spec = build_design("sex * Days", small)
    assert spec.names == ["(Intercept)", "sexM", "Days", "sexM:Days"]


def test_contr_poly_values_k3(small: pd.DataFrame) -> None:
    X, spec = build_design("temp", small)
    assert spec.names == ["(Intercept)", "temp.L", "temp.Q"]
    s2, s6 = 1 / np.sqrt(2), 1 / np.sqrt(6)
    lin = {"lo": -s2, "mid": 0.0, "hi": s2}
    quad = {"lo": s6, "mid": -2 * s6, "hi": s6}
    levels = ["lo", "mid", "hi", "mid"]
    np.testing.assert_allclose(X[:, 1], [lin[v] for v in levels], atol=1e-15)
    np.testing.assert_allclose(X[:, 2], [quad[v] for v in levels], atol=1e-15)
    np.testing.assert_allclose(X[0, 1:], [-0.7071068, 0.4082483], atol=1e-7)
    np.testing.assert_allclose(X[1, 1:], [0.0, -0.8164966], atol=1e-7)
    assert spec.contrasts == {"temp": "contr.poly"}


def test_contr_poly_names_beyond_cubic() -> None:
    levels = [f"l{i}" for i in range(6)]
    d = pd.DataFrame({"o": pd.Categorical(levels, categories=levels, ordered=True)})
    X, spec = build_design("o", d)
    assert spec.names == ["(Intercept)", "o.L", "o.Q", "o.C", "o^4", "o^5"]
    # orthonormal columns, orthogonal to the intercept
    C = X[:, 1:]
    np.testing.assert_allclose(C.T @ C, np.eye(5), atol=1e-12)
    np.testing.assert_allclose(C.sum(axis=0), 0, atol=1e-12)


def test_ordered_factor_without_intercept_uses_levels(small: pd.DataFrame) -> None:
    _, spec = build_design("0 + temp", small)
    assert spec.names == ["templo", "tempmid", "temphi"]


def test_function_terms_deparse_like_r(small: pd.DataFrame) -> None:
    X, spec = build_design("I(age^2) + log(x) + scale(x) + log(x+1) + I(x*100000)", small)
    assert spec.names == [
        "(Intercept)",
        "I(age^2)",
        "log(x)",
        "scale(x)",
        "log(x + 1)",
        "I(x * 1e+05)",
    ]
    np.testing.assert_allclose(X[:, 1], small["age"] ** 2)
    np.testing.assert_allclose(X[:, 2], np.log(small["x"]))
    np.testing.assert_allclose(X[:, 4], np.log(small["x"] + 1))


def test_python_power_is_r_power(small: pd.DataFrame) -> None:
    X, spec = build_design("I(age**2)", small)
    assert spec.names == ["(Intercept)", "I(age^2)"]
    np.testing.assert_allclose(X[:, 1], small["age"] ** 2)


def test_scale_uses_training_mean_and_n_minus_1_sd() -> None:
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0])
    X, spec = build_design("scale(x)", pd.DataFrame({"x": x}))
    mean, sd = 10.5, 11.861703081766969  # R: attr(scale(x), "scaled:center"/"scaled:scale")
    np.testing.assert_allclose(X[:, 1], (x - mean) / sd, rtol=1e-14)
    new = spec.matrix(pd.DataFrame({"x": [3.0, 50.0]}))
    np.testing.assert_allclose(new[:, 1], [-0.6322869446570879, 3.330044575193996], rtol=1e-13)


def test_center_uses_training_mean() -> None:
    X, spec = build_design("center(x)", pd.DataFrame({"x": [1.0, 2.0, 6.0]}))
    np.testing.assert_allclose(X[:, 1], [-2.0, -1.0, 3.0])
    np.testing.assert_allclose(spec.matrix(pd.DataFrame({"x": [3.0]}))[:, 1], [0.0])


def test_poly_matches_r_and_predicts_with_training_coefficients() -> None:
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0])
    X, spec = build_design("poly(x, 2)", pd.DataFrame({"x": x}))
    assert spec.names == ["(Intercept)", "poly(x, 2)1", "poly(x, 2)2"]
    # R: print(poly(c(1,2,4,8,16,32), 2), digits = 15)
    r_first = [-0.3581719360165204, -0.3204696269621498, -0.2450650088534086,
               -0.0942557726359264, 0.2073626997990381, 0.8105996446689669]  # fmt: skip
    r_second = [0.38957073515409013, 0.25377950220163342, 0.00948327805109257,
                -0.36996420323250540, -0.69227929772976593, 0.40940998555545538]  # fmt: skip
    np.testing.assert_allclose(X[:, 1], r_first, rtol=1e-12)
    np.testing.assert_allclose(X[:, 2], r_second, rtol=1e-12)
    # R: predict(poly(x, 2), c(3, 50))
    new = spec.matrix(pd.DataFrame({"x": [3.0, 50.0]}))
    np.testing.assert_allclose(
        new[:, 1:],
        [[-0.2827673179077792, 0.12708368316730129], [1.4892412076476369, 4.43200708819717004]],
        rtol=1e-12,
    )


def test_poly_degree_too_high() -> None:
    with pytest.raises(FormulaError, match="less than number of unique points"):
        build_design("poly(x, 3)", pd.DataFrame({"x": [1.0, 2.0, 3.0]}))


def test_boolean_column_is_a_factor() -> None:
    d = pd.DataFrame({"b": [True, False, True], "x": [1.0, 2.0, 3.0]})
    X, spec = build_design("b + x", d)
    assert spec.names == ["(Intercept)", "bTRUE", "x"]
    np.testing.assert_array_equal(X[:, 1], [1, 0, 1])
    _, spec = build_design("0 + b", d)
    assert spec.names == ["bFALSE", "bTRUE"]


def test_string_column_levels_sorted_as_r() -> None:
    d = pd.DataFrame({"s": ["b", "B", "a", "A", "b"]})
    X, spec = build_design("s", d)
    # R (UTF-8 collation): a < A < b < B; first level is the reference
    assert spec.names == ["(Intercept)", "sA", "sb", "sB"]
    assert spec.factor_levels == {"s": ["a", "A", "b", "B"]}
    np.testing.assert_array_equal(X[:, 1:], [[0, 1, 0], [0, 0, 1], [0, 0, 0], [1, 0, 0], [0, 1, 0]])


def test_object_string_column() -> None:
    d = pd.DataFrame({"s": pd.Series(["z", "y", "z"], dtype=object)})
    _, spec = build_design("s", d)
    assert spec.names == ["(Intercept)", "sz"]


def test_categorical_order_sets_reference_level() -> None:
    d = pd.DataFrame({"g": pd.Categorical(["x", "y", "z"], categories=["z", "x", "y"])})
    X, spec = build_design("g", d)
    assert spec.names == ["(Intercept)", "gx", "gy"]
    np.testing.assert_array_equal(X[:, 1:], [[1, 0], [0, 1], [0, 0]])


def test_unused_categories_are_kept_as_r_model_matrix_does() -> None:
    d = pd.DataFrame({"g": pd.Categorical(["a", "b"], categories=["a", "b", "c"])})
    X, spec = build_design("g", d)
    assert spec.names == ["(Intercept)", "gb", "gc"]
    np.testing.assert_array_equal(X[:, 2], [0, 0])


def test_factor_call_on_numeric_column() -> None:
    d = pd.DataFrame({"k": [2.5, 1.0, 10.0, 1.0]})
    X, spec = build_design("factor(k)", d)
    assert spec.names == ["(Intercept)", "factor(k)2.5", "factor(k)10"]
    np.testing.assert_array_equal(X[:, 1:], [[1, 0], [0, 0], [0, 1], [0, 0]])
    new = spec.matrix(pd.DataFrame({"k": [10.0, 2.5]}))
    np.testing.assert_array_equal(new[:, 1:], [[0, 1], [1, 0]])
    with pytest.raises(NewLevelError, match="'3'"):
        spec.matrix(pd.DataFrame({"k": [3.0]}))


def test_factor_call_on_integer_column_and_as_factor() -> None:
    d = pd.DataFrame({"k": [3, 1, 2, 100000]})
    _, spec = build_design("as.factor(k)", d)
    assert spec.names == ["(Intercept)", "as.factor(k)2", "as.factor(k)3", "as.factor(k)100000"]


def test_single_level_factor_is_an_error_as_in_r() -> None:
    # R's model.matrix sets contrasts on every factor, whatever its coding in the terms
    d = pd.DataFrame({"g": pd.Categorical(["a", "a"]), "x": [1.0, 2.0]})
    for rhs in ["g", "0 + g", "g:x"]:
        with pytest.raises(ValueError, match="2 or more levels"):
            build_design(rhs, d)


def test_logical_column_always_has_two_levels() -> None:
    X, spec = build_design("b", pd.DataFrame({"b": [True, True]}))
    assert spec.names == ["(Intercept)", "bTRUE"]
    np.testing.assert_array_equal(X[:, 1], [1.0, 1.0])


def test_unseen_level_in_new_data(small: pd.DataFrame) -> None:
    _, spec = build_design("sex + f", small)
    bad = pd.DataFrame({"sex": ["F", "X"], "f": ["A", "B"]})
    with pytest.raises(NewLevelError) as info:
        spec.matrix(bad)
    msg = str(info.value)
    assert "column 'sex'" in msg and "'X'" in msg and "F, M" in msg
    assert isinstance(info.value, ValueError)


def test_new_data_with_other_category_order(small: pd.DataFrame) -> None:
    X, spec = build_design("f * Days", small)
    new = small.copy()
    new["f"] = pd.Categorical(small["f"].astype(str), categories=["B", "A"])
    np.testing.assert_array_equal(spec.matrix(new), X)


def test_new_data_missing_column(small: pd.DataFrame) -> None:
    _, spec = build_design("sex + Days", small)
    with pytest.raises(ValueError, match="'Days'"):
        spec.matrix(small[["sex"]])


def test_new_data_missing_values_give_nan_rows(small: pd.DataFrame) -> None:
    _, spec = build_design("sex + Days", small)
    new = pd.DataFrame(
        {"sex": pd.Categorical([None, "M"], categories=["F", "M"]), "Days": [1.0, None]}
    )
    M = spec.matrix(new)
    assert np.isnan(M[0, 1]) and M[0, 2] == 1.0
    assert M[1, 1] == 1.0 and np.isnan(M[1, 2])


def test_nullable_integer_column() -> None:
    d = pd.DataFrame({"n": pd.array([1, 2, 3], dtype="Int64")})
    X, _ = build_design("n", d)
    np.testing.assert_array_equal(X[:, 1], [1.0, 2.0, 3.0])


def test_term_columns_and_column_terms(small: pd.DataFrame) -> None:
    _, spec = build_design("sex * Days + f", small)
    assert spec.names == ["(Intercept)", "sexM", "Days", "fB", "sexM:Days"]
    assert spec.column_terms == ["(Intercept)", "sex", "Days", "f", "sex:Days"]
    assert spec.term_columns == {
        "(Intercept)": [0],
        "sex": [1],
        "Days": [2],
        "f": [3],
        "sex:Days": [4],
    }
    assert spec.ncol == 5
    assert spec.variables == ("sex", "Days", "f")


def test_offset_terms_are_ignored(small: pd.DataFrame) -> None:
    _, spec = build_design("Days + offset(log(x))", small)
    assert spec.names == ["(Intercept)", "Days"]


def test_bars_are_refused(small: pd.DataFrame) -> None:
    with pytest.raises(FormulaError, match="not allowed in a fixed-effects design"):
        build_design("Days + (1 | sex)", small)


def test_unknown_column(small: pd.DataFrame) -> None:
    with pytest.raises(FormulaError, match=r"unknown variable 'dayz'.*did you mean 'Days'"):
        build_design("dayz", small)


def test_factor_in_arithmetic_is_an_error(small: pd.DataFrame) -> None:
    with pytest.raises(FormulaError, match="factor"):
        build_design("log(sex)", small)


def test_dotted_and_backticked_names() -> None:
    d = pd.DataFrame({"Sepal.Length": [1.0, 2.0], "my var": [3.0, 4.0]})
    X, spec = build_design("Sepal.Length + `my var`", d)
    assert spec.names == ["(Intercept)", "Sepal.Length", "`my var`"]
    np.testing.assert_array_equal(X[:, 2], [3.0, 4.0])


def test_random_effect_lhs_designs(small: pd.DataFrame) -> None:
    # the left sides produced by parse_formula are valid right-hand sides here
    for lhs, names in [
        ("1", ["(Intercept)"]),
        ("Days", ["(Intercept)", "Days"]),
        ("0 + Days", ["Days"]),
        ("Days - 1", ["Days"]),
        ("0 + f", ["fA", "fB"]),
        ("1 + f", ["(Intercept)", "fB"]),
    ]:
        _, spec = build_design(lhs, small)
        assert spec.names == names, lhs


def test_spec_type(small: pd.DataFrame) -> None:
    X, spec = build_design("Days", small)
    assert isinstance(spec, DesignSpec)
    assert X.flags["C_CONTIGUOUS"]
    assert spec.rhs == "Days"


def test_accepts_mapping_data() -> None:
    X, spec = build_design("x", {"x": [1.0, 2.0]})
    assert spec.names == ["(Intercept)", "x"]
    assert X.shape == (2, 2)


def test_spec_copy_is_independent() -> None:
    import numpy as np
    import pandas as pd

    from mixedfx.formula.design import build_design
    d = pd.DataFrame({"x": np.arange(6.0), "f": pd.Categorical(list("abcabc"))})
    X, spec = build_design("x + f", d)
    twin = spec.copy()
    assert twin.names == spec.names and twin.contrasts == spec.contrasts
    twin.names.append("extra")
    twin.factor_levels["f"].append("z")
    twin.assign[0] = 99
    assert spec.names == ["(Intercept)", "x", "fb", "fc"]
    assert spec.factor_levels["f"] == ["a", "b", "c"] and spec.assign[0] == 0
    np.testing.assert_array_equal(twin.matrix(d), X)


def test_ordered_factor_contrasts_are_the_same_on_every_build() -> None:
    import numpy as np
    import pandas as pd

    from mixedfx.formula.design import build_design
    d = pd.DataFrame({"o": pd.Categorical(list("lmhlmh"), categories=list("lmh"),
                                          ordered=True)})
    X1, s1 = build_design("o", d)
    X2, s2 = build_design("o", d)
    np.testing.assert_array_equal(X1, X2)
    assert s1.names == s2.names == ["(Intercept)", "o.L", "o.Q"]
    X1[:, 1] = 0.0                       # the returned matrices are the caller's own
    np.testing.assert_array_equal(build_design("o", d)[0], X2)


# ------------------------------------------------------------ bare columns, ColumnFill
def test_bare_columns(small: pd.DataFrame) -> None:
    from mixedfx.formula.design import bare_columns

    names = tuple(small.columns)
    assert bare_columns("Days + sex * (x)", names) == ("Days", "sex", "x")
    assert bare_columns("1", names) == ()
    assert bare_columns("0 + temp", names) == ("temp",)
    for rhs in ("log(x)", "I(x^2)", "poly(x, 2)", "factor(Days)", "scale(x)",
                "x + relevel(f, 'B')"):
        assert bare_columns(rhs, names) is None, rhs
    with pytest.raises(FormulaError):
        bare_columns("nope", names)


@pytest.mark.parametrize(
    "rhs",
    ["1", "0", "Days", "0 + Days", "sex", "0 + sex", "temp", "Days + sex + f", "0 + f + x",
     "(Days) + (temp)"],
)
def test_column_fill_gives_assemble_bits(rhs: str, small: pd.DataFrame) -> None:
    from mixedfx.formula.columns import as_table

    table = as_table(small)
    X, spec = build_design(rhs, table)
    fill = spec.column_fill(table)
    assert fill is not None
    for data in (table, as_table(small.iloc[[3, 1, 0, 0, 2]])):
        got, want = fill.matrix(data), spec.matrix(data)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.flags.c_contiguous and got.flags.writeable
        assert got.tobytes() == want.tobytes()
    assert fill.matrix(table).tobytes() == X.tobytes()


@pytest.mark.parametrize("rhs", ["Days:sex", "x * Days", "log(x)", "factor(Days)", "sex:f"])
def test_column_fill_only_for_one_bare_column_per_term(rhs: str, small: pd.DataFrame) -> None:
    from mixedfx.formula.columns import as_table

    table = as_table(small)
    assert build_design(rhs, table)[1].column_fill(table) is None


def test_wide_factor_blocks_copied_alike() -> None:
    # more rows than `_copy_block` copies at once: column by column, the same bits
    from mixedfx.formula.columns import as_table

    rng = np.random.default_rng(1)
    n = 700
    data = pd.DataFrame({"x": rng.standard_normal(n),
                         "g": pd.Categorical(rng.integers(0, 20, n).astype(str))})
    table = as_table(data)
    X, spec = build_design("x + g", table)
    assert X.shape == (n, 21)
    assert spec.column_fill(table).matrix(table).tobytes() == X.tobytes()
    expected = np.column_stack([np.ones(n), data["x"],
                                *(np.asarray(data["g"] == lev, dtype=float)
                                  for lev in data["g"].cat.categories[1:])])
    np.testing.assert_array_equal(X, expected)
