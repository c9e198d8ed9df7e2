// The module's functions are static inline in include/bench_heap.h; SwiftPM needs one source.
#include "bench_heap.h"
