"""The Arduino IoT Cloud payloads dashvault relies on (v2 and v3 dashboards, shares, tokens), as pydantic
models of what Arduino's OpenAPI document (iot-client-go ``api/openapi.yaml``) says they are.

Responses keep fields we do not model (``extra="allow"``) for reading; what is stored and written back is
only what the request models (``dashboardv3``, ``widgetv3``, ``pagepayload``) accept (arduino/items.py).
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator

# Grid positions are whole numbers in practice; a fraction must not fail the whole dashboard.
Number = int | float


class _ApiModel(BaseModel):
    # Fields we do not rely on are kept, so that nothing the cloud sends is lost on a round trip.
    model_config = ConfigDict(extra="allow")


class UserRef(_ApiModel):
    """A user as the cloud names one: `{user_id, username}`."""

    user_id: str
    username: str | None = None


class Share(UserRef):
    """One user a dashboard is shared with (`dashboardshare`)."""


class LinkedVariable(_ApiModel):
    """A thing property linked to a widget (`ArduinoLinkedvariable`)."""

    id: str
    name: str | None = None
    thing_id: str | None = None
    thing_name: str | None = None
    type: str | None = None
    permission: str | None = None
    variable_name: str | None = None
    last_value: Any = None


#: `widget`: what places it on the desktop and mobile grids (integers, format int64).
LAYOUT_FIELDS = ("x", "y", "width", "height", "x_mobile", "y_mobile", "width_mobile", "height_mobile")
#: The page id of a dashboard's main page (`widgetv3.page_id`: "0" if it's in the main page).
MAIN_PAGE = "0"
#: ArduinoWidgetv2/v3 fields the cloud computes on every read; not part of the `widget` request model.
CLOUD_FLAGS = ("has_permission_incompatibility", "has_type_incompatibility", "has_unlinked_variable")


class _WidgetLayout(_ApiModel):
    """What every widget shape shares: identity, type, options and its desktop and mobile layout."""

    id: str
    type: str
    name: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    x: Number | None = None
    y: Number | None = None
    width: Number | None = None
    height: Number | None = None
    x_mobile: Number | None = None
    y_mobile: Number | None = None
    width_mobile: Number | None = None
    height_mobile: Number | None = None
    page_id: str | None = None


class Widget(_WidgetLayout):
    """A widget of a dashboard as the cloud returns it (`ArduinoWidgetv2`, `ArduinoWidgetv3`)."""

    variables: list[LinkedVariable] = Field(default_factory=list)
    has_permission_incompatibility: bool | None = None
    has_type_incompatibility: bool | None = None
    has_unlinked_variable: bool | None = None

    @field_validator("variables", "options", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return [] if info.field_name == "variables" else {}
        return value


class Page(_ApiModel):
    """A page of a dashboard (`ArduinoPagevariable`; `pagepayload` in a write)."""

    id: str
    name: str
    position: int
    icon: str | None = None


class Dashboard(_ApiModel):
    """A dashboard as the cloud returns it (`ArduinoDashboardv2`, `ArduinoDashboardv3` with `pages`)."""

    id: str
    name: str
    updated_at: str
    widgets: list[Widget] = Field(default_factory=list)
    pages: list[Page] = Field(default_factory=list)
    cover_image: str | None = None
    organization_id: str | None = None
    created_by: UserRef | None = None
    shared_by: UserRef | None = None
    shared_with: list[UserRef] = Field(default_factory=list)

    @field_validator("widgets", "shared_with", "pages", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


class _Input(BaseModel):
    # A write body carries exactly the request model's fields: nothing read from a response leaks in.
    model_config = ConfigDict(extra="ignore")


class WidgetInput(_Input):
    """A widget in a create or update body (`widget`, `widgetv3` with `page_id`): `variables` are property
    ids, `id` is the client's ("The UUID of the widget, set by client")."""

    id: str
    type: str
    name: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    x: int
    y: int
    width: int
    height: int
    x_mobile: int | None = None
    y_mobile: int | None = None
    width_mobile: int | None = None
    height_mobile: int | None = None
    page_id: str | None = None
    variables: list[str] | None = None


class PageInput(_Input):
    """A page in a v3 write body (`pagepayload`)."""

    id: str
    name: str
    position: int
    icon: str | None = None


class DashboardInput(_Input):
    """A create or update body (`dashboardv2`; `dashboardv3` when it has `pages`)."""

    name: str
    cover_image: str | None = None
    widgets: list[WidgetInput] = Field(default_factory=list)
    pages: list[PageInput] | None = None


class ThingOverride(_ApiModel):
    """In a clone: link the copy's widgets to `new_thing_id` where they were linked to `old_thing_id`."""

    old_thing_id: str
    new_thing_id: str


class DashboardTemplate(_ApiModel):
    """`GET /dashboards/{id}/template`: the dashboard as a reusable template."""

    name: str | None = None
    widgets: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("widgets", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


class TokenResponse(_ApiModel):
    access_token: SecretStr
    expires_in: float = 300.0
    token_type: str = "Bearer"  # noqa: S105 - a scheme name
