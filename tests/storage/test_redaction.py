"""The scrubber: every encoding of a registered secret is masked, and nothing else is touched."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from storage.redaction import MASK, Redactor, without_userinfo

LONG = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x24F), min_size=8, max_size=40)


@given(secret=LONG, before=st.text(max_size=20), after=st.text(max_size=20))
def test_every_encoding_of_a_long_secret_is_masked(secret: str, before: str, after: str) -> None:
    r = Redactor()
    r.register(secret, username="admin")
    forms = [
        secret,
        quote(secret, safe=""),
        json.dumps(secret)[1:-1],
        base64.b64encode(secret.encode()).decode(),
        base64.b64encode(f"admin:{secret}".encode()).decode(),
    ]
    for form in forms:
        scrubbed = r.scrub(f"{before}{form}{after}")
        assert form not in scrubbed
        assert MASK in scrubbed


@given(text=st.text(max_size=60))
def test_text_without_a_secret_is_left_as_it_is(text: str) -> None:
    r = Redactor()
    r.register("Zq8#kL2!vX9@wR4$")
    if "Zq8#kL2!vX9@wR4$" not in text:
        assert r.scrub(text) == text


def test_a_short_secret_is_masked_where_it_stands_alone_and_nowhere_else() -> None:
    r = Redactor()
    r.register("tion")
    assert r.scrub("connection refused") == "connection refused"
    assert r.scrub("token tion was refused") == f"token {MASK} was refused"
    assert r.scrub("Authorization: Bearer tion") == f"Authorization: Bearer {MASK}"


def test_user_info_is_taken_out_of_a_url() -> None:
    assert without_userinfo("https://bot:p%40ss@git.example.com/r.git") == "https://***@git.example.com/r.git"
    assert without_userinfo("https://git.example.com/r.git") == "https://git.example.com/r.git"
    assert without_userinfo("/srv/backups.git") == "/srv/backups.git"


def test_a_secret_too_short_to_protect_anything_is_not_masked() -> None:
    # Masking every standalone "x" would corrupt the JSON of a dashboard ("x": 12 in a gridPos).
    r = Redactor()
    r.register("x")
    assert r.scrub('{"gridPos": {"x": 12}}') == '{"gridPos": {"x": 12}}'
