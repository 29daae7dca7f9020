"""The data: the article's cleaning of the real file, and the synthetic stand-in for it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split

from shared_model._data import Dataset, load_cardio_csv
from shared_model._schema import FEATURE_ORDER
from shared_model._synthetic import make_synthetic

REAL_DATA_ENV = "FVF_REAL_DATA"
REAL_SHA256 = "d629703c8428505e46a97641817ab0c4a223a35fa4196df31e49b5036ab0e952"
HEADER = "id,age,gender,height,weight,ap_hi,ap_lo,cholesterol,gluc,smoke,alco,active,cardio"
COL = {name: index for index, name in enumerate(FEATURE_ORDER)}
ARTICLE_EXAMPLE = [52, 1, 165, 64, 130, 70, 3, 1, 0, 0]


def column(data: Dataset, name: str) -> np.ndarray:
    return data.X[:, COL[name]]


@pytest.fixture(scope="module")
def real_data_path() -> Path:
    """Return the real cardio_train.csv named by FVF_REAL_DATA, or skip."""
    value = os.environ.get(REAL_DATA_ENV, "")
    if not value or not Path(value).is_file():
        pytest.skip(f"real data not available: set {REAL_DATA_ENV} to the path of cardio_train.csv")
    return Path(value)


@pytest.fixture(scope="module")
def real(real_data_path: Path) -> Dataset:
    return load_cardio_csv(real_data_path)


@pytest.fixture(scope="module")
def synthetic() -> Dataset:
    return make_synthetic(70_000, seed=1)


# -- the real file ---------------------------------------------------------------------------


def test_cleaning_keeps_the_articles_rows(real: Dataset) -> None:
    assert len(real.y) == 62_614
    assert real.raw_rows == 70_000
    assert real.y.mean() == pytest.approx(0.483, abs=0.0005)
    assert real.X.shape == (62_614, len(FEATURE_ORDER))
    assert real.X.dtype == np.float64
    assert real.y.dtype == np.int64
    assert real.source == f"csv:cardio_train.csv sha256={REAL_SHA256}"


def test_cleaning_ranges_match_the_published_figures(real: Dataset) -> None:
    age = column(real, "age")
    assert np.array_equal(age, np.round(age))
    assert (age.min(), age.max()) == (30, 65)
    for name, low, high in [
        ("height", 149, 180),
        ("weight", 46, 102),
        ("ap_hi", 80, 175),
        ("ap_lo", 52, 140),
    ]:
        assert (column(real, name).min(), column(real, name).max()) == (low, high), name


def test_semicolon_copy_loads_identically(
    real_data_path: Path, real: Dataset, tmp_path: Path
) -> None:
    copy = tmp_path / "cardio_semicolon.csv"
    copy.write_text(real_data_path.read_text().replace(",", ";"))
    loaded = load_cardio_csv(copy)
    assert np.array_equal(loaded.X, real.X)
    assert np.array_equal(loaded.y, real.y)
    assert loaded.raw_rows == real.raw_rows
    assert loaded.source.startswith("csv:cardio_semicolon.csv sha256=")


# -- cleaning rules and errors on small hand-made files --------------------------------------


def write_rows(path: Path, rows: list[str], header: str = HEADER, sep: str = ",") -> Path:
    path.write_text("\n".join([header, *rows]).replace(",", sep) + "\n")
    return path


def patient(id_: int, **changes: object) -> str:
    fields: dict[str, object] = {
        "id": id_,
        "age": 19_000,
        "gender": 1,
        "height": 165,
        "weight": 70,
        "ap_hi": 120,
    }
    fields |= {"ap_lo": 80, "cholesterol": 1, "gluc": 1, "smoke": 0, "alco": 0, "active": 1}
    fields |= {"cardio": id_ % 2, **changes}
    return ",".join(str(fields[name]) for name in HEADER.split(","))


@pytest.mark.parametrize("sep", [",", ";"])
def test_small_file_is_cleaned_as_the_article_did(tmp_path: Path, sep: str) -> None:
    rows = [patient(i, weight=60 + i % 20, height=160 + i % 10) for i in range(40)]
    rows += [
        patient(40, ap_lo=150),  # outside 50 < ap_lo < 150
        patient(41, ap_hi=60),  # outside 60 < ap_hi < 250
        patient(42, weight=200),  # beyond mean + 2 sd of weight
        patient(43, age=20_257),  # 55.498 years: rounds to 55
    ]
    data = load_cardio_csv(write_rows(tmp_path / "small.csv", rows, sep=sep))
    assert data.raw_rows == 44
    assert len(data.y) == 41
    assert set(column(data, "age")) == {52, 55}
    assert column(data, "weight").max() == 79


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("", "empty"),
        (HEADER.replace(",gluc", ""), "missing column.*gluc"),
        (HEADER + "\n" + patient(0).replace("19000", "old"), "line 2.*'age'.*not a number"),
        (HEADER + "\n" + patient(0) + ",7", "line 2: 14 fields"),
        (HEADER + "\n" + patient(0, cardio=2), "'cardio' must hold only 0 and 1"),
        (HEADER + "\n" + patient(0, weight="nan"), "'weight' is not a finite number"),
        (HEADER, "no rows"),
    ],
    ids=["missing", "empty", "column", "text", "ragged", "label", "nan", "no-rows"],
)
def test_bad_files_raise_readable_errors(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "cardio.csv"
    if content is not None:
        path.write_text(content + "\n")
    with pytest.raises(ValueError, match=message) as raised:
        load_cardio_csv(path)
    assert str(path) in str(raised.value)


# -- the synthetic stand-in ------------------------------------------------------------------


def test_synthetic_is_deterministic() -> None:
    first, again = make_synthetic(2000, seed=5), make_synthetic(2000, seed=5)
    other = make_synthetic(2000, seed=6)
    assert np.array_equal(first.X, again.X)
    assert np.array_equal(first.y, again.y)
    assert not np.array_equal(first.X, other.X)
    assert (first.source, first.raw_rows) == ("synthetic(seed=5)", 2000)


def test_synthetic_refuses_no_rows() -> None:
    with pytest.raises(ValueError, match="rows"):
        make_synthetic(0)


def test_synthetic_ranges_and_codings(synthetic: Dataset) -> None:
    assert synthetic.X.shape == (70_000, len(FEATURE_ORDER))
    assert synthetic.X.dtype == np.float64
    assert synthetic.y.dtype == np.int64
    assert np.array_equal(synthetic.X, np.round(synthetic.X))
    for name, low, high in [
        ("age", 30, 65),
        ("height", 149, 180),
        ("weight", 46, 102),
        ("ap_hi", 80, 175),
        ("ap_lo", 52, 140),
    ]:
        values = column(synthetic, name)
        assert low <= values.min(), name
        assert values.max() <= high, name
    for name, codes in [
        ("gender", {1, 2}),
        ("cholesterol", {1, 2, 3}),
        ("gluc", {1, 2, 3}),
        ("smoke", {0, 1}),
        ("alco", {0, 1}),
    ]:
        assert set(column(synthetic, name)) == codes, name
    assert set(synthetic.y) == {0, 1}
    assert (column(synthetic, "ap_lo") < column(synthetic, "ap_hi")).all()


def test_synthetic_marginals(synthetic: Dataset) -> None:
    ap_hi, ap_lo = column(synthetic, "ap_hi"), column(synthetic, "ap_lo")
    assert 0.48 <= synthetic.y.mean() <= 0.51
    assert np.mean(ap_hi % 10 == 0) >= 0.9
    assert np.mean(ap_lo % 10 == 0) >= 0.9
    assert np.mean(ap_hi == 120) == pytest.approx(0.418, abs=0.03)
    assert np.mean(ap_lo == 80) == pytest.approx(0.518, abs=0.03)
    for name, mean, sd in [
        ("age", 53.3, 6.8),
        ("height", 164.3, 6.9),
        ("weight", 72.5, 11.5),
        ("ap_hi", 125.5, 15.1),
        ("ap_lo", 81.0, 9.0),
    ]:
        values = column(synthetic, name)
        assert values.mean() == pytest.approx(mean, abs=0.5), name
        assert values.std() == pytest.approx(sd, rel=0.05), name
    assert np.mean(column(synthetic, "gender") == 2) == pytest.approx(0.34, abs=0.01)
    assert np.mean(column(synthetic, "smoke")) == pytest.approx(0.085, abs=0.01)


@pytest.mark.parametrize(
    ("first", "second", "r"),
    [
        ("ap_hi", "ap_lo", 0.70),
        ("gender", "height", 0.50),
        ("cholesterol", "gluc", 0.45),
        ("smoke", "alco", 0.34),
        ("gender", "smoke", 0.34),
        ("height", "weight", 0.28),
        ("weight", "ap_hi", 0.24),
        ("age", "ap_hi", 0.22),
    ],
)
def test_synthetic_correlations(synthetic: Dataset, first: str, second: str, r: float) -> None:
    observed = np.corrcoef(column(synthetic, first), column(synthetic, second))[0, 1]
    assert observed == pytest.approx(r, abs=0.05)


def positive_rate(data: Dataset, name: str, low: float, high: float) -> float:
    values = column(data, name)
    return float(data.y[(values >= low) & (values <= high)].mean())


@pytest.mark.parametrize(
    ("name", "low", "high", "rate"),
    [
        ("ap_hi", 0, 109, 0.19),
        ("ap_hi", 110, 119, 0.25),
        ("ap_hi", 120, 129, 0.35),
        ("ap_hi", 130, 139, 0.60),
        ("ap_hi", 140, 149, 0.82),
        ("ap_hi", 150, 999, 0.86),
        ("age", 0, 39, 0.20),
        ("age", 40, 44, 0.28),
        ("age", 45, 49, 0.42),
        ("age", 50, 54, 0.44),
        ("age", 55, 59, 0.54),
        ("age", 60, 65, 0.65),
        ("cholesterol", 1, 1, 0.44),
        ("cholesterol", 2, 2, 0.60),
        ("cholesterol", 3, 3, 0.77),
    ],
)
def test_synthetic_label_follows_the_published_rates(
    synthetic: Dataset, name: str, low: float, high: float, rate: float
) -> None:
    assert positive_rate(synthetic, name, low, high) == pytest.approx(rate, abs=0.04)


# -- models ----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_synthetic_trained_model_scores_well_on_real_data(real: Dataset, seed: int) -> None:
    data = make_synthetic(70_000, seed=seed)
    model = GradientBoostingClassifier(
        n_estimators=100, max_depth=3, learning_rate=0.1, random_state=1
    ).fit(data.X, data.y)
    chance = model.predict_proba(real.X)[:, 1]
    assert accuracy_score(real.y, chance > 0.5) >= 0.72
    assert roc_auc_score(real.y, chance) >= 0.78


@pytest.mark.slow
def test_article_reproduction_on_real_data(real: Dataset) -> None:
    X_train, X_test, y_train, y_test = train_test_split(
        real.X, real.y, test_size=0.33, random_state=1
    )
    model = GradientBoostingClassifier(random_state=1).fit(X_train, y_train)
    accuracy = accuracy_score(y_test, model.predict(X_test))
    assert abs(accuracy - 0.7316) < 0.003
    assert roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]) == pytest.approx(
        0.798, abs=0.003
    )
    assert model.predict(np.array([ARTICLE_EXAMPLE], dtype=np.float64))[0] == 1
