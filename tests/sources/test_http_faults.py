"""Transport faults in the middle of an answer, through the hostile proxy in front of the sandbox.

A reset or a cut body after the status line is a network error like any other: an idempotent read is
tried again; a write is not (the server may have done it), and the error says what happened.
"""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from sandbox.generate import populate
from sandbox.grafana import GrafanaSandbox
from sources.errors import UnreachableError
from sources.http import BearerAuth, make_client, request_json
from tests.conftest import TOKEN
from tests.faultproxy import FaultProxy


def client(url: str, retries: int = 3) -> httpx.Client:
    return make_client(
        base_url=url,
        auth=BearerAuth(SecretStr(TOKEN)),
        timeout=5.0,
        connect_timeout=2.0,
        retries=retries,
        backoff_factor=0.01,
    )


@pytest.mark.parametrize(
    ("fault", "options"),
    [("reset", {}), ("truncate", {"consistent": False})],
    ids=["reset mid-body", "body shorter than its Content-Length"],
)
def test_a_read_broken_mid_body_is_tried_again(
    grafana: GrafanaSandbox, hostile: FaultProxy, fault: str, options: dict[str, object]
) -> None:
    uid = populate(grafana, dashboards=1, depth=0, seed=3).dashboards[0]
    path = f"/api/dashboards/uid/{uid}"
    hostile.add(fault, f"^{path}$", times=2, **options)
    with client(hostile.url) as c:
        body = request_json(c, "GET", path, source="g")
    assert body["dashboard"]["uid"] == uid
    assert [h.fault for h in hostile.hits if h.path == path] == [fault, fault, ""]


def test_a_read_broken_every_time_fails_naming_the_attempts(
    grafana: GrafanaSandbox, hostile: FaultProxy
) -> None:
    uid = populate(grafana, dashboards=1, depth=0, seed=3).dashboards[0]
    path = f"/api/dashboards/uid/{uid}"
    hostile.add("reset", f"^{path}$", times=None)
    with client(hostile.url, retries=2) as c, pytest.raises(UnreachableError) as err:
        request_json(c, "GET", path, source="g")
    assert "after 3 attempts" in str(err.value)
    assert len(hostile.faulted("reset")) == 3


def test_a_write_broken_mid_answer_is_not_sent_again(grafana: GrafanaSandbox, hostile: FaultProxy) -> None:
    hostile.add("reset", "^/api/folders$", method="POST", times=None)
    with client(hostile.url) as c, pytest.raises(UnreachableError) as err:
        request_json(c, "POST", "/api/folders", source="g", json={"uid": "f1", "title": "F"})
    assert "after 1 attempt" in str(err.value)
    assert len(hostile.faulted("reset")) == 1
    # The server did it: the folder exists, once.
    assert grafana.folders() == ["f1"]
