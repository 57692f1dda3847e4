# Scanners of HTTP/1 heads shared by the compiled speed-ups (cimported by
# twisted_gor.http._cfastpath and twisted_gor.raw._fastcapture; inline, so
# each module gets its own copy and nothing is imported at run time). They are
# the rules of twisted_gor._http1, ported; both modules' differential tests
# hold them to the Python framer.

from libc.string cimport memchr, memcmp


cdef inline unsigned char lower(unsigned char c) noexcept nogil:
    """ASCII lower case of C{c}."""
    if 65 <= c <= 90:
        return c + 32
    return c


cdef inline bint nameAt(const unsigned char* d, Py_ssize_t k, Py_ssize_t end, const char* name, Py_ssize_t size) noexcept nogil:
    """Whether d[k:k + size] (within d[:end]) is C{name} (lower case), ASCII case-insensitively."""
    cdef Py_ssize_t i
    if end - k < size:
        return False
    for i in range(size):
        if lower(d[k + i]) != <unsigned char>name[i]:
            return False
    return True


cdef inline Py_ssize_t findHeadEnd(const unsigned char* d, Py_ssize_t n) noexcept nogil:
    """The index of the first CRLFCRLF in d[:n], or -1 (bytes.find)."""
    cdef Py_ssize_t i = 0
    cdef const unsigned char* q
    while i + 4 <= n:
        q = <const unsigned char*>memchr(d + i, 13, n - i - 3)
        if q == NULL:
            return -1
        i = q - d
        if d[i + 1] == 10 and d[i + 2] == 13 and d[i + 3] == 10:
            return i
        i += 1
    return -1


cdef inline bint hasLFLF(const unsigned char* d, Py_ssize_t n) noexcept nogil:
    """Whether d[:n] contains two consecutive LF."""
    cdef Py_ssize_t i = 0
    cdef const unsigned char* q
    while i + 1 < n:
        q = <const unsigned char*>memchr(d + i, 10, n - i - 1)
        if q == NULL:
            return False
        i = q - d
        if d[i + 1] == 10:
            return True
        i += 1
    return False


cdef inline int statusLine(const unsigned char* d, Py_ssize_t n, Py_ssize_t* nl) noexcept nogil:
    """
    _http1._STATUS_LINE.match(d[:n]): the status, or -1; *nl is the index of
    the line's LF.
    """
    cdef Py_ssize_t i
    if n < 13 or memcmp(d, b"HTTP/1.", 7) != 0 or not (48 <= d[7] <= 57) or d[8] != 32:
        return -1
    for i in range(9, 12):
        if not (48 <= d[i] <= 57):
            return -1
    i = 12
    if d[i] == 32:
        i += 1
        while i < n and d[i] != 13 and d[i] != 10:
            i += 1
        if i >= n:
            return -1
    if d[i] == 13:
        i += 1
        if i >= n:
            return -1
    if d[i] != 10:
        return -1
    nl[0] = i
    return (d[9] - 48) * 100 + (d[10] - 48) * 10 + (d[11] - 48)
