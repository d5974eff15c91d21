"""Build the data files bundled in ``mixedfx.datasets``.

Usage (from the repository root)::

    Rscript tools/extract_r_metadata.R [REFERENCE_DATA_DIR] [DOUBLES_DIR]   # needs R
    python tools/build_datasets.py [--reference-dir DIR] [--r-doubles DOUBLES_DIR]
                                   [--check-only]

Inputs:

* ``REFERENCE_DATA_DIR/*.csv`` (default ``/work/shared/reference/data``): the data sets as
  written by R (values round-trip exactly to R's doubles).
* ``tools/r_metadata.json``: column types and factor level orders taken from R itself by
  ``tools/extract_r_metadata.R`` (R 4.2.2, lme4 1.1-31, nlme 3.1-162).  That script also
  verifies that every CSV holds exactly R's values.
* ``CORRECTIONS`` below: values whose text in the reference CSV is not read back as R's
  double by a correctly rounding parser (R's own parser reads them back, so the reference
  files were checked as exact in R).  With ``--r-doubles`` (the hexadecimal dumps written by
  the R script) every double is verified bit for bit and missing corrections are reported.
* ``--mmrm-dir`` (default ``/tmp/mixedfx_mmrm_csv``) and ``tools/r_metadata_mmrm.json``:
  the mmrm package's fev_data and bcva_data, written from its ``data/*.rda`` by
  ``Rscript tools/extract_mmrm_metadata.R <rda dir>`` (which also writes their exact doubles
  for ``--r-doubles``).
* ``REFERENCE_DATA_DIR/../cases/*.json``: the reference case files; their ``columns``,
  ``factor_levels`` and ``expected.ranef.<factor>.levels`` are cross-checked against the
  R metadata, and the build fails on any disagreement.

Outputs (in ``src/mixedfx/datasets/data/``): one ``<name>.csv.gz`` per data set (gzip with a
zero timestamp, so rebuilding gives identical bytes) and ``datasets.json`` with the
descriptions, column types and level orders.  The package reads only these files at run time.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "src" / "mixedfx" / "datasets" / "data"
R_METADATA = ROOT / "tools" / "r_metadata.json"
DEFAULT_REFERENCE = Path("/work/shared/reference/data")

# Descriptions are paraphrased from the R help pages (lme4 1.1-31, nlme 3.1-162).
# ``csv``: source file in the reference folder; ``drop``: CSV columns that are not part of
# R's data set; ``keep_01``: binary factors that the CSV stores as 0/1 and that are bundled
# as integers (the CSV does not hold the labels).
SPECS: dict[str, dict[str, Any]] = {
    "sleepstudy": {
        "csv": "sleepstudy.csv",
        "title": "Reaction times in a sleep deprivation study",
        "description": (
            "Average reaction time per day, in milliseconds, of 18 subjects whose sleep was "
            "restricted to 3 hours a night, over the first 10 days of the study. Days 0 and 1 "
            "were adaptation and training, day 2 the baseline; sleep deprivation began after "
            "day 2."
        ),
        "citation": (
            "Belenky, G. et al. (2003). Patterns of performance degradation and restoration "
            "during sleep restriction and subsequent recovery: a sleep dose-response study. "
            "Journal of Sleep Research 12, 1-12."
        ),
        "columns": {
            "Reaction": "average reaction time (ms)",
            "Days": "days of sleep deprivation (0-9)",
            "Subject": "subject identifier",
        },
    },
    "Dyestuff": {
        "csv": "Dyestuff.csv",
        "title": "Yield of dyestuff by batch",
        "description": (
            "Yield of the dyestuff Naphthalene Black 12B from 5 laboratory preparations made "
            "from each of 6 batches of the intermediate product H-acid; used to see how much "
            "batch-to-batch variation of the intermediate contributes to variation of the yield."
        ),
        "citation": (
            "Davies, O. L. and Goldsmith, P. L. (eds.) (1972). Statistical Methods in Research "
            "and Production, 4th ed., Oliver and Boyd, section 6.4."
        ),
        "columns": {
            "Batch": "batch of the intermediate product (A-F)",
            "Yield": "yield of dyestuff (grams of standard colour)",
        },
    },
    "Dyestuff2": {
        "csv": "Dyestuff2.csv",
        "title": "Constructed dyestuff-like data with a small batch effect",
        "description": (
            "Constructed data with the layout of Dyestuff (6 batches, 5 preparations each) "
            "but with a between-batch mean square smaller than the within-batch mean square, "
            "so the REML estimate of the batch variance is zero (a singular fit)."
        ),
        "citation": (
            "Box, G. E. P. and Tiao, G. C. (1973). Bayesian Inference in Statistical Analysis, "
            "Addison-Wesley, section 5.1.2."
        ),
        "columns": {
            "Batch": "batch (A-F)",
            "Yield": "simulated yield",
        },
    },
    "Penicillin": {
        "csv": "Penicillin.csv",
        "title": "Variation in penicillin testing",
        "description": (
            "Six penicillin samples, each tested on every one of 24 agar plates by the "
            "B. subtilis plate method; the response is the diameter of the zone in which the "
            "growth of the organism is inhibited (fully crossed plate and sample factors)."
        ),
        "citation": (
            "Davies, O. L. and Goldsmith, P. L. (eds.) (1972). Statistical Methods in Research "
            "and Production, 4th ed., Oliver and Boyd, section 6.6."
        ),
        "columns": {
            "diameter": "diameter of the inhibition zone (mm)",
            "plate": "assay plate (a-x)",
            "sample": "penicillin sample (A-F)",
        },
    },
    "Pastes": {
        "csv": "Pastes.csv",
        "title": "Paste strength by batch and cask",
        "description": (
            "Strength of a chemical paste: 10 delivery batches, 3 casks sampled from each "
            "batch, 2 analytical tests per cask sample (cask nested within batch)."
        ),
        "citation": (
            "Davies, O. L. and Goldsmith, P. L. (eds.) (1972). Statistical Methods in Research "
            "and Production, 4th ed., Oliver and Boyd, section 6.5."
        ),
        "columns": {
            "strength": "paste strength",
            "batch": "delivery batch (A-J)",
            "cask": "cask within the batch (a-c); only meaningful together with batch",
            "sample": "paste sample, i.e. the batch:cask combination (A:a to J:c)",
        },
    },
    "InstEval": {
        "csv": "InstEval.csv",
        "title": "University lecture and instructor evaluations by students at ETH Zurich",
        "description": (
            "Anonymised and slightly simplified ratings of lectures by students at ETH Zurich; "
            "each row is one student's rating of one lecture. A medium-sized example with "
            "partially crossed student and lecturer factors."
        ),
        "citation": (
            "ETH Zurich lecture evaluation survey, anonymised; distributed with lme4 "
            "(the help page cites no publication)."
        ),
        "columns": {
            "s": "student identifier (2972 students)",
            "d": "lecturer identifier (1128 lecturers, codes between 1 and 2160)",
            "studage": "semester number the student was enrolled in (2 < 4 < 6 < 8)",
            "lectage": "how many semesters back the rated lecture took place (1 < ... < 6)",
            "service": "1 if the lecture was held for a department other than the lecturer's",
            "dept": "department of the lecture (random code, 14 levels in R's order)",
            "y": "rating on the scale 1 (poor) to 5 (very good)",
        },
    },
    "cbpp": {
        "csv": "cbpp.csv",
        "drop": ["failures"],
        "title": "Contagious bovine pleuropneumonia",
        "description": (
            "Serological incidence of contagious bovine pleuropneumonia (CBPP) in zebu cattle "
            "of 15 commercial herds in the Boji district of Ethiopia, from blood samples taken "
            "quarterly; new cases per herd and period. Some herd-periods are missing (lost to "
            "follow-up)."
        ),
        "citation": (
            "Lesnoff, M. et al. (2004). Within-herd spread of contagious bovine "
            "pleuropneumonia in Ethiopian highlands. Preventive Veterinary Medicine 64, 27-40."
        ),
        "columns": {
            "herd": "herd (1-15)",
            "incidence": "number of new serological cases in the herd during the period",
            "size": "herd size at the beginning of the period",
            "period": "time period (1-4)",
        },
    },
    "grouseticks": {
        "csv": "grouseticks.csv",
        "title": "Ticks on red grouse chicks",
        "description": (
            "Number of ticks counted on the heads of red grouse chicks sampled in the field, "
            "with brood, altitude, year and location (the observation-level data, not the "
            "brood-level aggregate grouseticks_agg)."
        ),
        "citation": (
            "Elston, D. A., Moss, R., Boulinier, T., Arrowsmith, C. and Lambin, X. (2001). "
            "Analysis of aggregation, a worked example: numbers of ticks on red grouse chicks. "
            "Parasitology 122, 563-569."
        ),
        "columns": {
            "INDEX": "chick (observation-level factor)",
            "TICKS": "number of ticks",
            "BROOD": "brood",
            "HEIGHT": "height above sea level (m)",
            "YEAR": "year minus 1900 (95, 96, 97)",
            "LOCATION": "geographic location code",
            "cHEIGHT": "HEIGHT centred at its mean (m)",
        },
    },
    "VerbAgg": {
        "csv": "VerbAgg.csv",
        "keep_01": ["r2"],
        "title": "Verbal aggression item responses",
        "description": (
            "Responses of 316 persons to 24 items of a questionnaire on verbal aggression "
            "(situation x behaviour mode x behaviour type), used throughout De Boeck and "
            "Wilson (2004) for item response models. Difference from R: r2 is a factor with "
            "levels N, Y in lme4 but is bundled here as an integer 0/1 (1 = 'Y'), as in the "
            "reference CSV; a binomial fit of r2 is the same either way."
        ),
        "citation": (
            "De Boeck, P. and Wilson, M. (eds.) (2004). Explanatory Item Response Models. Springer."
        ),
        "columns": {
            "Anger": "the person's Trait Anger score (STAXI)",
            "Gender": "the person's gender",
            "item": "questionnaire item",
            "resp": "response to the item (no < perhaps < yes)",
            "id": "person identifier",
            "btype": "behaviour type",
            "situ": "situation type: other-to-blame or self-to-blame",
            "mode": "behaviour mode",
            "r2": "dichotomised response: 1 = perhaps or yes ('Y'), 0 = no ('N')",
        },
    },
    "Orthodont": {
        "csv": "Orthodont.csv",
        "title": "Growth curve data on an orthodontic measurement",
        "description": (
            "Distance from the pituitary to the pterygomaxillary fissure, measured on x-ray "
            "images every two years from age 8 to 14 in 27 children (16 boys, 11 girls) at "
            "the University of North Carolina Dental School. In nlme this is a groupedData "
            "object; here it is a plain data frame. Subject is an ordered factor whose levels "
            "are ordered by increasing mean distance within sex (so not alphabetically)."
        ),
        "citation": (
            "Potthoff, R. F. and Roy, S. N. (1964). A generalized multivariate analysis of "
            "variance model useful especially for growth curve problems. Biometrika 51, "
            "313-326; Pinheiro, J. C. and Bates, D. M. (2000), Mixed-Effects Models in S and "
            "S-PLUS, Springer, appendix A.17."
        ),
        "columns": {
            "distance": "pituitary to pterygomaxillary fissure distance (mm)",
            "age": "age of the subject (years)",
            "Subject": "subject (M01-M16 boys, F01-F11 girls), ordered as in nlme",
            "Sex": "sex of the subject",
        },
    },
    "hsb": {
        "csv": "HSB.csv",
        "title": "High School and Beyond: mathematics achievement of US high-school students",
        "description": (
            "Mathematics achievement of 7185 students in 160 US high schools (1982 High School "
            "and Beyond survey), built from nlme's MathAchieve (students) and MathAchSchool "
            "(schools) as in the reference cases: school mean SES added per school, the school "
            "columns Sector, mean SES, Size and HIMINTY merged with the student columns Sex, "
            "SES, MathAch and Minority by school, names lower-cased, mean.ses renamed meanses, "
            "cses = ses - meanses, sector with levels Public, Catholic; rows in merge() order."
        ),
        "citation": (
            "Raudenbush, S. W. and Bryk, A. S. (2002). Hierarchical Linear Models, 2nd ed., "
            "Sage; data from the High School and Beyond survey as distributed in nlme "
            "(MathAchieve, MathAchSchool)."
        ),
        "columns": {
            "school": "school identifier (160 schools)",
            "sector": "school sector",
            "meanses": "school mean of ses over its students in these data (not nlme's MEANSES)",
            "size": "number of students in the school",
            "himinty": "1 if the school has a high proportion of minority students",
            "sex": "student's sex",
            "ses": "student's socio-economic status (standardised)",
            "mathach": "mathematics achievement score",
            "minority": "whether the student belongs to a minority group",
            "cses": "school-centred SES, ses - meanses",
        },
    },
}

# The tutorial data sets of M. Clark's "Mixed Models with R" whose licence allows
# redistribution: J. Hox's simulated / constructed teaching data, as converted to R by Clark
# and published in the tutorial's repository under CC BY-SA 4.0. (The tutorial's speed
# dating and patents data are real study data without a stated licence: not bundled; the
# docs say where to get them.) Read from --tutorial-dir (CSV files written by
# extract_r_metadata.R from the tutorial's .RData files).
_MMWR = ("M. Clark, Mixed Models with R (https://m-clark.github.io/mixed-models-with-R/; "
         "data/{file}.RData in https://github.com/m-clark/mixed-models-with-R, commit "
         "aea3c381); originally from J. Hox, Multilevel Analysis: Techniques and "
         "Applications, 2nd ed. (Routledge, 2010), example data ({hox})")
_MMWR_LICENCE = ("CC BY-SA 4.0 (Creative Commons Attribution-ShareAlike 4.0, "
                 "https://creativecommons.org/licenses/by-sa/4.0/), the licence of the "
                 "tutorial it is taken from; constructed data (no real persons), distributed "
                 "freely by J. Hox for teaching with the book. Redistribution keeps this "
                 "attribution and licence.")
TUTORIAL: dict[str, dict[str, Any]] = {
    "gpa": {
        "csv": "gpa.csv",
        "title": "Grade point average of 200 college students over six semesters",
        "description": (
            "Simulated longitudinal data: the GPA of 200 college students on 6 consecutive "
            "semesters with their job status (hours worked) in each semester, sex, high-school "
            "GPA and whether they were admitted to the university of their choice (missing "
            "for students who did not apply). Used in the tutorial's first chapters: "
            "gpa ~ occasion + (1 | student)."
        ),
        "citation": _MMWR.format(file="gpa", hox="gpa2long.sav; the data are simulated"),
        "licence": _MMWR_LICENCE,
        "columns": {
            "student": "student identifier (200 students)",
            "occas": "semester, 'year 1 semester 1' to 'year 3 semester 2'",
            "gpa": "grade point average in the semester (1-4)",
            "job": "hours worked in the semester (no job, 1 hour, ..., 4+ hours)",
            "sex": "student's sex",
            "highgpa": "high-school GPA",
            "admitted": "admitted to the university of choice (missing: did not apply)",
            "year": "year of study (1-3)",
            "semester": "semester within the year (1, 2)",
            "occasion": "semester as a number, 0-5 (time in the growth models)",
        },
    },
    "nurses": {
        "csv": "nurses.csv",
        "title": "Stress of nurses in wards within hospitals (cluster-randomised training)",
        "description": (
            "Hypothetical study of job-related stress of 1000 nurses in 100 wards of 25 "
            "hospitals; in each hospital four wards were randomly assigned to a stress "
            "management training or to control (treatment at the ward level, a cluster "
            "randomised trial). Used in the tutorial for nested random effects: "
            "(1 | hospital) + (1 | hospital:ward)."
        ),
        "citation": _MMWR.format(file="nurses", hox="nurses.sav; hypothetical data"),
        "licence": _MMWR_LICENCE,
        "columns": {
            "hospital": "hospital identifier (1-25)",
            "ward": "ward within the hospital (1-4)",
            "wardid": "unique ward identifier",
            "nurse": "nurse identifier",
            "age": "nurse's age (years)",
            "sex": "nurse's sex",
            "experience": "nurse's experience (years)",
            "stress": "stress score",
            "wardtype": "type of ward (general care, special care)",
            "hospsize": "hospital size (small, medium, large)",
            "treatment": "experimental condition of the ward (Ctrl, Training)",
        },
    },
    "pupils": {
        "csv": "pupils.csv",
        "title": "Achievement of pupils in crossed primary and secondary schools",
        "description": (
            "Constructed data on 1000 pupils who attended 100 primary schools and then 30 "
            "secondary schools (primary and secondary school crossed): achievement measured "
            "in secondary school, pupil sex and SES, and whether each school is "
            "denominational. Used in the tutorial for crossed random effects: "
            "(1 | primary_school_id) + (1 | secondary_school_id)."
        ),
        "citation": _MMWR.format(file="pupils", hox="pupcross.sav; constructed data"),
        "licence": _MMWR_LICENCE,
        "columns": {
            "PUPIL": "pupil identifier",
            "primary_school_id": "primary school (100 schools)",
            "secondary_school_id": "secondary school (30 schools)",
            "achievement": "achievement score in secondary school",
            "sex": "pupil's sex",
            "ses": "pupil's socio-economic status, six ordered categories (lowest ... highest)",
            "primary_denominational": "primary school is denominational",
            "secondary_denominational": "secondary school is denominational",
        },
    },
    "sociometric": {
        "csv": "sociometric.csv",
        "title": "Sociometric ratings among children in small groups",
        "description": (
            "Constructed data in which every member of 20 small groups (4 to 11 children) "
            "rates every other member on a 1-9 scale (how much they would like to share an "
            "activity with them): sender and receiver are crossed within groups, with age "
            "and sex of both and the group size. Used in the tutorial's exercise on crossed "
            "random effects: (1 | group) + (1 | group:sender) + (1 | group:receiver)."
        ),
        "citation": _MMWR.format(file="sociometric", hox="SocsLong.sav; constructed data"),
        "licence": _MMWR_LICENCE,
        "columns": {
            "group": "group identifier (20 groups)",
            "sender": "rating child, within the group",
            "receiver": "rated child, within the group",
            "rating": "sociometric rating, 1 (lowest) to 9 (highest)",
            "agesend": "age of the sender (years)",
            "sexsend": "sex of the sender",
            "agerec": "age of the receiver (years)",
            "sexrec": "sex of the receiver",
            "grsize": "group size",
        },
    },
}
TUTORIAL["biomass_sim"] = {
    "csv": "biomass_sim.csv",
    "title": "Simulated biomass at 20 sites with site-specific temperature slopes",
    "description": (
        "Simulated in R (4.2.2) by the reference cases: set.seed(10); Temp and N uniform on "
        "(-2, 2) for 100 plots, 5 at each of 20 sites; Biomass = 10 + a_site + (0.3 + "
        "b_site) * Temp + 2.2 * N + e with site intercepts a ~ N(0, 1.2^2), site slopes "
        "b ~ N(0, 0.5^2) and e ~ N(0, 1). The random-slopes example: Biomass ~ Temp + N + "
        "(1 + Temp | Site)."
    ),
    "citation": ("Simulated by mixedfx's reference generator (the R code above; R's "
                 "runif / rnorm streams reproduce it exactly)"),
    "licence": "simulated data, no restrictions (same licence as mixedfx, MIT)",
    "reference_dir": True,
    "columns": {
        "Temp": "temperature (standardised scale)",
        "N": "nitrogen (standardised scale)",
        "Site": "site (Site1-Site20)",
        "Biomass": "simulated biomass",
    },
}
DEFAULT_TUTORIAL = Path("/tmp/mixedfx_tutorial_csv")

# The example data of the R package mmrm (artificial clinical-trial data, Apache-2.0), read
# from --mmrm-dir (CSV files with 17-digit doubles written by tools/extract_mmrm_metadata.R
# from the package's data/*.rda); types and levels from tools/r_metadata_mmrm.json. Doubles
# are bundled in their shortest round-trip text (the same doubles, fewer digits).
_MMRM = ("the R package mmrm 0.3.18 (https://github.com/openpharma/mmrm, data/{file}.rda at "
         "commit ec290b26; documented in R/data.R as an artificial data set)")
_MMRM_LICENCE = ("Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0), the "
                 "licence of the mmrm package (copyright Boehringer Ingelheim Ltd., Gilead "
                 "Sciences, Inc., F. Hoffmann-La Roche AG, Merck Sharp & Dohme, Inc., "
                 "AstraZeneca plc and inferential.biostatistics GmbH); artificial data, no "
                 "real persons. Redistribution keeps this attribution and licence.")
MMRM: dict[str, dict[str, Any]] = {
    "fev_data": {
        "csv": "fev_data.csv",
        "title": "Artificial COPD trial: FEV1 at four visits (mmrm)",
        "description": (
            "Artificial data of a two-arm trial in chronic obstructive pulmonary disease: "
            "forced expired volume in one second (FEV1) of 200 subjects at visits VIS1-VIS4, "
            "with missing visits (FEV1 is missing in 263 rows). The mmrm package's main "
            "example: FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)."
        ),
        "citation": _MMRM.format(file="fev_data"),
        "licence": _MMRM_LICENCE,
        "shortest_doubles": True,
        "columns": {
            "USUBJID": "subject identifier",
            "AVISIT": "visit (VIS1-VIS4)",
            "ARMCD": "treatment arm, PBO (placebo) or TRT",
            "RACE": "race, three categories",
            "SEX": "sex",
            "FEV1_BL": "FEV1 at baseline (%)",
            "FEV1": "FEV1 at the visit (missing when the visit was missed)",
            "WEIGHT": "a weighting variable (for weighted fits)",
            "VISITN": "visit number (1-4)",
            "VISITN2": "visit coordinate for distance-based (spatial) covariance",
        },
    },
    "bcva_data": {
        "csv": "bcva_data.csv",
        "title": "Artificial ophthalmology trial: change in BCVA at ten visits (mmrm)",
        "description": (
            "Artificial data of a two-arm ophthalmology trial: change from baseline in best "
            "corrected visual acuity (letters read on an eye chart) of 1,000 subjects at up "
            "to 10 visits (8,605 rows; missed visits are absent). The mmrm package's "
            "large example: BCVA_CHG ~ BCVA_BL + ARMCD * AVISIT + us(AVISIT | USUBJID), 55 "
            "covariance parameters."
        ),
        "citation": _MMRM.format(file="bcva_data"),
        "licence": _MMRM_LICENCE,
        "shortest_doubles": True,
        "columns": {
            "USUBJID": "subject identifier",
            "VISITN": "visit number (1-10)",
            "AVISIT": "visit (VIS01-VIS10)",
            "ARMCD": "treatment arm, CTL (control) or TRT",
            "RACE": "race, three categories",
            "BCVA_BL": "BCVA at baseline (letters)",
            "BCVA_CHG": "change in BCVA from baseline at the visit (letters)",
        },
    },
}
R_METADATA_MMRM = ROOT / "tools" / "r_metadata_mmrm.json"
DEFAULT_MMRM = Path("/tmp/mixedfx_mmrm_csv")

# (data set, column, 0-based row) -> shortest text that reads back as R's double.
# hsb cses row 6708 (school 9104): R's value is 0.992 - 0.7434545454545455 =
# 0x1.fd056636bcc9cp-3; the CSV text "0.2485454545454545" is the neighbouring double
# 0x1.fd056636bcc9bp-3 under correct rounding (R_strtod rounds it up).
CORRECTIONS: dict[tuple[str, str, int], str] = {
    ("hsb", "cses", 6708): "0.24854545454545451",
}

R_OBJECT = {
    "hsb": "built from nlme::MathAchieve and nlme::MathAchSchool",
}


def _gzip_bytes(data: bytes) -> bytes:
    """Gzip ``data`` with a fixed header (no file name, zero mtime) for reproducible builds."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return buf.getvalue()


