"""dashvault.config: loading, interpolation, secret files and one-line error messages."""

from __future__ import annotations

import datetime
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from backup.schedule import Every, ScheduleConfig, parse_every
from dashvault.config import Config, MetricsConfig, load_config
from sources.config import ArduinoSourceConfig, GrafanaSourceConfig
from storage.config import StorageConfig
from storage.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"
EXAMPLE_ENV = {"GRAFANA_TOKEN": "t-123", "ARDUINO_CLIENT_ID": "cid", "ARDUINO_CLIENT_SECRET": "csecret"}

GRAFANA = """
[[sources]]
name = "prod"
type = "grafana"
url = "https://grafana.example.com/"
token = "tok"
"""


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path: Path, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, environ or {})
    message = str(info.value)
    assert "\n" not in message
    assert info.value.exit_code == 2
    return message


# --- the example file ---------------------------------------------------------------------------


def test_example_loads_as_is() -> None:
    config = load_config(EXAMPLE, EXAMPLE_ENV)
    assert config.path == EXAMPLE
    assert config.source_names == ["grafana-prod", "arduino"]
    grafana = config.source("grafana-prod")
    assert isinstance(grafana, GrafanaSourceConfig)
    assert grafana.token is not None
    assert grafana.token.get_secret_value() == "t-123"
    assert grafana.url == "https://grafana.example.com"
    arduino = config.source("arduino")
    assert isinstance(arduino, ArduinoSourceConfig)
    assert arduino.client_secret.get_secret_value() == "csecret"
    assert config.storage.backend == "git"
    assert config.storage.path == EXAMPLE.parent / "backups"
    assert config.schedule.every_for("arduino") == Every(seconds=3600)


@pytest.mark.parametrize("missing", sorted(EXAMPLE_ENV))
def test_example_needs_exactly_its_three_variables(missing: str) -> None:
    env = {k: v for k, v in EXAMPLE_ENV.items() if k != missing}
    with pytest.raises(ConfigError, match=f"environment variable {missing} is not set"):
        load_config(EXAMPLE, env)


def test_example_mentions_every_key_of_the_models() -> None:
    text = EXAMPLE.read_text()
    models: list[type[BaseModel]] = [
        Config,
        GrafanaSourceConfig,
        ArduinoSourceConfig,
        StorageConfig,
        ScheduleConfig,
        MetricsConfig,
    ]
    for model in models:
        for key in model.model_fields:
            assert f"{key} =" in text or f"[{key}]" in text or f"[[{key}]]" in text, key


def test_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GRAFANA), {})
    source = config.source("prod")
    assert isinstance(source, GrafanaSourceConfig)
    assert (source.api, source.orgs, source.page_size, source.concurrency) == ("auto", [1], 500, 8)
    assert (source.timeout, source.connect_timeout, source.retries, source.verify_tls) == (
        30.0,
        10.0,
        5,
        True,
    )
    assert config.storage.max_delete_fraction == 0.5
    assert config.metrics.textfile is None
    assert config.schedule.jitter_seconds == 0


def test_unknown_source_name_lists_the_known_ones(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GRAFANA), {})
    with pytest.raises(ConfigError, match=r"no source named 'nope' \(known: prod\)"):
        config.source("nope")


def test_relative_storage_path_is_resolved_against_the_config_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "etc").mkdir()
    write(tmp_path / "etc", '[storage]\npath = "data/repo"\n[metrics]\ntextfile = "m.prom"\n' + GRAFANA)
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("etc/config.toml"), {})
    assert config.storage.path == tmp_path / "etc" / "data" / "repo"
    assert config.metrics.textfile == tmp_path / "etc" / "m.prom"


# --- interpolation ------------------------------------------------------------------------------


def test_env_interpolation_at_any_depth(tmp_path: Path) -> None:
    text = """
[storage]
path = "/srv/${DIR}/x"
remote = "$${NOT_A_VAR} and $$ and ${A}${B}"
[schedule]
every = "${EVERY}"
sources = { prod = "${PROD_EVERY}" }
[[sources]]
name = "${NAME}"
type = "grafana"
url = "https://${HOST}:3000"
token = "${TOKEN}"
orgs = [2]
concurrency = "${CONC}"
"""
    env = {
        "DIR": "d",
        "A": "1",
        "B": "2",
        "EVERY": "15m",
        "PROD_EVERY": "daily at 02:30",
        "NAME": "prod",
        "HOST": "g.local",
        "TOKEN": "secret",
        "CONC": "3",
    }
    config = load_config(write(tmp_path, text), env)
    assert config.storage.path == Path("/srv/d/x")
    assert config.storage.remote == "${NOT_A_VAR} and $$ and 12"
    assert config.schedule.every_for("other") == Every(seconds=900)
    assert config.schedule.every_for("prod") == Every(daily_at=datetime.time(2, 30))
    source = config.source("prod")
    assert isinstance(source, GrafanaSourceConfig)
    assert source.url == "https://g.local:3000"
    assert source.concurrency == 3


