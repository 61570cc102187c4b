"""The OpenAPI document describes what the server really does, and the docs page works offline.

- The document: Nakama's error body under every status, the security schemes per operation, a
  description per operation, every REST binding of the registry (fast path included), RPCs as
  they answer.
- The docs page references only URLs this server serves.
- schemathesis' response-conformance checks against the served document, on a live server
  (`overworld serve`, SQLite): every operation, a bounded number of generated requests each
  (`EXAMPLES`, valid and invalid), no server error, every answer's status, content type and body
  as documented.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from overworld.api import calls
from overworld.api.http.openapi import registry_operations
from tests.support import (
    PG_URL,
    basic,
    bearer,
    create_pg_database,
    drop_pg_database,
    run,
    running_server,
    unique,
)

METHODS = ("get", "post", "put", "delete")
pytestmark = pytest.mark.anyio


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


async def test_every_registry_binding_is_documented_fast_path_included(client):
    doc = (await client.get("/docs/openapi.json")).json()
    documented = {(path, method): op for path, method, op in operations(doc)}
    for (path, method), call in registry_operations().items():
        op = documented[(path, method)]
        assert op["summary"] == call.name
        assert op["x-overworld-fast-path"] is call.fast
    fast = [op for op in documented.values() if op.get("x-overworld-fast-path")]
    assert len(fast) == sum(len(c.rest) for c in calls.REST_CALLS if c.fast) > 0
    ids = [op["operationId"] for op in documented.values()]
    assert len(ids) == len(set(ids))


async def test_every_operation_has_a_description_and_nakama_errors(client):
    doc = (await client.get("/docs/openapi.json")).json()
    error = doc["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "code", "message"}
    for path, method, op in operations(doc):
        assert op.get("description"), (method, path)
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")) and path != "/readyz":
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
        assert {"500", "503"} <= set(op["responses"]), (method, path)
    # Litestar's own error shape is nowhere: the server never answers with it.
    assert "status_code" not in str(doc["paths"])


async def test_security_schemes_match_the_credentials_each_call_takes(client, api, server_key):
    doc = (await client.get("/docs/openapi.json")).json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["serverKey"] == {**schemes["serverKey"], "type": "http", "scheme": "basic"}
    assert schemes["session"]["scheme"] == "bearer"
    assert schemes["httpKey"] == {**schemes["httpKey"], "type": "apiKey", "in": "query", "name": "http_key"}
    ops = {(path, method): op for path, method, op in operations(doc)}
    assert ops[("/v2/account/authenticate/device", "post")]["security"] == [{"serverKey": []}]
    assert ops[("/v2/account/session/refresh", "post")]["security"] == [{"serverKey": []}]
    assert ops[("/v2/account", "get")]["security"] == [{"session": []}]
    assert ops[("/v2/overworld/admin/config", "get")]["security"] == [{"httpKey": []}]
    assert ops[("/v2/rpc/{id}", "post")]["security"] == [{"session": []}, {"httpKey": []}]
    assert "security" not in ops[("/healthz", "get")]
    # And the server takes exactly those: a session where the server key is documented is refused.
    session = await api.device()
    refused = await client.post(
        "/v2/account/authenticate/device", json={"id": unique("device-")}, headers=bearer(session["token"])
    )
    assert (
        refused.status_code == 401 and "401" in ops[("/v2/account/authenticate/device", "post")]["responses"]
    )
    admin = await client.get("/v2/overworld/admin/config", headers=basic(server_key))
    assert admin.status_code == 401
    # Every secured operation documents 401, and refuses a call without credentials with it.
    for (path, method), op in ops.items():
        if "security" in op:
            assert "401" in op["responses"], (method, path)
    assert (await client.get("/v2/account")).status_code == 401


async def test_rpc_is_documented_as_it_answers(client):
    doc = (await client.get("/docs/openapi.json")).json()
    post = doc["paths"]["/v2/rpc/{id}"]["post"]
    ok = post["responses"]["200"]["content"]
    assert ok["application/json"]["schema"] == {"$ref": "#/components/schemas/Rpc"}
    assert doc["components"]["schemas"]["Rpc"]["required"] == ["id", "payload"]
    assert "text/plain" in ok  # ?unwrap: the result as is
    assert {"unwrap"} <= {p["name"] for p in post["parameters"]}
    assert {"payload", "unwrap"} <= {p["name"] for p in doc["paths"]["/v2/rpc/{id}"]["get"]["parameters"]}
    assert {"404", "401", "500"} <= set(post["responses"])
    unknown = await client.post("/v2/rpc/nothing?http_key=wrong")
    assert unknown.status_code == 401 and set(unknown.json()) == {"error", "code", "message"}


async def test_document_mentions_field_names_and_int64_strings(client):
    doc = (await client.get("/docs/openapi.json")).json()
    text = doc["info"]["description"]
    assert "lowerCamelCase" in text and "int64" in text
    record = doc["components"]["schemas"]["LeaderboardRecord"]["properties"]
    assert record["score"]["type"] == "string" and record["rank"]["type"] == "string"
    # Requests: a number, or a string of digits (protojson reads both; so does the server).
    write = doc["components"]["schemas"]["LeaderboardRecordWrite"]["properties"]["score"]
    assert {"type": "string", "pattern": "^-?[0-9]+$"} in write["anyOf"]
    assert {"type": "integer"} in [{"type": s.get("type")} for s in write["anyOf"]]


_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


async def test_docs_page_loads_only_local_assets_and_they_are_served(client):
    page = await client.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    urls = _URL.findall(page.text)
    assert len(urls) >= 3, urls
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), f"not local: {url}"
        served = await client.get(url)
        assert served.status_code == 200 and len(served.content) > 100, url
    assert "http://" not in page.text.replace("http://www.w3.org", "")
    assert "https://" not in page.text
    script = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert "javascript" in script.headers["content-type"]


# -- schemathesis against a live server -------------------------------------------------------------

# How long the conformance run goes on per backend: rounds over every operation (each round new
# generated requests, valid and invalid) until this is spent; the first round always completes.
# CI: 120 s per backend (tests/api/test_openapi.py runs next to the other tests); longer locally:
#   OVERWORLD_SCHEMATHESIS_SECONDS=1800 scripts/test tests/api/test_openapi.py -k schemathesis
BUDGET_SEC = float(os.environ.get("OVERWORLD_SCHEMATHESIS_SECONDS", "120"))
EXAMPLES = 10  # generated requests per operation, mode and round (~1,450 requests a round)
# The checks schemathesis makes of one response. Not here:
# - positive_data_acceptance: the server enforces rules the document does not state (a device id
#   of 10 to 128 characters, a password of 8 or more, ids that must name something), so most
#   generated "valid" requests are refused with 400 or 404, as intended;
# - the stateful checks (the document has no links between operations to follow);
# - ignored_auth, unsupported_method and max_response_time, which send requests of their own or
#   time them (tests/api/test_calls.py and test_cors.py cover credentials and methods, bench/ speed).
CHECKS_NAMES = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "missing_required_header",
)
# The failures the server answers on purpose, each with its reason: (the failure's title, method,
# path ("*": any), a regular expression its message matches, why). Any other failure fails.
DOCUMENTED: list[tuple[str, str, str, str, str]] = [
    (
        "Schema-violating request accepted", "*", "*",
        r"query: violates `(type|oneOf)`|in query( - |\n  - )violates `(type|oneOf)`",
        "A query string has no types: `ids=5` is the list of the one id \"5\" (an array is the"
        " parameter repeated), `limit=true` a text the parameter's own check refuses or reads.",
    ),
    (
        "Schema-violating request accepted", "*", "*", r"query: violates `additionalProperties`",
        "Query parameters the call does not know are ignored, as Nakama's gateway ignores them (a"
        " newer client may send some).",
    ),
]  # fmt: skip
# Operations that end the session they are called with get a session of their own.
_SPENDS_SESSION = {"DeleteAccount", "SessionLogout"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database: dict[str, str] = {}
    if request.param == "postgresql":
        if not PG_URL:
            pytest.skip("PostgreSQL tests need OVERWORLD_TEST_DATABASE_URL")
        database["OVERWORLD_DATABASE_URL"] = run(create_pg_database(PG_URL))
    folder: Path = tmp_path_factory.mktemp("openapi")
    runtime = folder / "runtime"
    runtime.mkdir()
    (runtime / "echo.py").write_text(
        "def init(ctx, nk, initializer):\n"
        "    @initializer.rpc('echo')\n"
        "    def echo(ctx, payload):\n"
        "        return payload\n"
    )
    env = {
        "OVERWORLD_DATA_DIR": str(folder / "data"),
        "OVERWORLD_RUNTIME_PATH": str(runtime),
        "OVERWORLD_LOG_LEVEL": "error",
        "OVERWORLD_METRICS": "false",
        **database,
    }
    try:
        with running_server(env, folder) as server:
            yield server.url
    finally:
        if database:
            run(drop_pg_database(PG_URL, database["OVERWORLD_DATABASE_URL"]))


def _session(url: str) -> str:
    answer = httpx.post(
        url + "/v2/account/authenticate/device", json={"id": unique("device-")}, headers=basic("defaultkey")
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


class Conformance:
    """Runs schemathesis' checks on generated requests to the live server; keeps figures and
    failures rather than stopping (and shrinking) at the first."""

    def __init__(self, live: str) -> None:
        from schemathesis import checks as st_checks
        from schemathesis.specs.openapi import checks as oa_checks

        self.live = live
        self.checks = [getattr(st_checks, n, None) or getattr(oa_checks, n) for n in CHECKS_NAMES]
        self.shared = _session(live)
        self.stats: Counter[str] = Counter()
        self.failures: list[str] = []

    def credentials(self, operation: Any) -> tuple[dict[str, str], dict[str, str], bool]:
        """(headers, query parameters, whether the http key generated for an RPC goes)."""
        secured = operation.definition.raw.get("security") or []
        schemes = {scheme for requirement in secured for scheme in requirement}
        if "serverKey" in schemes:
            return basic("defaultkey"), {}, False
        if "session" in schemes:
            spends = operation.definition.raw.get("summary") in _SPENDS_SESSION
            return bearer(_session(self.live) if spends else self.shared), {}, "httpKey" in schemes
        if "httpKey" in schemes:
            return {}, {"http_key": "defaulthttpkey"}, False
        return {}, {}, False

    def run(self, operation: Any, mode: Any) -> None:
        import hypothesis
        from hypothesis import HealthCheck, Phase, given

        @given(operation.as_strategy(generation_mode=mode))
        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def one(case: Any) -> None:
            headers, params, drop_http_key = self.credentials(operation)
            if case.query is not None or params:
                case.query = {**(case.query or {}), **params}
                if drop_http_key:  # RPCs: as the session
                    case.query.pop("http_key", None)
            response = case.call(base_url=self.live, headers=headers, timeout=30)
            self.stats["requests"] += 1
            self.stats[f"status {response.status_code}"] += 1
            try:
                case.validate_response(response, checks=self.checks)
            except (Exception, BaseExceptionGroup) as exc:
                for failure in exc.exceptions if isinstance(exc, BaseExceptionGroup) else [exc]:
                    title = str(getattr(failure, "title", type(failure).__name__))
                    if _documented(title, case.method, case.path, str(failure)):
                        self.stats[f"documented: {title}"] += 1
                    else:
                        self.stats[f"failed: {title}"] += 1
                        self.failures.append(f"{case.method} {case.path} ({mode}): {str(failure)[:600]}")

        one()


def _documented(title: str, method: str, path: str, message: str) -> bool:
    if "body" in message.lower():  # the exceptions are about query strings only
        return False
    return any(
        t == title and m in ("*", method.upper()) and p in ("*", path) and re.search(pattern, message)
        for t, m, p, pattern, _reason in DOCUMENTED
    )


def test_schemathesis_response_conformance(live: str):
    import hypothesis.errors
    import schemathesis
    from schemathesis.generation.modes import GenerationMode

    schema = schemathesis.openapi.from_url(live + "/docs/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    conformance = Conformance(live)
    stats = conformance.stats
    started = time.monotonic()
    while stats["rounds"] == 0 or time.monotonic() - started < BUDGET_SEC:
        for operation in operations:
            if stats["rounds"] and time.monotonic() - started >= BUDGET_SEC:
                break
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    conformance.run(operation, mode)
                except hypothesis.errors.Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                    stats[f"{mode} impossible"] += 1
        stats["rounds"] += 1
    elapsed = time.monotonic() - started
    failures = conformance.failures
    print(
        f"schemathesis: {len(operations)} operations, {dict(stats)}, {len(failures)} failures, {elapsed:.0f} s"
    )
    assert len(operations) >= len(registry_operations())
    assert not stats.get("status 500"), "server errors"
    assert not failures, "\n\n".join(failures[:20])


def test_the_documented_schemathesis_failures_are_narrow():
    """Each documented exception has a reason and excuses its own case only: a request whose body
    breaks the schema and is accepted would still fail the run."""
    for title, _method, _path, pattern, reason in DOCUMENTED:
        re.compile(pattern)
        assert title and len(reason) > 40
    accepted = "Schema-violating request accepted"
    typed = "Invalid component:\n  - query: violates `type` at /properties/ids/oneOf/0 (was array, became integer)"
    assert _documented(accepted, "DELETE", "/v2/notification", typed)
    both = (
        "Invalid component: parameters `ids`, `usernames` in query\n  - violates `oneOf` at /properties/ids"
        "\n  - violates `type` at /properties/usernames/oneOf/0 (was array, became integer)"
    )
    assert _documented(accepted, "GET", "/v2/user", both)
    body = "Invalid component: body - violates `type` at /properties/id (was string, became integer)"
    assert not _documented(accepted, "POST", "/v2/account/authenticate/device", body)
    assert not _documented("Server error", "DELETE", "/v2/notification", typed)


async def test_errors_the_server_really_answers_are_documented(client, api, server_key, node):
    """Provoke each operation's own errors and look them up in the document."""
    doc = (await client.get("/docs/openapi.json")).json()

    def documented(method: str, path: str) -> set[int]:
        return {int(status) for status in doc["paths"][path][method]["responses"]}

    session = await api.device()
    auth = bearer(session["token"])
    http_key = node.default_title.http_key
    taken = unique("taken")
    await api.device(username=taken)
    answers = [
        ("post", "/v2/account/authenticate/device", await client.post(
            "/v2/account/authenticate/device", params={"create": "false"},
            json={"id": unique("device-")}, headers=basic(server_key))),
        ("post", "/v2/account/authenticate/custom", await client.post(
            "/v2/account/authenticate/custom", params={"username": taken},
            json={"id": unique("custom-")}, headers=basic(server_key))),
        ("post", "/v2/account/unlink/device", await client.post(
            "/v2/account/unlink/device", json={"id": "not-my-device-0"}, headers=auth)),
        ("delete", "/v2/overworld/admin/config/{key}", await client.delete(
            "/v2/overworld/admin/config/missing", params={"http_key": http_key})),
        ("get", "/v2/overworld/admin/events/{event_id}", await client.get(
            "/v2/overworld/admin/events/missing", params={"http_key": http_key})),
        ("post", "/v2/rpc/{id}", await client.post("/v2/rpc/missing", headers=auth)),
        ("post", "/v2/leaderboard/{leaderboard_id}", await client.post(
            "/v2/leaderboard/missing", json={"score": 1}, headers=auth)),
        ("post", "/v2/tournament/{tournament_id}/join", await client.post(
            "/v2/tournament/missing/join", headers=auth)),
        ("post", "/v2/group/{group_id}/join", await client.post(
            "/v2/group/00000000-0000-0000-0000-000000000000/join", headers=auth)),
        ("put", "/v2/storage", await client.put("/v2/storage", content=b"{" * 10, headers=auth)),
    ]  # fmt: skip
    name = unique("group")
    first = await client.post("/v2/group", json={"name": name}, headers=auth)
    assert first.status_code == 200
    answers.append(("post", "/v2/group", await client.post("/v2/group", json={"name": name}, headers=auth)))
    statuses = []
    for method, path, answer in answers:
        assert answer.status_code >= 400, (method, path, answer.text)
        assert set(answer.json()) == {"error", "code", "message"}
        assert answer.status_code in documented(method, path), (method, path, answer.status_code)
        statuses.append(answer.status_code)
    assert {400, 403, 404, 409} <= set(statuses), statuses


