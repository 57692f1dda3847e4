# cython: language_level=3, boundscheck=False, wraparound=False
"""
Compiled twin of L{twisted_gor.framing}'s record splitting and encoding
(L{twisted_gor.framing.splitRecordsPure} and
L{twisted_gor.framing.encodeRecordsPure} are the reference: same results).

L{splitRecords} decodes only the records that the pure fast path decodes
with the same result (a one-digit type of 1 to 3, exactly four meta fields,
a timestamp and a latency of at most 19 digits, optionally signed by C{-},
within the signed 64-bit range),
and stops at the first record that is anything else: the caller decodes
that one in Python, so odd records (malformed, session closes, relay marks,
numbers written with C{+}, C{_} or spaces) take the one reference path.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.list cimport PyList_Append, PyList_GET_SIZE
from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF
from libc.string cimport memchr, memcmp, memcpy

cdef extern from "structmember.h":
    ctypedef struct PyMemberDef:
        const char *name
        int type
        Py_ssize_t offset
        int flags

cdef extern from "Python.h":
    void PyObject_GC_UnTrack(void *op)
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member
    PyTypeObject PyMemberDescr_Type
    object PyType_GenericAlloc(type cls, Py_ssize_t nitems)

# The fields of twisted_gor.message.Message, in its constructor's order.
_FIELDS = ("type", "id", "timestamp", "latency", "payload", "rawMeta", "_session")
cdef Py_ssize_t _offsets[7]
cdef type _messageClass = None


def useMessageClass(type cls):
    """
    Make L{splitRecords} fill the slots of C{cls} directly (no call of its
    C{__init__}) when it is the factory, and L{_newMessage} (the compiled
    capture path's messages, C{twisted_gor.raw._fastcapture}) usable: only for a class that is exactly
    C{__slots__ = _FIELDS} over C{object} (L{twisted_gor.message.Message},
    whose C{__init__} assigns each argument to its slot), each an object
    slot. Returns whether it does; otherwise the factory is called.
    """
    global _messageClass
    _messageClass = None
    if type(cls) is not type or cls.__mro__ != (cls, object) or tuple(cls.__dict__.get("__slots__", ())) != _FIELDS:
        return False
    if cls.__dictoffset__ or cls.__weakrefoffset__ or cls.__new__ is not object.__new__:
        return False
    for i, name in enumerate(_FIELDS):
        if name not in cls.__dict__:
            return False
        _offsets[i] = _slotOffset(cls, name)
        if _offsets[i] < 0:
            return False
    _messageClass = cls
    return True


cdef Py_ssize_t _slotOffset(type cls, str name):
    """
    Where in an instance of exactly C{cls} the C{__slots__} entry C{name}
    (of C{cls} or a base) keeps its value: the byte offset of an object
    pointer (NULL while unset), or -1 when C{name} is not such a slot
    (L{_slotGet} and L{_slotSet} read and write it).
    """
    cdef PyMemberDef *member
    for klass in cls.__mro__:
        if name in klass.__dict__:
            descriptor = klass.__dict__[name]
            break
    else:
        return -1
    if type(descriptor) is not <object>&PyMemberDescr_Type:
        return -1
    member = (<PyMemberDescrObject *><PyObject *>descriptor).d_member
    # T_OBJECT_EX (16), writable, inside the object
    if member.type != 16 or member.flags != 0 or member.offset < sizeof(PyObject) or member.offset >= cls.__basicsize__:
        return -1
    return member.offset


cdef bint _messageSlotsReady() noexcept:
    """
    Whether L{_newMessage} may be called: L{useMessageClass} accepted the
    message class (other compiled modules ask before making messages).
    """
    return _messageClass is not None


cdef inline void _fill(object obj, int i, object value) noexcept:
    Py_INCREF(value)
    (<PyObject **>((<char *><PyObject *>obj) + _offsets[i]))[0] = <PyObject *>value


cdef object _newMessage(int kind, object id_, long long timestamp, long long latency, object payload, object meta):
    obj = PyType_GenericAlloc(_messageClass, 0)
    _fill(obj, 0, kind)
    _fill(obj, 1, id_)
    _fill(obj, 2, timestamp)
    _fill(obj, 3, latency)
    _fill(obj, 4, payload)
    _fill(obj, 5, meta)
    _fill(obj, 6, None)
    # Only bytes, ints and None in it: it cannot be part of a reference
    # cycle, so the cyclic collector need not follow it (CPython untracks
    # tuples of atoms the same way); without this every collection walks
    # every message read ahead.
    PyObject_GC_UnTrack(<void *>obj)
    return obj

cdef const char *SEP = b"\n\xf0\x9f\x90\xb5\xf0\x9f\x99\x88\xf0\x9f\x99\x89\n"
cdef Py_ssize_t SEPLEN = 14


cdef inline Py_ssize_t _findSep(const char *p, Py_ssize_t start, Py_ssize_t n) noexcept nogil:
    """
    The position of the first separator at or after C{start}, or -1.
    """
    cdef const char *hit
    cdef Py_ssize_t i = start + 1
    while i + SEPLEN - 1 <= n:
        hit = <const char *>memchr(p + i, 0xf0, n - i)
        if hit == NULL:
            return -1
        i = hit - p
        if i + SEPLEN - 1 > n:
            return -1
        if p[i - 1] == c'\n' and memcmp(p + i - 1, SEP, SEPLEN) == 0:
            return i - 1
        i += 1
    return -1


cdef inline bint _parseInt(const char *p, Py_ssize_t a, Py_ssize_t b, long long *out) noexcept nogil:
    """
    C{-?[0-9]{1,19}} in C{p[a:b]} within the signed 64-bit range; false for
    anything else.
    """
    cdef bint negative = False
    cdef unsigned long long value = 0
    if a < b and p[a] == c'-':
        negative = True
        a += 1
    if a >= b or b - a > 19:
        return False
    while a < b:
        if p[a] < c'0' or p[a] > c'9':
            return False
        value = value * 10 + <unsigned long long>(p[a] - c'0')
        a += 1
    if negative:
        if value > 9223372036854775808ULL:
            return False
        out[0] = <long long>(0ULL - value)
    else:
        if value > 9223372036854775807ULL:
            return False
        out[0] = <long long>value
    return True


def splitRecords(bytes buffer, Py_ssize_t start, Py_ssize_t scan, list out, factory):
    """
    Decode the well-formed records of C{buffer} from C{start} (the first
    separator searched from C{scan}, at or after C{start}), appending
    C{factory(type, id, timestamp, latency, payload, meta)} to C{out} (made
    here, slot by slot, when C{factory} is the class of L{useMessageClass}).

    @return: C{(stop, end)}: C{stop} is where decoding stopped, C{end} the
        position of the separator that ends the record starting there, or
        -1 when no complete record starts there.
    """
    cdef const char *p = PyBytes_AS_STRING(buffer)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(buffer)
    cdef Py_ssize_t end, newline, s1, s2, s3, i
    cdef const char *hit
    cdef long long timestamp, latency
    cdef int kind
    cdef bint fast = _messageClass is not None and factory is _messageClass
    while True:
        end = _findSep(p, scan, n)
        if end < 0:
            return start, -1
        hit = <const char *>memchr(p + start, c'\n', end - start)
        if hit == NULL:
            return start, end
        newline = hit - p
        if newline == start or newline + 1 >= end:
            return start, end
        # exactly three spaces in the meta line
        s1 = s2 = s3 = -1
        i = start
        while i < newline:
            if p[i] == c' ':
                if s1 < 0:
                    s1 = i
                elif s2 < 0:
                    s2 = i
                elif s3 < 0:
                    s3 = i
                else:
                    return start, end
            i += 1
        if s3 < 0 or s1 != start + 1 or s2 == s1 + 1:
            return start, end
        kind = p[start] - c'0'
        if kind < 1 or kind > 3:
            return start, end
        if not _parseInt(p, s2 + 1, s3, &timestamp):
            return start, end
        if s3 + 1 == newline:
            latency = -1
        elif not _parseInt(p, s3 + 1, newline, &latency):
            return start, end
        id_ = PyBytes_FromStringAndSize(p + s1 + 1, s2 - s1 - 1)
        payload = PyBytes_FromStringAndSize(p + newline + 1, end - newline - 1)
        meta = PyBytes_FromStringAndSize(p + start, newline - start)
        if fast:
            PyList_Append(out, _newMessage(kind, id_, timestamp, latency, payload, meta))
        else:
            PyList_Append(out, factory(kind, id_, timestamp, latency, payload, meta))
        start = end + SEPLEN
        scan = start


def encodeRecords(list messages, pure):
    """
    The records of C{messages}, framed and joined, and the size of each (as
    C{pure}, the reference, which also takes the batches holding anything
    but C{bytes}).
    """
    cdef Py_ssize_t total = 0, count = PyList_GET_SIZE(messages), i, size
    cdef list metas = [None] * count
    cdef list payloads = [None] * count
    cdef list sizes = [None] * count
    cdef object meta, payload
    for i in range(count):
        m = messages[i]
        meta = m.rawMeta
        if meta is None:
            meta = m.meta()
        payload = m.payload
        if type(meta) is not bytes or type(payload) is not bytes:
            return pure(messages)
        metas[i] = meta
        payloads[i] = payload
        size = PyBytes_GET_SIZE(meta) + PyBytes_GET_SIZE(payload) + 1 + SEPLEN
        sizes[i] = size
        total += size
    result = PyBytes_FromStringAndSize(NULL, total)
    cdef char *w = PyBytes_AS_STRING(result)
    for i in range(count):
        meta = metas[i]
        payload = payloads[i]
        size = PyBytes_GET_SIZE(meta)
        memcpy(w, PyBytes_AS_STRING(meta), size)
        w += size
        w[0] = c'\n'
        w += 1
        size = PyBytes_GET_SIZE(payload)
        memcpy(w, PyBytes_AS_STRING(payload), size)
        w += size
        memcpy(w, SEP, SEPLEN)
        w += SEPLEN
    return result, sizes
