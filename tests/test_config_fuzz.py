"""Every config field, fuzzed (Hypothesis): a bad value is refused in one ConfigError line by
`validate`, before any work, or it is a value the field documents. The fields are enumerated
from the configs themselves, so a field added later is covered without editing this test."""

import math
import os

import ml_collections
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smat import config as config_lib
from smat.errors import ConfigError
from smat.explainers import attention, normalizers
from tests.conftest import REPO

SPECS = ("imdb_teacher.py:smoke", "imdb_static.py:smoke", "imdb_learnable.py:smoke")


def _fields(spec):
    c = config_lib.from_file(os.path.join(REPO, "configs", spec))
    return sorted(config_lib.leaves(c))


FIELDS = [(spec, field) for spec in SPECS for field, _ in _fields(spec)]
ODD = st.one_of(
    st.sampled_from([float("nan"), float("inf"), -float("inf"), -1, -1.5, 0, 0.0, 10**18, 1e308]),
    st.sampled_from(["", " ", "x", "ü", "1e-3", "None", "-1"]),
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
)


@given(target=st.sampled_from(FIELDS), value=ODD)
def test_a_bad_value_in_any_field_is_one_config_error_before_any_work(target, value):
    spec, field = target
    c = config_lib.from_file(os.path.join(REPO, "configs", spec))
    try:
        config_lib.override(c, {field: value})
        config_lib.validate(c)
    except ConfigError as e:
        assert "\n" not in str(e) and field.split(".")[-1] in str(e) or "teacher" in str(e), e
        return
    # Accepted: then it is a value the field can take (no NaN, no stray negatives, no None
    # where the default is a value); whether a free string names a real file or registry
    # entry is checked where it is used (setup), also in one line.
    if isinstance(value, float) and not isinstance(value, bool):
        assert math.isfinite(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        assert field.endswith(("mesh.data", "explainer.layer", "explainer.head")), field


@pytest.mark.parametrize(
    "field, value, needle",
    [
        ("optim.learning_rate", float("inf"), "optim.learning_rate=inf must be a finite number"),
        ("optim.b2", 1.0, "optim.b2=1.0 must be in [0, 1)"),
        ("model.num_heads", 0, "model.num_heads=0 must be >= 1"),
        ("train.num_epochs", float("nan"), "train.num_epochs=nan must be a finite number"),
        ("teacher_explainer.temperature", -1.0, "teacher_explainer.temperature=-1.0 must be"),
        ("teacher_explainer.token_norm", "x", "teacher_explainer.token_norm='x'; choose one"),
        ("train.patience", None, "train.patience=None: give a value"),
        ("setup", "x", "setup='x'; choose one of"),
        ("teacher.optim.weight_decay", float("nan"), "teacher.optim.weight_decay=nan"),
    ],
)
def test_holes_the_fuzzer_found(field, value, needle):
    c = config_lib.from_file(os.path.join(REPO, "configs", "imdb_learnable.py:smoke"))
    config_lib.override(c, {field: value})
    with pytest.raises(ConfigError, match=r"^" + __import__("re").escape(needle)):
        config_lib.validate(c)


def test_the_config_knows_the_explainers_normalizers_and_hypergradients():
    """config.py names them without importing JAX: the lists must agree."""
    from smat.steps.hypergradients import HYPERGRADIENTS

    assert config_lib.TOKEN_NORMS == tuple(normalizers.NORMALIZERS)
    assert config_lib.HEAD_NORMS == attention.HEAD_NORMS
    assert set(config_lib.HYPERGRADIENTS) == set(HYPERGRADIENTS)


def test_leaves_walks_nested_sections():
    c = ml_collections.ConfigDict({"a": {"b": 1}, "c": 2})
    assert dict(config_lib.leaves(c)) == {"a.b": 1, "c": 2}
