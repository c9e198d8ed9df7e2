/*
 * gmem-kvm-capture: run a tiny real KVM guest on guest_memfd memory and log,
 * as gmem JSON Lines (docs/EVENTS.md §2), what the VMM does to that
 * memory, so that a kernel trace taken at the same time (tracefs with
 * trace_clock=mono) can be merged with the log by timestamp.
 *
 * Build:  cc -O2 -Wall -Wextra -o gmem-kvm-capture gmem-kvm-capture.c
 * Run:    gmem-kvm-capture --jsonl OUT.jsonl --truth OUT.truth.json
 *                          [--name NAME] [--marker /sys/kernel/tracing/instances/X/trace_marker]
 *                          [--tracing-on /sys/kernel/tracing/instances/X/tracing_on]
 *                          [--scenario punch-and-retouch|unbind-teardown]
 *
 * The guest is 64-bit code running at CPL3 from the first instruction (on a
 * software-virtualized KVM, CPL0 guest code is emulated and installs no
 * shadow mappings, CPL3 code faults through the MMU).  Its code, stack, page
 * tables and a command list live in an ordinary anonymous memslot (slot 0,
 * gpa 0).  Its data pages live in a guest_memfd bound as slot 1 at gpa
 * 0x100000000 (gfn 0x100000).  The guest walks the command list; every
 * request to the VMM is an OUT to a port (KVM_EXIT_IO):
 *
 *   port 0x10  convert request: rbx = gpa, rcx = npages, eax = 1 to private, 0 to shared
 *   port 0x11  sync point: eax = phase number; the VMM runs its host-side actions
 *   port 0x13  touch report: eax = index of the touch command just finished
 *   port 0x12  done
 *
 * Only libc and the Linux uapi headers are used.  The guest_memfd uapi is
 * newer than Debian's headers, so it is defined here (checked against the
 * kernel's include/uapi/linux/kvm.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* ---- guest_memfd uapi (include/uapi/linux/kvm.h, Linux 6.18) ---------------- */

#ifndef KVM_CAP_USER_MEMORY2
#define KVM_CAP_USER_MEMORY2 231
#endif
#ifndef KVM_CAP_MEMORY_ATTRIBUTES
#define KVM_CAP_MEMORY_ATTRIBUTES 233
#endif
#ifndef KVM_CAP_GUEST_MEMFD
#define KVM_CAP_GUEST_MEMFD 234
#endif
#ifndef KVM_CAP_VM_TYPES
#define KVM_CAP_VM_TYPES 235
#endif
#ifndef KVM_CAP_GUEST_MEMFD_FLAGS
#define KVM_CAP_GUEST_MEMFD_FLAGS 244
#endif
#ifndef KVM_MEM_GUEST_MEMFD
#define KVM_MEM_GUEST_MEMFD (1UL << 2)
#endif
#ifndef KVM_X86_DEFAULT_VM
#define KVM_X86_DEFAULT_VM 0
#endif
#define GMEM_FLAG_MMAP (1ULL << 0)        /* GUEST_MEMFD_FLAG_MMAP */
#define GMEM_FLAG_INIT_SHARED (1ULL << 1) /* GUEST_MEMFD_FLAG_INIT_SHARED */
#define MEMORY_ATTRIBUTE_PRIVATE (1ULL << 3) /* KVM_MEMORY_ATTRIBUTE_PRIVATE */

struct gm_userspace_memory_region2 { /* struct kvm_userspace_memory_region2 */
	uint32_t slot;
	uint32_t flags;
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t guest_memfd_offset;
	uint32_t guest_memfd;
	uint32_t pad1;
	uint64_t pad2[14];
};
struct gm_create_guest_memfd { /* struct kvm_create_guest_memfd */
	uint64_t size;
	uint64_t flags;
	uint64_t reserved[6];
};
struct gm_memory_attributes { /* struct kvm_memory_attributes */
	uint64_t address;
	uint64_t size;
	uint64_t attributes;
	uint64_t flags;
};
/* Proposed in-place conversion (RFC "KVM: guest_memfd: Introduce
 * KVM_GMEM_CONVERT_SHARED/PRIVATE ioctls", not merged): ioctls on the gmem fd. */
struct gm_gmem_convert {
	uint64_t offset;
	uint64_t size;
	uint64_t error_offset;
	uint64_t reserved[5];
};
#define GM_KVM_SET_USER_MEMORY_REGION2 _IOW(KVMIO, 0x49, struct gm_userspace_memory_region2)
#define GM_KVM_SET_MEMORY_ATTRIBUTES _IOW(KVMIO, 0xd2, struct gm_memory_attributes)
#define GM_KVM_CREATE_GUEST_MEMFD _IOWR(KVMIO, 0xd4, struct gm_create_guest_memfd)
#define GM_KVM_GMEM_IO 0xAF
#define GM_KVM_GMEM_CONVERT_SHARED _IOWR(GM_KVM_GMEM_IO, 0x41, struct gm_gmem_convert)
#define GM_KVM_GMEM_CONVERT_PRIVATE _IOWR(GM_KVM_GMEM_IO, 0x42, struct gm_gmem_convert)

_Static_assert(sizeof(struct gm_userspace_memory_region2) == 160, "kvm_userspace_memory_region2");
_Static_assert(sizeof(struct gm_create_guest_memfd) == 64, "kvm_create_guest_memfd");
_Static_assert(sizeof(struct gm_memory_attributes) == 32, "kvm_memory_attributes");

/* ---- layout ----------------------------------------------------------------- */

#define PAGE UINT64_C(4096)
#define LOW_SIZE (UINT64_C(2) << 20)    /* slot 0: code, stack, page tables, commands */
#define LOW_SLOT 0
#define GMEM_SLOT 1
#define GMEM_GPA UINT64_C(0x100000000)  /* gfn 0x100000 */
#define GMEM_PAGES UINT64_C(64)
#define GMEM_SIZE (GMEM_PAGES * PAGE)

