"""TLS and SASL settings reach every Kafka client the worker and the connectors build.

The embedded broker cannot check SASL (its user store is in memory and cannot be filled
while authentication is required), so SASL is checked here: each place that builds a
client is run against a recorder that keeps the constructor's keyword arguments.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import json
import ssl
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiokafka
import aiokafka.admin
import pytest
from click.testing import CliRunner

from connectors.settings import ConnectorSettings, load_connector_settings
from records.kafka import KafkaSettings, bootstrap_servers
from tests.tls import make_certificates
from worker.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "s3cret-kafka-password"
CLIENTS = ("AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient")
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("tls"), key_password="key-pass")


def sasl_ssl(certs, **more: Any) -> dict[str, Any]:
    return {
        "broker": "kafka://k1:9093;k2:9093",
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_mechanism": "SCRAM-SHA-256",
        "kafka_username": "triage-worker",
        "kafka_password": PASSWORD,
        "kafka_ca_file": certs.ca,
        "kafka_cert_file": certs.client_cert,
        "kafka_key_file": certs.client_key,
        "kafka_key_password": "key-pass",
        **more,
    }


def test_one_parser_for_the_broker_url():
    """Both URL forms give the same hosts, for the worker and the connectors alike."""
    assert bootstrap_servers("kafka://a:9092;b:9093") == ("a:9092", "b:9093")
    assert bootstrap_servers("kafka://a:9092, b:9093") == ("a:9092", "b:9093")
    worker = Settings(broker="kafka://a:1;b:2")
    connector = ConnectorSettings(_env_file=None, broker="kafka://a:1;b:2")  # type: ignore[call-arg]
    assert worker.kafka.bootstrap == connector.kafka.bootstrap == ("a:1", "b:2")


def test_plaintext_options_carry_no_security():
    """With nothing set, clients connect in plain text, as before."""
    options = Settings(broker="kafka://a:1").kafka.options()
    assert options == {"bootstrap_servers": ["a:1"], "security_protocol": "PLAINTEXT"}


def test_sasl_ssl_options_have_a_verifying_context_and_the_credentials(certs):
    """SASL_SSL gives aiokafka the mechanism, user, password and a CA-checking context."""
    options = Settings(**sasl_ssl(certs)).kafka.options()
    context = options.pop("ssl_context")
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert options == {
        "bootstrap_servers": ["k1:9093", "k2:9093"],
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "triage-worker",
        "sasl_plain_password": PASSWORD,
    }


def test_the_password_never_shows_in_a_repr_or_a_dump(certs):
    """Settings and the connection print the password as stars."""
    settings = Settings(**sasl_ssl(certs))
    for text in (repr(settings), str(settings.model_dump()), repr(settings.kafka)):
        assert PASSWORD not in text
        assert "key-pass" not in text


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kafka_security_protocol": "SASL_SSL"}, "TRIAGE_KAFKA_USERNAME"),
        ({"kafka_security_protocol": "SSL", "kafka_cert_file": "x.pem"}, "together"),
        ({"kafka_ca_file": "ca.pem"}, "use SSL or SASL_SSL"),
        (
            {"kafka_security_protocol": "SSL", "kafka_ca_file": "/nonexistent/ca.pem"},
            "TRIAGE_KAFKA_CA_FILE",
        ),
        ({"kafka_sasl_mechanism": "GSSAPI"}, "TRIAGE_KAFKA_SASL_MECHANISM"),
    ],
)
def test_inconsistent_settings_are_refused_by_name(values, message):
    """A missing password, a lone certificate, TLS files without TLS or a bad file: named."""
    with pytest.raises(SettingsError, match=message):
        load_settings(broker="kafka://a:1", **values)


def test_a_wrong_key_password_is_refused_at_start(certs):
    """The client key's password is checked when the settings load, not at first connect."""
    with pytest.raises(SettingsError, match="TRIAGE_KAFKA_KEY_FILE") as refused:
        load_settings(**sasl_ssl(certs, kafka_key_password="wrong"))
    assert "wrong" not in str(refused.value)
    with pytest.raises(Exception, match="TRIAGE_KAFKA_KEY_FILE"):
        load_connector_settings(None, **sasl_ssl(certs, kafka_key_password="wrong"))


