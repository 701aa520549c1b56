"""The reply-tracking contract on the pure step with the in-memory producer."""

from __future__ import annotations

import pytest

from tests.contract.sla import MemorySla, SlaContract


class TestSlaOnMemory(SlaContract):
    @pytest.fixture
    def sla(self) -> MemorySla:
        return MemorySla()
