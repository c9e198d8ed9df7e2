#!/usr/bin/env bash
# Generate a large kernel trace, with the VMM log that binds its gfns, to measure trace ingest.
#
# usage: scripts/make-big-trace.sh MEGABYTES OUTDIR
#
# Writes OUTDIR/big.jsonl (vm_create, gmem_create of a 1 GiB gmem, bind at gpa 0x100000000)
# and OUTDIR/big.trace: about MEGABYTES MiB of tracefs text that repeats the line shapes of
# seeds/real/punch-and-retouch.trace (a shadow-MMU fault: pagetable walk, paging elements,
# accessed bit, spte_requested + set_spte, then the OUT that ends it: emulate_insn, pio,
# userspace_exit), each fault on a different gfn of the binding, with one kvm_unmap_hva_range
# of a bound page every 16 faults and a tracing_mark_write every 64. Times are CLOCK_MONOTONIC
# style seconds, strictly increasing, after the JSONL's events. GMEM_BIG_TRACE_PAGES (default
# 262144, the whole gmem) bounds how many distinct pages the faults touch: with a small number
# the engine state stays small, so the peak memory shows what the trace's size alone costs.
#
#   scripts/make-big-trace.sh 100 /tmp/big
#   /usr/bin/time -v gmem-audit ingest --db /tmp/big/gmem.db --merge /tmp/big/big.jsonl /tmp/big/big.trace
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 MEGABYTES OUTDIR" >&2; exit 2; }
MB=$1
OUT=$2
[[ $MB =~ ^[0-9]+$ ]] && [ "$MB" -gt 0 ] || { echo "$0: MEGABYTES must be a whole number above 0" >&2; exit 2; }
mkdir -p "$OUT"

HVA=$((0x7f8121000000))
cat >"$OUT/big.jsonl" <<EOF
{"op": "vm_create", "vm": "vm1", "type": "default", "ts": 731000000000}
{"op": "gmem_create", "vm": "vm1", "gmem": "g1", "size": 1073741824, "flags": ["mmap"], "ts": 731000100000}
{"op": "bind", "vm": "vm1", "gmem": "g1", "slot": 1, "gpa": 4294967296, "size": 1073741824, "offset": 0, "hva": $HVA, "ts": 731000200000}
EOF

PAGES=${GMEM_BIG_TRACE_PAGES:-262144}
[[ $PAGES =~ ^[0-9]+$ ]] && [ "$PAGES" -ge 1 ] && [ "$PAGES" -le 262144 ] ||
	{ echo "$0: GMEM_BIG_TRACE_PAGES must be 1 to 262144" >&2; exit 2; }
python3 - "$MB" "$HVA" "$OUT/big.trace" "$PAGES" <<'PY'
import sys

megabytes, hva, path, pages = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
limit = megabytes * 1048576
task = " gmem-kvm-captur-5820    [000] "
us = 731_001_000  # microseconds on CLOCK_MONOTONIC, after the JSONL's events
written = 0
i = 0
with open(path, "w") as out:
    while written < limit:
        page = (i * 7919) % pages
        gfn = 0x100000 + page
        pfn = 0x126000 + (i % 1048576)
        addr = 0x100000000 + page * 4096
        def at(flags):
            return f"{task}{flags}   {us // 1000000}.{us % 1000000:06d}: "
        block = [
            at(".....") + f"kvm_mmu_pagetable_walk: addr {addr:x} pferr 6 W|U",
            at(".....") + "kvm_mmu_paging_element: pte 2027 level 4",
            at(".....") + "kvm_mmu_paging_element: pte 3027 level 3",
            at(".....") + "kvm_mmu_paging_element: pte 6027 level 2",
            at(".....") + f"kvm_mmu_paging_element: pte {addr + 7:x} level 1",
            at(".....") + f"kvm_mmu_set_accessed_bit: gpa {0x6000 + (page % 512) * 8:x}",
        ]
        us += 1
        block += [
            at("...1.") + f"kvm_mmu_spte_requested: gfn {gfn:x} pfn {pfn:x} level 1",
            at("...1.") + f"kvm_mmu_set_spte: gfn {gfn:x} spte {pfn:x}e67 (rwxu) level 1 at {0x1226c2000 + (page % 512) * 8:x}",
        ]
        us += 5
        block += [
            at(".....") + "kvm_emulate_insn: 0:1004a:ef (prot64)",
            at(".....") + f"kvm_pio: pio_write at 0x13 size 4 count 1 val 0x{i % 4096:x} ",
        ]
        us += 2
        block.append(at(".....") + "kvm_userspace_exit: reason KVM_EXIT_IO (2)")
        if i % 16 == 15:
            start = hva + ((i * 31) % pages) * 4096
            us += 3
            block.append(at(".....") + f"kvm_unmap_hva_range: mmu notifier unmap range: {start:#016x} -- {start + 4096:#016x}")
        if i % 64 == 63:
            block.append(at("...1.") + f"tracing_mark_write: gmem: guest touched gfn {gfn:#x} npages 1")
        us += 4
        text = "\n".join(block) + "\n"
        out.write(text)
        written += len(text)
        i += 1
PY

echo "make-big-trace: $OUT/big.trace $(wc -c <"$OUT/big.trace") bytes, $(wc -l <"$OUT/big.trace") lines; $OUT/big.jsonl" >&2
