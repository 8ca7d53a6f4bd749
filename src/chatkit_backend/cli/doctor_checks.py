"""The doctor's checks of an app, each returning findings with the fix.

They turn the guide's debugging habits into checks: the app imports (the startup
check), the routes are what they should be (the route list), no ``Request``-like
parameter became a query or body parameter (the 422 pitfall), CORS lists both
``localhost`` and ``127.0.0.1``, the store answers with a current schema, and the model
answers a one-token probe, and each MCP server of ``CHATKIT_TOOLS`` lists its tools.
``doctor_live`` holds the checks of a running server.
"""

import __future__

import asyncio
import importlib
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ForwardRef, Literal
from urllib.parse import urlsplit

from fastapi.routing import APIRoute
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute

from chatkit_backend.settings import SettingsError

Status = Literal["ok", "warning", "problem", "skipped"]
DEFAULT_TARGET = "chatkit_backend.app:create_app"
SPECIAL_TYPES = frozenset(
    {"Request", "Response", "WebSocket", "BackgroundTasks", "HTTPConnection", "SecurityScopes"}
)
SPECIAL_NAMES = frozenset(
    {"request", "req", "response", "resp", "websocket", "ws", "background_tasks", "background"}
)
PROBE_PROMPT = "Reply with the single word: ok"
ANSWER_EVENTS = frozenset({"response.output_text.delta", "response.completed"})
CORS_EXAMPLE = (
    'app.add_middleware(CORSMiddleware, allow_origins=["http://localhost:3000", '
    '"http://127.0.0.1:3000"], allow_credentials=True, allow_methods=["*"], allow_headers=["*"])'
)


@dataclass
class Finding:
    """One result: what was checked, how it went, and what to do about it."""

    check: str
    status: Status
    message: str
    fix: str | None = None
    location: str | None = None
    details: str | None = None


@dataclass
class LoadedApp:
    """The target's app, or why there is none."""

    app: Starlette | None
    finding: Finding


# -- import -----------------------------------------------------------------------------------
def load_app(target: str, app_dir: Path | None = None) -> LoadedApp:
    """Import ``module:attr`` (an app, or a factory called without arguments).

    A ``SettingsError`` (a bad ``CHATKIT_*`` value) propagates: the CLI exits 2 with it.
    """
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        return _not_loaded(
            f"{target!r} is not of the form module:attribute",
            f"name the app or its factory, e.g. {DEFAULT_TARGET} or mypackage.server:app",
        )
    search = str((app_dir or Path.cwd()).resolve())
    if search not in sys.path:
        sys.path.insert(0, search)
    try:
        module = importlib.import_module(module_name)
    except SettingsError:
        raise  # a bad setting is a usage error (exit 2), not a finding
    except Exception as exc:
        return LoadedApp(
            None, _raised("import", f"importing {module_name} failed", exc, _import_fix(exc))
        )
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            return _not_loaded(
                f"module {module_name} has no attribute {attr!r}",
                "name the FastAPI app or the function that returns it after the colon",
                location=_module_file(module),
            )
        obj = getattr(obj, part)
    if not isinstance(obj, Starlette) and callable(obj) and not _is_asgi_callable(obj):
        try:
            obj = obj()
        except SettingsError:
            raise
        except Exception as exc:
            fix = (
                "the factory must build the app with no arguments, as `uvicorn --factory` calls it"
            )
            if not isinstance(exc, TypeError):
                fix = "fix the error above; it is what `serve` would hit on start"
            return LoadedApp(None, _raised("import", f"calling {target}() failed", exc, fix))
        what = f"{target}() built"
    else:
        what = f"{target} is"
    if not isinstance(obj, Starlette):
        return _not_loaded(
            f"{what} a {type(obj).__name__}, not a FastAPI or Starlette app",
            "point the doctor at the FastAPI app (module:app) or its factory (module:create_app)",
        )
    return LoadedApp(obj, Finding("import", "ok", f"{what} a {type(obj).__name__} app"))