#define PML4_GPA UINT64_C(0x1000)
#define PDPT_GPA UINT64_C(0x2000)
#define PD_LOW_GPA UINT64_C(0x3000)     /* 0 .. 1 GiB */
#define PT_LOW_GPA UINT64_C(0x4000)     /* 0 .. 2 MiB, 4 KiB pages */
#define PD_GMEM_GPA UINT64_C(0x5000)    /* 4 GiB .. 5 GiB */
#define PT_GMEM_GPA UINT64_C(0x6000)    /* 4 GiB .. 4 GiB + 2 MiB, 4 KiB pages */
#define GDT_GPA UINT64_C(0x7000)
#define TSS_GPA UINT64_C(0x8000)
#define CMD_GPA UINT64_C(0x9000)
#define CODE_GPA UINT64_C(0x10000)
#define STACK_TOP UINT64_C(0x21000)     /* stack page 0x20000 */

#define PTE_P UINT64_C(0x1)
#define PTE_RW UINT64_C(0x2)
#define PTE_US UINT64_C(0x4)

#define PORT_CONVERT 0x10
#define PORT_SYNC 0x11
#define PORT_DONE 0x12
#define PORT_TOUCHED 0x13

enum { CMD_END = 0, CMD_TOUCH = 1, CMD_CONVERT = 2, CMD_SYNC = 3 };
struct guest_cmd { uint64_t op, a, b, c; };

/*
 * Guest code: 64-bit, position independent, runs at CPL3 with IOPL=3.
 * rsi walks the command list at CMD_GPA (32-byte entries {op, a, b, c}).
 */
extern const unsigned char guest_code_start[], guest_code_end[];
__asm__(
	".pushsection .rodata\n"
	".globl guest_code_start\n"
	".globl guest_code_end\n"
	".code64\n"
	"guest_code_start:\n"
	"	movabs $0x9000, %rsi\n"          /* CMD_GPA */
	"	xor %r8d, %r8d\n"                /* command index */
	"1:	mov (%rsi), %rax\n"
	"	cmp $1, %rax\n"
	"	je 2f\n"
	"	cmp $2, %rax\n"
	"	je 4f\n"
	"	cmp $3, %rax\n"
	"	je 5f\n"
	"	mov $0x12, %dx\n"                /* CMD_END: PORT_DONE */
	"	mov %r8d, %eax\n"
	"	out %eax, %dx\n"
	"9:	jmp 9b\n"
	"2:	mov 8(%rsi), %rbx\n"             /* CMD_TOUCH gpa npages */
	"	mov 16(%rsi), %rcx\n"
	"3:	mov %rbx, (%rbx)\n"              /* write the page's own address into it */
	"	add $4096, %rbx\n"
	"	dec %rcx\n"
	"	jnz 3b\n"
	"	mov $0x13, %dx\n"                /* PORT_TOUCHED, eax = command index */
	"	mov %r8d, %eax\n"
	"	out %eax, %dx\n"
	"	jmp 8f\n"
	"4:	mov 8(%rsi), %rbx\n"             /* CMD_CONVERT gpa npages to */
	"	mov 16(%rsi), %rcx\n"
	"	mov 24(%rsi), %rax\n"
	"	mov $0x10, %dx\n"
	"	out %eax, %dx\n"
	"	jmp 8f\n"
	"5:	mov 8(%rsi), %rax\n"             /* CMD_SYNC phase */
	"	mov $0x11, %dx\n"
	"	out %eax, %dx\n"
	"8:	add $32, %rsi\n"
	"	inc %r8d\n"
	"	jmp 1b\n"
	"guest_code_end:\n"
	".popsection\n");

/* ---- output ----------------------------------------------------------------- */

static FILE *jsonl;
static const char *run_name = "capture";
static int event_no;
static uint64_t run_token; /* CLOCK_MONOTONIC at start: makes ids unique per run */
static int marker_fd = -1;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "gmem-kvm-capture: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static const char *errname(int e)
{
	switch (e) {
	case 0: return "ok";
	case EINVAL: return "EINVAL";
	case ENOTTY: return "ENOTTY";
	case EFAULT: return "EFAULT";
	case EAGAIN: return "EAGAIN";
	case EIO: return "EIO";
	case EBUSY: return "EBUSY";
	case EPERM: return "EPERM";
	case ENOMEM: return "ENOMEM";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case ENODEV: return "ENODEV";
	case EEXIST: return "EEXIST";
	case ENOSYS: return "ENOSYS";
	default: return "EUNKNOWN";
	}
}

/* A line in the kernel trace (the instance's trace_marker), to line the two up by eye. */
static void marker(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;
	if (marker_fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0 && write(marker_fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1) < 0)
		perror("trace_marker");
}

/* Starts one JSONL event; the caller appends `, "k": v` pairs and calls ev_end(). */
static void ev_begin(uint64_t ts, const char *op, const char *actor)
{
	event_no++;
	fprintf(jsonl, "{\"id\": \"%s@%" PRIu64 "/%d\", \"ts\": %" PRIu64 ", \"op\": \"%s\", \"actor\": \"%s\"",
		run_name, run_token, event_no, ts, op, actor);
}
static void ev_end(void)
{
	fprintf(jsonl, "}\n");
	fflush(jsonl);
}

/* ---- what the program knows: the truth ---------------------------------------- */

struct page_truth {
	int guest_mapped;  /* the guest touched it since the last invalidation */
	int populated;     /* a folio exists (touched by guest or host, not punched since) */
	int host_mapped;   /* the host touched it through its mmap since the last punch */
};
static struct page_truth pages[GMEM_PAGES];

#define MAX_STEPS 128
static char steps[MAX_STEPS][512];
static int nsteps;

