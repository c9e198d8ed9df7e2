#ifndef GMEM_BENCH_HEAP_H
#define GMEM_BENCH_HEAP_H
#include <malloc.h>
#include <stddef.h>

/// Bytes of heap in use: glibc's mallinfo2 (chunks in use plus mmapped blocks). A wrapper
/// because Swift's Glibc module does not import <malloc.h>.
static inline size_t gmem_bench_heap_in_use(void) {
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}
#endif
