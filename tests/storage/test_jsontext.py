import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage import jsontext

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.sampled_from(["\ud800", "x\udfff", "\x00\x1f", "\U0001f600"]),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


def same(a, b):
    """Equal JSON values, with -0.0 and 0.0 told apart and ints never equal to floats."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@given(values)
def test_loads_gives_exactly_what_the_standard_library_gives(value):
    text = json.dumps(value)  # ASCII, so lone surrogates travel as escapes
    assert same(jsontext.loads(text.encode()), json.loads(text))
    assert same(jsontext.loads(text), json.loads(text))


def test_big_integers_stay_exact():
    # orjson alone would read these as floats.
    assert jsontext.loads(b'{"a": 123456789012345678901234567890, "b": -9223372036854775809}') == {
        "a": 123456789012345678901234567890,
        "b": -9223372036854775809,
    }
    assert type(jsontext.loads(b"[18446744073709551616]")[0]) is int


def test_lone_surrogate_escapes_are_kept():
    assert jsontext.loads(b'{"t": "\\ud800x"}') == {"t": "\ud800x"}


@pytest.mark.parametrize("text", [b"NaN", b"[Infinity]", b'{"v": -Infinity}', b"[1e400]", b"[-1e999]"])
def test_non_finite_numbers_are_refused(text):
    with pytest.raises(ValueError):
        jsontext.loads(text)


@pytest.mark.parametrize("text", [b"", b"{", b'{"a": 1,}', b"\xff\xfe", b"[1] x"])
def test_malformed_text_is_a_value_error(text):
    with pytest.raises(ValueError):
        jsontext.loads(text)


@given(values)
def test_dumps_round_trips_through_loads(value):
    assert same(jsontext.loads(jsontext.dumps(value)), value)


def test_dumps_writes_what_orjson_cannot():
    assert jsontext.dumps({"n": 2**70, "s": "\ud800"}) == b'{"n":1180591620717411303424,"s":"\\ud800"}'
    with pytest.raises(TypeError):
        jsontext.dumps({"when": object()})