def test_env_interpolation_in_nested_arrays(tmp_path: Path) -> None:
    from dashvault.config import _Loader

    loader = _Loader(tmp_path / "c.toml", {"X": "x", "Y": "y"}, tmp_path)
    data = {"a": [["${X}", {"b": ["$${X}", "${Y}"]}], 3]}
    assert loader.interpolate(data, ()) == {"a": [["x", {"b": ["${X}", "y"]}], 3]}
    with pytest.raises(
        ConfigError, match=r"^.*c\.toml: a\[0\]\[1\]\.b\[1\]: environment variable Y is not set$"
    ):
        _Loader(tmp_path / "c.toml", {"X": "x"}, tmp_path).interpolate(data, ())


def test_unset_variable_names_file_key_and_variable(tmp_path: Path) -> None:
    path = write(tmp_path, GRAFANA.replace('"tok"', '"${GRAFANA_TOKEN}"'))
    assert error_of(path) == f"{path}: sources[0].token: environment variable GRAFANA_TOKEN is not set"


def test_bad_reference_syntax(tmp_path: Path) -> None:
    path = write(tmp_path, GRAFANA.replace('"tok"', '"${oops"'))
    assert "sources[0].token: a ${...} reference must be ${NAME}" in error_of(path)


def test_environ_defaults_to_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(os.environ, "DASHVAULT_TEST_TOKEN", "from-env")
    config = load_config(write(tmp_path, GRAFANA.replace('"tok"', '"${DASHVAULT_TEST_TOKEN}"')))
    source = config.source("prod")
    assert isinstance(source, GrafanaSourceConfig)
    assert source.token is not None
    assert source.token.get_secret_value() == "from-env"


# --- secret files -------------------------------------------------------------------------------


def test_token_file_relative_to_the_config_directory(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "grafana").write_text("file-token\n\n")
    text = GRAFANA.replace('token = "tok"', 'token_file = "secrets/${WHICH}"')
    config = load_config(write(tmp_path, text), {"WHICH": "grafana"})
    source = config.source("prod")
    assert isinstance(source, GrafanaSourceConfig)
    assert source.token is not None
    assert source.token.get_secret_value() == "file-token"


def test_absolute_secret_files_for_arduino_and_s3(tmp_path: Path) -> None:
    for name in ("id", "secret", "ak", "sk"):
        (tmp_path / name).write_text(f"{name}-value\n")
    text = f"""
[storage]
backend = "s3"
bucket = "b"
access_key_id_file = "{tmp_path / "ak"}"
secret_access_key_file = "{tmp_path / "sk"}"
[[sources]]
name = "arduino"
type = "arduino"
client_id_file = "{tmp_path / "id"}"
client_secret_file = "{tmp_path / "secret"}"
"""
    config = load_config(write(tmp_path, text), {})
    source = config.source("arduino")
    assert isinstance(source, ArduinoSourceConfig)
    assert source.client_id.get_secret_value() == "id-value"
    assert source.client_secret.get_secret_value() == "secret-value"
    assert config.storage.access_key_id is not None
    assert config.storage.access_key_id.get_secret_value() == "ak-value"


def test_both_token_and_token_file(tmp_path: Path) -> None:
    path = write(tmp_path, GRAFANA + 'token_file = "t"\n')
    assert error_of(path) == f"{path}: sources[0].token: set either token or token_file, not both"


def test_unreadable_secret_file_names_key_and_path(tmp_path: Path) -> None:
    path = write(tmp_path, GRAFANA.replace('token = "tok"', 'token_file = "nope/token"'))
    message = error_of(path)
    assert message.startswith(f"{path}: sources[0].token_file: cannot read {tmp_path / 'nope' / 'token'} (")


