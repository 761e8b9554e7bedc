"""GET /metrics: Prometheus' text format, when METRICS_ENABLED (and with METRICS_TOKEN, only for a
request bearing it). What this process counted, and what the database says at this moment
(handlers/core/metrics.py)."""

from __future__ import annotations

import hmac
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.service import Service
from handlers.core import metrics, outbox


class Readings(Collector):
    """One scrape's readings from the database, as gauges (one family per name)."""

    def __init__(self, readings: Sequence[metrics.Reading]) -> None:
        self.readings = readings

    def collect(self) -> Iterator[Metric]:
        families: dict[str, GaugeMetricFamily] = {}
        for reading in self.readings:
            family = families.get(reading.name)
            if family is None:
                family = GaugeMetricFamily(reading.name, reading.help, labels=list(reading.labels))
                families[reading.name] = family
            family.add_metric(list(reading.labels.values()), reading.value)
        yield from families.values()


def metrics_route(service: Service) -> Route:
    token = service.settings.metrics_token

    async def scrape(request: Request) -> Response:
        if token is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return PlainTextResponse("a bearer token is needed\n", status_code=401)
        gauges = [outbox.waiting, *(gauge for area in service.houqin.areas for gauge in area.gauges)]
        now = service.houqin.clock()
        scraped = CollectorRegistry(auto_describe=False)
        scraped.register(Readings(await metrics.read_all(service.db, gauges, now)))
        body = generate_latest(metrics.REGISTRY) + generate_latest(scraped)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return Route("/metrics", scrape)
