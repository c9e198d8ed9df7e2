// trace.dat through libtracecmd + libtraceevent, loaded with dlopen (see gmem_tracedat.h).
// No byte of the file's format is read here: libtracecmd opens it, decompresses its sections
// and pages, and hands over each record; libtraceevent reads the fields by the kernel's format.
#define _GNU_SOURCE
#include "gmem_tracedat.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <trace-cmd.h>

const unsigned char gmem_tracedat_magic[GMEM_TRACEDAT_MAGIC_LENGTH] = {0x17, 0x08, 0x44, 't', 'r', 'a', 'c', 'i', 'n', 'g'};

// Exported by libtracecmd.so.1 and used by `trace-cmd report` itself, but not declared in
// trace-cmd.h 3.1: the next record of one buffer, merged over its CPUs by time.
struct tep_record *tracecmd_read_next_data(struct tracecmd_input *handle, int *rec_cpu);
struct tep_record *tracecmd_peek_next_data(struct tracecmd_input *handle, int *rec_cpu);

static struct {
    typeof(&tracecmd_open_fd) open_fd;
    typeof(&tracecmd_close) close;
    typeof(&tracecmd_read_next_data) read_next_data;
    typeof(&tracecmd_peek_next_data) peek_next_data;
    typeof(&tracecmd_free_record) free_record;
    typeof(&tracecmd_get_tep) get_tep;
    typeof(&tracecmd_buffer_instances) buffer_instances;
    typeof(&tracecmd_buffer_instance_name) buffer_instance_name;
    typeof(&tracecmd_buffer_instance_handle) buffer_instance_handle;
    typeof(&tracecmd_set_loglevel) set_loglevel;
    typeof(&tep_data_type) data_type;
    typeof(&tep_data_pid) data_pid;
    typeof(&tep_find_event) find_event;
    typeof(&tep_find_field) find_field;
    typeof(&tep_read_number_field) read_number_field;
    typeof(&tep_print_event) print_event;
    typeof(&tep_set_loglevel) tep_set_loglevel;
    typeof(&trace_seq_init) seq_init;
    typeof(&trace_seq_reset) seq_reset;
    typeof(&trace_seq_destroy) seq_destroy;
    typeof(&trace_seq_terminate) seq_terminate;
} lib;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static char load_error[512];
static int load_status = -1;