def test_empty_secret_file(tmp_path: Path) -> None:
    (tmp_path / "t").write_text("\n")
    path = write(tmp_path, GRAFANA.replace('token = "tok"', 'token_file = "t"'))
    assert error_of(path) == f"{path}: sources[0].token_file: {tmp_path / 't'} is empty"


def test_file_suffix_on_a_non_secret_key_is_unknown(tmp_path: Path) -> None:
    path = write(tmp_path, GRAFANA + 'url_file = "u"\n')
    assert error_of(path) == f"{path}: sources[0].url_file: unknown key"


# --- validation errors --------------------------------------------------------------------------


def test_unknown_key(tmp_path: Path) -> None:
    path = write(tmp_path, GRAFANA + "tokn = 1\n")
    assert error_of(path) == f"{path}: sources[0].tokn: unknown key"


def test_unknown_top_level_key_including_path(tmp_path: Path) -> None:
    path = write(tmp_path, 'path = "x"\n' + GRAFANA)
    assert error_of(path) == f"{path}: path: unknown key"


def test_wrong_type(tmp_path: Path) -> None:
    path = write(tmp_path, GRAFANA + 'concurrency = "eight"\n')
    assert error_of(path) == f"{path}: sources[0].concurrency: must be an integer (got 'eight')"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("concurrency = 0", "sources[0].concurrency: must be at least 1 (got 0)"),
        ("page_size = 5001", "sources[0].page_size: must be at most 5000 (got 5001)"),
        ("timeout = 0", "sources[0].timeout: must be greater than 0 (got 0)"),
        ("retries = 21", "sources[0].retries: must be at most 20 (got 21)"),
        ('api = "v2"', "sources[0].api: must be 'auto', 'legacy' or 'apis' (got 'v2')"),
        ("verify_tls = 3", "sources[0].verify_tls: must be true or false (got 3)"),
        ("orgs = []", "sources[0].orgs: must not be empty"),
        ("orgs = [0]", "sources[0].orgs: must be a list of org ids (integers >= 1)"),
        ('orgs = "some"', "sources[0].orgs: must be a list of org ids like [1, 2] or \"all\" (got 'some')"),
        ('orgs = "all"', 'sources[0].orgs: "all" needs username and password'),
        ("orgs = [1, 2]", "sources[0].orgs: a token belongs to one org: list one"),
        ('namespace = "Stacks_1"', "sources[0].namespace: must be a namespace name: 1-63 lower-case letters"),
        ('username = "admin"', "sources[0].token: set either token or username and password, not both"),
        ("timeout = true", "sources[0].timeout: must not be true or false"),
        ("concurrency = false", "sources[0].concurrency: must not be true or false"),
    ],
)
def test_grafana_field_errors(tmp_path: Path, line: str, expected: str) -> None:
    path = write(tmp_path, GRAFANA + line + "\n")
    assert error_of(path).startswith(f"{path}: {expected}")


def test_grafana_basic_auth(tmp_path: Path) -> None:
    text = GRAFANA.replace('token = "tok"', 'username = "admin"\npassword = "pw"\norgs = "all"')
    source = load_config(write(tmp_path, text), {}).source("prod")
    assert isinstance(source, GrafanaSourceConfig)
    assert (source.username, source.orgs, source.token) == ("admin", "all", None)
    path = write(tmp_path, GRAFANA.replace('token = "tok"', 'username = "admin"'))
    assert (
        error_of(path) == f"{path}: sources[0].password: required when username is set (or use password_file)"
    )
    path = write(tmp_path, GRAFANA.replace('token = "tok"', ""))
    assert "sources[0].token: required: set token (or token_file), or username and password" in error_of(path)


@pytest.mark.parametrize("url", ["grafana.example.com", "ftp://x", "https://"])
def test_bad_url(tmp_path: Path, url: str) -> None:
    path = write(tmp_path, GRAFANA.replace("https://grafana.example.com/", url))
    assert error_of(path).startswith(
        f"{path}: sources[0].url: must be an http:// or https:// URL with a host"
    )


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "with space", "x" * 65, "ü"])
def test_bad_name_characters(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, GRAFANA.replace('"prod"', f'"{name}"'))
    assert error_of(path).startswith(f"{path}: sources[0].name: must be 1-64 characters of A-Z")


@pytest.mark.parametrize("name", ["a", "grafana-prod", "x.y_z", "_1", "x" * 64])
def test_good_names(tmp_path: Path, name: str) -> None:
    assert load_config(write(tmp_path, GRAFANA.replace('"prod"', f'"{name}"')), {}).source_names == [name]


