"""Backup and restore of the record: the topics the council keeps (records/topics.py rows
with ``records=True``: review items, decisions, moderation, cases, audit, labels, the SLA
state, erasures and emergency switches), to files and back into an empty cluster.

A backup is a folder: ``manifest.json`` (the format, when, the partition count, and per
topic its file, record count and SHA-256) and one JSON Lines file per topic, a line per
record with its partition, offset, timestamp, key, value and headers (bytes in base64).
Restore checks the files against the manifest and the target cluster before it writes
anything, then writes each record to the partition it came from, in offset order, with
its timestamp: the SLA state must stay on its conversation's partition, and retention
counts from the timestamp. Offsets are new (compaction may have left gaps).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from records.admin import ensure_topic, read_topic
from records.topics import TABLE
from worker.retention import topic_specs
from worker.settings import Settings

__all__ = ["FORMAT", "MANIFEST", "BackupError", "Summary", "backup", "record_topics", "restore"]

FORMAT = 1
MANIFEST = "manifest.json"


class BackupError(RuntimeError):
    """A backup or restore that cannot be done as asked; the message says why."""


@dataclass(frozen=True)
class Summary:
    """Records written per topic (base name, without the prefix)."""

    records: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.records.values())


def record_topics() -> list[str]:
    """The base names of the topics a backup holds."""
    return [row.base for row in TABLE if row.records]


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text, validate=True)


async def backup(settings: Settings, out: Path) -> Summary:
    """Write every record topic's records now to ``out`` (missing or empty)."""
    _check_empty(out)
    prefix = settings.topics.prefix
    read = {base: await read_topic(settings.kafka, prefix + base) for base in record_topics()}
    return _write(out, read, settings.partitions)


def _check_empty(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"{out} is not empty: give a new folder for the backup")


def _write(out: Path, read: dict[str, list[Any]], partitions: int) -> Summary:
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "partitions": partitions,
        "topics": {},
    }
    for base, records in read.items():
        records.sort(key=lambda r: (r.partition, r.offset))
        data = b"".join(_line(record) for record in records)
        path = out / f"{base}.jsonl"
        path.write_bytes(data)
        manifest["topics"][base] = {
            "file": path.name,
            "records": len(records),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return Summary({base: len(records) for base, records in read.items()})


def _line(record: Any) -> bytes:
    line = {
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
        "key": _b64(record.key),
        "value": _b64(record.value),
        "headers": [[name, _b64(value)] for name, value in record.headers],
    }
    return (json.dumps(line, separators=(",", ":")) + "\n").encode()


def _load(folder: Path) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """The manifest and each topic's lines, checked against the manifest."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{folder} holds no {MANIFEST}: not a backup folder") from None
    except json.JSONDecodeError as exc:
        raise BackupError(f"{MANIFEST} is not JSON: {exc.msg}") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"unknown backup format {manifest.get('format')!r} (this is {FORMAT})")
    unknown = set(manifest["topics"]) - set(record_topics())
    if unknown:
        raise BackupError(f"the backup holds topics this version does not know: {sorted(unknown)}")
    lines: dict[str, list[dict[str, Any]]] = {}
    for base, entry in manifest["topics"].items():
        data = (folder / entry["file"]).read_bytes()
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise BackupError(f"{entry['file']} does not match its checksum: changed or cut short")
        lines[base] = [json.loads(line) for line in data.splitlines() if line]
        if len(lines[base]) != entry["records"]:
            raise BackupError(
                f"{entry['file']}: {len(lines[base])} records, manifest says {entry['records']}"
            )
    return manifest, lines


async def restore(settings: Settings, folder: Path) -> Summary:
    """Write a backup's records into the cluster of ``settings``, whose record topics must
    be missing or empty; nothing is written when any check fails."""
    manifest, lines = _load(folder)
    if manifest["partitions"] != settings.partitions:
        raise BackupError(
            f"the backup was taken with {manifest['partitions']} partitions and "
            f"TRIAGE_PARTITIONS is {settings.partitions}: the SLA state must keep its "
            "partitions, so restore with the same number"
        )
    specs = topic_specs(settings)
    prefix = settings.topics.prefix
    for base in lines:
        if await read_topic(settings.kafka, prefix + base):
            raise BackupError(f"{prefix + base} already holds records: restore needs empty topics")
    for base in lines:
        await ensure_topic(
            settings.kafka, specs[prefix + base], settings.partitions, settings.replication_factor
        )
    # Not idempotent (the embedded broker has no producer ids): the read-back below
    # catches a record written twice by a retry.
    producer = AIOKafkaProducer(**settings.kafka.options(), acks="all")
    await producer.start()
    try:
        for base, records in lines.items():
            pending = [
                await producer.send(
                    prefix + base,
                    value=_unb64(line["value"]),
                    key=_unb64(line["key"]),
                    partition=line["partition"],
                    timestamp_ms=line["timestamp"],
                    headers=[(name, _unb64(value) or b"") for name, value in line["headers"]],
                )
                for line in records
            ]
            for future in pending:
                await future
    finally:
        await producer.stop()
    for base, records in lines.items():
        found = len(await read_topic(settings.kafka, prefix + base))
        if found != len(records):
            raise BackupError(f"{prefix + base}: {found} records after restoring {len(records)}")
    return Summary({base: len(records) for base, records in lines.items()})
