"""The HTTP layer both services share: middlewares, body and query parsing, rendering,
route registration that also produces the OpenAPI document, and the health endpoints."""

from __future__ import annotations

import asyncio
import decimal
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
import orjson
import structlog
from aiohttp import web
from pydantic import BaseModel, ValidationError

from shared.auth import Principal, Role, TokenVerifier, require_principal
from shared.broker import TRANSIENT_ERRORS, Broker
from shared.errors import DomainError
from shared.metrics import Metrics
from shared.problems import (
    PROBLEM_CONTENT_TYPE,
    Problem,
    bad_request,
    problem_for,
    too_large,
    unauthorized,
    unprocessable,
    unsupported_media_type,
)
from shared.settings import ServiceSettings
from shared.types import JsonNumber

log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 64 * 1024

SETTINGS = web.AppKey("settings", ServiceSettings)
DB = web.AppKey("db", asyncpg.Pool)
BROKER = web.AppKey("broker", Broker)
METRICS = web.AppKey("metrics", Metrics)
VERIFIER = web.AppKey("verifier", TokenVerifier)
API: web.AppKey[Api] = web.AppKey("api")

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# ---------------------------------------------------------------- rendering


def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def render(body: BaseModel | dict[str, Any] | list[Any], status: int = 200, *,
           headers: dict[str, str] | None = None) -> web.Response:
    data = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
    return web.Response(body=orjson.dumps(data, default=_json_default), status=status,
                        content_type="application/json", headers=headers)


def render_problem(problem: Problem) -> web.Response:
    return web.Response(body=orjson.dumps(problem.to_dict()), status=problem.status,
                        content_type=PROBLEM_CONTENT_TYPE, headers=problem.headers)


# ---------------------------------------------------------------- parsing


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON value")


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    # Only loc and msg: pydantic's "input" would echo the caller's data back.
    return [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]


class DuplicateKey(ValueError):
    """A JSON object names one key twice: malformed, whichever value would "win"."""


