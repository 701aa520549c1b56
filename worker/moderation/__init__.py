"""The moderation workflow of the council's policy: records, author ledger, decisions.

Pure logic lives in ``ledger``, ``decisions``, ``messages`` and ``policy``; the faust
agents in ``agent``; the read-side views every worker keeps whole in ``review_view``.
"""
