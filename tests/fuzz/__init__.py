"""
Fuzz targets: the parsers that read bytes from outside (C{.gor} files, the
relay's TCP input, pcap frames and savefiles, HTTP/1.x framing) fed arbitrary
and corrupted input in arbitrary reads.

Each target checks that nothing but the documented error types escapes, that
every case ends within a time budget, that memory stays bounded and, where a
round trip exists, that it is byte-exact. C{GOR_FUZZ=long} selects the long
profile (see L{tests.fuzz._harness}); C{bench/fuzz.py} runs it and reports.
"""
