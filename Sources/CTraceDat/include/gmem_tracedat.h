// trace-cmd's binary trace.dat, read through libtracecmd and libtraceevent (Debian's
// libtracecmd1 and libtraceevent1), which are loaded at run time with dlopen: gmem-audit is one
// static executable and Debian ships these libraries shared only (docs/TRACES.md).
#ifndef GMEM_TRACEDAT_H
#define GMEM_TRACEDAT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The first 10 bytes of every trace.dat: "\x17\x08\x44tracing".
#define GMEM_TRACEDAT_MAGIC_LENGTH 10
extern const unsigned char gmem_tracedat_magic[GMEM_TRACEDAT_MAGIC_LENGTH];

/// An open trace.dat: every buffer (the top one and each instance) and every CPU of it.
typedef struct gmem_tracedat gmem_tracedat;

/// One record, in time order over all buffers and CPUs. The strings belong to the trace and
/// live until it is closed.
typedef struct gmem_tracedat_record {
    /// Nanoseconds on the trace's clock.
    uint64_t ts;
    /// Events the ring buffer dropped just before this one (libtraceevent's `missed_events`):
    /// 0 none, -1 some (how many unknown), else how many.
    int64_t missed_events;
    int32_t cpu;
    int32_t pid;
    /// The event's system ("kvmmmu") and name ("kvm_mmu_set_spte"); "" when the trace has no
    /// format for its type.
    const char *system;
    const char *name;
    /// The buffer (tracefs instance) it was recorded in; "" for the top one.
    const char *buffer;
} gmem_tracedat_record;

/// Loads the libraries (once per process). 0 when loaded; else -1 and why in `error`.
/// `GMEM_LIBTRACECMD` and `GMEM_LIBTRACEEVENT` name other files to load (tests).
int gmem_tracedat_load(char *error, size_t error_size);

/// Opens the trace.dat on `fd`, which must be seekable and positioned anywhere; the trace
/// takes `fd` and closes it. NULL, with why in `error`, when libtracecmd refuses it.
gmem_tracedat *gmem_tracedat_open(int fd, char *error, size_t error_size);

/// Closes the trace and its file.
void gmem_tracedat_close(gmem_tracedat *trace);

/// The next record into `record`: 1, 0 at the end of every buffer, or -1 when libtracecmd
/// faulted reading it (a file cut short or damaged; the trace is then unusable).
int gmem_tracedat_next(gmem_tracedat *trace, gmem_tracedat_record *record);

/// The number field `name` of the record last returned, through libtraceevent's format of its
/// event (tep_find_field, tep_read_number_field): 0, or -1 when the event has no such field.
int gmem_tracedat_field(gmem_tracedat *trace, const char *name, uint64_t *value);

/// The record last returned as `trace-cmd report` prints its body (tep_print_event's info,
/// with trace-cmd's plugins), NUL-terminated in `buffer`; its length.
size_t gmem_tracedat_info(gmem_tracedat *trace, char *buffer, size_t size);


#ifdef __cplusplus
}
#endif

#endif
