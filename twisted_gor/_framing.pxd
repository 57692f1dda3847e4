# Declarations of twisted_gor._framing shared with the other compiled
# speed-ups (cimported by twisted_gor.raw._fastcapture): one way to make a
# Message slot by slot.

cdef bint _messageSlotsReady() noexcept

cdef object _newMessage(int kind, object id_, long long timestamp, long long latency, object payload, object meta)
