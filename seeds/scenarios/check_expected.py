#!/usr/bin/env python3
"""Replay the scenario logs with a deliberately simple model and compare with the hand-computed states.

The rules are those of docs/EVENTS.md section 4 and docs/MODEL.md. The model keeps one
dict per page ("page" mode). A 1 TiB file has 2^28 pages, too many for that, so the script also has a
"cell" mode: a file is a sorted list of cells, each a dict for a block of equal pages, split lazily at
the edges of each event's range and never merged until the output. Every rule reads and writes whole
cells, so a cell behaves exactly like a page. Small scenarios run in both modes, which must agree;
scenarios with files larger than PAGE_MODE_LIMIT run in cell mode only, and the script says so.

Usage: check_expected.py [-v] [SCENARIO.jsonl ...]   (default: every NN-*.jsonl beside this script)
  -v   print each event with the expected and the observed outcome
  --print   print the replayed state instead of comparing
Exit status: 0 when every replayed state equals its .state.json, 1 otherwise.
"""

import bisect
import copy
import glob
import json
import os
import sys

PAGE = 4096
PAGE_MODE_LIMIT = 64 << 20  # bytes of gmem per file above which page mode is skipped
HOLDERS = ("td", "iommu", "vfio", "gup")
HOST_HOLDERS = ("iommu", "vfio", "gup")
ZAPPING = ("zap", "punch_hole", "unbind", "convert")
RANGE_OPS = ("populate", "punch_hole", "map", "zap", "convert_request", "convert", "accept",
             "pin", "release", "host_access")


class DecodeError(Exception):
    pass


def num(v, what):
    if isinstance(v, bool):
        raise DecodeError(f"{what}: boolean is not a number")
    if isinstance(v, int):
        return v
    if isinstance(v, str):
        s = v.strip()
        try:
            return int(s, 16) if s.lower().startswith("0x") else int(s, 10)
        except ValueError:
            pass
    raise DecodeError(f"{what}: not a number: {v!r}")


def ident(v, what):
    if isinstance(v, bool) or v is None:
        raise DecodeError(f"{what}: not an identifier: {v!r}")
    if isinstance(v, (int, str)):
        return str(v)
    raise DecodeError(f"{what}: not an identifier: {v!r}")


def new_page(shared):
    return {"sh": "shared" if shared else "private", "pop": False, "pfn": None, "mapped": False,
            "acc": False, "pins": {h: 0 for h in HOLDERS}, "req": "none", "quar": False}