def _not_loaded(message: str, fix: str, location: str | None = None) -> LoadedApp:
    """No app: an import problem with its fix."""
    return LoadedApp(None, Finding("import", "problem", message, fix=fix, location=location))


def _is_asgi_callable(obj: Any) -> bool:
    """An ASGI app object (three parameters), as opposed to a factory."""
    call = obj if inspect.isfunction(obj) else getattr(obj, "__call__", None)  # noqa: B004
    try:
        parameters = inspect.signature(call).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return len(parameters) == 3 and not inspect.isclass(obj)


def _raised(check: str, message: str, exc: BaseException, fix: str) -> Finding:
    text = "".join(traceback.format_exception(exc)).rstrip()
    return Finding(
        check,
        "problem",
        f"{message}: {type(exc).__name__}: {exc}",
        fix=fix,
        location=_traceback_location(exc),
        details=text,
    )


def _import_fix(exc: BaseException) -> str:
    if isinstance(exc, ModuleNotFoundError):
        return (
            f"install the missing module {exc.name!r}, or run the doctor from the project folder "
            "(or pass --app-dir) so the module can be found"
        )
    if isinstance(exc, SyntaxError):
        return "fix the syntax error at the line shown"
    return "fix the error in the traceback; `serve` fails the same way on start"


def _traceback_location(exc: BaseException) -> str | None:
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}"
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return None
    last = frames[-1]
    return f"{last.filename}:{last.lineno}"


def _module_file(module: Any) -> str | None:
    path = getattr(module, "__file__", None)
    return str(path) if path else None


# -- routes -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RouteInfo:
    """A route as the app serves it: its full path (router prefixes included) and methods."""

    path: str
    methods: frozenset[str]
    route: BaseRoute

    def describe(self) -> str:
        return f"{','.join(sorted(self.methods)) or 'ANY'} {self.path}"


def app_routes(app: Starlette) -> list[RouteInfo]:
    """Every route of the app, with included routers expanded (FastAPI >= 0.165 nests them)."""
    import fastapi.routing

    iter_route_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if iter_route_contexts is None:  # older FastAPI flattens included routers into app.routes
        pairs = [
            (getattr(route, "path", None), getattr(route, "methods", None), route)
            for route in app.routes
        ]
    else:
        pairs = [
            (ctx.path, ctx.methods, ctx.original_route) for ctx in iter_route_contexts(app.routes)
        ]
    return [
        RouteInfo(str(path or ""), frozenset(methods or ()), route)
        for path, methods, route in pairs
    ]


