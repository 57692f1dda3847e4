# Declarations of twisted_gor._framing shared with the other compiled
# speed-ups (cimported by twisted_gor.raw._fastcapture): one way to make a
# Message slot by slot, and one way to reach the slots of other objects.

from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF

cdef bint _messageSlotsReady() noexcept

cdef object _newMessage(int kind, object id_, long long timestamp, long long latency, object payload, object meta)

cdef Py_ssize_t _slotOffset(type cls, str name)


cdef inline PyObject* _slotGet(object obj, Py_ssize_t offset) noexcept:
    """
    The value of the slot at C{offset} (from L{_slotOffset}, for exactly
    C{type(obj)}) as a borrowed reference; NULL while it is unset.
    """
    return (<PyObject **>((<char *><PyObject *>obj) + offset))[0]


cdef inline void _slotSet(object obj, Py_ssize_t offset, object value) noexcept:
    """
    Set the slot at C{offset} (from L{_slotOffset}, for exactly C{type(obj)})
    as C{setattr} would.
    """
    cdef PyObject **slot = <PyObject **>((<char *><PyObject *>obj) + offset)
    cdef PyObject *old = slot[0]
    Py_INCREF(value)
    slot[0] = <PyObject *>value
    Py_XDECREF(old)