def _json_int(text: str) -> int | JsonNumber:
    # `-0` is 0 to int(): keep its text, so money can refuse the sign.
    return JsonNumber(text) if text == "-0" else int(text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Called for every object at every depth; the dict() is what json builds anyway, so
    # a body without repeats costs one length comparison per object.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise DuplicateKey
    return obj


def loads_json(raw: bytes) -> Any:
    """JSON with numbers kept as their decimal text (money is never a binary float) and
    no object repeating a key, at any depth (400: which value wins is undefined).

    Strings holding NUL or lone surrogates (valid JSON escapes, but not storable text)
    are refused here once for every endpoint.
    """
    try:
        data = json.loads(raw.decode("utf-8"), parse_float=JsonNumber, parse_int=_json_int,
                          parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except DuplicateKey:
        raise bad_request("an object in the body names the same key twice") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise bad_request("the body is not valid UTF-8 JSON") from None
    if not _storable(data):
        raise unprocessable("strings must not contain NUL characters or lone surrogates")
    return data


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


async def read_body(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise too_large(MAX_BODY_BYTES)
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large(MAX_BODY_BYTES) from None


async def parse_body(request: web.Request, model: type[M]) -> M:
    """The body as `model`: 415 not JSON, 413 too large, 400 malformed, 422 invalid."""
    if request.content_type != "application/json":
        raise unsupported_media_type()
    raw = await read_body(request)
    data = loads_json(raw)
    if not isinstance(data, dict):
        raise unprocessable("the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise unprocessable("the body is not valid", _errors(exc)) from None


def parse_query(request: web.Request, model: type[M]) -> M:
    data: dict[str, Any] = {}
    for key in request.query:
        values = request.query.getall(key)
        if not _storable([key, *values]):
            raise unprocessable("the query must not contain NUL characters or lone surrogates")
        data[key] = values[0] if len(values) == 1 else values
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise unprocessable("the query is not valid", _errors(exc)) from None


def path_uuid(request: web.Request, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise Problem(404, "not-found", "Not found", f"no {name} such as that") from None


async def authenticate(request: web.Request, *roles: Role) -> Principal:
    """The caller (401 without a valid token; 403 when its role is not among `roles`)."""
    principal = await optional_principal(request)
    return require_principal(principal, *roles)


async def optional_principal(request: web.Request) -> Principal | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("use the Bearer scheme")
    return await request.app[VERIFIER].verify(token.strip())


# ---------------------------------------------------------------- middlewares

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id, one log line per request, metrics, and problem+json for every error."""
    incoming = request.headers.get("X-Request-ID", "")
    request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    structlog.contextvars.bind_contextvars(request_id=request_id)
    route = request.match_info.route.resource.canonical if request.match_info.route.resource \
        else "unmatched"
    started = time.perf_counter()
    try:
        response = await handler(request)
    except Problem as problem:
        response = render_problem(problem)
    except DomainError as exc:
        response = render_problem(problem_for(exc))
    except web.HTTPException as exc:
        if exc.status == 413:
            response = render_problem(too_large(MAX_BODY_BYTES))
        elif exc.status < 400:
            raise
        else:
            response = render_problem(Problem(exc.status, _slug(exc.reason), exc.reason,
                                              exc.reason))
            if exc.status == 405:
                response.headers["Allow"] = exc.headers.get("Allow", "")
    except asyncio.CancelledError:
        raise
    except TRANSIENT_ERRORS as exc:
        log.warning("dependency_unavailable", error=type(exc).__name__)
        response = render_problem(Problem(503, "unavailable", "Service unavailable",
                                          "a dependency is unavailable; retry shortly",
                                          headers={"Retry-After": "1"}))
    except Exception:
        log.exception("unhandled_error", method=request.method, route=route)
        response = render_problem(Problem(500, "internal-error", "Internal error",
                                          "an unexpected error occurred; it has been logged"))
    elapsed = time.perf_counter() - started
    response.headers["X-Request-ID"] = request_id
    request.app[METRICS].observe_request(request.method, route, response.status, elapsed)
    if route not in ("/healthz", "/readyz"):
        log.info("http_request", method=request.method, route=route, status=response.status,
                 ms=round(elapsed * 1000, 2))
    structlog.contextvars.unbind_contextvars("request_id")
    return response


def _slug(reason: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", reason.lower()).strip("-") or "error"


# ---------------------------------------------------------------- routes + OpenAPI


@dataclass
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    roles: tuple[str, ...] = ()
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    idempotent: bool = False


@dataclass
class Api:
    """Routes and their models: one source for the router and the OpenAPI document."""

    title: str
    version: str = "1.0.0"
    operations: list[Operation] = field(default_factory=list)

    def route(self, method: str, path: str, *, summary: str, roles: tuple[str, ...] = (),
              body: type[BaseModel] | None = None, query: type[BaseModel] | None = None,
              response: type[BaseModel] | None = None, status: int = 200,
              errors: tuple[int, ...] = (), idempotent: bool = False,
              ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.operations.append(Operation(method, path, handler, summary, roles, body,
                                             query, response, status, errors, idempotent))
            return handler
        return register

    def install(self, app: web.Application) -> None:
        for op in self.operations:
            app.router.add_route(op.method, op.path, op.handler)

    def openapi(self) -> dict[str, Any]:
        schemas: dict[str, Any] = {"Problem": _PROBLEM_SCHEMA}
        paths: dict[str, Any] = {}

        def ref(model: type[BaseModel], mode: str) -> dict[str, Any]:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}",
                                             mode=mode)  # type: ignore[arg-type]
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
            return {"$ref": f"#/components/schemas/{model.__name__}"}

        for op in self.operations:
            item: dict[str, Any] = {
                "summary": op.summary,
                "operationId": op.handler.__name__,
                "responses": {},
            }
            params = [{"name": n, "in": "path", "required": True,
                       "schema": {"type": "string", "format": "uuid"} if n.endswith("_id")
                       else {"type": "string"}}
                      for n in re.findall(r"{(\w+)}", op.path)]
            if op.query is not None:
                query_schema = op.query.model_json_schema(
                    ref_template="#/components/schemas/{model}")
                schemas.update(query_schema.pop("$defs", {}))
                for name, f in op.query.model_fields.items():
                    prop = dict(query_schema.get("properties", {}).get(name, {}))
                    prop.pop("title", None)
                    params.append({"name": f.alias or name, "in": "query",
                                   "required": f.is_required(), "schema": prop})
            if op.idempotent:
                params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                               "schema": {"type": "string", "maxLength": 200}})
            if params:
                item["parameters"] = params
            if op.body is not None:
                item["requestBody"] = {"required": True, "content": {
                    "application/json": {"schema": ref(op.body, "validation")}}}
            ok: dict[str, Any] = {"description": "success"}
            if op.response is not None:
                ok["content"] = {"application/json": {"schema": ref(op.response, "serialization")}}
            item["responses"][str(op.status)] = ok
            problem = {"content": {PROBLEM_CONTENT_TYPE: {
                "schema": {"$ref": "#/components/schemas/Problem"}}}}
            codes = set(op.errors)
            if op.roles:
                codes |= {401, 403}
                item["security"] = [{"bearerAuth": []}]
                item["description"] = "Roles: " + ", ".join(op.roles)
            else:
                item["security"] = []
            if op.body is not None:
                codes |= {400, 413, 415, 422}
            if op.query is not None:
                codes.add(422)
            for code in sorted(codes):
                item["responses"][str(code)] = {"description": _STATUS_TEXT.get(code, "error"),
                                                **problem}
            paths.setdefault(op.path, {})[op.method.lower()] = item
        return {
            "openapi": "3.1.0",
            "info": {"title": self.title, "version": self.version},
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                                   "bearerFormat": "JWT"}},
            },
        }


_STATUS_TEXT = {400: "malformed JSON", 401: "no or invalid token", 403: "forbidden",
                404: "not found", 409: "state conflict", 413: "body too large",
                415: "not JSON", 422: "invalid content", 429: "rate limited"}

_PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"},
        "status": {"type": "integer"}, "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "loc": {"type": "array", "items": {"anyOf": [{"type": "string"},
                                                          {"type": "integer"}]}},
            "msg": {"type": "string"}}}},
    },
}

_DOCS_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="https://unpkg.com/swagger-ui-dist@5/swagger-ui.css"></head>
<body><noscript>The machine-readable document is at <a href="/openapi.json">/openapi.json</a>.
</noscript><div id="ui"></div>
<script src="https://unpkg.com/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({{url: "/openapi.json", dom_id: "#ui"}});</script></body></html>"""


# ---------------------------------------------------------------- health + docs


def install_platform_routes(app: web.Application, api: Api) -> None:
    """/healthz, /readyz, /openapi.json and /docs (/metrics: shared.operations)."""
    document: dict[str, Any] = {}

    async def healthz(_request: web.Request) -> web.Response:
        return render({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        checks = {"database": await _database_ok(request.app[DB]),
                  "broker": request.app[BROKER].is_connected}
        status = 200 if all(checks.values()) else 503
        return render({"status": "ready" if status == 200 else "unavailable",
                       "checks": checks}, status)

    async def openapi(_request: web.Request) -> web.Response:
        if not document:
            document.update(api.openapi())
        return render(document)

    async def docs(_request: web.Request) -> web.Response:
        return web.Response(text=_DOCS_PAGE.format(title=api.title), content_type="text/html")

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/docs", docs)


async def _database_ok(pool: asyncpg.Pool) -> bool:
    try:
        async with asyncio.timeout(1):
            return bool(await pool.fetchval("SELECT true"))
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False
