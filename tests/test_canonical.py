"""The canonical JSON text (`_canonical.canonical_json`) is `json.dumps(data, indent=2,
sort_keys=True)`, character for character: on generated JSON data of every kind (NaN and the
infinities, -0.0, integers past 64 bits, lone surrogates, control and non-BMP characters, empty
and nested containers), on what it leaves to `json.dumps` (keys that are not text, tuples,
subclasses), and on every example's Assessment."""

from __future__ import annotations

import enum
import json
from collections import OrderedDict

import pytest
from conftest import EXAMPLES
from hypothesis import given
from hypothesis import strategies as st
from strategies import examples

from advisor import load_requirements, recommend
from advisor._canonical import canonical_json


def _stdlib(data: object) -> str:
    return json.dumps(data, indent=2, sort_keys=True)


_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    _TEXT,
)
_JSON = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(_TEXT, inner, max_size=5)),
    max_leaves=40,
)


@examples(ci=800)
@given(_JSON)
def test_the_text_is_json_dumps_text_on_any_json_data(data):
    assert canonical_json(data) == _stdlib(data)


class _Kind(enum.IntEnum):
    A = 1


class _Name(str):
    pass


@pytest.mark.parametrize(
    "data",
    [
        {10: "a", 2: "b", 2.5: "c"},  # keys json turns into text after sorting them
        {True: "c"},
        {None: "d"},
        {"k": (1, 2), "t": ()},  # tuples are lists to json
        OrderedDict([("b", 1), ("a", 2)]),
        {"k": _Name("x")},
        {"n": _Kind.A},  # an int subclass: json writes int.__repr__
        [float("nan"), -0.0, float("-inf"), 10**30, 1e-7, "\ud800", "\x00\u2028"],
        {},
        [],
        [[], {}, [[]]],
    ],
)
def test_what_it_leaves_to_json_dumps_comes_out_as_json_dumps_writes_it(data):
    assert canonical_json(data) == _stdlib(data)


def test_keys_that_do_not_sort_raise_as_json_dumps_raises():
    with pytest.raises(TypeError):
        _stdlib({"a": 1, 2: 3})
    with pytest.raises(TypeError):
        canonical_json({"a": 1, 2: 3})


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_examples_assessment_is_written_as_json_dumps_writes_it(path):
    a = recommend(load_requirements(path), explain_scores=True)
    assert a.to_json() == _stdlib(a.model_dump(mode="json")) + "\n"