def _dump_json(meta: dict[str, Any]) -> str:
    """Pretty-print ``meta`` with each list of levels kept on one line."""
    lists: list[str] = []

    def stash(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: stash(v) for k, v in obj.items()}
        if isinstance(obj, list):
            lists.append(json.dumps(obj, ensure_ascii=False))
            return f"@@LIST{len(lists) - 1}@@"
        return obj

    text = json.dumps(stash(meta), indent=1, ensure_ascii=False)
    for i, lst in enumerate(lists):
        text = text.replace(f'"@@LIST{i}@@"', lst, 1)
    return text + "\n"


def _read_raw(path: Path | io.BytesIO) -> pd.DataFrame:
    """Read a CSV keeping every field as its exact text (empty field = missing)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def _build_one(
    name: str, spec: dict[str, Any], rmeta: dict[str, Any], ref_dir: Path
) -> tuple[bytes, dict[str, Any]]:
    raw = _read_raw(ref_dir / spec["csv"])
    raw = raw.drop(columns=spec.get("drop", []))
    if spec.get("shortest_doubles"):
        for col, r in rmeta["columns"].items():
            if r["r_type"] == "numeric":
                raw[col] = [v if pd.isna(v) else repr(float(v)) for v in raw[col]]
    for (ds, col, row), text in CORRECTIONS.items():
        if ds == name:
            raw.loc[row, col] = text
    r_cols: dict[str, Any] = rmeta["columns"]
    if list(raw.columns) != list(r_cols):
        raise SystemExit(f"{name}: CSV columns {list(raw.columns)} != R columns {list(r_cols)}")
    if len(raw) != rmeta["nrow"]:
        raise SystemExit(f"{name}: {len(raw)} rows, R has {rmeta['nrow']}")

    columns: dict[str, Any] = {}
    for col, r in r_cols.items():
        entry: dict[str, Any] = {"r_type": r["r_type"]}
        if col in spec.get("keep_01", []):
            if not r.get("csv_recoded_01"):
                raise SystemExit(f"{name}.{col}: expected a 0/1 recoded factor")
            entry = {
                "r_type": "integer",
                "r_original": {"r_type": r["r_type"], "levels": r["levels"]},
            }
        elif r.get("csv_recoded_01"):
            raise SystemExit(f"{name}.{col}: 0/1-recoded factor without a keep_01 entry")
        elif "levels" in r:
            entry["levels"] = r["levels"]
            bad = set(raw[col].dropna()) - set(r["levels"])
            if bad:
                raise SystemExit(f"{name}.{col}: values not among R's levels: {sorted(bad)[:5]}")
        entry["description"] = spec["columns"][col]
        entry["missing"] = int(raw[col].isna().sum())
        columns[col] = entry

    text = raw.to_csv(index=False, lineterminator="\n")
    info = {"title": spec["title"], "description": spec["description"],
            "citation": spec["citation"]}
    if "licence" in spec:            # a tutorial data set: no R package, a stated licence
        info["licence"] = spec["licence"]
    else:
        info.update({
            "source_package": rmeta["source_package"],
            "source_package_version": rmeta["package_version"],
            "r_object": R_OBJECT.get(name, f"{rmeta['source_package']}::{name}"),
        })
    info.update({"file": f"{name}.csv.gz", "nrow": len(raw), "columns": columns})
    return _gzip_bytes(text.encode("utf-8")), info


def _verify_doubles(name: str, raw_csv: bytes, r_doubles: Path) -> int:
    """Check every double of a built data set against R's hexadecimal dump; return count."""
    path = r_doubles / f"{name}.csv"
    if not path.exists():
        return 0
    hexes = pd.read_csv(path, dtype=str, keep_default_na=False)
    built = _read_raw(io.BytesIO(gzip.decompress(raw_csv)))
    problems = []
    for col in hexes.columns:
        for row, (h, text) in enumerate(zip(hexes[col], built[col], strict=True)):
            r_value = None if h == "" else float.fromhex(h)
            ok = pd.isna(text) if r_value is None else float(text) == r_value
            if not ok:
                problems.append(f'("{name}", "{col}", {row}): "{r_value!r}",')
    if problems:
        raise SystemExit(
            "values differing from R's doubles; add to CORRECTIONS:\n" + "\n".join(problems)
        )
    return int(hexes.size)


