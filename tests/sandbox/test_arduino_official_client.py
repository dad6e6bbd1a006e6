"""The Arduino sandbox driven by Arduino's official generated Python client (``arduino-iot-client``,
built from the same OpenAPI document): a client nobody here wrote must deserialize every answer, and
the sandbox must accept what it sends, widget ids set by the client included."""

from __future__ import annotations

import uuid

import httpx
import pytest
from iot_api_client import ApiClient, Configuration
from iot_api_client.api.dashboards_v2_api import DashboardsV2Api
from iot_api_client.exceptions import ApiException
from iot_api_client.models import (
    Clone,
    Dashboardshare,
    Dashboardv2,
    Override,
    Sharerequest,
    Widget,
    Widgetlink,
)

from sandbox.arduino import AUDIENCE, TOKEN_PATH, ArduinoSandbox
from tests.arduino_support import CLIENT_ID, CLIENT_SECRET


def official(arduino: ArduinoSandbox, org: str | None = None) -> DashboardsV2Api:
    """The client as iot-client-py's README sets it up: a client-credentials token, then the API."""
    form = {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "audience": AUDIENCE,
    }
    if org:
        form["organization_id"] = org
    token = httpx.post(arduino.url + TOKEN_PATH, data=form).json()["access_token"]
    return DashboardsV2Api(ApiClient(Configuration(host=arduino.url, access_token=token)))


@pytest.mark.parametrize("space", ["personal", "organization"])
def test_every_dashboards_v2_call_of_the_official_client(arduino: ArduinoSandbox, space: str) -> None:
    org = arduino.add_organization() if space == "organization" else ""
    api = official(arduino, org or None)
    xorg = org or None
    greenhouse = arduino.add_thing("Greenhouse", org=org)
    temperature = arduino.add_property(greenhouse, "temperature", permission="READ_ONLY")
    barn = arduino.add_thing("Barn", org=org)
    barn_temperature = arduino.add_property(barn, "temperature", permission="READ_ONLY")
    alice = arduino.add_user("alice")
    gauge_id, switch_id = str(uuid.uuid4()), str(uuid.uuid4())

    created = api.dashboards_v2_create(
        Dashboardv2(
            name="Greenhouse",
            cover_image="https://example.org/greenhouse.png",
            widgets=[
                Widget(id=gauge_id, type="gauge", name="Temp", options={"max": 50}, x=0, y=0, width=2,
                       height=2, variables=[temperature]),
                Widget(id=switch_id, type="switch", name="Fan", options={}, x=2, y=0, width=1, height=1),
            ],
        ),
        x_organization=xorg,
    )  # fmt: skip
    # The widget ids are the client's, and a link made with one works.
    assert [w.id for w in created.widgets] == [gauge_id, switch_id]
    assert created.cover_image == "https://example.org/greenhouse.png"
    assert [v.id for v in created.widgets[0].variables] == [temperature]
    linked = api.dashboards_v2_link(
        created.id, switch_id, Widgetlink(variables=[temperature]), x_organization=xorg
    )
    assert linked.variables == [temperature]
    shown = api.dashboards_v2_show(created.id, x_organization=xorg)
    # The cloud computes the flags: a switch over a READ_ONLY property cannot write it.
    assert [w.has_permission_incompatibility for w in shown.widgets] == [False, True]
    assert shown.organization_id == (org or None)

    listed = api.dashboards_v2_list(x_organization=xorg)
    assert [d.id for d in listed] == [created.id]
    assert [d.id for d in api.dashboards_v2_list(name="green", x_organization=xorg)] == [created.id]

    updated = api.dashboards_v2_update(
        created.id,
        Dashboardv2(name="Greenhouse North", widgets=[
            Widget(id=gauge_id, type="gauge", name="Temp", options={"max": 60}, x=0, y=0, width=2, height=2)
        ]),
        x_organization=xorg,
    )  # fmt: skip
    assert updated.name == "Greenhouse North" and [w.options for w in updated.widgets] == [{"max": 60}]

    api.dashboards_v2_share(created.id, Dashboardshare(user_id=alice), x_organization=xorg)
    assert [s.user_id for s in api.dashboards_v2_list_shares(created.id, x_organization=xorg)] == [alice]
    bob = arduino.add_user("bob")
    api.dashboards_v2_share(created.id, Dashboardshare(username="bob"), x_organization=xorg)
    assert arduino.shares(created.id, org) == [alice, bob]
    api.dashboards_v2_delete_share(created.id, bob, x_organization=xorg)
    assert arduino.shares(created.id, org) == [alice]
    api.dashboards_v2_request_access(created.id, Sharerequest(message="please"), x_organization=xorg)
    assert arduino.share_requests(org)[-1][2] == "please"

    template = api.dashboards_v2_template(created.id, x_organization=xorg)
    assert template.name == "Greenhouse North"
    [variable] = template.widgets[0].variables
    assert (variable.thing_id, variable.variable_id) == ("Greenhouse", "temperature")

    clone = api.dashboards_v2_clone(
        created.id,
        Clone(overrides=[Override(old_thing_id=greenhouse, new_thing_id=barn)]),
        x_organization=xorg,
    )
    assert clone.id != created.id
    assert [v.id for w in clone.widgets for v in w.variables] == [barn_temperature]

    api.dashboards_v2_delete(clone.id, x_organization=xorg)
    with pytest.raises(ApiException) as gone:
        api.dashboards_v2_show(clone.id, x_organization=xorg)
    assert gone.value.status == 404
    assert arduino.org_mismatches == 0
