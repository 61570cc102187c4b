import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "redis_only(reason): a contract test only the Redis implementation can run"
    )
