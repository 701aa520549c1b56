"""The faust App factory: topics, agents and (optionally) the web app, per worker.

Nothing here runs at import time. ``create_app`` builds one App with its own
``WorkerContext``; each part registers itself: the triage agent (worker/triage.py) and,
when their modules exist, the SLA and moderation agents (``register(app, ctx)``).
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import tempfile
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import faust
import mode
import structlog
from aiohttp import web

from records import InvalidRecord
from records.kafka import KafkaConnection
from records.topics import TopicSpec
from worker.clock import Clock
from worker.context import WorkerContext
from worker.metrics import metrics_of
from worker.retention import topic_specs
from worker.settings import Settings
from worker.transport import WorkerApp

if TYPE_CHECKING:
    from classifiers import Classifier

log = structlog.get_logger(__name__)

# The other parts' agents; each module has register(app, ctx). Missing ones are skipped.
PART_MODULES = ("worker.sla.agent", "worker.moderation.agent")


@dataclass(frozen=True)
class Channels:
    """The App's faust topics (raw bytes in and out: records are decoded by the agents)."""

    comments: Any
    verdicts: Any
    review: Any
    decisions: Any
    cases: Any
    alerts: Any
    audit: Any
    labels: Any
    deadletter: Any


class Fatal:
    """Set by a part that must stop the whole worker: the dead-letter breaker, or an
    agent, reader or background task that failed. ``/ready`` then answers 503 and
    ``triage run`` exits non-zero, so that a supervisor starts it again."""

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.part: str | None = None
        self._event: asyncio.Event | None = None

    @property
    def event(self) -> asyncio.Event:
        if self._event is None:
            self._event = asyncio.Event()
        return self._event

    def set(self, error: BaseException, part: str | None = None) -> None:
        if self.error is None:
            self.error = error
            self.part = part
            log.error("worker stopping", part=part, error=describe(error), where=_where(error))
        self.event.set()

    @property
    def reason(self) -> str:
        """What stopped the worker, fit for a log or a terminal (no record contents)."""
        if self.error is None:
            return ""
        prefix = f"{self.part} failed: " if self.part else ""
        return prefix + describe(self.error)


# Errors whose messages are written to be shown: they name fields and counts, not values.
_SAFE_MESSAGES: tuple[type[BaseException], ...] = (InvalidRecord,)


def describe(error: BaseException) -> str:
    """An error in words that hold no record contents (a bug's message might quote one)."""
    if isinstance(error, _SAFE_MESSAGES) or getattr(error, "safe_message", False):
        return str(error)
    return type(error).__name__


def _where(error: BaseException) -> list[str]:
    # Code locations only (file:line in function), never the message or local values.
    frames = traceback.extract_tb(error.__traceback__)[-5:]
    return [f"{Path(f.filename).name}:{f.lineno} in {f.name}" for f in frames]


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def stops_worker(ctx: WorkerContext, part: str) -> Callable[[F], F]:
    """Wrap an agent, timer or task body so that any error it ends with sets the fatal
    flag instead of ending it quietly (faust would restart an agent on the same record)."""

    def wrap(body: F) -> F:
        @functools.wraps(body)
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return await body(*args, **kwargs)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - not swallowed: a bug stops the worker
                fatal_of(ctx).set(exc, part)
                return None

        return guarded  # type: ignore[return-value]

    return wrap


def channels_of(ctx: WorkerContext) -> Channels:
    """The faust topics of the App built for ``ctx`` (for agents in other modules)."""
    channels: Channels = ctx.views["channels"]
    return channels


def fatal_of(ctx: WorkerContext) -> Fatal:
    fatal: Fatal = ctx.views["fatal"]
    return fatal


def specs_of(ctx: WorkerContext) -> dict[str, TopicSpec]:
    """Every topic's settings (records/topics.py) with the policy's retention periods."""
    specs: dict[str, TopicSpec] = ctx.views["topic_specs"]
    return specs


def topic_options(ctx: WorkerContext, name: str) -> dict[str, Any]:
    """faust ``app.topic`` arguments that create ``name`` as the table says."""
    settings = ctx.settings
    spec = specs_of(ctx)[name]
    return {
        # internal=True makes faust create the topic with these settings at start-up.
        "internal": True,
        "partitions": 1 if spec.single_partition else settings.partitions,
        "replicas": settings.replication_factor,
        "config": spec.configs(),
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }


