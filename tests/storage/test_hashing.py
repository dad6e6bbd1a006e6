import json
import random

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
