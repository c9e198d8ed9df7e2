// libzstd (Debian's libzstd-dev): zstd inputs are read with it, and every batch's input is stored as zstd frames.
#ifndef GMEM_CZSTD_SHIM_H
#define GMEM_CZSTD_SHIM_H
#include <zstd.h>
#endif
