// libzstd (Debian's libzstd-dev): the stored input of every batch is kept as zstd frames.
#include <zstd.h>
