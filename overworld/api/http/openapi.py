"""The OpenAPI document and its docs page, as the server really answers.

Litestar generates the document from the routes (their types, and their docstrings as the
operations' descriptions); `describe` then completes it once, on the first request for it, from
the call registry (overworld.api.calls):

- each operation's `operationId` and summary are its call's Nakama name; `x-overworld-fast-path`
  tells whether the edge serves it on the fast path (the same call, the same answers);
- the error answers are Nakama's body (`#/components/schemas/Error`) under every status the
  operation can answer with: the statuses every call shares (credentials, origin, input, body
  size, outages, server code's hooks) and those of its own operation (`_OWN`);
- security schemes so that "try it" works: the server key (HTTP Basic, user name) for
  authenticate and refresh, the session (Bearer) for the rest, the title's http key (`?http_key=`)
  for operators' calls and, besides the session, for RPCs;
- RPCs as they answer: `{"id", "payload"}`, or the function's result as is with `?unwrap`.

The docs page (Swagger UI at `/docs`) loads its scripts and style sheet from this server:
`docs_assets/` holds them, vendored from the npm package named in `SWAGGER_UI` (see
`docs_assets/README.md`), and `docs_assets_router` serves them.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from litestar import Request
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from overworld.api import calls

SWAGGER_UI = "swagger-ui-dist@5.32.0"  # the npm package docs_assets/ comes from
ASSETS = Path(__file__).parent / "docs_assets"
ASSETS_PATH = "/docs/assets"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Error",
    "description": "Nakama's error body, as its gRPC gateway writes it: the message twice and the "
    "gRPC status code (3 INVALID_ARGUMENT, 5 NOT_FOUND, 6 ALREADY_EXISTS, 7 PERMISSION_DENIED, "
    "8 RESOURCE_EXHAUSTED, 13 INTERNAL, 14 UNAVAILABLE, 16 UNAUTHENTICATED, ...).",
    "properties": {
        "error": {"type": "string", "description": "The message."},
        "code": {"type": "integer", "description": "The gRPC status code."},
        "message": {"type": "string", "description": "The message, again."},
    },
    "required": ["error", "code", "message"],
    "additionalProperties": False,
}
RPC_RESPONSE: dict[str, Any] = {
    "type": "object",
    "title": "Rpc",
    "description": "The function's id and its result (a string, usually JSON).",
    "properties": {"id": {"type": "string"}, "payload": {"type": "string"}},
    "required": ["id", "payload"],
}
SECURITY_SCHEMES: dict[str, Any] = {
    "serverKey": {
        "type": "http",
        "scheme": "basic",
        "description": "The title's server key as the user name, an empty password "
        "(authenticate and refresh calls).",
    },
    "session": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The session token an authenticate or refresh call returned.",
    },
    "httpKey": {
        "type": "apiKey",
        "in": "query",
        "name": "http_key",
        "description": "The title's http key: server-to-server RPCs and operators' calls "
        "(also accepted as the user name of HTTP Basic auth).",
    },
}

_DESCRIPTION = """Nakama's v2 REST API (and Overworld's own calls under `/v2/overworld`).

- **Credentials**: authenticate and refresh calls carry the title's server key as the user name of
  HTTP Basic auth (`serverKey`); every other call a session token (`session`, Bearer); RPCs and
  operators' calls (`/v2/overworld/admin`) the title's http key (`httpKey`, `?http_key=`) instead.
- **Errors** are Nakama's body `{"error", "code", "message"}` (`Error`) with the HTTP status its
  gateway maps the gRPC code to. Server code's before hooks may refuse a call with any code.
- **Field names**: responses use the proto names (`display_name`); requests may use them or the
  lowerCamelCase JSON names (`displayName`), in bodies and query parameters, as Nakama's gateway
  accepts. Fields at their zero value are left out of responses.
- **int64** fields (scores, ranks, ...) go out as JSON strings, as Nakama sends them; numbers sent
  as strings are accepted where a number is expected.

