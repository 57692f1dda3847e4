# -*- test-case-name: tests.test_export_elasticsearch -*-
"""
Flags of the export area: C{--output-http-elasticsearch} (see L{twisted_gor.flags}).
"""

from __future__ import annotations

from twisted_gor.config import GorConfig
from twisted_gor.export.elasticsearch import ElasticsearchOutputConfig as _Defaults
from twisted_gor.flags import DURATION, INT, STRING, Flag, FlagValues, nonNegative, positive


FLAGS: list[Flag] = [
    Flag(
        "output-http-elasticsearch",
        STRING,
        "Export replayed request/response metadata to Elasticsearch: [http(s)://[user:pass@]]host:port/index.",
        default="",
    ),
    Flag(
        "output-http-elasticsearch-batch-size",
        INT,
        "Documents per Elasticsearch _bulk request (default 500).",
        default=_Defaults.batchSize,
        check=positive,
    ),
    Flag(
        "output-http-elasticsearch-flush-interval",
        DURATION,
        "Send a partial Elasticsearch batch after this long (default 1s).",
        default=_Defaults.flushInterval,
        check=nonNegative,
    ),
    Flag(
        "output-http-elasticsearch-queue-len",
        INT,
        "Documents waiting for Elasticsearch before new ones are dropped and counted (default 10000).",
        default=_Defaults.queueLen,
        check=positive,
    ),
]


def configure(values: FlagValues, config: GorConfig) -> None:
    """
    Add the Elasticsearch exporter to C{config}.
    """
    es = values["output-http-elasticsearch"]
    if es:
        from twisted_gor.export import elasticsearch as _es

        try:
            target = _es.parseElasticsearchURL(es)
        except ValueError as e:
            raise ValueError(f"--output-http-elasticsearch: {e}") from None
        # It requires the replays' results (an --output-http): the service
        # connects it to them, and refuses a configuration without one.
        config.outputs.append(
            _es.ElasticsearchOutputConfig(
                target=target,
                batchSize=values["output-http-elasticsearch-batch-size"],
                flushInterval=values["output-http-elasticsearch-flush-interval"] or 0.05,
                queueLen=values["output-http-elasticsearch-queue-len"],
            )
        )

