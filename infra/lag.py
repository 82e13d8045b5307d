"""How far behind its logs each reader of this process is, measured when Prometheus asks, not while it works.

A log reader (a consumer group in the embedded topology, the notifier, the projector, a relay) keeps a
position per log in the read-model database; its lag is each log's last position minus its own. Reading
them at scrape time costs the loops nothing: one query per reader and one per log, every scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from infra.log_consumers import LogReader
from infra.supervision import is_outage

log = logging.getLogger(__name__)
RELAY_PREFIX = "relay:"


class Lags(Collector):
    """``cloudmart_consumer_lag{consumer,source}`` and ``cloudmart_relay_lag{relay}`` of the given readers."""

    def __init__(self, readers: Sequence[LogReader]) -> None:
        self.readers = readers

    def collect(self) -> Iterator[Metric]:
        consumers = GaugeMetricFamily(
            "cloudmart_consumer_lag", "Events in a log its consumer has not handled yet", labels=["consumer", "source"]
        )
        relays = GaugeMetricFamily(
            "cloudmart_relay_lag", "Events in a log its relay has not published yet", labels=["relay"]
        )
        try:
            for reader, source, lag in self.lags():
                if reader.startswith(RELAY_PREFIX):
                    relays.add_metric([reader.removeprefix(RELAY_PREFIX)], lag)
                else:
                    consumers.add_metric([reader, source], lag)
        except Exception as error:  # a database away: the lags are left out until it is back
            if not is_outage(error):
                raise
            log.warning("lags left out of the metrics: %s", error)
            return
        yield consumers
        yield relays

    def lags(self) -> Iterator[tuple[str, str, int]]:
        """Each reader, each log it reads, and how many of that log's events it has not reached yet."""
        heads: dict[str, int] = {}
        for reader in self.readers:
            reached = reader.positions.of(reader.consumer)
            for source in reader.sources:
                if source.name not in heads:
                    heads[source.name] = source.recorder.max_notification_id() or 0
                yield reader.consumer, source.name, max(0, heads[source.name] - reached.get(source.name, 0))