See docs/api.md in the repository for the behaviour of each call."""

# -- statuses ------------------------------------------------------------------------------------

_REASONS = {
    400: "Invalid argument (code 3), or a failed precondition (code 9).",
    401: "Missing or invalid credentials (code 16).",
    403: "Permission denied (code 7): the title does not allow the request's Origin "
    "(cors_title_origins), or the operation refuses it.",
    404: "Not found (code 5).",
    409: "Already exists (code 6).",
    413: "Request body too large (code 3).",
    429: "Resource exhausted (code 8): a rate limit, the sign-up limit or a login lockout;"
    " `Retry-After` gives the seconds to wait.",
    500: "Internal error (code 13).",
    501: "Unimplemented (code 12).",
    503: "Unavailable (code 14): the database or Redis cannot be reached.",
    504: "Deadline exceeded (code 4): server code ran past runtime_timeout_ms.",
}
_ALWAYS = (500, 503, 504)  # any call: a bug, an outage, a hook of server code running too long
# The statuses an operation answers with on its own, besides those every call shares.
_OWN: dict[str, tuple[int, ...]] = {
    "AuthenticateDevice": (403, 404, 409),
    "AuthenticateEmail": (403, 404, 409, 429),
    "AuthenticateCustom": (403, 404, 409),
    "SessionRefresh": (403,),
    "GetAccount": (404,),
    "UpdateAccount": (404,),
    "DeleteAccount": (404,),
    "LinkDevice": (409,),
    "LinkEmail": (409,),
    "LinkCustom": (409,),
    "UnlinkDevice": (403, 404),
    "UnlinkEmail": (403, 404),
    "UnlinkCustom": (403, 404),
    "ListStorageObjects": (404,),
    "DeleteStorageObjects": (404,),
    "ListChannelMessages": (403, 404),
    "AddFriends": (404,),
    "DeleteFriends": (404,),
    "BlockFriends": (404,),
    "CreateGroup": (409,),
    "UpdateGroup": (404,),
    "DeleteGroup": (404,),
    "JoinGroup": (404,),
    "LeaveGroup": (404,),
    "AddGroupUsers": (404,),
    "KickGroupUsers": (404,),
    "BanGroupUsers": (404,),
    "PromoteGroupUsers": (404,),
    "DemoteGroupUsers": (404,),
    "ListGroupUsers": (404,),
    "ListUserGroups": (404,),
    "WriteLeaderboardRecord": (403, 404),
    "DeleteLeaderboardRecord": (403, 404),
    "ListLeaderboardRecords": (404,),
    "ListLeaderboardRecordsAroundOwner": (404,),
    "ListLeaderboardPeriods": (404,),
    "JoinTournament": (403, 404),
    "WriteTournamentRecord": (403, 404),
    "DeleteTournamentRecord": (403, 404),
    "ListTournamentRecords": (404,),
    "ListTournamentRecordsAroundOwner": (404,),
    "SetRemoteConfig": (404,),
    "DeleteRemoteConfig": (404,),
    "GetLiveEvent": (404,),
    "UpdateLiveEvent": (404,),
    "DeleteLiveEvent": (404,),
    "GetWallet": (404,),
    "GetSubscription": (404,),
    "ListWalletLedger": (404,),
    "GetStore": (404,),
    "StorePurchase": (404,),
    "ConsumeInventory": (404,),
    "DeleteStoreEntry": (404,),
    "GrantInventory": (404,),
    "RevokeInventory": (404,),
}
# The stores' notification webhooks (docs/economy.md#store-notifications): a body or signature
# that does not verify, a wrong push token, an unknown title or a store it has not configured.
_WEBHOOKS: dict[str, tuple[int, ...]] = {
    "/webhooks/iap/apple/{title}": (400, 404, 413),
    "/webhooks/iap/google/{title}": (400, 401, 404, 413),
}
# An RPC function may raise an ApiError with any code: every status the codes map to.
_RPC_STATUSES = (400, 401, 403, 404, 409, 413, 429, 500, 501, 503, 504)


def _openapi_path(litestar_path: str) -> str:
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", litestar_path)


def registry_operations() -> dict[tuple[str, str], calls.Call[Any, Any]]:
    """Every REST binding of the registry, by (OpenAPI path, lower-case method)."""
    return {
        (_openapi_path(binding.path), binding.method.lower()): call
        for call in calls.REST_CALLS
        for binding in call.rest
    }


def _security(path: str) -> list[dict[str, list[str]]] | None:
    if path.startswith(("/v2/account/authenticate/", "/v2/account/session/refresh")):
        return [{"serverKey": []}]
    if path.startswith("/v2/overworld/admin"):
        return [{"httpKey": []}]
    if path.startswith("/v2/rpc/"):
        return [{"session": []}, {"httpKey": []}]
    if path.startswith("/v2/"):
        return [{"session": []}]
    return None  # operators' probes


def _error(status: int) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": _REASONS[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if status == 429:
        answer["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before trying again (whole, rounded up).",
                "schema": {"type": "integer", "minimum": 1},
            }
        }
    return answer


def _statuses(
    path: str, operation: dict[str, Any], call: calls.Call[Any, Any] | None, secured: bool
) -> list[int]:
    statuses: set[int] = {*_ALWAYS}
    if secured:
        statuses |= {401, 403}
    if operation.get("parameters") or "requestBody" in operation:
        statuses.add(400)
    if "requestBody" in operation:
        statuses.add(413)
    if call is not None:
        statuses.add(429)  # every call has rate limits (docs/security.md)
        statuses.update(_OWN.get(call.name, ()))
    statuses.update(_WEBHOOKS.get(path, ()))
    return sorted(statuses)


def _describe_rpc(operation: dict[str, Any], method: str) -> None:
    params = [p for p in operation.get("parameters", []) if p.get("in") == "path"]
    params.append(
        {
            "name": "unwrap",
            "in": "query",
            "required": False,
            "allowEmptyValue": True,
            "description": "Present (any value): the request body is the payload as is, and the "
            "response body is the function's result as is, with the request's Content-Type.",
            "schema": {"type": "string"},
        }
    )
    if method == "get":
        params.append(
            {
                "name": "payload",
                "in": "query",
                "required": False,
                "description": "The payload handed to the function.",
                "schema": {"type": "string"},
            }
        )
    else:
        operation["requestBody"] = {
            "required": False,
            "description": "The payload encoded as a JSON string, as Nakama's clients send it "
            '(`"{\\"item\\":\\"sword\\"}"`); empty or `null` is the empty payload. With `?unwrap`: '
            "the payload as is, in any content type.",
            "content": {
                "application/json": {"schema": {"type": ["string", "null"]}},
                "text/plain": {"schema": {"type": "string"}},
            },
        }
    operation["parameters"] = params
    operation["responses"] = {
        "200": {
            "description": "The function's result: `{id, payload}`, or with `?unwrap` the result "
            "as is, in the request's content type (`text/plain` if none).",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Rpc"}},
                "text/plain": {"schema": {"type": "string"}},
            },
        },
        **{str(status): _error(status) for status in _RPC_STATUSES},
    }
    operation["summary"] = "Rpc"
    operation["operationId"] = f"Rpc{method.capitalize()}"


def _refs(value: Any, schemas: dict[str, Any], found: set[str]) -> set[str]:
    """The component schemas `value` refers to, directly or through others."""
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name not in found:
                found.add(name)
                _refs(schemas.get(name), schemas, found)
        for item in value.values():
            _refs(item, schemas, found)
    elif isinstance(value, list):
        for item in value:
            _refs(item, schemas, found)
    return found


_DIGITS = {"type": "string", "pattern": "^-?[0-9]+$"}


def _numbers_as_strings(schema: Any) -> None:
    """Integer properties of a request schema take a string of digits too, as protojson reads them."""
    if not isinstance(schema, dict):
        return
    for name, prop in list(schema.get("properties", {}).items()):
        if isinstance(prop, dict) and prop.get("type") == "integer":
            number = {k: v for k, v in prop.items() if k not in ("default", "description")}
            extra = {k: prop[k] for k in ("default", "description") if k in prop}
            schema["properties"][name] = {"anyOf": [number, _DIGITS], **extra}


def _requests_take_numbers_as_strings(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    bodies = [op.get("requestBody") for _, _, op in _operations(doc)]
    answers = [op.get("responses") for _, _, op in _operations(doc)]
    for name in _refs(bodies, schemas, set()) - _refs(answers, schemas, set()):
        _numbers_as_strings(schemas[name])


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "delete", "patch")
    ]


def describe(document: dict[str, Any]) -> dict[str, Any]:
    """The generated document completed from the registry (a copy; `document` is left alone)."""
    doc = copy.deepcopy(document)
    doc["info"]["description"] = _DESCRIPTION
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    components["schemas"]["Rpc"] = RPC_RESPONSE
    components["securitySchemes"] = SECURITY_SCHEMES
    by_binding = registry_operations()
    used_ids: set[str] = set()
    for path, method, operation in _operations(doc):
        security = _security(path)
        if security is not None:
            operation["security"] = security
        if path.startswith("/v2/rpc/"):
            _describe_rpc(operation, method)
            continue
        call = by_binding.get((path, method))
        if call is not None:
            operation["summary"] = call.name
            op_id = call.name if call.name not in used_ids else f"{call.name}{method.capitalize()}"
            if op_id in used_ids:  # a second path of the same call and method
                op_id = f"{call.name}{len(used_ids)}"
            operation["operationId"] = op_id
            used_ids.add(op_id)
            operation["x-overworld-fast-path"] = call.fast
        body = operation.get("requestBody")
        if body is not None and "description" not in body:
            body["description"] = (
                "Field names as in the schema (proto names) or in lowerCamelCase; unknown fields are ignored."
            )
        responses = operation.setdefault("responses", {})
        for status in _statuses(path, operation, call, security is not None):
            responses[str(status)] = _error(status)
        if path == "/readyz":
            responses["503"] = {
                "description": "Not ready: the checks that failed.",
                "content": responses["200"]["content"],
            }
    _requests_take_numbers_as_strings(doc)
    return doc


class _Described:
    """Mixes into a render plugin: renders the described document, built once per app."""

    _described: tuple[int, dict[str, Any]] | None = None

    def described(self, openapi_schema: dict[str, Any]) -> dict[str, Any]:
        cached = self._described
        if cached is None or cached[0] != id(openapi_schema):
            cached = self._described = (id(openapi_schema), describe(openapi_schema))
        return cached[1]


class DescribedJson(_Described, JsonRenderPlugin):
    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, self.described(openapi_schema))


class DescribedSwagger(_Described, SwaggerRenderPlugin):
    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, self.described(openapi_schema))


def render_plugins() -> list[JsonRenderPlugin | SwaggerRenderPlugin]:
    """The document at `/docs/openapi.json`, Swagger UI at `/docs` with its assets from this server."""
    swagger = DescribedSwagger(
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
        path="/swagger",
    )
    return [swagger, DescribedJson()]


def docs_assets_router() -> ControllerRouterHandler:
    return create_static_files_router(
        path=ASSETS_PATH, directories=[ASSETS], include_in_schema=False, name="docs_assets"
    )
