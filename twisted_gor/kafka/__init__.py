"""
Kafka: C{--output-kafka-*} (a producer) and C{--input-kafka-*} (a consumer,
alone or in a group), GoReplay-compatible, for capture and replay past one
machine.

Modules: L{formats} (GoReplay's raw and JSON values, both ways),
L{client} (connection settings, SASL/TLS, client error reporting shared by
both sides), L{output} (the producer), L{input} (the consumer thread and its
hand-off to the reactor), L{flags}. Paced replay (C{-2|200%}) uses the core's
L{twisted_gor.pacing.Pacer}, as C{--input-file} does.

Decisions:
  - Client: confluent-kafka (librdkafka; Linux wheels, no compiler). afkak,
    the Twisted-native client, speaks only the v0 message format and its
    produce hangs against current brokers; aiokafka would force the asyncio
    reactor on every embedder. librdkafka does batching, compression,
    reconnection with backoff, SASL and TLS in C, which is what lets one
    core move more than 50k messages/s each way (bench/bench_kafka.py).
  - Bridging: the producer is driven from the reactor thread (C{produce}
    only queues; C{poll(0)} from a LoopingCall serves the delivery reports
    there); the consumer has one dedicated thread (C{consume} blocks), which
    hands batches over with C{callFromThread} and is told what to do through
    a queue. No client object is called from two threads.
  - Memory is bounded in bytes both ways: the producer's budget
    (C{--output-kafka-buffer-size}, default 64 MiB: our account and
    librdkafka's C{queue.buffering.max.kbytes}); the consumer's
    (C{--input-kafka-buffer-size}, default 16 MiB: half prefetched by
    librdkafka, half handed to the reactor and not emitted yet, plus one
    batch of at most 2000 messages).
  - A broker that is down at start or goes away is not an error: librdkafka
    reconnects with backoff (100 ms up to 2 s); messages wait within the
    budget (no delivery timeout by default: nothing within the budget is
    lost); each kind of client error is one log line (then at most one per
    30 s) and a C{client_errors.<reason>} counter.
  - Messages are keyed by request id: a request and its responses land in
    one partition, in order.
  - Kafka's own message timestamp is the produce time (as GoReplay); paced
    replay uses the gor record's timestamp (the capture time, in ns), as
    file replay does, so C{file -> Kafka -> -2|100%} keeps the recorded gaps.
    Old captures do not get old Kafka timestamps (time-based retention
    would delete them at once).
  - Raw input takes every valid type (GoReplay drops type 3, which its own
    output writes); anything else is skipped and counted
    (C{skipped.not_record}, C{skipped.malformed}, C{skipped.bad_json}).
  - Groups (ours, C{--input-kafka-group-id}): offsets are stored only once
    the outputs took the messages, committed every second and at every
    rebalance, after the outputs took what was emitted from the revoked
    partitions; what was fetched from them and not emitted is given back.
    At-least-once: only a replayer that dies (or is thrown out of the
    group) repeats, on the next owner, what it had not committed (about the
    last second). Without a group, every partition is
    read from the offset given and nothing is committed (GoReplay's way).
"""
