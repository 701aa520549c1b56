"""The faust App factory: topics, agents and (optionally) the web app, per worker.

Nothing here runs at import time. ``create_app`` builds one App with its own
``WorkerContext`` and one frozen ``Runtime`` (worker/runtime.py: settings, clock,
metrics, the App, the fatal flag, the faust topics), then registers every part with them:
the triage agent (worker/triage.py), the SLA and moderation agents (``register(rt, ctx)``).
This is the one module that wires the parts together, so no part imports it (only the
``triage run`` command, tests and benchmarks do, to build a worker).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faust
import mode
import structlog
from aiohttp import web

from classifiers import Classifier
from classifiers import load as load_classifier
from records.admin import ensure_topic
from records.kafka import KafkaConnection
from records.topics import TopicSpec
from worker import gauges, triage
from worker.clock import Clock
from worker.context import WorkerContext
from worker.handling import part as handling_part
from worker.moderation import agent as moderation_agent
from worker.notify.config import NotifySettings
from worker.notify.service import NotifyService
from worker.producer import FaustProducer
from worker.replies import part as replies_part
from worker.retention import topic_specs
from worker.runtime import Channels, Fatal, Runtime, topic_options
from worker.settings import Settings
from worker.sla import agent as sla_agent
from worker.transport import WorkerApp
from worker.web.app import create_web_app

__all__ = ["PARTS", "WebService", "broker_credentials", "create_app"]

log = structlog.get_logger(__name__)

# The other parts' agents, registered in this order after the triage agent.
PARTS: tuple[Callable[[Runtime, WorkerContext], None], ...] = (
    sla_agent.register,
    moderation_agent.register,
    replies_part.register,
    handling_part.register,
)


def create_app(
    settings: Settings,
    *,
    ctx: WorkerContext | None = None,
    classifier: Classifier | None = None,
    clock: Clock | None = None,
    web_app: bool = False,
    notify: NotifySettings | None = None,
    officers_app: bool = True,
) -> faust.App:
    """Build a worker App; ``classifier`` defaults to ``classifiers.load(settings)``.

    With ``web_app=True`` the officers' app (worker/web/app.py) is served by aiohttp on
    ``settings.web_host:web_port`` as a service of the App, started and stopped with it
    (with ``officers_app=False``, only its /health, /ready and /metrics).
    With ``notify`` settings the notifier (worker/notify/service.py) is another service.
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
    if ctx.topic_specs is None:
        ctx.topic_specs = topic_specs(settings)
    ctx.fatal = Fatal()
    rt = ctx.runtime = Runtime(
        settings=settings,
        clock=ctx.clock,
        metrics=ctx.metrics,
        app=app,
        producer=FaustProducer(app),
        fatal=ctx.fatal,
        channels=_declare_topics(app, settings, ctx.topic_specs),
        specs=ctx.topic_specs,
    )

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
        for channel in vars(rt.channels).values():
            await channel.maybe_declare()
        # The erasure list: no agent writes it (`triage erase` does), the projector reads it.
        # The officers' app writes triage.handling; the projector reads both.
        for name in (settings.topics.erasures, settings.topics.handling):
            await ensure_topic(
                settings.kafka, rt.specs[name], settings.partitions, settings.replication_factor
            )
        started["declared"] = True
        _maybe_ready()

    # Called by faust once the App has fully started (faust.Worker uses it too).
    app.on_startup_finished = _declare_all

    triage.register(rt, ctx, classifier if classifier is not None else load_classifier(settings))
    for register in PARTS:
        register(rt, ctx)
    gauges.install(ctx)
    if web_app:
        app.add_dependency(WebService(ctx, officers=officers_app))
    if notify is not None:
        app.add_dependency(NotifyService(rt, notify, ctx.views))
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
        ctx.scratch_dir = scratch
        return Path(scratch.name)
    return settings.data_dir


def _declare_topics(app: faust.App, settings: Settings, specs: dict[str, TopicSpec]) -> Channels:
    names = settings.topics
    topics = {}
    for field in Channels.__dataclass_fields__:
        name = getattr(names, field)
        topics[field] = app.topic(name, **topic_options(settings, specs[name]))
    return Channels(**topics)


class WebService(mode.Service):  # type: ignore[misc]
    """The aiohttp app in the worker's process (faust's own web server is switched off).

    aiohttp rather than faust's web: the officers' pages need aiohttp-jinja2, sessions and
    middlewares, and one aiohttp app keeps the routes in one place whatever faust does.
    """

    def __init__(self, ctx: WorkerContext, *, officers: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ctx = ctx
        self.officers = officers
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def on_start(self) -> None:
        settings = self.ctx.settings
        web_app = create_web_app(self.ctx, officers=self.officers)
        self._runner = web.AppRunner(web_app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, settings.web_host, settings.web_port)
        await site.start()
        addresses = self._runner.addresses  # (host, port, ...) of each bound socket
        self.port = addresses[0][1] if addresses else settings.web_port
        self.ctx.web_url = f"http://{settings.web_host}:{self.port}"
        log.info("web app listening", url=self.ctx.web_url)

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
