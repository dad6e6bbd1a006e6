"""Each source type's config model: `[[sources]]` tables of type "grafana" or "arduino"."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    Field,
    field_validator,
    model_validator,
)

from storage.configmodel import ConfigModel, HttpUrlStr, Secret, field_error

_NAME_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")


def _check_name(value: str) -> str:
    # The name becomes a directory in the backup repository, so it must be a safe file name.
    if _NAME_RE.fullmatch(value) is None:
        raise ValueError('must be 1-64 characters of A-Z, a-z, 0-9, ".", "_", "-", not starting with "."')
    return value


SourceName = Annotated[str, AfterValidator(_check_name)]
Retries = Annotated[int, Field(ge=0, le=20)]
Concurrency = Annotated[int, Field(ge=1, le=64)]
Seconds = Annotated[float, Field(gt=0)]


class SourceBase(ConfigModel):
    """What every source has: a name, timeouts, retries and whether TLS is verified."""

    name: SourceName
    timeout: Seconds = 30.0
    connect_timeout: Seconds = 10.0
    retries: Retries = 5
    verify_tls: bool = True


class GrafanaSourceConfig(SourceBase):
    """A Grafana instance, authenticated by a token or by basic auth (username and password)."""

    type: Literal["grafana"]
    url: HttpUrlStr
    token: Secret | None = None
    username: str | None = None
    password: Secret | None = None
    api: Literal["auto", "legacy", "apis"] = "auto"
    orgs: list[int] | Literal["all"] = Field(default_factory=lambda: [1])
    page_size: int = Field(default=500, ge=1, le=5000)
    concurrency: Concurrency = 8
    # The /apis namespace; by default learnt from /api/frontend/settings (Grafana Cloud: the stack's).
    namespace: str | None = None

    @field_validator("orgs", mode="before")
    @classmethod
    def _orgs(cls, value: object) -> object:
        # Checked up front so a bad value gets one clear message instead of one per union member.
        if value == "all":
            return value
        if not isinstance(value, list):
            raise ValueError('must be a list of org ids like [1, 2] or "all"')
        if not value:
            raise ValueError('must not be empty (a list of org ids like [1] or "all")')
        for org in value:
            if not isinstance(org, int) or isinstance(org, bool) or org < 1:
                raise ValueError('must be a list of org ids (integers >= 1) or "all"')
        if len(set(value)) != len(value):
            raise ValueError("must not list an org id twice")
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", value):
            raise ValueError("must be a namespace name: 1-63 lower-case letters, digits and '-'")
        return value

    @model_validator(mode="after")
    def _auth(self) -> Self:
        if self.token is not None and (self.username is not None or self.password is not None):
            raise field_error("token", "set either token or username and password, not both")
        if self.token is None:
            if self.username is None and self.password is None:
                raise field_error("token", "required: set token (or token_file), or username and password")
            if self.password is None:
                raise field_error("password", "required when username is set (or use password_file)")
            if self.username is None:
                raise field_error("username", "required when password is set")
        if self.orgs == "all" and self.token is not None:
            raise field_error("orgs", '"all" needs username and password (a token belongs to one org)')
        if self.token is not None and isinstance(self.orgs, list) and len(self.orgs) > 1:
            # pkg/services/authn/clients/api_key.go ``validateApiKey``: another org's id is a 401.
            raise field_error("orgs", "a token belongs to one org: list one, or use username and password")
        return self


class ArduinoSourceConfig(SourceBase):
    """An Arduino IoT Cloud account or shared space, authenticated by OAuth2 client credentials."""

    type: Literal["arduino"]
    client_id: Secret
    client_secret: Secret
    organization: str = ""
    base_url: HttpUrlStr = "https://api2.arduino.cc"
    concurrency: Concurrency = 4
    rate_limit: float = Field(default=5.0, gt=0)


SourceConfig = GrafanaSourceConfig | ArduinoSourceConfig
