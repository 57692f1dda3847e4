"""
Gor-to-gor relay (C{--input-tcp}, C{--output-tcp}), Elasticsearch export and profiling.
"""
