"""CloudMart's domain: aggregates, their past-tense events, commands and the saga state machine.

Imports only the standard library and ``eventsourcing.domain``.
"""