def test_the_settings_are_read_from_the_environment(certs, monkeypatch):
    """TRIAGE_KAFKA_* variables set the connection for both sides."""
    for name, value in sasl_ssl(certs).items():
        monkeypatch.setenv(f"TRIAGE_{name.upper()}", str(value))
    for settings in (load_settings(), load_connector_settings()):
        assert isinstance(settings, KafkaSettings)
        options = settings.kafka.options()
        assert options["sasl_plain_password"] == PASSWORD
        assert options["security_protocol"] == "SASL_SSL"


def test_the_faust_app_gets_sasl_credentials_with_the_tls_context(certs):
    """faust's broker_credentials carry the user, password, mechanism and context."""
    import faust
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    from worker.app import create_app

    settings = Settings(**sasl_ssl(certs))
    app = create_app(settings, classifier=object())  # type: ignore[arg-type]
    credentials = app.conf.broker_credentials
    assert isinstance(credentials, faust.SASLCredentials)
    auth = credentials_to_aiokafka_auth(credentials)
    assert isinstance(auth.pop("ssl_context"), ssl.SSLContext)
    assert auth == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "triage-worker",
        "sasl_plain_password": PASSWORD,
    }
    plain = create_app(Settings(broker="kafka://a:1"), classifier=object())  # type: ignore[arg-type]
    assert credentials_to_aiokafka_auth(plain.conf.broker_credentials) == {
        "security_protocol": "PLAINTEXT"
    }