def create_app(
    settings: Settings,
    *,
    ctx: WorkerContext | None = None,
    classifier: Classifier | None = None,
    clock: Clock | None = None,
    web_app: bool = False,
) -> faust.App:
    """Build a worker App; ``classifier`` defaults to ``classifiers.load(settings)``.

    With ``web_app=True`` the officers' app (worker/web/app.py) is served by aiohttp on
    ``settings.web_host:web_port`` as a service of the App, started and stopped with it.
    """
    if settings.embedded:
        raise ValueError("create_app needs a broker URL; start the embedded one first")
    if ctx is None:
        ctx = WorkerContext(settings=settings) if clock is None else WorkerContext(settings, clock)
    elif clock is not None:
        ctx.clock = clock
    app = WorkerApp(
        settings.app_id,
        fetch_wait_ms=settings.fetch_wait_ms,
        broker=settings.broker,
        store=settings.store,
        datadir=str(_data_dir(settings, ctx)),
        autodiscover=False,
        web_enabled=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=max(1.0, min(3.0, settings.session_timeout_s / 4)),
        broker_commit_interval=1.0,
        broker_credentials=broker_credentials(settings.kafka),
        producer_acks=-1,
        # A batch's outputs leave in a few requests rather than one each (about a third of
        # the worker's time otherwise, at a few milliseconds' wait).
        producer_linger=0.005,
        # Unacknowledged input is read again after a rebalance or restart anyway (outputs
        # have deterministic ids), and a batch held back by the breaker must not block
        # the shutdown.
        stream_wait_empty=False,
        # faust's own logging setup would fight structlog's.
        loghandlers=[],
    )
    ctx.app = app
    ctx.views.setdefault("topic_specs", topic_specs(settings))
    ctx.views["channels"] = _declare_topics(app, ctx)
    ctx.views["fatal"] = Fatal()
    metrics_of(ctx)

    started = {"declared": False, "assigned": False}

    def _maybe_ready() -> None:
        ctx.ready = started["declared"] and started["assigned"]

    @app.on_rebalance_complete.connect  # type: ignore[untyped-decorator]
    async def _assigned(sender: Any, **_: Any) -> None:
        started["assigned"] = True
        _maybe_ready()

    async def _declare_all() -> None:
        # faust creates only the topics it consumes; the outputs are declared here, with
        # the configured partitions, before anything is written to them.
        for channel in vars(channels_of(ctx)).values():
            await channel.maybe_declare()
        started["declared"] = True
        _maybe_ready()

    # Called by faust once the App has fully started (faust.Worker uses it too).
    app.on_startup_finished = _declare_all

    from worker import triage

    triage.register(app, ctx, classifier if classifier is not None else _load_classifier(settings))
    for module_name in PART_MODULES:
        importlib.import_module(module_name).register(app, ctx)
    if web_app:
        app.add_dependency(WebService(ctx))
    return app


def broker_credentials(kafka: KafkaConnection) -> Any:
    """faust's form of the TLS and SASL settings (None for plain text)."""
    if kafka.uses_sasl:
        assert kafka.password is not None
        return faust.SASLCredentials(
            username=kafka.username,
            password=kafka.password.get_secret_value(),
            ssl_context=kafka.ssl_context,
            mechanism=kafka.sasl_mechanism,
        )
    if kafka.ssl_context is not None:
        return faust.SSLCredentials(kafka.ssl_context)
    return None


def _data_dir(settings: Settings, ctx: WorkerContext) -> Path:
    # faust keeps table state per app id; the in-memory store needs only a scratch dir,
    # removed when the context goes (TemporaryDirectory cleans up on collection and exit).
    if settings.store.startswith("memory://"):
        scratch = tempfile.TemporaryDirectory(prefix=f"{settings.app_id}-")
        ctx.views["scratch_dir"] = scratch
        return Path(scratch.name)
    return settings.data_dir


def _load_classifier(settings: Settings) -> Classifier:
    import classifiers

    return classifiers.load(settings)


def _declare_topics(app: faust.App, ctx: WorkerContext) -> Channels:
    names = ctx.settings.topics
    topics = {}
    for field in Channels.__dataclass_fields__:
        name = getattr(names, field)
        topics[field] = app.topic(name, **topic_options(ctx, name))
    return Channels(**topics)


class WebService(mode.Service):  # type: ignore[misc]
    """The aiohttp app in the worker's process (faust's own web server is switched off).

    aiohttp rather than faust's web: the officers' pages need aiohttp-jinja2, sessions and
    middlewares, and one aiohttp app keeps the routes in one place whatever faust does.
    """

    def __init__(self, ctx: WorkerContext, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ctx = ctx
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def on_start(self) -> None:
        from worker.web.app import create_web_app

        settings = self.ctx.settings
        self._runner = web.AppRunner(create_web_app(self.ctx), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, settings.web_host, settings.web_port)
        await site.start()
        addresses = self._runner.addresses  # (host, port, ...) of each bound socket
        self.port = addresses[0][1] if addresses else settings.web_port
        self.ctx.views["web_url"] = f"http://{settings.web_host}:{self.port}"
        log.info("web app listening", url=self.ctx.views["web_url"])

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
