import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.hashing import canonical, content_hash, pretty, strip_volatile

scalars = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20)
scalars = scalars | st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
models = st.dictionaries(
    st.text(max_size=10).filter(lambda k: k not in ("id", "version", "iteration")), json_values
)


def shuffled(value):
    """The same JSON value with every object's keys in a random order."""
    if isinstance(value, dict):
        items = list(value.items())
        random.shuffle(items)
        return {k: shuffled(v) for k, v in items}
    if isinstance(value, list):
        return [shuffled(v) for v in value]
    return value


@given(models)
def test_hash_ignores_key_order(model):
    content = {"dashboard": model, "folderUid": "f"}
    assert content_hash(shuffled(content)) == content_hash(content)


@given(models, st.integers(0, 10**6), st.integers(0, 10**6))
def test_hash_ignores_volatile_fields(model, version, ident):
    plain = {"dashboard": model, "folderUid": ""}
    saved = {"dashboard": {**model, "id": ident, "version": version, "iteration": version}, "folderUid": ""}
    assert content_hash(saved) == content_hash(plain)


@given(models, json_values)
def test_hash_sees_every_real_change(model, value):
    base = {"dashboard": model}
    changed = {"dashboard": {**model, "title": ["changed", value]}}
    assert content_hash(base) != content_hash(changed)


@given(st.text(min_size=1), st.text(min_size=1))
def test_unicode_strings_hash_by_code_points(a, b):
    assert (content_hash({"t": a}) == content_hash({"t": b})) == (a == b)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_hash_by_value(x):
    # 1.0 and 1 are the same JSON number; a float round-trips through JSON text to the same hash.
    assert content_hash({"v": x}) == content_hash({"v": json.loads(json.dumps(x))})
    if x.is_integer() and abs(x) < 2**53:
        assert content_hash({"v": x}) == content_hash({"v": int(x)})


def test_canonical_is_rfc8785():
    # The example ordering and escaping rules of RFC 8785 section 3.2.
    assert canonical({"b": 1.0, "a": "\u20ac", "c": [True, None, 1e21]}) == (
        '{"a":"\u20ac","b":1,"c":[true,null,1e+21]}'.encode()
    )


def test_big_integers_are_hashed_like_doubles():
    assert content_hash({"v": 2**60}) == content_hash({"v": float(2**60)})


def test_strip_volatile_k8s_and_arduino():
    content = {
        "metadata": {
            "name": "x",
            "resourceVersion": "9",
            "generation": 3,
            "annotations": {"grafana.app/updatedTimestamp": "t", "team": "a"},
        },
        "created_at": "2024",
        "updated_at": "2025",
        "name": "d",
    }
    assert strip_volatile(content) == {"metadata": {"name": "x", "annotations": {"team": "a"}}, "name": "d"}


def test_pretty_is_sorted_with_trailing_newline():
    text = pretty({"b": 1, "a": {"d": 2, "c": "é"}}).decode()
    assert text.endswith("}\n")
    assert text.index('"a"') < text.index('"b"') and text.index('"c"') < text.index('"d"')
    assert "é" in text


# The fast paths must give exactly the reference output, for any JSON value.
wide_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1.0, -0.0, 1e-7, 1e16, 1e21, 2.5e-5, 123456789012345678.0, 2**53, 2**53 + 1, -(2**60)])
    | st.sampled_from([1e-6, 9.9e-5, 1e-5, 1e-4, 1e15, 9.999e15, 1e20, 5e-324, 2**64, -(2**63) - 1, 2**70])
    | st.text()
    | st.sampled_from(
        ['a:1.0,"x', "1e5", "\\", '"', "\x00\x1f\x7f", "\u2028", "\U0001f600", "\ue000", "\ud800"]
    )
)
# Keys that sort differently by UTF-16 code units than by code points: U+E000.. against U+10000..
wide_keys = st.text(max_size=8) | st.sampled_from(
    ["\ue000", "\uffff", "\U0001f600", "a\ue000", "a\U00010000"]
)
wide_values = st.recursive(
    wide_scalars,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(wide_keys, children, max_size=6),
    max_leaves=40,
)


def reference_canonical(value):
    import rfc8785

    try:
        return bytes(rfc8785.dumps(value))
    except rfc8785.IntegerDomainError:
        from storage.hashing import _doubles

        return bytes(rfc8785.dumps(_doubles(value)))


@given(wide_values)
def test_canonical_equals_the_reference_implementation(value):
    try:
        expected = reference_canonical(value)
    except Exception as exc:  # lone surrogates: both refuse
        with pytest.raises(type(exc)):
            canonical(value)
        return
    assert canonical(value) == expected


@given(wide_values)
def test_pretty_equals_json_dumps(value):
    try:
        expected = (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    except UnicodeEncodeError:
        return
    assert pretty(value) == expected


def test_canonical_rewrites_numbers_only_outside_strings():
    value = {"a:1.0,": [1.5e-9, 'b":1e5', 2.0, 12345678901234567, 1234567890123456.5, "x,1.0]"]}
    assert canonical(value) == reference_canonical(value)
    assert b'"a:1.0,"' in canonical(value) and b"1.5e-9" in canonical(value)


def test_keys_sort_by_utf16_code_units():
    # RFC 8785 3.2.3: U+1F600 is the surrogate pair D83D DE00, which sorts before U+E000.
    value = {"\ue000": 1, "\U0001f600": 2, "a": 3}
    assert canonical(value) == '{"a":3,"\U0001f600":2,"\ue000":1}'.encode()
    assert canonical(value) == reference_canonical(value)


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, 1e16, 1e-7, 9.9e-5, -0.0, 100.0])
def test_awkward_numbers_match_the_reference(value):
    assert canonical({"v": value, "w": [value]}) == reference_canonical({"v": value, "w": [value]})
    assert pretty({"v": value}) == (json.dumps({"v": value}, indent=2, sort_keys=True) + "\n").encode()
