"""What every layer's config model is built from: a strict frozen base model and the shared field rules.

Config models are pydantic models that forbid unknown keys and never show a value in their errors
(`dashvault.config` formats the errors, naming file, key and, for non-secrets, the value).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    SecretStr,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError


def check_http_url(value: str) -> str:
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value.rstrip("/")


def check_not_empty(value: SecretStr | None) -> SecretStr | None:
    if value is not None and not value.get_secret_value():
        raise ValueError("must not be empty")
    return value


HttpUrlStr = Annotated[str, AfterValidator(check_http_url)]
Secret = Annotated[SecretStr, AfterValidator(check_not_empty)]


def field_error(field: str, message: str) -> PydanticCustomError:
    """An error that a model validator reports on one of its fields rather than on the model."""
    return PydanticCustomError("dashvault_field", message, {"field": field})


def resolve_path(value: Path, info: ValidationInfo) -> Path:
    """Make a relative path absolute against the config file's directory (cron has another cwd)."""
    value = value.expanduser()
    base = info.context.get("base_dir") if isinstance(info.context, dict) else None
    if isinstance(base, Path) and not value.is_absolute():
        return base / value
    return value


def _allows_bool(annotation: Any) -> bool:
    if annotation is bool or annotation is Any:
        return True
    return any(_allows_bool(arg) for arg in get_args(annotation))


class ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_for_a_number(cls, data: Any) -> Any:
        # pydantic's lax mode takes `true` for 1 and 1.0: `timeout = true` would be a 1 s timeout.
        if isinstance(data, dict):
            for name, info in cls.model_fields.items():
                value = data.get(info.alias or name)
                if isinstance(value, bool) and not _allows_bool(info.annotation):
                    raise field_error(name, "must not be true or false")
        return data