def test_docs_page_renders_offline_in_a_browser(live: str, request: pytest.FixtureRequest):
    """Swagger UI draws every operation with every request to another host refused, and its
    Content-Security-Policy (overworld.api.http.security) refuses nothing the page does."""
    if request.node.callspec.params["live"] != "sqlite":
        pytest.skip("the page does not depend on the database: once is enough")
    from tests.api.test_browser import BROWSER_ARGS, CHROMIUM, sync_playwright

    if not CHROMIUM or sync_playwright is None:
        pytest.skip("needs Chromium at /usr/bin/chromium and Playwright for Python")
    if not live.startswith("http://127.0.0.1:"):
        pytest.fail(live)
    elsewhere: list[str] = []

    def only_local(route: Any) -> None:
        url = route.request.url
        if url.startswith(live + "/"):
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        try:
            page = browser.new_page()
            page.route("**/*", only_local)
            console: list[str] = []  # the page's Content-Security-Policy must not refuse anything
            page.on("console", lambda message: console.append(message.text))
            page.goto(live + "/docs")
            page.wait_for_selector(".opblock", timeout=20_000)
            drawn = page.locator(".opblock").count()
            title = page.locator(".info .title").inner_text()
        finally:
            browser.close()
    assert elsewhere == []
    assert drawn >= len(registry_operations()) and "Overworld" in title
    assert not [text for text in console if "Content Security Policy" in text], console


def test_the_table_of_own_statuses_names_only_calls_of_the_registry():
    from overworld.api.http.openapi import _OWN

    assert set(_OWN) <= {call.name for call in calls.REST_CALLS}
