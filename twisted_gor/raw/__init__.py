"""
Live capture: C{--input-raw}, pcap in the reactor and TCP reassembly.
"""