static void load_libraries(void) {
    const char *cmd_name = getenv("GMEM_LIBTRACECMD");
    const char *event_name = getenv("GMEM_LIBTRACEEVENT");
    if (!cmd_name || !*cmd_name) cmd_name = "libtracecmd.so.1";
    if (!event_name || !*event_name) event_name = "libtraceevent.so.1";
    void *event = dlopen(event_name, RTLD_NOW | RTLD_GLOBAL);
    if (!event) {
        snprintf(load_error, sizeof load_error,
                 "reading a trace.dat needs libtraceevent (Debian: apt-get install libtraceevent1 libtracecmd1): %s", dlerror());
        return;
    }
    void *cmd = dlopen(cmd_name, RTLD_NOW | RTLD_GLOBAL);
    if (!cmd) {
        snprintf(load_error, sizeof load_error,
                 "reading a trace.dat needs libtracecmd (Debian: apt-get install libtracecmd1): %s", dlerror());
        return;
    }
#define FIND(handle, field, symbol)                                                                             \
    do {                                                                                                        \
        *(void **)&lib.field = dlsym(handle, #symbol);                                                          \
        if (!lib.field) {                                                                                       \
            snprintf(load_error, sizeof load_error, "%s has no %s (version 1.7 / 3.1 or later is needed)",      \
                     handle == cmd ? cmd_name : event_name, #symbol);                                           \
            return;                                                                                             \
        }                                                                                                       \
    } while (0)
    FIND(cmd, open_fd, tracecmd_open_fd);
    FIND(cmd, close, tracecmd_close);
    FIND(cmd, read_next_data, tracecmd_read_next_data);
    FIND(cmd, peek_next_data, tracecmd_peek_next_data);
    FIND(cmd, free_record, tracecmd_free_record);
    FIND(cmd, get_tep, tracecmd_get_tep);
    FIND(cmd, buffer_instances, tracecmd_buffer_instances);
    FIND(cmd, buffer_instance_name, tracecmd_buffer_instance_name);
    FIND(cmd, buffer_instance_handle, tracecmd_buffer_instance_handle);
    FIND(cmd, set_loglevel, tracecmd_set_loglevel);
    FIND(event, data_type, tep_data_type);
    FIND(event, data_pid, tep_data_pid);
    FIND(event, find_event, tep_find_event);
    FIND(event, find_field, tep_find_field);
    FIND(event, read_number_field, tep_read_number_field);
    FIND(event, print_event, tep_print_event);
    FIND(event, tep_set_loglevel, tep_set_loglevel);
    FIND(event, seq_init, trace_seq_init);
    FIND(event, seq_reset, trace_seq_reset);
    FIND(event, seq_destroy, trace_seq_destroy);
    FIND(event, seq_terminate, trace_seq_terminate);
#undef FIND
    // The libraries' own warnings would go to stderr; gmem says what went wrong itself.
    lib.set_loglevel(TEP_LOG_NONE);
    lib.tep_set_loglevel(TEP_LOG_NONE);
    load_status = 0;
}

int gmem_tracedat_load(char *error, size_t error_size) {
    pthread_once(&load_once, load_libraries);
    if (load_status != 0 && error && error_size) snprintf(error, error_size, "%s", load_error);
    return load_status;
}

// A trace.dat cut short inside its CPU data (a version 6 file's last bytes) makes libtracecmd
// touch pages of its mmap past the end of the file: SIGBUS or SIGSEGV inside the library. While
// a trace is open, those signals are caught on the thread that is inside a library call, which
// then returns as "damaged" (the trace is abandoned, never used again); anywhere else the
// previous handler gets the signal as before.
static __thread sigjmp_buf *fault_jump;
static struct sigaction previous_bus, previous_segv;
static pthread_mutex_t handlers_lock = PTHREAD_MUTEX_INITIALIZER;
static int handler_users;

static void on_fault(int signal, siginfo_t *info, void *context) {
    if (fault_jump) siglongjmp(*fault_jump, signal);
    // Not ours: put the previous handler back and let the fault happen again under it.
    sigaction(SIGBUS, &previous_bus, NULL);
    sigaction(SIGSEGV, &previous_segv, NULL);
    (void)info;
    (void)context;
}

static void install_fault_handlers(void) {
    pthread_mutex_lock(&handlers_lock);
    if (handler_users++ == 0) {
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_sigaction = on_fault;
        action.sa_flags = SA_SIGINFO | SA_NODEFER;
        sigemptyset(&action.sa_mask);
        sigaction(SIGBUS, &action, &previous_bus);
        sigaction(SIGSEGV, &action, &previous_segv);
    }
    pthread_mutex_unlock(&handlers_lock);
}

static void remove_fault_handlers(void) {
    pthread_mutex_lock(&handlers_lock);
    if (--handler_users == 0) {
        sigaction(SIGBUS, &previous_bus, NULL);
        sigaction(SIGSEGV, &previous_segv, NULL);
    }
    pthread_mutex_unlock(&handlers_lock);
}

struct buffer {
    struct tracecmd_input *handle;
    struct tep_handle *tep;
    const char *name;
};

struct gmem_tracedat {
    struct tracecmd_input *top;
    struct buffer *buffers;
    int count;
    struct tep_record *current;
    struct buffer *current_buffer;
    struct trace_seq seq;
    /// A library call faulted: the handles cannot be trusted any more, not even to close.
    int damaged;
};

gmem_tracedat *gmem_tracedat_open(int fd, char *error, size_t error_size) {
    if (gmem_tracedat_load(error, error_size) != 0) {
        close(fd);
        return NULL;
    }
    install_fault_handlers();
    sigjmp_buf jump;
    if (sigsetjmp(jump, 1) != 0) {
        fault_jump = NULL;
        remove_fault_handlers();
        snprintf(error, error_size, "libtracecmd faulted reading it: the file is cut short or damaged");
        return NULL;
    }
    fault_jump = &jump;
    errno = 0;
    struct tracecmd_input *top = lib.open_fd(fd, 0);
    fault_jump = NULL;
    if (!top) {
        close(fd);
        remove_fault_handlers();
        snprintf(error, error_size, "libtracecmd cannot open it: not a trace.dat it can read, cut short or damaged");
        return NULL;
    }
    gmem_tracedat *trace = calloc(1, sizeof *trace);
    int instances = lib.buffer_instances(top);
    if (!trace || instances < 0) goto fail;
    trace->top = top;
    trace->buffers = calloc((size_t)instances + 1, sizeof *trace->buffers);
    if (!trace->buffers) goto fail;
    trace->buffers[0] = (struct buffer){top, lib.get_tep(top), ""};
    trace->count = 1;
    for (volatile int index = 0; index < instances; index++) {
        if (sigsetjmp(jump, 1) != 0) {
            fault_jump = NULL;
            trace->damaged = 1;
            snprintf(error, error_size, "libtracecmd faulted opening buffer %d of it: the file is cut short or damaged", index);
            gmem_tracedat_close(trace);
            return NULL;
        }
        fault_jump = &jump;
        struct tracecmd_input *handle = lib.buffer_instance_handle(top, index);
        fault_jump = NULL;
        if (!handle) {
            snprintf(error, error_size, "libtracecmd cannot open buffer %d of it (cut short or damaged?)", index);
            gmem_tracedat_close(trace);
            return NULL;
        }
        const char *name = lib.buffer_instance_name(top, index);
        trace->buffers[trace->count++] = (struct buffer){handle, lib.get_tep(handle), name ? name : ""};
    }
    lib.seq_init(&trace->seq);
    return trace;
fail:
    snprintf(error, error_size, "out of memory, or its buffers cannot be listed");
    if (trace) free(trace->buffers);
    free(trace);
    lib.close(top);
    remove_fault_handlers();
    return NULL;
}

void gmem_tracedat_close(gmem_tracedat *trace) {
    if (!trace) return;
    // A damaged trace's handles are left as they are (their memory is lost): closing them
    // could fault again.
    if (!trace->damaged) {
        if (trace->current) lib.free_record(trace->current);
        // The instance handles first: they hold references on the top one.
        for (int index = trace->count - 1; index >= 0; index--) lib.close(trace->buffers[index].handle);
        if (trace->seq.buffer) lib.seq_destroy(&trace->seq);
    }
    free(trace->buffers);
    free(trace);
    remove_fault_handlers();
}

static int next_record(gmem_tracedat *trace, gmem_tracedat_record *record);

int gmem_tracedat_next(gmem_tracedat *trace, gmem_tracedat_record *record) {
    if (trace->damaged) return -1;
    sigjmp_buf jump;
    if (sigsetjmp(jump, 1) != 0) {
        fault_jump = NULL;
        trace->damaged = 1;
        trace->current = NULL;
        return -1;
    }
    fault_jump = &jump;
    int found = next_record(trace, record);
    fault_jump = NULL;
    return found;
}

static int next_record(gmem_tracedat *trace, gmem_tracedat_record *record) {
    if (trace->current) {
        lib.free_record(trace->current);
        trace->current = NULL;
    }
    // Each buffer's next record is already merged over its CPUs by libtracecmd; the buffers
    // are merged here by time, the earlier buffer first on equal times.
    struct buffer *earliest = NULL;
    unsigned long long earliest_ts = 0;
    for (int index = 0; index < trace->count; index++) {
        int cpu;
        struct tep_record *peek = lib.peek_next_data(trace->buffers[index].handle, &cpu);
        if (peek && (!earliest || peek->ts < earliest_ts)) {
            earliest = &trace->buffers[index];
            earliest_ts = peek->ts;
        }
    }
    if (!earliest) return 0;
    int cpu;
    struct tep_record *next = lib.read_next_data(earliest->handle, &cpu);
    if (!next) return 0;
    trace->current = next;
    trace->current_buffer = earliest;
    struct tep_event *event = lib.find_event(earliest->tep, lib.data_type(earliest->tep, next));
    record->ts = next->ts;
    record->missed_events = next->missed_events;
    record->cpu = cpu;
    record->pid = lib.data_pid(earliest->tep, next);
    record->system = event && event->system ? event->system : "";
    record->name = event && event->name ? event->name : "";
    record->buffer = earliest->name;
    return 1;
}

int gmem_tracedat_field(gmem_tracedat *trace, const char *name, uint64_t *value) {
    if (trace->damaged || !trace->current) return -1;
    struct tep_handle *tep = trace->current_buffer->tep;
    struct tep_event *event = lib.find_event(tep, lib.data_type(tep, trace->current));
    if (!event) return -1;
    struct tep_format_field *field = lib.find_field(event, name);
    if (!field) return -1;
    unsigned long long number;
    if (lib.read_number_field(field, trace->current->data, &number) != 0) return -1;
    *value = number;
    return 0;
}

size_t gmem_tracedat_info(gmem_tracedat *trace, char *buffer, size_t size) {
    if (!size) return 0;
    buffer[0] = 0;
    if (trace->damaged || !trace->current) return 0;
    lib.seq_reset(&trace->seq);
    lib.print_event(trace->current_buffer->tep, &trace->seq, trace->current, "%s", TEP_PRINT_INFO);
    lib.seq_terminate(&trace->seq);
    size_t length = trace->seq.len < size - 1 ? trace->seq.len : size - 1;
    memcpy(buffer, trace->seq.buffer, length);
    buffer[length] = 0;
    return length;
}