static void step(uint64_t ts, const char *actor, const char *fmt, ...)
{
	va_list ap;
	int n;
	if (nsteps >= MAX_STEPS)
		die("too many steps");
	n = snprintf(steps[nsteps], sizeof(steps[0]), "{\"ts\": %" PRIu64 ", \"actor\": \"%s\", ", ts, actor);
	va_start(ap, fmt);
	vsnprintf(steps[nsteps] + n, sizeof(steps[0]) - (size_t)n, fmt, ap);
	va_end(ap);
	nsteps++;
}

/* "[0x100002, 0x100003]" for pages [first, first + n) */
static const char *gfn_list(uint64_t first, uint64_t n)
{
	static char buf[2][1024];
	static int which;
	char *b = buf[which ^= 1];
	size_t len = 0;
	len += (size_t)snprintf(b + len, sizeof(buf[0]) - len, "[");
	for (uint64_t i = 0; i < n; i++)
		len += (size_t)snprintf(b + len, sizeof(buf[0]) - len, "%s\"0x%" PRIx64 "\"", i ? ", " : "",
					(GMEM_GPA >> 12) + first + i);
	snprintf(b + len, sizeof(buf[0]) - len, "]");
	return b;
}

/* ---- the scenario ------------------------------------------------------------- */

/* Guest side, in gmem page indexes; the host side is in host_phase(). */
static const struct guest_cmd scenario_cmds[] = {
	{CMD_TOUCH, GMEM_GPA + 0 * PAGE, 10, 0},  /* pages 0..9 */
	{CMD_CONVERT, GMEM_GPA + 2 * PAGE, 2, 1}, /* pages 2..3 to private */
	{CMD_CONVERT, GMEM_GPA + 6 * PAGE, 1, 0}, /* page 6 to shared */
	{CMD_SYNC, 1, 0, 0},                      /* host: punch 5, touch 8..9, punch 8 */
	{CMD_TOUCH, GMEM_GPA + 2 * PAGE, 1, 0},   /* re-touch 2 */
	{CMD_TOUCH, GMEM_GPA + 5 * PAGE, 1, 0},   /* re-touch 5 */
	{CMD_TOUCH, GMEM_GPA + 8 * PAGE, 1, 0},   /* re-touch 8 */
	{CMD_TOUCH, GMEM_GPA + 12 * PAGE, 1, 0},  /* first touch of 12 */
	{CMD_END, 0, 0, 0},
};

struct vmm {
	int kvm, vm, vcpu, gmem;
	struct kvm_run *run;
	uint8_t *low;   /* slot 0 host memory */
	uint8_t *gmem_hva;
	const char *vm_id, *gmem_id;
	int caps_memattr;
	int gmem_flags_cap;
};

static void punch(struct vmm *v, uint64_t first, uint64_t n, const char *actor, const char *why)
{
	uint64_t ts = now_ns();
	int r, e;
	marker("gmem: punch_hole offset=0x%" PRIx64 " size=0x%" PRIx64 " (%s)", first * PAGE, n * PAGE, why);
	r = fallocate(v->gmem, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(first * PAGE), (off_t)(n * PAGE));
	e = r ? errno : 0;
	ev_begin(ts, "punch_hole", actor);
	fprintf(jsonl, ", \"gmem\": \"%s\", \"offset\": %" PRIu64 ", \"size\": %" PRIu64 ", \"result\": \"%s\", \"note\": \"%s\"",
		v->gmem_id, first * PAGE, n * PAGE, errname(e), why);
	ev_end();
	if (r)
		die("fallocate(PUNCH_HOLE): %s", strerror(e));
	for (uint64_t i = first; i < first + n; i++) {
		pages[i].guest_mapped = 0;
		pages[i].populated = 0;
		pages[i].host_mapped = 0;
	}
	step(ts, actor, "\"what\": \"punch_hole\", \"offset\": %" PRIu64 ", \"size\": %" PRIu64 ", \"gfns\": %s, \"why\": \"%s\"}",
	     first * PAGE, n * PAGE, gfn_list(first, n), why);
}

static void host_touch(struct vmm *v, uint64_t first, uint64_t n)
{
	uint64_t ts = now_ns();
	marker("gmem: host_access offset=0x%" PRIx64 " size=0x%" PRIx64 " hva=0x%" PRIx64, first * PAGE, n * PAGE,
	       (uint64_t)(uintptr_t)(v->gmem_hva + first * PAGE));
	for (uint64_t i = first; i < first + n; i++) {
		volatile uint64_t *p = (volatile uint64_t *)(v->gmem_hva + i * PAGE);
		*p = 0x686f737400000000ULL | i; /* "host" | page */
		pages[i].populated = 1;
		pages[i].host_mapped = 1;
	}
	ev_begin(ts, "host_access", "host");
	fprintf(jsonl, ", \"gmem\": \"%s\", \"offset\": %" PRIu64 ", \"size\": %" PRIu64 ", \"result\": \"ok\", \"note\": \"VMM wrote through its mmap of the gmem at hva 0x%" PRIx64 "\"",
		v->gmem_id, first * PAGE, n * PAGE, (uint64_t)(uintptr_t)(v->gmem_hva + first * PAGE));
	ev_end();
	step(ts, "host", "\"what\": \"host_access\", \"offset\": %" PRIu64 ", \"size\": %" PRIu64 ", \"gfns\": %s, \"hva\": \"0x%" PRIx64 "\"}",
	     first * PAGE, n * PAGE, gfn_list(first, n), (uint64_t)(uintptr_t)(v->gmem_hva + first * PAGE));
}