def _cross_check(meta: dict[str, Any], cases_dir: Path) -> int:
    """Compare the metadata with the reference case files; return the number of checks."""
    specs = {**SPECS, **TUTORIAL, **MMRM}
    by_csv = {specs[n]["csv"]: n for n in specs}
    n_checks = 0
    for case_path in sorted(cases_dir.glob("*.json")):
        case = json.loads(case_path.read_text())
        name = by_csv.get(case.get("data"))
        if name is None:
            continue
        cols = meta[name]["columns"]
        for col, r_type in case.get("columns", {}).items():
            if col in specs[name].get("drop", []):
                continue
            if cols[col]["r_type"] != r_type:
                raise SystemExit(f"{case_path.name}: {col} is {r_type}, R says {cols[col]}")
            n_checks += 1
        for col, levels in (case.get("factor_levels") or {}).items():
            if cols[col]["levels"] != levels:
                raise SystemExit(f"{case_path.name}: level order of {col} differs")
            n_checks += 1
        for grp, re in (case.get("expected", {}).get("ranef") or {}).items():
            if grp in cols and "levels" in cols[grp]:   # numeric grouping: no levels
                if cols[grp]["levels"] != re["levels"]:
                    raise SystemExit(f"{case_path.name}: ranef level order of {grp} differs")
                n_checks += 1
    return n_checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-dir", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument("--tutorial-dir", type=Path, default=DEFAULT_TUTORIAL,
                        help="CSV files of the tutorial data sets (from extract_r_metadata.R)")
    parser.add_argument("--mmrm-dir", type=Path, default=DEFAULT_MMRM,
                        help="CSV files of mmrm's data sets (from extract_mmrm_metadata.R)")
    parser.add_argument(
        "--r-doubles",
        type=Path,
        default=None,
        help="directory of R's hexadecimal dumps (from extract_r_metadata.R) to verify against",
    )
    parser.add_argument(
        "--check-only",
        action="store_true",
        help="build in memory and cross-check, but write nothing",
    )
    args = parser.parse_args(argv)

    rmeta_all = json.loads(R_METADATA.read_text())
    rmeta_mmrm = json.loads(R_METADATA_MMRM.read_text())
    files: dict[str, bytes] = {}
    datasets: dict[str, Any] = {}
    for name, spec in SPECS.items():
        files[name], datasets[name] = _build_one(name, spec, rmeta_all[name], args.reference_dir)
    for name, spec in TUTORIAL.items():
        folder = args.reference_dir if spec.get("reference_dir") else args.tutorial_dir
        files[name], datasets[name] = _build_one(name, spec, rmeta_all[name], folder)
    for name, spec in MMRM.items():
        files[name], datasets[name] = _build_one(name, spec, rmeta_mmrm[name], args.mmrm_dir)

    if args.r_doubles is not None:
        n_dbl = sum(_verify_doubles(n, files[n], args.r_doubles) for n in files)
        print(f"verified {n_dbl} doubles bit for bit against {args.r_doubles}")

    cases_dir = args.reference_dir.parent / "cases"
    n_checks = _cross_check(datasets, cases_dir) if cases_dir.is_dir() else 0
    print(f"cross-checked {n_checks} column types / level orders against {cases_dir}")

    r_versions = sorted({m["r_version"] for m in (*rmeta_all.values(), *rmeta_mmrm.values())})
    meta = {
        "format_version": 1,
        "generated_by": "tools/build_datasets.py (levels and types from "
        "tools/extract_r_metadata.R)",
        "r_version": ", ".join(r_versions),
        "datasets": datasets,
    }
    if args.check_only:
        return 0
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, blob in files.items():
        (OUT_DIR / f"{name}.csv.gz").write_bytes(blob)
    (OUT_DIR / "datasets.json").write_text(_dump_json(meta), encoding="utf-8")
    total = sum(len(b) for b in files.values())
    print(f"wrote {len(files)} data files ({total / 1e3:.0f} kB) and datasets.json to {OUT_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
