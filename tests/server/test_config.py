"""Settings from defaults, TOML and environment, validated with messages naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from overworld.config import ConfigError, load_settings


def test_defaults_are_the_embedded_laptop_setup():
    settings = load_settings(environ={})
    assert settings.port == 7350
    assert settings.resolved_database_url == "sqlite:///data/overworld.db"
    assert not settings.is_postgres and not settings.cluster
    assert settings.default_server_key == "defaultkey"
    assert settings.session_expiry_sec == 7200 and settings.refresh_expiry_sec == 30 * 24 * 3600


def test_environment_overrides_toml(tmp_path: Path):
    path = tmp_path / "overworld.toml"
    path.write_text('[overworld]\nport = 8000\ndata_dir = "/srv/ow"\nlog_format = "console"\n')
    settings = load_settings(config_file=str(path), environ={"OVERWORLD_PORT": "9000"})
    assert settings.port == 9000
    assert settings.data_dir == "/srv/ow" and settings.log_format == "console"
    assert settings.resolved_database_url == "sqlite:////srv/ow/overworld.db"


def test_postgres_and_redis_urls():
    settings = load_settings(
        environ={"OVERWORLD_DATABASE_URL": "postgresql://u@db/ow", "OVERWORLD_REDIS_URL": "redis://r:6379/0"}
    )
    assert settings.is_postgres and settings.cluster


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"OVERWORLD_PORT": "seventy"}, "OVERWORLD_PORT"),
        ({"OVERWORLD_PORT": "70000"}, "OVERWORLD_PORT"),
        ({"OVERWORLD_SESSION_EXPIRY_SEC": "5"}, "OVERWORLD_SESSION_EXPIRY_SEC"),
        ({"OVERWORLD_LOG_LEVEL": "loud"}, "OVERWORLD_LOG_LEVEL"),
    ],
)
def test_bad_values_name_the_setting(env, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_settings(environ=env)


def test_unknown_toml_setting_and_bad_toml_are_reported(tmp_path: Path):
    unknown = tmp_path / "a.toml"
    unknown.write_text("[overworld]\nprot = 1\n")
    with pytest.raises(ConfigError, match="prot"):
        load_settings(config_file=str(unknown), environ={})
    broken = tmp_path / "b.toml"
    broken.write_text("[overworld\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config_file=str(broken), environ={})
    with pytest.raises(ConfigError, match="not found"):
        load_settings(config_file=str(tmp_path / "missing.toml"), environ={})


def test_trusted_proxies_are_none_by_default_and_validated():
    assert load_settings(environ={}).trusted_proxies == []
    settings = load_settings(environ={"OVERWORLD_TRUSTED_PROXIES": "10.0.0.5, 10.1.0.0/16,::1"})
    assert settings.trusted_proxies == ["10.0.0.5", "10.1.0.0/16", "::1"]
    with pytest.raises(ConfigError, match="OVERWORLD_TRUSTED_PROXIES"):
        load_settings(environ={"OVERWORLD_TRUSTED_PROXIES": "10.0.0.5, proxy.internal"})


def test_cors_settings_from_toml_and_environment(tmp_path: Path):
    assert load_settings(environ={}).cors_origins == ["*"]
    path = tmp_path / "overworld.toml"
    path.write_text(
        '[overworld]\ncors_origins = ["https://Game.example/", "http://localhost:8080"]\n'
        '[overworld.cors_title_origins]\nmy-game = ["https://game.example"]\n'
    )
    settings = load_settings(config_file=str(path), environ={})
    assert settings.cors_origins == ["https://game.example", "http://localhost:8080"]  # as browsers send them
    assert settings.cors_title_origins == {"my-game": ["https://game.example"]}
    env = load_settings(
        environ={
            "OVERWORLD_CORS_ORIGINS": "https://a.example, https://b.example",
            "OVERWORLD_CORS_TITLE_ORIGINS": "one=https://a.example;two=https://a.example,https://b.example",
        }
    )
    assert env.cors_origins == ["https://a.example", "https://b.example"]
    assert env.cors_title_origins == {
        "one": ["https://a.example"],
        "two": ["https://a.example", "https://b.example"],
    }


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"OVERWORLD_CORS_ORIGINS": "game.example"}, "not an origin"),
        ({"OVERWORLD_CORS_ORIGINS": "https://game.example/path"}, "not an origin"),
        ({"OVERWORLD_CORS_ORIGINS": " , "}, "no origin"),
        ({"OVERWORLD_CORS_TITLE_ORIGINS": "one=*"}, "cannot narrow"),
        ({"OVERWORLD_CORS_TITLE_ORIGINS": "one"}, "title=origin"),
        (
            {
                "OVERWORLD_CORS_ORIGINS": "https://a.example",
                "OVERWORLD_CORS_TITLE_ORIGINS": "one=https://b.example",
            },
            "only narrows",
        ),
    ],
)
def test_bad_cors_settings_are_refused(env, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_settings(environ=env)
