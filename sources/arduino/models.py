"""The Arduino IoT Cloud payloads dashvault relies on (v2 dashboards, shares, tokens), as pydantic models.

Fields we do not rely on are kept (``extra="allow"``), so nothing the cloud sends is lost on a round trip.
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


class Widget(_WidgetLayout):
    """A widget of a dashboard as the cloud returns it (`ArduinoWidgetv2`)."""

    variables: list[LinkedVariable] = Field(default_factory=list)

    @field_validator("variables", "options", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return [] if info.field_name == "variables" else {}
        return value


class Dashboard(_ApiModel):
    """A dashboard as the cloud returns it (`ArduinoDashboardv2`)."""

    id: str
    name: str
    widgets: list[Widget] = Field(default_factory=list)
    organization_id: str | None = None
    created_by: UserRef | None = None
    shared_by: UserRef | None = None
    shared_with: list[UserRef] = Field(default_factory=list)
    created_at: str | None = None
    updated_at: str | None = None
    deleted_at: str | None = None

    @field_validator("widgets", "shared_with", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


class WidgetInput(_WidgetLayout):
    """A widget in a create or update body (`widget`): `variables` are property ids."""

    variables: list[str] | None = None


class DashboardInput(_ApiModel):
    """A create or update body (`dashboardv2`)."""

    name: str
    widgets: list[WidgetInput] = Field(default_factory=list)


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
