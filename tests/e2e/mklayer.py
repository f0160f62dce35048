#!/usr/bin/env python3
"""Writes the layer tarballs the image tests need, hostile ones included.

usage: mklayer.py KIND OUT.tar [HOSTDIR]
HOSTDIR is a directory outside the store that a hostile layer aims at."""
import io
import sys
import tarfile


def add_file(t, name, data=b"x\n", mode=0o644):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = mode
    t.addfile(ti, io.BytesIO(data))


def add(t, name, kind, target="", mode=0o755):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = target
    ti.mode = mode
    t.addfile(ti)


def main():
    kind, out = sys.argv[1], sys.argv[2]
    host = sys.argv[3] if len(sys.argv) > 3 else "/nonexistent"
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as t:
        if kind == "dotdot":
            add_file(t, "../../../../../../.." + host + "/dotdot")
        elif kind == "absolute":
            add_file(t, host + "/absolute")
        elif kind == "symlink-then-write":
            add(t, "escape", tarfile.SYMTYPE, host)
            add_file(t, "escape/through-symlink")
        elif kind == "relative-symlink-then-write":
            add(t, "up", tarfile.SYMTYPE, "../../../../../../../../" + host)
            add_file(t, "up/through-relative-symlink")
        elif kind == "hardlink-out":
            add(t, "passwd-link", tarfile.LNKTYPE, "/etc/passwd")
        elif kind == "hardlink-dotdot":
            add(t, "passwd-link", tarfile.LNKTYPE, "../../../../etc/passwd")
        elif kind == "device":
            ti = tarfile.TarInfo("dev-null-copy")
            ti.type = tarfile.CHRTYPE
            ti.devmajor, ti.devminor = 1, 3
            ti.mode = 0o666
            t.addfile(ti)
        elif kind == "whiteouts":
            add(t, "dir", tarfile.DIRTYPE)
            add_file(t, "dir/.wh..wh..opq", b"")
            add_file(t, "dir/kept")
            add_file(t, ".wh.gone", b"")
        elif kind == "ordinary":
            add(t, "etc", tarfile.DIRTYPE)
            add_file(t, "etc/hello", b"hello\n")
            add(t, "etc/hello-link", tarfile.SYMTYPE, "hello")
            add(t, "etc/hello-hard", tarfile.LNKTYPE, "etc/hello")
            add_file(t, "bin/tool", b"#!/bin/sh\n", 0o4755)
        else:
            sys.exit("unknown kind " + kind)


main()
