"""Reply tracking: working time, cases per conversation, deadline alerts and reports.

The pure parts (working time, policy, cases, reports) import no Kafka code; the faust
part is ``worker.sla.agent.register(rt, ctx)``, called by ``worker.app.create_app``.
"""

from worker.sla.cases import Rules, alerts_due, cases_of
from worker.sla.policy import SlaPolicy, load_sla_policy
from worker.sla.report import build_report
from worker.sla.worktime import ClockStopped, WorkCalendar

__all__ = [
    "ClockStopped",
    "Rules",
    "SlaPolicy",
    "WorkCalendar",
    "alerts_due",
    "build_report",
    "cases_of",
    "load_sla_policy",
]
