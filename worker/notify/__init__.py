"""The notifier: reads ``triage.alerts`` in its own consumer group and tells people.

compose.py turns an alert into messages for each recipient (pure, templates in
templates/); channels.py sends them (SMTP, Slack, Teams); service.py consumes the topic,
retries, dead-letters what cannot be sent and commits offsets only after sending.
"""
