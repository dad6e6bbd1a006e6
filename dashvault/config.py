"""The TOML configuration: pydantic models, `${ENV}` interpolation and `<key>_file` secrets.

`load_config` is the only entry point that reads a file; every problem it finds is a one-line
`ConfigError` of the form `<file>: <key path>: <problem> (got <value>)`. Secret values are
`SecretStr` and are never shown, whether in errors, `repr()` or JSON dumps.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from backup.schedule import ScheduleConfig
from sources.config import SourceConfig
from storage import redaction
from storage.config import StorageConfig
from storage.configmodel import ConfigModel, resolve_path
from storage.errors import ConfigError

#: Keys whose values are credentials: never shown, and each also accepts `<key>_file`.
SECRET_KEYS: frozenset[str] = frozenset(
    {"token", "password", "client_id", "client_secret", "access_key_id", "secret_access_key"}
)
_SOURCE_TYPES = ("grafana", "arduino")
_SECRETS_BY_SECTION: dict[str, frozenset[str]] = {
    "storage": frozenset({"access_key_id", "secret_access_key"}),
    "grafana": frozenset({"token", "password"}),
    "arduino": frozenset({"client_id", "client_secret"}),
}

_VALUE_EXCERPT = 60
_MAX_REPORTED_ERRORS = 3


# --- sections -----------------------------------------------------------------------------------


class MetricsConfig(ConfigModel):
    """`[metrics]`: optional Prometheus textfile-collector output."""

    textfile: Path | None = None

    @field_validator("textfile")
    @classmethod
    def _absolute_path(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else resolve_path(value, info)


class Config(ConfigModel):
    """The whole configuration file. `path` is the file it was loaded from."""

    storage: StorageConfig = Field(default_factory=StorageConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    sources: list[Annotated[SourceConfig, Field(discriminator="type")]] = Field(min_length=1)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)

    # Not a field: a `path` key in the TOML must be reported as an unknown key.
    _path: Path = PrivateAttr(default=Path("config.toml"))

    @model_validator(mode="after")
    def _cross_checks(self) -> Self:
        seen: dict[str, int] = {}
        for index, source in enumerate(self.sources):
            if source.name in seen:
                raise PydanticCustomError(
                    "dashvault_field",
                    "duplicate source name {name} (also sources[{first}])",
                    {
                        "loc": ("sources", index, "name"),
                        "name": f'"{source.name}"',
                        "first": seen[source.name],
                    },
                )
            seen[source.name] = index
        for name in self.schedule.sources:
            if name not in seen:
                raise PydanticCustomError(
                    "dashvault_field",
                    "no source named {name} (known: {known})",
                    {"loc": ("schedule", "sources", name), "name": f'"{name}"', "known": ", ".join(seen)},
                )
        return self

    @property
    def path(self) -> Path:
        """The file this configuration was loaded from."""
        return self._path

    @property
    def source_names(self) -> list[str]:
        """The configured source names, in file order."""
        return [source.name for source in self.sources]

    def sources_named(self, names: Iterable[str]) -> list[SourceConfig]:
        """The sources called `names` (all of them when `names` is empty), each checked like `source`."""
        chosen = list(names)
        return [self.source(n) for n in chosen] if chosen else list(self.sources)

    def source(self, name: str) -> SourceConfig:
        """The source called `name`; ConfigError naming the known sources if there is none."""
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(self.source_names)
        raise ConfigError(f"{self._path}: no source named {name!r} (known: {known})")


# --- loading ------------------------------------------------------------------------------------


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read, interpolate and validate a TOML config file; every problem is a one-line ConfigError."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    path = Path(path)
    data = _read_toml(path)
    base_dir = path.expanduser().absolute().parent
    loader = _Loader(path, env, base_dir)
    data = loader.interpolate(data, ())
    loader.check_sources(data)
    loader.resolve_secret_files(data)
    try:
        config = Config.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe_validation_error(exc)}") from None
    config._path = path
    redaction.forget_all()  # the secrets of this config, not of one loaded before it
    _register_secrets(data)
    return config


def _register_secrets(data: Any) -> None:
    """Tell the scrubber every secret of the config (storage/redaction.py): each credential key's
    value (a password with its table's username, as HTTP Basic sends them), and the password of any
    URL with user info (a git remote, a source URL)."""
    if isinstance(data, dict):
        username = data.get("username") if isinstance(data.get("username"), str) else None
        for key, value in data.items():
            if isinstance(value, str):
                if key in SECRET_KEYS:
                    redaction.register(value, username=username if key == "password" else None)
                elif "://" in value and "@" in value:
                    redaction.register_url(value)
            else:
                _register_secrets(value)
    elif isinstance(data, list):
        for value in data:
            _register_secrets(value)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read the config file ({exc.strerror or type(exc).__name__})"
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        if "end of document" in message:
            # tomllib gives no line for this case; the last line is where the reader must look.
            message = f"{message}, line {text.count(chr(10)) + 1}"
        raise ConfigError(f"{path}: TOML syntax error: {message}") from None


_REFERENCE_RE = re.compile(r"\$\$\{|\$\{([^}]*)(\}?)")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

KeyPath = tuple[str | int, ...]


class _Loader:
    """The steps between raw TOML and pydantic: they need the file and environment for their errors."""

    def __init__(self, path: Path, environ: Mapping[str, str], base_dir: Path) -> None:
        self.path = path
        self.environ = environ
        self.base_dir = base_dir

    def error(self, loc: KeyPath, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}: {_key_path(loc)}: {problem}")

    def interpolate(self, value: Any, loc: KeyPath) -> Any:
        """Replace `${NAME}` in every string at any depth; `$${` is a literal `${`."""
        if isinstance(value, str):
            return self._interpolate_string(value, loc)
        if isinstance(value, dict):
            return {key: self.interpolate(item, (*loc, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [self.interpolate(item, (*loc, index)) for index, item in enumerate(value)]
        return value

    def _interpolate_string(self, text: str, loc: KeyPath) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            name, closed = match.group(1), match.group(2)
            if not closed or _ENV_NAME_RE.fullmatch(name) is None:
                raise self.error(
                    loc,
                    "a ${...} reference must be ${NAME}, NAME of letters, digits and _ ($${ is a literal ${)",
                )
            if name not in self.environ:
                raise self.error(loc, f"environment variable {name} is not set")
            return self.environ[name]

        return _REFERENCE_RE.sub(replace, text)

    def check_sources(self, data: dict[str, Any]) -> None:
        """Report a missing or unknown source `type` plainly before the discriminated union sees it."""
        sources = data.get("sources")
        if not isinstance(sources, list):
            return
        for index, source in enumerate(sources):
            if not isinstance(source, dict):
                continue
            if "type" not in source:
                raise self.error(("sources", index, "type"), 'required ("grafana" or "arduino")')
            kind = source["type"]
            if kind not in _SOURCE_TYPES:
                raise self.error(
                    ("sources", index, "type"), f'must be "grafana" or "arduino" (got {_excerpt(kind)})'
                )

    def resolve_secret_files(self, data: dict[str, Any]) -> None:
        """Replace each `<secret>_file = "path"` with `<secret> = <file content>`."""
        storage = data.get("storage")
        if isinstance(storage, dict):
            self._resolve_section(storage, ("storage",), _SECRETS_BY_SECTION["storage"])
        sources = data.get("sources")
        if isinstance(sources, list):
            for index, source in enumerate(sources):
                if isinstance(source, dict):
                    # `type` was checked already; a `_file` key another type lacks stays an unknown key.
                    keys = _SECRETS_BY_SECTION.get(str(source.get("type")), frozenset())
                    self._resolve_section(source, ("sources", index), keys)

    def _resolve_section(self, section: dict[str, Any], loc: KeyPath, secret_keys: frozenset[str]) -> None:
        for key in sorted(secret_keys):
            file_key = f"{key}_file"
            if file_key not in section:
                continue
            if key in section:
                raise self.error((*loc, key), f"set either {key} or {file_key}, not both")
            file_value = section.pop(file_key)
            if not isinstance(file_value, str) or not file_value:
                raise self.error((*loc, file_key), f"must be a file path (got {_excerpt(file_value)})")
            file_path = Path(file_value).expanduser()
            if not file_path.is_absolute():
                file_path = self.base_dir / file_path
            try:
                content = file_path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise self.error((*loc, file_key), f"{file_path} is not UTF-8 text") from None
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
                raise self.error((*loc, file_key), f"cannot read {file_path} ({reason})") from None
            secret = content.rstrip("\r\n")
            if not secret:
                raise self.error((*loc, file_key), f"{file_path} is empty")
            section[key] = secret


# --- error formatting ---------------------------------------------------------------------------

_TYPE_MESSAGES = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be an array",
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "path_type": "must be a path (a string)",
    "extra_forbidden": "unknown key",
}


def _key_path(loc: Sequence[str | int]) -> str:
    """`("sources", 0, "token")` -> `sources[0].token`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", part):
            out += f".{part}" if out else part
        else:
            quoted = '"' + part.replace('"', '\\"') + '"'
            out += f".{quoted}" if out else quoted
    return out or "(top level)"


def _excerpt(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _VALUE_EXCERPT else text[: _VALUE_EXCERPT - 3] + "..."


def _is_showable(value: object) -> bool:
    # Only plain scalars (or lists of them) are shown: a table may hold a secret further down.
    if isinstance(value, str | int | float | bool):
        return True
    return isinstance(value, list) and all(isinstance(item, str | int | float | bool) for item in value)


def _clean_loc(loc: Sequence[str | int]) -> list[str | int]:
    """Drop the discriminator tag pydantic inserts after `sources[i]`."""
    parts = list(loc)
    if len(parts) >= 3 and parts[0] == "sources" and isinstance(parts[1], int) and parts[2] in _SOURCE_TYPES:
        del parts[2]
    return parts


def _problem(error: Mapping[str, Any]) -> str:
    kind = str(error["type"])
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    if kind == "missing":
        return "required"
    if kind in _TYPE_MESSAGES:
        return _TYPE_MESSAGES[kind]
    if kind == "literal_error":
        return f"must be {ctx.get('expected', 'one of the allowed values')}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = {
            "greater_than": ("greater than", "gt"),
            "greater_than_equal": ("at least", "ge"),
            "less_than": ("less than", "lt"),
            "less_than_equal": ("at most", "le"),
        }[kind]
        limit = ctx.get(words[1])
        # Float fields report their limits as floats; 0 reads better than 0.0.
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        return f"must be {words[0]} {limit}"
    if kind == "too_short":
        return (
            "must not be empty"
            if ctx.get("min_length") == 1
            else f"needs at least {ctx.get('min_length')} items"
        )
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    message = str(error["msg"])
    return message.replace("Input should be", "must be", 1)


def _describe_one(error: Mapping[str, Any]) -> str:
    loc = _clean_loc(error["loc"])
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    if error["type"] == "dashvault_field":
        if "loc" in ctx:
            loc = list(ctx["loc"])
        elif "field" in ctx:
            loc.append(ctx["field"])
    if loc == ["sources"] and error["type"] in ("missing", "too_short"):
        return "sources: required: at least one [[sources]] table"
    problem = _problem(error)
    value = error.get("input")
    secret = any(isinstance(part, str) and part in SECRET_KEYS for part in loc)
    show = (
        error["type"] not in ("missing", "extra_forbidden", "dashvault_field")
        and not secret
        and _is_showable(value)
    )
    return f"{_key_path(loc)}: {problem}" + (f" (got {_excerpt(value)})" if show else "")


def _describe_validation_error(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    described: list[str] = []
    for error in errors:
        text = _describe_one(error)
        if text not in described:
            described.append(text)
    return "; ".join(described[:_MAX_REPORTED_ERRORS])