/* The guest asked for a conversion: log the request, try the conversion, discard the pages. */
static void handle_convert(struct vmm *v, uint64_t gpa, uint64_t npages, int to_private)
{
	uint64_t ts = now_ns();
	uint64_t first = (gpa - GMEM_GPA) / PAGE;
	const char *to = to_private ? "private" : "shared";
	struct gm_gmem_convert conv;
	int r, e;

	if (gpa < GMEM_GPA || gpa % PAGE || first + npages > GMEM_PAGES || npages == 0)
		die("guest convert request out of range: gpa 0x%" PRIx64 " npages %" PRIu64, gpa, npages);
	ev_begin(ts, "convert_request", "guest");
	fprintf(jsonl, ", \"vm\": \"%s\", \"gpa\": %" PRIu64 ", \"size\": %" PRIu64 ", \"to\": \"%s\", \"implicit\": false, \"note\": \"OUT to port 0x10 (KVM_EXIT_IO): rbx=gpa rcx=npages eax=%d\"",
		v->vm_id, gpa, npages * PAGE, to, to_private);
	ev_end();
	step(ts, "guest", "\"what\": \"convert_request\", \"gpa\": \"0x%" PRIx64 "\", \"size\": %" PRIu64 ", \"to\": \"%s\", \"gfns\": %s}",
	     gpa, npages * PAGE, to, gfn_list(first, npages));

	/* In-place conversion on the gmem fd, as proposed upstream. */
	ts = now_ns();
	memset(&conv, 0, sizeof(conv));
	conv.offset = first * PAGE;
	conv.size = npages * PAGE;
	r = ioctl(v->gmem, to_private ? GM_KVM_GMEM_CONVERT_PRIVATE : GM_KVM_GMEM_CONVERT_SHARED, &conv);
	e = r ? errno : 0;
	marker("gmem: convert to=%s offset=0x%" PRIx64 " size=0x%" PRIx64 " -> %s", to, first * PAGE, npages * PAGE, errname(e));
	ev_begin(ts, "convert", "vmm");
	fprintf(jsonl, ", \"gmem\": \"%s\", \"offset\": %" PRIu64 ", \"size\": %" PRIu64 ", \"to\": \"%s\", \"result\": \"%s\"",
		v->gmem_id, first * PAGE, npages * PAGE, to, errname(e));
	if (r && e != ENOTTY)
		fprintf(jsonl, ", \"error_offset\": %" PRIu64, conv.error_offset);
	fprintf(jsonl, ", \"note\": \"%s on the gmem fd%s; the VMM discards the pages instead (punch_hole)\"",
		to_private ? "KVM_GMEM_CONVERT_PRIVATE" : "KVM_GMEM_CONVERT_SHARED",
		e == ENOTTY ? ": ENOTTY, this kernel has no in-place conversion ioctl" : "");
	ev_end();
	step(ts, "vmm", "\"what\": \"convert_attempt\", \"ioctl\": \"%s\", \"offset\": %" PRIu64 ", \"size\": %" PRIu64 ", \"result\": \"%s\"}",
	     to_private ? "KVM_GMEM_CONVERT_PRIVATE" : "KVM_GMEM_CONVERT_SHARED", first * PAGE, npages * PAGE, errname(e));
	if (r == 0)
		die("KVM_GMEM_CONVERT_* unexpectedly succeeded: the scenario's truth assumes it does not exist");

	punch(v, first, npages, "vmm", to_private ? "discard for guest request to private" : "discard for guest request to shared");
}

static void host_phase(struct vmm *v, uint64_t phase)
{
	uint64_t ts = now_ns();
	step(ts, "guest", "\"what\": \"sync\", \"phase\": %" PRIu64 "}", phase);
	if (phase == 1) {
		punch(v, 5, 1, "vmm", "host punches on its own, no guest request");
		host_touch(v, 8, 2);
		punch(v, 8, 1, "vmm", "host punches a page it has mapped itself");
	}
}

static void guest_touched(struct vmm *v, uint64_t idx)
{
	uint64_t ts = now_ns();
	const struct guest_cmd *c;
	uint64_t first;
	(void)v;
	if (idx >= sizeof(scenario_cmds) / sizeof(scenario_cmds[0]) || scenario_cmds[idx].op != CMD_TOUCH)
		die("touch report for command %" PRIu64 " which is not a touch", idx);
	c = &scenario_cmds[idx];
	first = (c->a - GMEM_GPA) / PAGE;
	for (uint64_t i = first; i < first + c->b; i++) {
		pages[i].guest_mapped = 1;
		pages[i].populated = 1;
	}
	marker("gmem: guest touched gfn 0x%" PRIx64 " npages %" PRIu64, c->a >> 12, c->b);
	step(ts, "guest", "\"what\": \"touch\", \"gpa\": \"0x%" PRIx64 "\", \"size\": %" PRIu64 ", \"gfns\": %s, \"note\": \"reported by OUT 0x13 after the writes\"}",
	     c->a, c->b * PAGE, gfn_list(first, c->b));
}

/* ---- VM setup ------------------------------------------------------------------ */

