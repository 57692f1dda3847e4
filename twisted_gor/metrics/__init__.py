"""
Watching gor from a monitoring system: C{--metrics ADDR} (Prometheus text at
C{/metrics}) and GoReplay's C{--http-pprof ADDR} (the same, plus the counters
as JSON at C{/debug/vars}).

Modules: L{collector} (a C{prometheus_client} collector reading every
component's L{twisted_gor.stats.Counters} at scrape time), L{server} (the
HTTP service: one listening port per address asked for), L{flags}.

Decisions:
  - Nothing on a message's path changes: the collector reads the counters,
    gauges and histograms the components keep anyway, when scraped
    (see bench/README.rst for the cost).
  - A component C{output_http(http://staging)} gives metrics named
    C{gor_output_http_<counter>} with the labels C{component}
    (C{output_http}, or C{output_http#2} for a second one) and C{target}
    (C{http://staging}, its password hidden by L{twisted_gor.redact}). A
    counter C{dropped.queue_full} is C{gor_output_http_dropped_queue_full_total}.
  - Values a component declared with L{twisted_gor.stats.Counters.gauge} are
    gauges, the rest counters; histograms are C{..._seconds}, with an
    C{endpoint} label for the comparison's.
  - The page is rendered in the reactor thread by
    L{prometheus_client.generate_latest}, not by
    C{prometheus_client.twisted.MetricsResource}: that one runs the
    collection on the reactor's thread pool, where reading counters the
    reactor is changing is a race.
  - Only the addresses asked for are opened; both flags on one address
    share one port. Process metrics (CPU, memory, open files) come with
    C{prometheus_client}'s C{ProcessCollector}.
"""