def check_routes(app: Starlette, path: str) -> Finding:
    """The route list, and whether the ChatKit endpoint answers POST at ``path``."""
    routes = app_routes(app)
    listing = "\n".join(route.describe() for route in routes)
    for route in routes:
        if route.path == path and "POST" in route.methods:
            return Finding(
                "routes",
                "ok",
                f"{_plural(len(routes), 'route')}; POST {path} is there",
                details=listing,
            )
    return Finding(
        "routes",
        "problem",
        f"no POST route at {path} among the app's {_plural(len(routes), 'route')}",
        fix=f"add `@app.post({path!r})` for the ChatKit endpoint, or pass --path with the path it uses",
        details=listing,
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# -- the 422 pitfall --------------------------------------------------------------------------
@dataclass(frozen=True)
class MisreadParameter:
    """A Request-like parameter that FastAPI took for a query or body parameter."""

    route: RouteInfo
    call: Callable[..., Any]
    name: str
    kind: Literal["query", "body"]
    annotation: str  # as written: the string FastAPI could not resolve, or the class name
    reason: str


def api_routes(app: Starlette) -> list[RouteInfo]:
    """The app's FastAPI routes: those whose parameters FastAPI resolves."""
    return [info for info in app_routes(app) if isinstance(info.route, APIRoute)]


def misread_parameters(routes: Iterable[RouteInfo]) -> Iterator[MisreadParameter]:
    """Every Request/Response/WebSocket/BackgroundTasks parameter of the routes' endpoints and
    dependencies that FastAPI took for a query or body parameter."""
    for info in routes:
        assert isinstance(info.route, APIRoute)
        for dependant in _dependants(info.route.dependant):
            if dependant.call is None:
                continue
            fields: list[tuple[Literal["query", "body"], Any]] = [
                ("query", field) for field in dependant.query_params
            ]
            fields += [("body", field) for field in dependant.body_params]
            for kind, field in fields:
                annotation = field.field_info.annotation
                reason = _misread(field.name, annotation)
                if reason is not None:
                    yield MisreadParameter(
                        info, dependant.call, field.name, kind, _written(annotation), reason
                    )


def check_parameters(app: Starlette) -> list[Finding]:
    """Find Request/Response/WebSocket/BackgroundTasks parameters FastAPI took for query or body."""
    routes = api_routes(app)
    findings = [_parameter_finding(misread) for misread in misread_parameters(routes)]
    return findings or [
        Finding(
            "parameters",
            "ok",
            "no Request-like parameter became a query or body parameter "
            f"({_plural(len(routes), 'route')})",
        )
    ]


def _dependants(root: Any) -> Iterator[Any]:
    yield root
    for sub in root.dependencies:
        yield from _dependants(sub)


def _misread(name: str, annotation: Any) -> str | None:
    """Why a query/body parameter looks like a special object FastAPI did not recognise."""
    if isinstance(annotation, ForwardRef | str):
        return f"its annotation {_written(annotation)!r} stayed a string FastAPI could not resolve"
    type_name = getattr(annotation, "__name__", "")
    if type_name in SPECIAL_TYPES:
        return f"its annotation {type_name} is not the class FastAPI recognises"
    if name in SPECIAL_NAMES and annotation in (Any, inspect.Parameter.empty, None):
        return "it has no usable annotation"
    return None


def _written(annotation: Any) -> str:
    """An annotation as written: the unresolved string, or the class name."""
    if isinstance(annotation, ForwardRef):
        return annotation.__forward_arg__
    if isinstance(annotation, str):
        return annotation
    return str(getattr(annotation, "__name__", annotation))


def _parameter_finding(misread: MisreadParameter) -> Finding:
    call, info = misread.call, misread.route
    module = inspect.getmodule(call)
    future = getattr(module, "annotations", None) is __future__.annotations
    location = _parameter_location(call, misread.name)
    if future:
        fix = (
            "remove `from __future__ import annotations` from that file (FastAPI must see the real "
            "class), or move the routes to a module without it; if the class is imported under "
            "`if TYPE_CHECKING:`, import it normally"
        )
    else:
        fix = (
            "annotate it with the class itself, imported at run time: `from fastapi import Request`"
        )
    endpoint = call is getattr(info.route, "endpoint", None)
    where = "" if endpoint else f" (in dependency {getattr(call, '__qualname__', call)})"
    return Finding(
        "parameters",
        "problem",
        f"parameter {misread.name!r} of {info.describe()}{where} became a query or body parameter: "
        f"{misread.reason}; every call answers 422",
        fix=fix,
        location=location,
    )


def _parameter_location(call: Callable[..., Any], name: str) -> str | None:
    """``file:line`` of the parameter (or of the function when the line is not found)."""
    target = inspect.unwrap(call)
    try:
        path = inspect.getsourcefile(target)
        lines, first = inspect.getsourcelines(target)
    except (OSError, TypeError):
        return None
    if path is None:
        return None
    shown = os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
    for offset, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith((f"{name}:", f"{name},", f"{name})", f"{name} =", f"{name}=")) or (
            f"({name}:" in line or f", {name}:" in line
        ):
            return f"{shown}:{first + offset}"
    return f"{shown}:{first}"


# -- CORS -------------------------------------------------------------------------------------
def check_cors(app: Starlette) -> list[Finding]:
    """CORS is present, lists localhost and 127.0.0.1 together, and never pairs * with credentials."""
    options = _cors_options(app)
    if options is None:
        return [
            Finding(
                "cors",
                "problem",
                "no CORS middleware: a browser page on another origin (the ChatKit UI on "
                "http://localhost:3000) is blocked, and its OPTIONS preflight answers 405",
                fix=f"add CORSMiddleware before the routes: {CORS_EXAMPLE} "
                "(chatkit-backend: CHATKIT_CORS_ORIGINS)",
            )
        ]
    origins = [str(origin).rstrip("/") for origin in options.get("allow_origins", ())]
    credentials = bool(options.get("allow_credentials", False))
    findings: list[Finding] = []
    if "*" in origins and credentials:
        findings.append(
            Finding(
                "cors",
                "problem",
                "allow_origins=['*'] with allow_credentials=True: any web site can send your "
                "users' cookies and read the answers",
                fix="list the exact origins of your UI, or keep '*' and set allow_credentials=False",
            )
        )
    for origin in origins:
        twin = _loopback_twin(origin)
        if twin is not None and twin not in origins:
            findings.append(
                Finding(
                    "cors",
                    "problem",
                    f"CORS allows {origin} but not {twin}: browsers treat them as different "
                    "origins, so the UI fails when opened at the other address",
                    fix=f"add {twin!r} to allow_origins (chatkit-backend: CHATKIT_CORS_ORIGINS)",
                )
            )
    if not findings:
        shown = ", ".join(origins) or (
            f"regex {options['allow_origin_regex']!r}"
            if options.get("allow_origin_regex")
            else "no origins"
        )
        findings.append(Finding("cors", "ok", f"CORS allows {shown}"))
    return findings


def _cors_options(app: Starlette) -> dict[str, Any] | None:
    for middleware in app.user_middleware:
        cls = getattr(middleware, "cls", None)
        if inspect.isclass(cls) and issubclass(cls, CORSMiddleware):
            return dict(getattr(middleware, "kwargs", {}) or {})
    return None


def _loopback_twin(origin: str) -> str | None:
    """``http://127.0.0.1:3000`` for ``http://localhost:3000`` and the reverse."""
    parts = urlsplit(origin)
    swap = {"localhost": "127.0.0.1", "127.0.0.1": "localhost"}
    host = parts.hostname or ""
    if host not in swap:
        return None
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{swap[host]}{port}"


# -- store ------------------------------------------------------------------------------------
async def check_store(app: Starlette, seconds: float) -> Finding:
    """The store answers and its schema is current; never migrates or creates anything."""
    from chatkit_backend.stores import BackendStore, SQLStore

    services = getattr(app.state, "services", None)  # any Starlette app may be checked
    store = getattr(services, "store", None)
    if store is None:
        return Finding(
            "store",
            "skipped",
            "the app has no app.state.services (only chatkit-backend apps have them)",
        )
    if not isinstance(store, BackendStore):
        return Finding(
            "store", "skipped", f"the app's store is a {type(store).__name__}, not a BackendStore"
        )
    try:
        if isinstance(store, SQLStore):
            return await _check_sql_store(store, seconds)
        await asyncio.wait_for(store.ping(), seconds)
        if store.kind == "memory":
            return Finding(
                "store",
                "warning",
                "memory store: threads are lost when the server restarts",
                fix="set CHATKIT_DATABASE_URL to sqlite:///path.db or postgresql://...",
            )
        return Finding("store", "ok", f"{store.kind} store answers")
    except Exception as exc:
        return _unreachable(store, exc)
    finally:
        await store.close()


async def _check_sql_store(store: Any, seconds: float) -> Finding:
    from chatkit_backend.stores.engine import sqlite_file
    from chatkit_backend.stores.errors import SchemaOutOfDateError
    from chatkit_backend.stores.migrations import head, known_revisions

    where = f"{store.kind} {store.display_url}"
    path = sqlite_file(store.url) if store.kind == "sqlite" else None
    if path is not None and not path.exists():
        if store.auto_upgrade:
            return Finding(
                "store",
                "ok",
                f"{where}: the file does not exist yet; `serve` creates and migrates it",
            )
        return Finding(
            "store",
            "problem",
            f"{where}: the file does not exist and CHATKIT_DB_AUTO_UPGRADE is off",
            fix="run `chatkit-backend db upgrade`",
        )
    try:
        revision = await asyncio.wait_for(store.schema_revision(), seconds)
    except Exception as exc:
        return _unreachable(store, exc)
    needed = head()
    if revision == needed:
        return Finding("store", "ok", f"{where} answers; schema at {needed} (current)")
    if revision is not None and revision not in known_revisions():
        return Finding(
            "store",
            "problem",
            f"{where}: schema revision {revision} is unknown to this version (a newer "
            f"chatkit-backend migrated it); this version needs {needed}",
            fix="run the newer chatkit-backend, or restore a backup taken before it migrated",
        )
    if store.auto_upgrade:
        return Finding(
            "store",
            "ok",
            f"{where} answers; schema at {revision or 'none'}, `serve` migrates it to {needed} on start",
        )
    message = f"{where}: schema at {revision or 'none'}, this version needs {needed}"
    try:
        await asyncio.wait_for(store.open(), seconds)  # only checks: auto-upgrade is off
    except SchemaOutOfDateError as exc:
        message = exc.message
    return Finding(
        "store",
        "problem",
        message,
        fix=f"run `chatkit-backend db upgrade --database-url {store.display_url}`",
    )


def _unreachable(store: Any, exc: BaseException) -> Finding:
    from chatkit_backend.errors import BackendError

    kind = getattr(store, "kind", "store")
    if isinstance(exc, BackendError):
        reason = exc.message  # the store's own message names the database
    elif isinstance(exc, TimeoutError):
        reason = f"no answer from {getattr(store, 'display_url', kind)} within the timeout"
    else:
        reason = f"{getattr(store, 'display_url', kind)}: {type(exc).__name__}: {exc}"
    return Finding(
        "store",
        "problem",
        f"the {kind} store is not reachable: {reason}",
        fix="check CHATKIT_DATABASE_URL, that the database server runs and accepts this user, "
        "and the network between them",
    )


# -- attachments ------------------------------------------------------------------------------
async def check_attachments(app: Starlette, seconds: float) -> list[Finding]:
    """The attachment storage can take objects (a bucket that exists and lets us in, a
    folder we can write); writes nothing. No finding when attachments are off."""
    from chatkit_backend.attachments.store import BackendAttachmentStore
    from chatkit_backend.errors import BackendError

    services = getattr(app.state, "services", None)  # any Starlette app may be checked
    attachments = getattr(services, "attachment_store", None)
    if not isinstance(attachments, BackendAttachmentStore):
        return []
    storage = attachments.storage
    try:
        where = await asyncio.wait_for(storage.check(), seconds)
    except Exception as exc:
        if isinstance(exc, BackendError):
            reason = exc.message
        elif isinstance(exc, TimeoutError):
            reason = f"no answer from {storage.kind} storage within {seconds:g} s"
        else:
            reason = f"{type(exc).__name__}: {exc}"
        return [
            Finding(
                "attachments",
                "problem",
                f"attachments cannot be stored: {reason}",
                fix="check CHATKIT_ATTACHMENTS_URL (and CHATKIT_S3_ENDPOINT_URL, the bucket, "
                "its credentials), or the folder's permissions",
            )
        ]
    finally:
        await storage.aclose()
    return [Finding("attachments", "ok", f"{storage.kind} storage {where} can take objects")]


# -- MCP servers ------------------------------------------------------------------------------
async def check_mcp(app: Starlette, seconds: float) -> list[Finding]:
    """Each MCP server of ``CHATKIT_TOOLS``: connect afresh and ask for its tools (none
    configured: no finding)."""
    responder = getattr(getattr(app.state, "services", None), "responder", None)
    servers = getattr(responder, "mcp", None)
    if servers is None or not getattr(servers, "servers", None):
        return []
    findings = []
    for probe in await servers.probe(seconds):
        if probe.ok:
            findings.append(
                Finding(
                    "mcp", "ok", f"MCP server {probe.server} answers list_tools: {probe.detail}"
                )
            )
        else:
            findings.append(
                Finding(
                    "mcp",
                    "problem",
                    f"MCP server {probe.server}: {probe.detail}",
                    fix="check its url (or command) and headers in CHATKIT_TOOLS, and that the "
                    "server runs and accepts them",
                )
            )
    return findings


# -- model ------------------------------------------------------------------------------------
async def check_model(app: Starlette, seconds: float) -> Finding:
    """Ask the configured model for one short answer."""
    responder = getattr(getattr(app.state, "services", None), "responder", None)
    if responder is None:
        return Finding(
            "model",
            "skipped",
            "the app has no responder (only chatkit-backend's default server has one)",
        )
    try:
        return await _probe(responder, seconds)
    finally:
        await responder.aclose()


async def _probe(responder: Any, seconds: float) -> Finding:
    from agents import Model, ModelSettings, ModelTracing

    from chatkit_backend.responder import ModelTimeoutError

    choice = getattr(responder, "choice", None)
    described = responder.describe() if hasattr(responder, "describe") else "the model"
    agent_model = getattr(getattr(responder, "agent", None), "model", None)
    model = agent_model if isinstance(agent_model, Model) else getattr(responder, "model", None)
    if model is None or not _is_remote(model):
        return Finding(
            "model",
            "warning",
            "no model is configured: the built-in offline model answers with canned text",
            fix="set CHATKIT_MODEL_API_KEY (or OPENAI_API_KEY) for OpenAI, or CHATKIT_MODEL="
            "openai-compatible:<model> with CHATKIT_MODEL_BASE_URL for a local server",
        )
    # The Responses API refuses max_output_tokens below 16; Chat Completions takes 1.
    tokens = 16 if getattr(choice, "kind", "") == "openai" else 1
    stream = model.stream_response(
        system_instructions=None,
        input=PROBE_PROMPT,
        model_settings=ModelSettings(max_tokens=tokens),
        tools=[],
        output_schema=None,
        handoffs=[],
        tracing=ModelTracing.DISABLED,
        previous_response_id=None,
        conversation_id=None,
        prompt=None,
    )
    try:
        async with asyncio.timeout(seconds):
            async for event in stream:  # streamed, as replies are: the first output is enough
                if getattr(event, "type", "") in ANSWER_EVENTS:
                    break
            else:
                raise RuntimeError("the stream ended without any output")
    except (TimeoutError, ModelTimeoutError):
        return Finding(
            "model",
            "problem",
            f"{described} did not answer a {tokens}-token probe within {seconds:g}s",
            fix="check that the model server runs and CHATKIT_MODEL_BASE_URL points at it",
        )
    except Exception as exc:
        return Finding(
            "model",
            "problem",
            f"{described} refused a {tokens}-token probe: {type(exc).__name__}: {_short(exc)}",
            fix="check CHATKIT_MODEL, CHATKIT_MODEL_BASE_URL and the API key "
            "(CHATKIT_MODEL_API_KEY or OPENAI_API_KEY); skip this check with --no-model",
        )
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
    return Finding("model", "ok", f"{described} answered a {tokens}-token probe")


def _is_remote(model: Any) -> bool:
    from chatkit_backend.responder import OfflineModel

    inner = getattr(model, "inner", model)
    return not isinstance(inner, OfflineModel)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] + ("…" if len(text) > 300 else "")


__all__ = [
    "DEFAULT_TARGET",
    "Finding",
    "LoadedApp",
    "MisreadParameter",
    "Status",
    "api_routes",
    "check_attachments",
    "check_cors",
    "check_mcp",
    "check_model",
    "check_parameters",
    "check_routes",
    "check_store",
    "load_app",
    "misread_parameters",
]
