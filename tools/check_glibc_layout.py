"""Check pyspect's glibc malloc layout table against the installed glibc.

    /usr/bin/python3 tools/check_glibc_layout.py [--root DIR]

src/target/glibc_heap.c describes struct malloc_state, struct malloc_par
and heap_info as a table of offsets per glibc family.  This script asks
gdb for the real layout (`ptype /o`) from the installed libc's debug
information (Debian: apt install gdb libc6-dbg) and compares every offset
the table holds for the installed glibc's family.  It is how the 2.35+
table was verified on glibc 2.36 and the 2.43+ one on glibc 2.43; run it
on a new glibc before trusting the table there.

--root DIR checks the glibc of a root file system instead (the Debian sid
root of tools/sid-root, whose libc6-dbg carries the debug information);
`make test` runs it that way.  Exit 0 when everything matches, 1 on a
mismatch, 77 when gdb or the debug information is missing (a skip, not a
failure -- except with --root, where the root is meant to have both).
"""
import argparse
import ctypes
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(ROOT, "src", "target", "glibc_heap.c")

# table field -> (struct, member); "sizeof" for the whole struct,
# "count:member" for an array's length.
FIELDS = {
    "ms_mutex": ("malloc_state", "mutex"),
    "ms_flags": ("malloc_state", "flags"),
    "ms_have_fastchunks": ("malloc_state", "have_fastchunks"),
    "ms_fastbins": ("malloc_state", "fastbinsY"),
    "ms_nfastbins": ("malloc_state", "count:fastbinsY"),
    "ms_top": ("malloc_state", "top"),
    "ms_last_remainder": ("malloc_state", "last_remainder"),
    "ms_bins": ("malloc_state", "bins"),
    "ms_binmap": ("malloc_state", "binmap"),
    "ms_next": ("malloc_state", "next"),
    "ms_next_free": ("malloc_state", "next_free"),
    "ms_attached_threads": ("malloc_state", "attached_threads"),
    "ms_system_mem": ("malloc_state", "system_mem"),
    "ms_max_system_mem": ("malloc_state", "max_system_mem"),
    "ms_size": ("malloc_state", "sizeof"),
    "mp_trim_threshold": ("malloc_par", "trim_threshold"),
    "mp_top_pad": ("malloc_par", "top_pad"),
    "mp_mmap_threshold": ("malloc_par", "mmap_threshold"),
    "mp_arena_test": ("malloc_par", "arena_test"),
    "mp_arena_max": ("malloc_par", "arena_max"),
    "mp_n_mmaps": ("malloc_par", "n_mmaps"),
    "mp_n_mmaps_max": ("malloc_par", "n_mmaps_max"),
    "mp_max_n_mmaps": ("malloc_par", "max_n_mmaps"),
    "mp_no_dyn_threshold": ("malloc_par", "no_dyn_threshold"),
    "mp_mmapped_mem": ("malloc_par", "mmapped_mem"),
    "mp_max_mmapped_mem": ("malloc_par", "max_mmapped_mem"),
    "mp_sbrk_base": ("malloc_par", "sbrk_base"),
    # Renamed tcache_small_bins in 2.43.
    "mp_tcache_bins": ("malloc_par", "tcache_bins|tcache_small_bins"),
    "mp_tcache_max_bytes": ("malloc_par", "tcache_max_bytes"),
    "mp_tcache_count": ("malloc_par", "tcache_count"),
    "mp_hp_pagesize": ("malloc_par", "hp_pagesize"),
    "mp_size": ("malloc_par", "sizeof"),
    "hi_ar_ptr": ("_heap_info", "ar_ptr"),
    "hi_prev": ("_heap_info", "prev"),
    "hi_size": ("_heap_info", "size"),
    "hi_mprotect_size": ("_heap_info", "mprotect_size"),
    "hi_sizeof": ("_heap_info", "sizeof"),
}


def glibc_minor(libc_path=None):
    if libc_path is None:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version.restype = ctypes.c_char_p
        return int(libc.gnu_get_libc_version().decode().split(".")[1])
    # Another root's libc cannot be loaded here: read its banner.
    with open(libc_path, "rb") as f:
        m = re.search(rb"release version 2\.(\d+)", f.read())
    return int(m.group(1)) if m else None


def table_for(minor):
    """The offsets of the family that glibc_layout_for(minor) picks."""
    text = open(SOURCE).read()
    blocks = re.findall(r"\{\s*\.name = \"([^\"]+)\", \.min_minor = (\d+),"
                        r"(.*?)\n    \}", text, re.S)
    best = None
    for name, first, body in blocks:
        if minor >= int(first):
            best = (name, dict((k, int(v)) for k, v in
                               re.findall(r"\.(\w+) = (-?\d+)", body)))
    return best


def gdb_layout(libc, struct, debug_dir=None):
    cmd = ["gdb", "-batch", "-nx"]
    if debug_dir:
        cmd += ["-iex", "set debug-file-directory %s" % debug_dir]
    cmd += ["-ex", "ptype /o struct %s" % struct, libc]
    out = subprocess.run(cmd, capture_output=True, text=True,
                         timeout=120).stdout
    members = {}
    for m in re.finditer(r"/\*\s+(\d+)\s+\|\s+(\d+) \*/\s+[^;]*?(\w+)"
                         r"(\[(\d+)\])?;", out):
        members[m.group(3)] = (int(m.group(1)), int(m.group(2)),
                               int(m.group(5)) if m.group(5) else None)
    size = re.search(r"total size \(bytes\):\s+(\d+)", out)
    if size:
        members["sizeof"] = (int(size.group(1)), 0, None)
    return members


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", help="check the glibc of this root instead")
    args = ap.parse_args()
    skip = 1 if args.root else 77
    if shutil.which("gdb") is None:
        print("check_glibc_layout: gdb is not installed: skipped")
        return skip
    root = args.root or ""
    libc = root + "/lib/x86_64-linux-gnu/libc.so.6"
    debug_dir = root + "/usr/lib/debug" if root else None
    minor = glibc_minor(libc if root else None)
    if minor is None:
        print("check_glibc_layout: cannot tell the version of %s" % libc)
        return 1
    name, table = table_for(minor)
    layouts = dict((s, gdb_layout(libc, s, debug_dir)) for s in
                   ("malloc_state", "malloc_par", "_heap_info"))
    if not layouts["malloc_state"]:
        print("check_glibc_layout: no debug information for %s "
              "(apt install libc6-dbg): skipped" % libc)
        return skip
    bad = 0
    for field, (struct, member) in sorted(FIELDS.items()):
        got = table.get(field)
        if member.startswith("count:"):
            info = layouts[struct].get(member[6:])
            want = info[2] if info else None
            if want is None and got == 0:
                continue  # no such array in this glibc: no entries
        else:
            info = None
            for alt in member.split("|"):
                info = info or layouts[struct].get(alt)
            want = info[0] if info else None
        if want is None and got == -1:
            continue  # absent in this glibc, and the table says so
        if got != want:
            print("MISMATCH %-22s table %s, glibc 2.%d %s.%s %s" %
                  (field, got, minor, struct, member, want))
            bad += 1
    print("check_glibc_layout: glibc 2.%d, table \"%s\": %d fields, %s" %
          (minor, name, len(FIELDS), "all match" if not bad else
           "%d mismatches" % bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
