"""The author page: the ledger (strikes, warnings, blocks and appeal dates, bans, police
reports), the policy's records about the author and their items still open."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from records.moderation import AuditRecord, AuthorLedger, Role
from worker.read_views import off_loop
from worker.web.page_models import ACTION_TEXT, CATEGORY_TEXT, item_view, local_time, safe_url
from worker.web.pages import CTX, render, require_user

__all__ = ["author_context", "setup"]


def _step(action: str) -> str:
    text = ACTION_TEXT.get(action)  # type: ignore[call-overload]
    return str(text[0]) if text else action.replace("_", " ")


def _record_details(record: AuditRecord) -> str:
    details = [record.note]
    if record.reference:
        details.append(f"reference {record.reference}")
    if record.approved_by:
        details.append(f"approved by {record.approved_by}")
    if record.appealable_from:
        details.append(f"may appeal from {record.appealable_from.isoformat()}")
    return "; ".join(d for d in details if d)


def _ledger_entries(ledger: AuthorLedger, zone: ZoneInfo) -> list[tuple[Any, dict[str, str]]]:
    """History rows from the ledger alone (when the audit records are past retention)."""
    rows: list[tuple[Any, dict[str, str]]] = []
    entries = (
        *ledger.warnings,
        *ledger.block_recommendations,
        *ledger.channel_bans,
        *ledger.police_reports,
    )
    for entry in entries:
        details = [entry.note]
        if entry.channel and entry.action == "ban_from_channel":
            details.append(f"channel {entry.channel}")
        if entry.reference:
            details.append(f"reference {entry.reference}")
        rows.append(
            (
                entry.at,
                {
                    "at": local_time(entry.at, zone),
                    "step": _step(entry.action),
                    "by": entry.by,
                    "details": "; ".join(d for d in details if d),
                },
            )
        )
    for block in ledger.blocks:
        rows.append(
            (
                block.at,
                {
                    "at": local_time(block.at, zone),
                    "step": "Blocked",
                    "by": block.by,
                    "details": f"may appeal from {block.appealable_from.isoformat()}",
                },
            )
        )
        if block.lifted_at is not None:
            rows.append(
                (
                    block.lifted_at,
                    {
                        "at": local_time(block.lifted_at, zone),
                        "step": "Block lifted",
                        "by": block.lifted_by or "",
                        "details": f"approved by {block.approved_by}" if block.approved_by else "",
                    },
                )
            )
    return rows


def author_context(
    author_key: str,
    ledger: AuthorLedger | None,
    records: list[AuditRecord],
    open_items: list[Any],
    zone: ZoneInfo,
) -> dict[str, Any]:
    platform, _, author_id = author_key.partition(":")
    name = ledger.account_name if ledger else None
    handle = ledger.account_handle if ledger else None
    for record in records:
        name = name or record.account_name
        handle = handle or record.account_handle
    if name and handle:
        display = f"{name} (@{handle})"
    else:
        display = name or (f"@{handle}" if handle else f"{platform} user {author_id}")
    history: list[tuple[Any, dict[str, str]]] = []
    blocks: list[dict[str, str]] = []
    status = "Not blocked."
    if ledger is not None:
        for strike in ledger.strikes:
            labels = ", ".join(CATEGORY_TEXT.get(c, c) for c in strike.categories)
            history.append(
                (
                    strike.recorded_at,
                    {
                        "at": local_time(strike.recorded_at, zone),
                        "step": "Unacceptable post recorded",
                        "by": "",
                        "details": f"posted {local_time(strike.posted_at, zone)}; "
                        + (labels or "no labels")
                        + ("; extreme" if strike.extreme else ""),
                    },
                )
            )
        if records:
            # The policy's records are the full story: every decision, who and when.
            history.extend(
                (
                    record.decided_at,
                    {
                        "at": local_time(record.decided_at, zone),
                        "step": _step(record.action),
                        "by": record.decided_by,
                        "details": _record_details(record),
                    },
                )
                for record in records
            )
        else:
            history.extend(_ledger_entries(ledger, zone))
        for block in ledger.blocks:
            blocks.append(
                {
                    "at": local_time(block.at, zone),
                    "by": block.by,
                    "appealable_from": block.appealable_from.strftime("%d %B %Y").lstrip("0"),
                    "lifted": local_time(block.lifted_at, zone)
                    if block.lifted_at
                    else "Still blocked",
                }
            )
        active = ledger.active_block
        if active is not None:
            status = (
                f"Blocked since {local_time(active.at, zone)}; may appeal from "
                f"{active.appealable_from.strftime('%d %B %Y').lstrip('0')}."
            )
    history.sort(key=lambda pair: pair[0], reverse=True)
    return {
        "author": {
            "display": display,
            "platform": platform,
            "author_id": author_id,
            "status": status,
            "strikes": list(ledger.strikes) if ledger else [],
            "warnings": len(ledger.warnings) if ledger else 0,
            "banned_channels": ", ".join(ledger.banned_channels) if ledger else "",
            "blocks": blocks,
            "history": [row for _, row in history],
            "records": [
                {
                    "action": _step(r.action),
                    "decided_at": local_time(r.decided_at, zone),
                    "decided_by": r.decided_by,
                    "posted_at": local_time(r.posted_at, zone),
                    "channel": r.channel,
                    "url": safe_url(r.url),
                    "text": r.text,
                    "reasons": "; ".join(f"{x.clause} ({x.code})" for x in r.reasons),
                }
                for r in reversed(records)
            ],
            "open_items": open_items,
        }
    }


def _author_page_context(request: web.Request, role: Role, key: str) -> dict[str, Any]:
    ctx = request.app[CTX]
    ledger_view = ctx.views.ledger
    audit_view = ctx.views.audit
    review_view = ctx.views.review
    ledger = ledger_view.get(key) if ledger_view is not None else None
    records = list(audit_view.records(author=key)) if audit_view is not None else []
    items = [
        item_view(item, role=role, now=ctx.clock.now(), zone=ctx.zone)
        for item in (review_view.open_for_author(key) if review_view else [])
    ]
    if ledger is None and not records and not items:
        raise web.HTTPNotFound(text="Nothing is known about this author.")
    return author_context(key, ledger, records, items, ctx.zone)


async def author_page(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    key = request.match_info["author_key"]
    context = await off_loop(request.app[CTX].views, _author_page_context, request, user.role, key)
    return render(request, "author.html", context)


def setup(web_app: web.Application) -> None:
    web_app.router.add_get("/authors/{author_key:.+}", author_page)