static void setup_guest_memory(struct vmm *v)
{
	uint64_t *pml4 = (uint64_t *)(v->low + PML4_GPA);
	uint64_t *pdpt = (uint64_t *)(v->low + PDPT_GPA);
	uint64_t *pd_low = (uint64_t *)(v->low + PD_LOW_GPA);
	uint64_t *pt_low = (uint64_t *)(v->low + PT_LOW_GPA);
	uint64_t *pd_gmem = (uint64_t *)(v->low + PD_GMEM_GPA);
	uint64_t *pt_gmem = (uint64_t *)(v->low + PT_GMEM_GPA);
	uint64_t *gdt = (uint64_t *)(v->low + GDT_GPA);
	size_t code_len = (size_t)(guest_code_end - guest_code_start);
	const uint64_t f = PTE_P | PTE_RW | PTE_US; /* no A/D bits: see README (prefetch) */

	pml4[0] = PDPT_GPA | f;
	pdpt[0] = PD_LOW_GPA | f;
	pdpt[4] = PD_GMEM_GPA | f; /* 4 GiB */
	pd_low[0] = PT_LOW_GPA | f;
	for (uint64_t i = 1; i < LOW_SIZE / PAGE; i++) /* page 0 stays unmapped */
		pt_low[i] = (i * PAGE) | f;
	pd_gmem[0] = PT_GMEM_GPA | f;
	for (uint64_t i = 0; i < GMEM_PAGES; i++)
		pt_gmem[i] = (GMEM_GPA + i * PAGE) | f;

	gdt[0] = 0;
	gdt[1] = 0x00af9a000000ffffULL; /* 0x08 kernel code, 64-bit */
	gdt[2] = 0x00cf92000000ffffULL; /* 0x10 kernel data */
	gdt[3] = 0x00affa000000ffffULL; /* 0x1b user code, 64-bit, DPL3 */
	gdt[4] = 0x00cff2000000ffffULL; /* 0x23 user data, DPL3 */
	/* 0x28: 64-bit TSS at TSS_GPA, limit 0x67, type 0xb (busy) */
	gdt[5] = 0x67 | ((TSS_GPA & 0xffffff) << 16) | (0xbULL << 40) | (1ULL << 47) | (((TSS_GPA >> 24) & 0xff) << 56);
	gdt[6] = TSS_GPA >> 32;

	if (code_len > 0x10000)
		die("guest code too large");
	memcpy(v->low + CODE_GPA, guest_code_start, code_len);
	memcpy(v->low + CMD_GPA, scenario_cmds, sizeof(scenario_cmds));
}

static void setup_vcpu(struct vmm *v)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = 0x1b, .type = 0xb, .present = 1,
		.dpl = 3, .db = 0, .s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment data = {
		.base = 0, .limit = 0xffffffff, .selector = 0x23, .type = 0x3, .present = 1,
		.dpl = 3, .db = 1, .s = 1, .l = 0, .g = 1,
	};
	struct kvm_segment tr = {
		.base = TSS_GPA, .limit = 0x67, .selector = 0x28, .type = 0xb, .present = 1,
		.dpl = 0, .db = 0, .s = 0, .l = 0, .g = 0,
	};
	struct kvm_cpuid2 *cpuid;
	int nent = 256;

	cpuid = calloc(1, sizeof(*cpuid) + (size_t)nent * sizeof(struct kvm_cpuid_entry2));
	if (!cpuid)
		die("calloc");
	cpuid->nent = (uint32_t)nent;
	if (ioctl(v->kvm, KVM_GET_SUPPORTED_CPUID, cpuid) < 0)
		die("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
	if (ioctl(v->vcpu, KVM_SET_CPUID2, cpuid) < 0)
		die("KVM_SET_CPUID2: %s", strerror(errno));
	free(cpuid);

	if (ioctl(v->vcpu, KVM_GET_SREGS, &sregs) < 0)
		die("KVM_GET_SREGS: %s", strerror(errno));
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.tr = tr;
	sregs.ldt.selector = 0;
	sregs.ldt.present = 0;
	sregs.ldt.unusable = 1;
	sregs.ldt.type = 2;
	sregs.gdt.base = GDT_GPA;
	sregs.gdt.limit = 7 * 8 - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr3 = PML4_GPA;
	sregs.cr4 = 0x20 | 0x200 | 0x400;          /* PAE, OSFXSR, OSXMMEXCPT */
	sregs.cr0 = 0x80000000 | 0x10000 | 0x20 | 0x10 | 0x2 | 0x1; /* PG WP NE ET MP PE */
	sregs.efer = 0x500;                         /* LME | LMA */
	if (ioctl(v->vcpu, KVM_SET_SREGS, &sregs) < 0)
		die("KVM_SET_SREGS: %s", strerror(errno));

	memset(&regs, 0, sizeof(regs));
	regs.rip = CODE_GPA;
	regs.rsp = STACK_TOP;
	regs.rflags = 0x3002; /* IOPL=3 so that OUT works at CPL3 */
	if (ioctl(v->vcpu, KVM_SET_REGS, &regs) < 0)
		die("KVM_SET_REGS: %s", strerror(errno));
}

static void usage(void)
{
	fprintf(stderr,
		"usage: gmem-kvm-capture --jsonl FILE --truth FILE [--name NAME]\n"
		"                        [--scenario punch-and-retouch|unbind-teardown]\n"
		"                        [--marker TRACE_MARKER] [--tracing-on TRACING_ON]\n");
	exit(2);
}

