#ifndef GMEM_CZSTD_SHIM_H
#define GMEM_CZSTD_SHIM_H
#include <zstd.h>
#endif