def _client_calls(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in CLIENTS:
                calls.append(node)
    return calls


def test_every_client_takes_its_connection_from_the_options():
    """No aiokafka client in worker/, connectors/ or records/ names its own bootstrap servers."""
    found = 0
    for folder in ("worker", "connectors", "records"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for call in _client_calls(path):
                found += 1
                where = f"{path.relative_to(ROOT)}:{call.lineno}"
                names = {k.arg for k in call.keywords}
                assert "bootstrap_servers" not in names, where
                spread = [k.value for k in call.keywords if k.arg is None]
                assert any(
                    isinstance(v, ast.Call)
                    and isinstance(v.func, ast.Attribute)
                    and v.func.attr == "options"
                    for v in spread
                ), f"{where}: pass **<settings>.kafka.options()"
    assert found == 16  # the sites the recorder test below goes through


class Built(Exception):
    """Raised by the recording consumer once it has been constructed."""


class _Everything:
    def __contains__(self, _item: object) -> bool:
        return True


class _Recorded:
    """A producer or admin client that records its arguments and does nothing."""

    def __init__(self, seen: list[tuple[str, dict[str, Any]]], kind: str, **kwargs: Any) -> None:
        seen.append((kind, kwargs))

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def list_topics(self) -> _Everything:
        return _Everything()  # every topic "exists": nothing is created

    async def send_and_wait(self, *_args: Any, **_kwargs: Any) -> None:
        return None


@pytest.fixture
def recorder(monkeypatch):
    """Replace the aiokafka clients wherever the code finds them with recorders; a consumer
    raises Built once made, so that a reader stops there."""
    seen: list[tuple[str, dict[str, Any]]] = []

    def fake(kind: str) -> Any:
        def build(*_args: Any, **kwargs: Any) -> Any:
            if kind == "AIOKafkaConsumer":
                seen.append((kind, kwargs))
                raise Built(kind)
            return _Recorded(seen, kind, **kwargs)

        return build

    names = (
        "records.admin",
        "connectors.sink",
        "connectors.consuming",
        "worker.follow",
        "worker.sla.store",
        "worker.replay",
        "worker.retention",
        "worker.cli.emergency",
        "worker.cli.erase",
        "worker.db.projector",
        "worker.notify.service",
        "worker.backup",
        "worker.web.standalone",
    )
    for module in (aiokafka, aiokafka.admin, *(importlib.import_module(n) for n in names)):
        for kind in CLIENTS:
            if hasattr(module, kind):
                monkeypatch.setattr(module, kind, fake(kind))
    return seen


def _secured(kwargs: dict[str, Any]) -> bool:
    return (
        kwargs.get("security_protocol") == "SASL_SSL"
        and kwargs.get("sasl_plain_password") == PASSWORD
        and kwargs.get("sasl_mechanism") == "SCRAM-SHA-256"
        and isinstance(kwargs.get("ssl_context"), ssl.SSLContext)
        and kwargs.get("bootstrap_servers") == ["k1:9093", "k2:9093"]
    )


async def test_every_client_built_by_the_code_gets_sasl_and_tls(certs, recorder, tmp_path):
    """Each place that makes a producer, consumer or admin client passes the settings on."""
    from connectors.actions import ActionsRunner
    from connectors.metrics import ConnectorMetrics
    from connectors.replies import ReplyRunner
    from connectors.sink import KafkaSink
    from records.admin import ensure_topic
    from records.privacy import Erasure
    from records.sla import EmergencyChange
    from worker.backup import restore
    from worker.cli.emergency import _publish
    from worker.cli.erase import _publish as publish_erasure
    from worker.cli.labels import read_labels
    from worker.clock import ManualClock
    from worker.db import Database
    from worker.db.projector import Projector
    from worker.follow import TopicFollower
    from worker.metrics import Metrics
    from worker.moderation.policy import ModerationConfig
    from worker.moderation.review_view import ModerationState, TopicReader
    from worker.notify.config import NotifySettings
    from worker.notify.service import build_notifier
    from worker.replay import replay
    from worker.retention import check_retention, topic_specs
    from worker.sla.store import PartitionStore, recover_partition
    from worker.web.standalone import KafkaWrites

    worker = Settings(**sasl_ssl(certs))
    (tmp_path / "policy.yaml").write_text(
        "moderation:\n  connector_actions_enabled: true\nreplying:\n  enabled: true\n"
    )
    connector = ConnectorSettings(
        _env_file=None,  # type: ignore[call-arg]
        **sasl_ssl(certs),
        policy=tmp_path / "policy.yaml",
        meta_page_access_token="page-token",
    )
    change = EmergencyChange(id="e1", active=True, by="op", at=NOW)

    await ensure_topic(worker.kafka, topic_specs(worker)[worker.topics.sla_state], 1)  # admin
    await check_retention(worker, {})  # admin
    with pytest.raises(Built):
        await TopicFollower(worker, {"t": lambda _v: None}, name="t").start()  # consumer
    with pytest.raises(Built):
        await recover_partition(worker.kafka, "t", 0, PartitionStore())  # consumer
    reader = TopicReader(worker, ModerationState(ModerationConfig(), ManualClock(NOW)))
    with pytest.raises(Built):
        await reader.start()  # consumer
    await replay([], kafka=worker.kafka, topic="t")  # producer
    database = Database(f"sqlite:///{tmp_path / 'read-side.db'}")
    with pytest.raises(Built):
        await Projector(worker, database).run()  # consumer (rebuild's is the same one)
    database.close()
    with pytest.raises(Built):
        await read_labels(worker)  # consumer
    await _publish(worker, change)  # admin, producer
    notifier = build_notifier(worker, NotifySettings(notify_app_url=""), Metrics())
    with pytest.raises(Built):
        await notifier.run(asyncio.Event())  # producer, consumer
    await KafkaWrites(worker).start()  # producer (`triage web`)
    erasure = Erasure(author_key="x:1", erased_at=NOW, by="ada", reason="ref")
    await publish_erasure(worker, erasure)  # admin, producer
    backup = tmp_path / "backup"
    backup.mkdir()
    manifest = {"format": 1, "partitions": worker.partitions, "topics": {}}
    (backup / "manifest.json").write_text(json.dumps(manifest))
    await restore(worker, backup)  # producer
    await ensure_topic(connector.kafka, "t", 1, 1)  # admin
    await KafkaSink(connector.kafka, "t", ConnectorMetrics("test"))._start_producer(True)
    runner = ActionsRunner(connector)
    try:
        with pytest.raises(Built):
            await runner.setup()  # admin twice, producer, consumer
    finally:
        await runner.cleanup()
    replies = ReplyRunner(connector)
    try:
        with pytest.raises(Built):
            await replies.setup()  # admin four times, producer, consumer
    finally:
        await replies.cleanup()
    kinds = Counter(kind for kind, _ in recorder)
    assert kinds == {"AIOKafkaAdminClient": 11, "AIOKafkaProducer": 9, "AIOKafkaConsumer": 8}
    assert all(_secured(kwargs) for _, kwargs in recorder)


def test_connector_commands_refuse_bad_kafka_settings(monkeypatch):
    """`triage connect` names the missing SASL setting and exits 2."""
    from worker.cli import cli

    monkeypatch.setenv("TRIAGE_BROKER", "kafka://127.0.0.1:1")
    monkeypatch.setenv("TRIAGE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.delenv("TRIAGE_KAFKA_USERNAME", raising=False)
    monkeypatch.delenv("TRIAGE_KAFKA_PASSWORD", raising=False)
    result = CliRunner().invoke(cli, ["connect", "webhook"])
    assert result.exit_code == 2
    assert "TRIAGE_KAFKA_USERNAME" in result.output