static void write_tracing_on(const char *path, const char *val)
{
	int fd;
	if (!path)
		return;
	fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, val, 1) != 1)
		perror(path);
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv)
{
	const char *jsonl_path = NULL, *truth_path = NULL, *marker_path = NULL, *tracing_on_path = NULL;
	const char *scenario = "punch-and-retouch";
	struct vmm v = { .vm_id = "vm1", .gmem_id = "g1" };
	struct kvm_userspace_memory_region low_region;
	struct gm_userspace_memory_region2 region2;
	struct gm_create_guest_memfd cg;
	struct gm_memory_attributes attrs;
	struct utsname uts;
	int teardown, mmap_size, r, e, done = 0, exits = 0;
	int cap_guest_memfd, cap_user_memory2, cap_vm_types, set_attr_errno;
	uint64_t ts, ts_exit = 0;
	FILE *truth;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--jsonl") && i + 1 < argc) jsonl_path = argv[++i];
		else if (!strcmp(argv[i], "--truth") && i + 1 < argc) truth_path = argv[++i];
		else if (!strcmp(argv[i], "--name") && i + 1 < argc) run_name = argv[++i];
		else if (!strcmp(argv[i], "--scenario") && i + 1 < argc) scenario = argv[++i];
		else if (!strcmp(argv[i], "--marker") && i + 1 < argc) marker_path = argv[++i];
		else if (!strcmp(argv[i], "--tracing-on") && i + 1 < argc) tracing_on_path = argv[++i];
		else usage();
	}
	if (!jsonl_path || !truth_path)
		usage();
	if (!strcmp(scenario, "punch-and-retouch"))
		teardown = 0;
	else if (!strcmp(scenario, "unbind-teardown"))
		teardown = 1;
	else
		die("unknown scenario '%s' (punch-and-retouch, unbind-teardown)", scenario);
	if (marker_path && (marker_fd = open(marker_path, O_WRONLY)) < 0)
		die("open %s: %s", marker_path, strerror(errno));
	if (!(jsonl = fopen(jsonl_path, "w")))
		die("open %s: %s", jsonl_path, strerror(errno));
	uname(&uts);
	run_token = now_ns();

	if ((v.kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0)
		die("open /dev/kvm: %s", strerror(errno));
	cap_guest_memfd = ioctl(v.kvm, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD);
	cap_user_memory2 = ioctl(v.kvm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY2);
	cap_vm_types = ioctl(v.kvm, KVM_CHECK_EXTENSION, KVM_CAP_VM_TYPES);

	/* ---- VM ---- */
	marker("gmem: vm_create");
	ts = now_ns();
	if ((v.vm = ioctl(v.kvm, KVM_CREATE_VM, KVM_X86_DEFAULT_VM)) < 0)
		die("KVM_CREATE_VM: %s", strerror(errno));
	ev_begin(ts, "vm_create", "vmm");
	fprintf(jsonl, ", \"vm\": \"%s\", \"type\": \"default\", \"result\": \"ok\", \"note\": \"KVM_CREATE_VM(KVM_X86_DEFAULT_VM) on %s, shadow MMU\"", v.vm_id, uts.release);
	ev_end();
	v.gmem_flags_cap = ioctl(v.vm, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD_FLAGS);
	v.caps_memattr = ioctl(v.vm, KVM_CHECK_EXTENSION, KVM_CAP_MEMORY_ATTRIBUTES);
	if (v.gmem_flags_cap < 0 || (v.gmem_flags_cap & 3) != 3)
		die("KVM_CAP_GUEST_MEMFD_FLAGS = %d: need MMAP|INIT_SHARED", v.gmem_flags_cap);

	/* ---- slot 0: ordinary anonymous memory for code, stack, page tables ---- */
	v.low = mmap(NULL, LOW_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (v.low == MAP_FAILED)
		die("mmap low: %s", strerror(errno));
	setup_guest_memory(&v);
	memset(&low_region, 0, sizeof(low_region));
	low_region.slot = LOW_SLOT;
	low_region.guest_phys_addr = 0;
	low_region.memory_size = LOW_SIZE;
	low_region.userspace_addr = (uint64_t)(uintptr_t)v.low;
	if (ioctl(v.vm, KVM_SET_USER_MEMORY_REGION, &low_region) < 0)
		die("KVM_SET_USER_MEMORY_REGION slot 0: %s", strerror(errno));
	step(now_ns(), "vmm", "\"what\": \"ordinary memslot (not gmem, not in the JSONL)\", \"slot\": %d, \"gpa\": \"0x0\", \"size\": %" PRIu64 ", \"hva\": \"0x%" PRIx64 "\", \"holds\": \"page tables 0x1000-0x6fff, GDT 0x7000, TSS 0x8000, commands 0x9000, code 0x10000, stack 0x20000\"}",
	     LOW_SLOT, LOW_SIZE, (uint64_t)(uintptr_t)v.low);

	/* ---- guest_memfd ---- */
	memset(&cg, 0, sizeof(cg));
	cg.size = GMEM_SIZE;
	cg.flags = GMEM_FLAG_MMAP | GMEM_FLAG_INIT_SHARED;
	marker("gmem: gmem_create");
	ts = now_ns();
	if ((v.gmem = ioctl(v.vm, GM_KVM_CREATE_GUEST_MEMFD, &cg)) < 0)
		die("KVM_CREATE_GUEST_MEMFD: %s", strerror(errno));
	ev_begin(ts, "gmem_create", "vmm");
	fprintf(jsonl, ", \"vm\": \"%s\", \"gmem\": \"%s\", \"size\": %" PRIu64 ", \"flags\": [\"mmap\", \"init_shared\"], \"folio_size\": 4096, \"result\": \"ok\"",
		v.vm_id, v.gmem_id, GMEM_SIZE);
	ev_end();
	v.gmem_hva = mmap(NULL, GMEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, v.gmem, 0);
	if (v.gmem_hva == MAP_FAILED)
		die("mmap gmem: %s", strerror(errno));

	memset(&region2, 0, sizeof(region2));
	region2.slot = GMEM_SLOT;
	region2.flags = KVM_MEM_GUEST_MEMFD;
	region2.guest_phys_addr = GMEM_GPA;
	region2.memory_size = GMEM_SIZE;
	region2.userspace_addr = (uint64_t)(uintptr_t)v.gmem_hva;
	region2.guest_memfd = (uint32_t)v.gmem;
	region2.guest_memfd_offset = 0;
	marker("gmem: bind slot=1 gpa=0x%" PRIx64 " size=0x%" PRIx64 " hva=0x%" PRIx64, GMEM_GPA, GMEM_SIZE, (uint64_t)(uintptr_t)v.gmem_hva);
	ts = now_ns();
	if (ioctl(v.vm, GM_KVM_SET_USER_MEMORY_REGION2, &region2) < 0)
		die("KVM_SET_USER_MEMORY_REGION2: %s", strerror(errno));
	ev_begin(ts, "bind", "vmm");
	fprintf(jsonl, ", \"vm\": \"%s\", \"gmem\": \"%s\", \"slot\": %d, \"gpa\": %" PRIu64 ", \"size\": %" PRIu64 ", \"offset\": 0, \"hva\": %" PRIu64 ", \"result\": \"ok\", \"note\": \"KVM_SET_USER_MEMORY_REGION2 flags=KVM_MEM_GUEST_MEMFD, userspace_addr = the VMM's mmap of the gmem\"",
		v.vm_id, v.gmem_id, GMEM_SLOT, GMEM_GPA, GMEM_SIZE, (uint64_t)(uintptr_t)v.gmem_hva);
	ev_end();

	/* What conversion interfaces does this kernel have?  (Recorded in the truth file.) */
	memset(&attrs, 0, sizeof(attrs));
	attrs.address = GMEM_GPA;
	attrs.size = PAGE;
	attrs.attributes = 0; /* setting "shared" on a shared page: a no-op probe */
	r = ioctl(v.vm, GM_KVM_SET_MEMORY_ATTRIBUTES, &attrs);
	set_attr_errno = r ? errno : 0;

	/* ---- vCPU ---- */
	if ((v.vcpu = ioctl(v.vm, KVM_CREATE_VCPU, 0)) < 0)
		die("KVM_CREATE_VCPU: %s", strerror(errno));
	if ((mmap_size = ioctl(v.kvm, KVM_GET_VCPU_MMAP_SIZE, 0)) < 0)
		die("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
	v.run = mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v.vcpu, 0);
	if (v.run == MAP_FAILED)
		die("mmap kvm_run: %s", strerror(errno));
	setup_vcpu(&v);

	/* ---- run the guest ---- */
	marker("gmem: guest starts");
	while (!done) {
		struct kvm_regs regs;
		if (ioctl(v.vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			die("KVM_RUN: %s", strerror(errno));
		}
		if (++exits > 1000)
			die("guest did not finish after 1000 exits");
		switch (v.run->exit_reason) {
		case KVM_EXIT_IO:
			if (v.run->io.direction != KVM_EXIT_IO_OUT)
				die("unexpected IN from port 0x%x", v.run->io.port);
			if (ioctl(v.vcpu, KVM_GET_REGS, &regs) < 0)
				die("KVM_GET_REGS: %s", strerror(errno));
			switch (v.run->io.port) {
			case PORT_CONVERT:
				handle_convert(&v, regs.rbx, regs.rcx, (int)(regs.rax & 1));
				break;
			case PORT_SYNC:
				host_phase(&v, regs.rax & 0xffffffff);
				break;
			case PORT_TOUCHED:
				guest_touched(&v, regs.rax & 0xffffffff);
				break;
			case PORT_DONE:
				ts_exit = now_ns();
				marker("gmem: guest done");
				step(ts_exit, "guest", "\"what\": \"done\", \"note\": \"OUT 0x12, the guest stops here\"}");
				done = 1;
				break;
			default:
				die("OUT to unknown port 0x%x", v.run->io.port);
			}
			break;
		case KVM_EXIT_HLT:
			die("guest halted before its final OUT");
		case KVM_EXIT_SHUTDOWN: {
			struct kvm_regs rr;
			ioctl(v.vcpu, KVM_GET_REGS, &rr);
			die("guest shut down (triple fault) at rip 0x%llx", (unsigned long long)rr.rip);
		}
		case KVM_EXIT_FAIL_ENTRY:
			die("KVM_EXIT_FAIL_ENTRY: 0x%llx", (unsigned long long)v.run->fail_entry.hardware_entry_failure_reason);
		case KVM_EXIT_INTERNAL_ERROR:
			die("KVM_EXIT_INTERNAL_ERROR: suberror %u", v.run->internal.suberror);
		case KVM_EXIT_MMIO:
			die("unexpected MMIO at 0x%llx", (unsigned long long)v.run->mmio.phys_addr);
		default:
			die("unexpected exit reason %u", v.run->exit_reason);
		}
	}

	/* The state the truth file promises: what the guest had mapped at its final OUT. */
	{
		struct page_truth at_exit[GMEM_PAGES];
		memcpy(at_exit, pages, sizeof(pages));

		if (teardown) {
			/* The VMM unmaps its own view: an mmu-notifier unmap of the whole hva range. */
			ts = now_ns();
			marker("gmem: munmap gmem hva");
			if (munmap(v.gmem_hva, GMEM_SIZE) < 0)
				die("munmap: %s", strerror(errno));
			for (uint64_t i = 0; i < GMEM_PAGES; i++) {
				pages[i].guest_mapped = 0;
				pages[i].host_mapped = 0;
			}
			step(ts, "vmm", "\"what\": \"munmap of the gmem's host mapping (not a gmem op; shows in the trace as kvm_unmap_hva_range over the whole hva range)\", \"hva\": \"0x%" PRIx64 "\", \"size\": %" PRIu64 "}",
			     (uint64_t)(uintptr_t)v.gmem_hva, GMEM_SIZE);

			/* Delete the gmem memslot. */
			memset(&region2, 0, sizeof(region2));
			region2.slot = GMEM_SLOT;
			region2.flags = KVM_MEM_GUEST_MEMFD;
			region2.guest_phys_addr = GMEM_GPA;
			region2.memory_size = 0;
			region2.userspace_addr = (uint64_t)(uintptr_t)v.gmem_hva;
			region2.guest_memfd = (uint32_t)v.gmem;
			marker("gmem: unbind slot=1");
			ts = now_ns();
			r = ioctl(v.vm, GM_KVM_SET_USER_MEMORY_REGION2, &region2);
			e = r ? errno : 0;
			ev_begin(ts, "unbind", "vmm");
			fprintf(jsonl, ", \"vm\": \"%s\", \"slot\": %d, \"result\": \"%s\", \"note\": \"KVM_SET_USER_MEMORY_REGION2 with memory_size 0\"", v.vm_id, GMEM_SLOT, errname(e));
			ev_end();
			if (r)
				die("delete memslot: %s", strerror(e));
			step(ts, "vmm", "\"what\": \"unbind\", \"slot\": %d}", GMEM_SLOT);

			close(v.vcpu);
			ts = now_ns();
			munmap(v.run, (size_t)mmap_size);
			step(ts, "vmm", "\"what\": \"munmap of the vCPU's kvm_run (not gmem: a kvm_unmap_hva_range that no binding covers)\", \"hva\": \"0x%" PRIx64 "\", \"size\": %d}",
			     (uint64_t)(uintptr_t)v.run, mmap_size);
			marker("gmem: vm_destroy");
			ts = now_ns();
			close(v.vm);
			ev_begin(ts, "vm_destroy", "vmm");
			fprintf(jsonl, ", \"vm\": \"%s\", \"note\": \"the VMM closed the VM fd; the gmem file still holds a VM reference, so the kernel frees the VM (its last shadow root) when the gmem is closed\"", v.vm_id);
			ev_end();
			step(ts, "vmm", "\"what\": \"vm_destroy\"}");
			ts = now_ns();
			close(v.gmem);
			ev_begin(ts, "gmem_close", "vmm");
			fprintf(jsonl, ", \"gmem\": \"%s\"", v.gmem_id);
			ev_end();
			step(ts, "vmm", "\"what\": \"gmem_close\"}");
			for (uint64_t i = 0; i < GMEM_PAGES; i++)
				pages[i].populated = 0;
			marker("gmem: capture ends");
			write_tracing_on(tracing_on_path, "0");
		} else {
			/* The capture window ends at the guest's final OUT: stop the trace before teardown. */
			marker("gmem: capture ends");
			write_tracing_on(tracing_on_path, "0");
		}

		/* ---- truth ---- */
		if (!(truth = fopen(truth_path, "w")))
			die("open %s: %s", truth_path, strerror(errno));
		fprintf(truth, "{\n  \"name\": \"%s\",\n  \"scenario\": \"%s\",\n  \"kernel\": \"%s %s\",\n  \"clock\": \"CLOCK_MONOTONIC ns (trace_clock=mono)\",\n",
			run_name, scenario, uts.release, uts.version);
		fprintf(truth, "  \"jsonl_id_prefix\": \"%s@%" PRIu64 "/\",\n", run_name, run_token);
		fprintf(truth, "  \"vm\": \"%s\", \"vm_type\": \"default\", \"gmem\": \"%s\", \"gmem_size\": %" PRIu64 ", \"gmem_flags\": [\"mmap\", \"init_shared\"],\n",
			v.vm_id, v.gmem_id, GMEM_SIZE);
		fprintf(truth, "  \"binding\": {\"slot\": %d, \"gpa\": \"0x%" PRIx64 "\", \"gfn_first\": \"0x%" PRIx64 "\", \"gfn_last\": \"0x%" PRIx64 "\", \"size\": %" PRIu64 ", \"offset\": 0, \"hva\": \"0x%" PRIx64 "\", \"hva_end\": \"0x%" PRIx64 "\"},\n",
			GMEM_SLOT, GMEM_GPA, GMEM_GPA >> 12, (GMEM_GPA >> 12) + GMEM_PAGES - 1, GMEM_SIZE,
			(uint64_t)(uintptr_t)v.gmem_hva, (uint64_t)(uintptr_t)v.gmem_hva + GMEM_SIZE);
		fprintf(truth, "  \"kernel_facts\": {\"KVM_CAP_GUEST_MEMFD\": %d, \"KVM_CAP_USER_MEMORY2\": %d, \"KVM_CAP_VM_TYPES\": %d, \"KVM_CAP_GUEST_MEMFD_FLAGS\": %d, \"KVM_CAP_MEMORY_ATTRIBUTES\": %d, \"KVM_SET_MEMORY_ATTRIBUTES(shared) on this VM\": \"%s\"},\n",
			cap_guest_memfd, cap_user_memory2, cap_vm_types, v.gmem_flags_cap, v.caps_memattr, errname(set_attr_errno));
		for (int pass = 0; pass < 2; pass++) {
			struct page_truth *pt = pass == 0 ? at_exit : pages;
			const char *key = pass == 0 ? "at_guest_exit" : "at_end_of_log";
			int first = 1;
			fprintf(truth, "  \"%s\": {\"ts\": %" PRIu64 ",\n    \"mapped_gfns\": [", key, pass == 0 ? ts_exit : now_ns());
			for (uint64_t i = 0; i < GMEM_PAGES; i++)
				if (pt[i].guest_mapped) {
					fprintf(truth, "%s\"0x%" PRIx64 "\"", first ? "" : ", ", (GMEM_GPA >> 12) + i);
					first = 0;
				}
			fprintf(truth, "],\n    \"mapped_offsets\": [");
			first = 1;
			for (uint64_t i = 0; i < GMEM_PAGES; i++)
				if (pt[i].guest_mapped) {
					fprintf(truth, "%s%" PRIu64, first ? "" : ", ", i * PAGE);
					first = 0;
				}
			fprintf(truth, "],\n    \"populated_offsets\": [");
			first = 1;
			for (uint64_t i = 0; i < GMEM_PAGES; i++)
				if (pt[i].populated) {
					fprintf(truth, "%s%" PRIu64, first ? "" : ", ", i * PAGE);
					first = 0;
				}
			fprintf(truth, "],\n    \"host_mapped_offsets\": [");
			first = 1;
			for (uint64_t i = 0; i < GMEM_PAGES; i++)
				if (pt[i].host_mapped) {
					fprintf(truth, "%s%" PRIu64, first ? "" : ", ", i * PAGE);
					first = 0;
				}
			fprintf(truth, "]},\n");
		}
		fprintf(truth, "  \"steps\": [\n");
		for (int i = 0; i < nsteps; i++)
			fprintf(truth, "    %s%s\n", steps[i], i + 1 < nsteps ? "," : "");
		fprintf(truth, "  ]\n}\n");
		fclose(truth);
	}
	fclose(jsonl);
	return 0;
}