def test_duplicate_source_names(tmp_path: Path) -> None:
    other = GRAFANA.replace('"prod"', '"other"')
    path = write(tmp_path, GRAFANA + other + GRAFANA)
    assert error_of(path) == f'{path}: sources[2].name: duplicate source name "prod" (also sources[0])'


def test_missing_and_unknown_source_type(tmp_path: Path) -> None:
    path = write(tmp_path, GRAFANA.replace('type = "grafana"', ""))
    assert error_of(path) == f'{path}: sources[0].type: required ("grafana" or "arduino")'
    path = write(tmp_path, GRAFANA.replace('type = "grafana"', 'type = "influx"'))
    assert error_of(path) == f'{path}: sources[0].type: must be "grafana" or "arduino" (got \'influx\')'


def test_no_sources(tmp_path: Path) -> None:
    path = write(tmp_path, '[storage]\npath = "x"\n')
    assert error_of(path) == f"{path}: sources: required: at least one [[sources]] table"


def test_arduino_missing_client_secret(tmp_path: Path) -> None:
    path = write(tmp_path, '[[sources]]\nname = "a"\ntype = "arduino"\nclient_id = "id"\n')
    assert error_of(path) == f"{path}: sources[0].client_secret: required"


def test_s3_needs_a_bucket(tmp_path: Path) -> None:
    path = write(tmp_path, '[storage]\nbackend = "s3"\n' + GRAFANA)
    assert error_of(path) == f'{path}: storage.bucket: required when backend = "s3"'


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("max_delete_fraction = 0", "storage.max_delete_fraction: must be greater than 0 (got 0)"),
        ("max_delete_fraction = 1.5", "storage.max_delete_fraction: must be at most 1 (got 1.5)"),
        ('sse = "kms"', "storage.sse: must be '', 'AES256' or 'aws:kms' (got 'kms')"),
        ('backend = "ftp"', "storage.backend: must be 'git' or 's3' (got 'ftp')"),
        ("max_delete_fraction = true", "storage.max_delete_fraction: must not be true or false"),
        (
            'backend = "s3"\nbucket = "Not a bucket!"',
            "storage.bucket: must be a bucket name: 1-255 letters, digits, '.', '-' or '_'",
        ),
    ],
)
def test_storage_errors(tmp_path: Path, line: str, expected: str) -> None:
    path = write(tmp_path, f"[storage]\n{line}\n" + GRAFANA)
    assert error_of(path) == f"{path}: {expected}"


@pytest.mark.parametrize(
    "every", ["0m", "1w", "every hour", "daily at 24:00", "daily at 2:60", "daily", "", "1.5h"]
)
def test_bad_every(tmp_path: Path, every: str) -> None:
    path = write(tmp_path, f'[schedule]\nevery = "{every}"\n' + GRAFANA)
    assert error_of(path).startswith(f"{path}: schedule.every: must be ")
    assert f"(got {every!r})" in error_of(path)


def test_bad_jitter_and_override(tmp_path: Path) -> None:
    path = write(tmp_path, '[schedule]\njitter = "soon"\n' + GRAFANA)
    assert error_of(path).startswith(f"{path}: schedule.jitter: must be a duration")
    path = write(tmp_path, '[schedule]\nsources = { prod = "2x" }\n' + GRAFANA)
    assert error_of(path).startswith(f"{path}: schedule.sources.prod: must be ")
    path = write(tmp_path, '[schedule]\nsources = { ghost = "1h" }\n' + GRAFANA)
    assert error_of(path) == f'{path}: schedule.sources.ghost: no source named "ghost" (known: prod)'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", Every(seconds=30)),
        ("15m", Every(seconds=900)),
        ("1h", Every(seconds=3600)),
        ("2d", Every(seconds=172800)),
        ("daily at 02:30", Every(daily_at=datetime.time(2, 30))),
        ("daily at 0:00", Every(daily_at=datetime.time(0, 0))),
        ("daily at 23:59", Every(daily_at=datetime.time(23, 59))),
    ],
)
def test_parse_every(text: str, expected: Every) -> None:
    assert parse_every(text) == expected


def test_several_errors_are_joined_on_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, GRAFANA + "concurrency = 0\npage_size = 0\nretries = -1\ntimeout = -1\n")
    message = error_of(path)
    assert message.count("; ") == 2
    assert message.startswith(f"{path}: sources[0].")