class Gmem:
    """One gmem file: cells [start, end) with one page-state dict each (pfn = frame of the first page)."""

    def __init__(self, gid, vm, size, shared, page_mode):
        self.id, self.vm, self.size, self.open = gid, vm, size, True
        step = PAGE if page_mode else size
        self.starts = list(range(0, size, step))
        self.cells = {s: new_page(shared) for s in self.starts}

    def end_of(self, i):
        return self.starts[i + 1] if i + 1 < len(self.starts) else self.size

    def split(self, x):
        if x <= 0 or x >= self.size:
            return
        i = bisect.bisect_right(self.starts, x) - 1
        s = self.starts[i]
        if s == x:
            return
        c = copy.deepcopy(self.cells[s])
        if c["pfn"] is not None:
            c["pfn"] += (x - s) // PAGE
        self.starts.insert(i + 1, x)
        self.cells[x] = c

    def pages(self, off, size):
        """The cells covering [off, off+size), as (start, dict), in offset order."""
        self.split(off)
        self.split(off + size)
        i = bisect.bisect_left(self.starts, off)
        out = []
        while i < len(self.starts) and self.starts[i] < off + size:
            out.append((self.starts[i], self.cells[self.starts[i]]))
            i += 1
        return out

    def runs(self):
        out = []
        for i, s in enumerate(self.starts):
            c, e = self.cells[s], self.end_of(i)
            pins = {h: c["pins"][h] for h in HOLDERS if c["pins"][h] > 0}
            run = {"gmem": self.id, "vm": self.vm, "offset": s, "size": e - s, "shareability": c["sh"],
                   "populated": c["pop"], "mapped": c["mapped"], "accepted": c["acc"], "pins": pins,
                   "requested": c["req"], "quarantined": c["quar"]}
            pfn = c["pfn"] if c["pop"] else None
            if pfn is not None:
                run["pfn"] = pfn
            if out:
                p = out[-1]
                same = all(p[k] == run[k] for k in run if k not in ("offset", "size", "pfn"))
                if same and ("pfn" in p) == ("pfn" in run) and (
                        "pfn" not in run or p["pfn"] + p["size"] // PAGE == run["pfn"]):
                    p["size"] += run["size"]
                    continue
            out.append(run)
        return out


class VM:
    def __init__(self, name, vtype, tdx_connect):
        self.name, self.type, self.tdx_connect = name, vtype, tdx_connect
        self.status = "alive"
        self.bindings = {}  # slot -> (gpa, size, gmem, offset)


class Replay:
    def __init__(self, page_mode, verbose=False):
        self.page_mode, self.verbose = page_mode, verbose
        self.vms, self.gmems = {}, {}
        self.frames = {}  # pfn -> owner handed by reuse
        self.divergences = []

    # ---- addressing -------------------------------------------------------------------------
    def resolve(self, ev):
        """(vm name, [(gmem, offset, size, address of the piece's start in the event's addressing)])
        or None when nothing resolves."""
        size = ev["size"]
        if "gmem" in ev and "offset" in ev:
            g = self.gmems.get(ev["gmem"])
            if g is None or not g.open or ev["offset"] + size > g.size:
                return None
            return g.vm, [(g, ev["offset"], size, ev["offset"])]
        vm = self.vms.get(ev["vm"])
        if vm is None:
            return None
        lo, hi, pieces = ev["gpa"], ev["gpa"] + size, []
        for gpa, bsize, gid, boff in sorted(vm.bindings.values()):
            a, b = max(lo, gpa), min(hi, gpa + bsize)
            g = self.gmems.get(gid)
            if a < b and g is not None and g.open:
                pieces.append((g, a - gpa + boff, b - a, a))
        return (vm.name, pieces) if pieces else None

    def dead(self, vm):
        v = self.vms.get(vm)
        return v is not None and v.status in ("bugged", "destroyed")

    @staticmethod
    def cells(pieces):
        for g, off, size, addr in pieces:
            for start, c in g.pages(off, size):
                yield addr + (start - off), c

    def zap_fails(self, pieces):
        return any(c["mapped"] and c["pins"]["td"] > 0 for _, c in self.cells(pieces))

    # ---- one event ----------------------------------------------------------------------------
    def apply(self, ev, where):
        op = ev["op"]
        expected, exp_eo, pieces, vm = self.expect(ev)
        observed = ev.get("result")
        obs_eo = ev.get("error_offset")
        if expected is not None and observed is not None and (
                observed != expected or (expected == "EAGAIN" and obs_eo != exp_eo)):
            self.divergences.append(f"{where}: {op} expected {expected}"
                                    f"{'' if exp_eo is None else ' @%#x' % exp_eo} observed {observed}"
                                    f"{'' if obs_eo is None else ' @%#x' % obs_eo}")
        if self.verbose:
            eo = "" if exp_eo is None else " error_offset=%#x" % exp_eo
            print(f"  {where}: {op:16} expected={expected}{eo} observed={observed}"
                  f"{'' if expected is not None else ' (unresolved)'}")
        if expected is None:
            return  # unresolved: stored as evidence, no state change
        effective = observed if observed is not None else expected
        if effective == "ok":
            self.succeed(ev, pieces, vm)
        elif effective == "EIO" and op in ZAPPING:
            # An op its dead VM refused attempts no zap and quarantines nothing (docs/MODEL.md).
            refused = self.vms[vm].status != "alive" and not (
                op == "punch_hole" or (op == "zap" and ev.get("reason") == "teardown"))
            self.vms[vm].status = "bugged" if self.vms[vm].status == "alive" else self.vms[vm].status
            for _, c in ([] if refused else self.cells(pieces)):
                if c["mapped"] and c["pins"]["td"] > 0:
                    c["quar"] = True
            if op == "unbind":
                self.vms[vm].bindings.pop(ev["slot"], None)

    def expect(self, ev):
        """(expected outcome or None when unresolved, expected error_offset, pieces, vm)."""
        op = ev["op"]
        if op == "vm_create":
            return "ok", None, [], ev["vm"]
        if op in ("vm_destroy", "vm_bugged"):
            v = self.vms.get(ev["vm"])
            if v is None:
                return None, None, [], None
            if op == "vm_destroy":
                return ("EIO" if v.status == "destroyed" else "ok"), None, [], v.name
            return "ok", None, [], v.name
        if op == "gmem_create":
            return ("EIO" if self.dead(ev["vm"]) else "ok"), None, [], ev["vm"]
        if op == "gmem_close":
            g = self.gmems.get(ev["gmem"])
            return (None if g is None or not g.open else "ok"), None, [], g.vm if g else None
        if op == "bind":
            g, v = self.gmems.get(ev["gmem"]), self.vms.get(ev["vm"])
            if g is None or v is None or not g.open:
                return None, None, [], None
            if self.dead(v.name):
                return "EIO", None, [], v.name
            if ev["offset"] + ev["size"] > g.size or g.vm != v.name:
                return "EINVAL", None, [], v.name
            for gpa, size, gid, off in v.bindings.values():
                if ev["gpa"] < gpa + size and gpa < ev["gpa"] + ev["size"]:
                    return "EEXIST", None, [], v.name
            for w in self.vms.values():
                for gpa, size, gid, off in w.bindings.values():
                    if gid == g.id and ev["offset"] < off + size and off < ev["offset"] + ev["size"]:
                        return "EEXIST", None, [], v.name
            return "ok", None, [], v.name
        if op == "unbind":
            v = self.vms.get(ev["vm"])
            if v is None or ev["slot"] not in v.bindings:
                return None, None, [], None
            gpa, size, gid, off = v.bindings[ev["slot"]]
            g = self.gmems.get(gid)
            pieces = [(g, off, size, gpa)] if g is not None and g.open else []
            if self.dead(v.name):
                return "EIO", None, pieces, v.name
            return ("EIO" if self.zap_fails(pieces) else "ok"), None, pieces, v.name
        if op in ("reuse", "mce"):
            return "ok", None, [], None
        # range ops
        r = self.resolve(ev)
        if r is None:
            return None, None, [], None
        vm, pieces = r
        holder = ev.get("holder")
        exempt = op in ("punch_hole", "populate", "host_access") or (
            op == "release" and holder in HOST_HOLDERS) or (op == "zap" and ev.get("reason") == "teardown")
        if self.dead(vm) and not exempt:
            return "EIO", None, pieces, vm
        cells = list(self.cells(pieces))
        if op in ("zap", "punch_hole"):
            return ("EIO" if self.zap_fails(pieces) else "ok"), None, pieces, vm
        if op == "convert":
            if ev["to"] == "private":
                for addr, c in cells:
                    if any(c["pins"][h] > 0 for h in HOST_HOLDERS):
                        return "EAGAIN", addr, pieces, vm
            return ("EIO" if self.zap_fails(pieces) else "ok"), None, pieces, vm
        if op == "accept":
            bad = any(c["acc"] for _, c in cells)
            return ("TDX_PAGE_ALREADY_ACCEPTED" if bad else "ok"), None, pieces, vm
        if op == "release":
            if any(c["pins"][holder] == 0 for _, c in cells):
                return ("TDX_OPERAND_INVALID" if holder == "td" else "EINVAL"), None, pieces, vm
            return "ok", None, pieces, vm
        if op == "host_access":
            g = pieces[0][0]
            if "mmap" not in g.flags:
                return "ENODEV", None, pieces, vm
            return ("SIGBUS" if any(c["sh"] == "private" for _, c in cells) else "ok"), None, pieces, vm
        return "ok", None, pieces, vm  # populate, map, convert_request, pin

    def succeed(self, ev, pieces, vm):
        op = ev["op"]
        if op == "vm_create":
            self.vms[ev["vm"]] = VM(ev["vm"], ev.get("type", "tdx"), ev.get("tdx_connect", False))
        elif op == "vm_destroy":
            v = self.vms[vm]
            v.status, v.bindings = "destroyed", {}
            for g in self.gmems.values():
                if g.open and g.vm == vm:
                    for _, c in g.pages(0, g.size):
                        c["mapped"] = c["acc"] = False
        elif op == "vm_bugged":
            self.vms[vm].status = "bugged"
        elif op == "gmem_create":
            g = Gmem(ev["gmem"], ev["vm"], ev["size"], "init_shared" in ev.get("flags", []),
                     self.page_mode)
            g.flags = ev.get("flags", [])
            self.gmems[g.id] = g
        elif op == "gmem_close":
            self.gmems[ev["gmem"]].open = False
        elif op == "bind":
            self.vms[vm].bindings[ev["slot"]] = (ev["gpa"], ev["size"], ev["gmem"], ev["offset"])
        elif op == "unbind":
            for _, c in self.cells(pieces):
                c["mapped"] = c["acc"] = c["quar"] = False
            self.vms[vm].bindings.pop(ev["slot"], None)
        elif op in ("reuse",):
            for i in range(ev["npages"]):
                self.frames[ev["pfn"] + i] = ev.get("owner")
        elif op in ("mce", "host_access"):
            pass
        else:
            for g, off, size, addr in pieces:
                for start, c in g.pages(off, size):
                    self.page_success(ev, c, start - off)

    @staticmethod
    def page_success(ev, c, delta):
        op = ev["op"]
        # Every zapping op (zap, punch_hole, unbind, convert) whose zap succeeds clears quarantine:
        # the unmap that failed before has now worked (EVENTS.md 3: "cleared only by a later successful zap").
        if op == "populate":
            c["pop"] = True
            c["pfn"] = ev["pfn"] + delta // PAGE if "pfn" in ev else None
        elif op == "punch_hole":
            c["mapped"] = c["acc"] = c["pop"] = c["quar"] = False
            c["pfn"] = None
        elif op == "map":
            c["mapped"] = True
        elif op == "zap":
            c["mapped"] = c["acc"] = c["quar"] = False
        elif op == "convert_request":
            c["req"] = ev["to"]
        elif op == "convert":
            c["sh"] = ev["to"]
            c["mapped"] = c["acc"] = c["quar"] = False
            if c["req"] == ev["to"]:
                c["req"] = "none"
        elif op == "accept":
            c["acc"] = True
            if ev["_tdx_connect"]:
                c["pins"]["td"] += 1
        elif op == "pin":
            c["pins"][ev["holder"]] += 1
        elif op == "release":
            c["pins"][ev["holder"]] = max(0, c["pins"][ev["holder"]] - 1)
            if ev["holder"] == "td":
                c["acc"] = False

    def state(self):
        out = []
        for gid in sorted(self.gmems, key=lambda s: s.encode()):
            g = self.gmems[gid]
            if g.open:
                out.extend(g.runs())
        return out


REQUIRED = {
    "vm_create": ("vm",), "vm_destroy": ("vm",), "vm_bugged": ("vm",),
    "gmem_create": ("vm", "gmem", "size"), "gmem_close": ("gmem",),
    "bind": ("vm", "gmem", "slot", "gpa", "size", "offset"), "unbind": ("vm", "slot"),
    "convert_request": ("vm", "gpa", "size", "to"), "convert": ("to",),
    "pin": ("holder",), "release": ("holder",), "reuse": ("pfn", "npages"), "mce": ("pfn",),
}


def decode(line, where):
    try:
        ev = json.loads(line)
    except json.JSONDecodeError as e:
        raise DecodeError(f"{where}: not JSON: {e}")
    if not isinstance(ev, dict):
        raise DecodeError(f"{where}: not a JSON object")
    op = ev.get("op")
    if op not in REQUIRED and op not in RANGE_OPS:
        raise DecodeError(f"{where}: unknown op {op!r}")
    for f in REQUIRED.get(op, ()):
        if f not in ev:
            raise DecodeError(f"{where}: {op} needs {f}")
    if op in RANGE_OPS:
        if not ("gmem" in ev and "offset" in ev) and not ("vm" in ev and "gpa" in ev):
            raise DecodeError(f"{where}: {op} needs gmem+offset or vm+gpa")
        if "size" not in ev:
            raise DecodeError(f"{where}: {op} needs size")
    for f in ("vm", "gmem", "host"):
        if f in ev:
            ev[f] = ident(ev[f], f"{where}: {f}")
    for f in ("offset", "size", "gpa", "pfn", "npages", "slot", "error_offset", "hva"):
        if f in ev:
            ev[f] = num(ev[f], f"{where}: {f}")
    for f in ("offset", "size", "gpa"):
        if f in ev and ev[f] % PAGE:
            raise DecodeError(f"{where}: {f} {ev[f]:#x} is not a multiple of 4096")
    if "size" in ev and ev["size"] <= 0:
        raise DecodeError(f"{where}: size must be > 0")
    if "to" in ev and ev["to"] not in ("shared", "private"):
        raise DecodeError(f"{where}: bad to {ev['to']!r}")
    if "holder" in ev and ev["holder"] not in HOLDERS:
        raise DecodeError(f"{where}: bad holder {ev['holder']!r}")
    if "folio_size" in ev and ev["folio_size"] not in (4096, 2097152, 1073741824):
        raise DecodeError(f"{where}: bad folio_size {ev['folio_size']!r}")
    for f in ("tdx_connect", "implicit"):
        if f in ev and not isinstance(ev[f], bool):
            raise DecodeError(f"{where}: {f} must be a JSON boolean")
    if "flags" in ev and not isinstance(ev["flags"], list):
        raise DecodeError(f"{where}: flags must be a list")
    if "ts" not in ev or not isinstance(ev["ts"], (str, int)):
        raise DecodeError(f"{where}: scenario events carry a ts")
    return ev


def replay(path, page_mode, verbose=False):
    r = Replay(page_mode, verbose)
    with open(path) as f:
        for n, line in enumerate(f, 1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            ev = decode(s, f"{os.path.basename(path)}:{n}")
            vm = ev.get("vm")
            if vm is None and "gmem" in ev and ev["gmem"] in r.gmems:
                vm = r.gmems[ev["gmem"]].vm
            ev["_tdx_connect"] = bool(vm in r.vms and r.vms[vm].tdx_connect)
            r.apply(ev, f"line {n}")
    return r


def needs_cell_mode(path):
    with open(path) as f:
        for line in f:
            s = line.strip()
            if s and not s.startswith("#"):
                ev = json.loads(s)
                if ev.get("op") == "gmem_create" and num(ev["size"], "size") > PAGE_MODE_LIMIT:
                    return True
    return False


def dump(runs):
    return "[\n" + ",\n".join(json.dumps(r) for r in runs) + "\n]\n"


def main(argv):
    verbose = "-v" in argv
    show = "--print" in argv
    files = [a for a in argv if not a.startswith("-")]
    here = os.path.dirname(os.path.abspath(__file__))
    files = files or sorted(glob.glob(os.path.join(here, "[0-9][0-9]-*.jsonl")))
    failed = 0
    for path in files:
        name = os.path.basename(path)[:-len(".jsonl")]
        if verbose:
            print(name)
        big = needs_cell_mode(path)
        with open(path) as f:
            kernels = {json.loads(l).get("kernel", "upstream-2026") for l in f
                       if l.strip() and not l.startswith("#") and '"vm_create"' in l}
        if kernels - {"rfc-2025"}:
            # This model implements EVENTS.md section 4 (profile rfc-2025) only; the Swift
            # ReferenceModel (Tests/GmemStoreTests) checks the upstream-2026 scenarios.
            print(f"skip {name}: kernel {', '.join(sorted(kernels))} (this model knows rfc-2025 only)")
            continue
        try:
            cell = replay(path, page_mode=False, verbose=verbose)
            page = None if big else replay(path, page_mode=True)
        except DecodeError as e:
            print(f"FAIL {name}: decode error {e}")
            failed += 1
            continue
        got = cell.state()
        if show:
            print(f"== {name}")
            sys.stdout.write(dump(got))
            continue
        notes = []
        if page is None:
            notes.append("page-by-page model skipped (file too large); checked with the cell model only")
        elif page.state() != got:
            print(f"FAIL {name}: page model and cell model disagree")
            failed += 1
            continue
        want_path = os.path.join(os.path.dirname(path), name + ".state.json")
        try:
            with open(want_path) as f:
                want = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            print(f"FAIL {name}: cannot read {os.path.basename(want_path)}: {e}")
            failed += 1
            continue
        for run in want:
            if run.pop("kernel", "rfc-2025") != "rfc-2025":
                print(f"FAIL {name}: a run is not judged by rfc-2025")
                failed += 1
        if want != got:
            failed += 1
            print(f"FAIL {name}: replayed state differs from {os.path.basename(want_path)}")
            for i in range(max(len(want), len(got))):
                w = want[i] if i < len(want) else None
                g = got[i] if i < len(got) else None
                if w != g:
                    print(f"  run {i}:\n    expected {json.dumps(w)}\n    replayed {json.dumps(g)}")
            continue
        div = f", {len(cell.divergences)} outcome divergence(s)" if cell.divergences else ""
        print(f"ok   {name}: {len(got)} run(s){div}" + ("".join(f" [{n}]" for n in notes)))
        if verbose:
            for d in cell.divergences:
                print(f"     divergence {d}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
