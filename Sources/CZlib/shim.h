#ifndef GMEM_CZLIB_SHIM_H
#define GMEM_CZLIB_SHIM_H
#include <zlib.h>

/// inflateInit2 is a macro, which Swift cannot import. Window bits 15 + 32: a gzip or zlib
/// stream, told apart by its header, with the largest window.
static inline int gmem_inflate_init(z_streamp stream) {
    return inflateInit2(stream, 15 + 32);
}
#endif