# --- file-level errors --------------------------------------------------------------------------


def test_toml_syntax_error_has_line_info(tmp_path: Path) -> None:
    path = write(tmp_path, GRAFANA + "concurrency = = 3\n")
    message = error_of(path)
    assert message.startswith(f"{path}: TOML syntax error: ")
    assert "line 7" in message


def test_toml_error_at_end_of_document_has_line_info(tmp_path: Path) -> None:
    path = write(tmp_path, 'a = 1\nb = "x\n')
    assert "line" in error_of(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    assert error_of(path) == f"{path}: config file not found"


def test_directory(tmp_path: Path) -> None:
    assert error_of(tmp_path) == f"{tmp_path}: is a directory, not a config file"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path, GRAFANA)
    path.chmod(0)
    assert error_of(path).startswith(f"{path}: cannot read the config file (")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(b'a = "\xff"\n')
    assert "not UTF-8" in error_of(path)


# --- secrets never shown ------------------------------------------------------------------------


def test_secrets_not_in_repr_str_or_json(tmp_path: Path) -> None:
    config = load_config(EXAMPLE, {**EXAMPLE_ENV, "GRAFANA_TOKEN": "SECRET-grafana-token"})
    for text in (repr(config), str(config), config.model_dump_json(), repr(config.sources)):
        for secret in ("SECRET-grafana-token", "csecret"):
            assert secret not in text


def test_secret_of_wrong_type_is_not_shown(tmp_path: Path) -> None:
    path = write(tmp_path, GRAFANA.replace('token = "tok"', "token = 123456789"))
    message = error_of(path)
    assert message == f"{path}: sources[0].token: must be a string"


MARK = "Zq9-SECRET-"
# Each config makes an error whose subject is a secret-bearing key; `${S}` carries the secret.
SECRET_ERROR_CONFIGS = [
    GRAFANA.replace('"tok"', '"${S}"') + 'username = "admin"\n',
    GRAFANA.replace('"tok"', '"${S}"') + 'orgs = "all"\n',
    GRAFANA.replace('token = "tok"', 'username = "u"\npassword = "${S}"\ntoken = "${S}"'),
    GRAFANA + 'tokn = "${S}"\n',
    GRAFANA.replace('"tok"', '"${S}"') + 'token_file = "x"\n',
    '[[sources]]\nname = "a"\ntype = "arduino"\nclient_secret = "${S}"\n',
    '[[sources]]\nname = "a"\ntype = "arduino"\nclient_id = "${S}"\nclient_secret = "${S}"\ntoken = "${S}"\n',
    '[[sources]]\nname = "a"\ntype = "influx"\ntoken = "${S}"\n',
    '[storage]\naccess_key_id = "${S}"\n' + GRAFANA,
    '[storage]\nsecret_access_key = "${S}"\nbackend = "s3"\n' + GRAFANA,
    '[storage]\nsecret_access_key = ["${S}"]\n' + GRAFANA,
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(secret=st.text(min_size=0, max_size=80), which=st.integers(0, len(SECRET_ERROR_CONFIGS) - 1))
def test_secret_never_in_error_messages(secret: str, which: int) -> None:
    value = MARK + secret
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        path.write_text(SECRET_ERROR_CONFIGS[which])
        with pytest.raises(ConfigError) as info:
            load_config(path, {"S": value})
    assert MARK not in str(info.value)
    assert MARK not in repr(info.value)


@settings(max_examples=30, deadline=None)
@given(
    secret=st.text(
        alphabet=st.characters(exclude_characters="\r\n\x00", exclude_categories=("Cs",)),
        min_size=1,
        max_size=60,
    )
)
def test_secret_from_a_file_never_in_error_messages(secret: str) -> None:
    value = MARK + secret
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "token").write_text(value, encoding="utf-8", newline="")
        path = Path(tmp) / "config.toml"
        path.write_text(GRAFANA.replace('token = "tok"', 'token_file = "token"\nusername = "x"'))
        with pytest.raises(ConfigError) as info:
            load_config(path, {})
        assert MARK not in str(info.value)
        path.write_text(GRAFANA.replace('token = "tok"', 'token_file = "token"'))
        config = load_config(path, {})
        assert MARK not in repr(config)
        assert MARK not in config.model_dump_json()
