#!/usr/bin/python3
"""Writes a docker-archive image (docker save's format, which ctr imports)
of one layer: ROOTFS as it is, with CMD as the image's command.

usage: mkimage.py ROOTFS NAME:TAG OUT.tar CMD..."""
import hashlib
import io
import json
import sys
import tarfile


def main():
    rootfs, name, out, cmd = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as t:
        def owned_by_root(ti):
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            return ti
        t.add(rootfs, arcname=".", filter=owned_by_root)
    data = layer.getvalue()
    diff = hashlib.sha256(data).hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": cmd, "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff]},
    }).encode()
    cfg = hashlib.sha256(config).hexdigest()
    manifest = json.dumps([{"Config": cfg + ".json", "RepoTags": [name],
                            "Layers": [diff + "/layer.tar"]}]).encode()
    with tarfile.open(out, "w") as t:
        for path, blob in ((diff + "/layer.tar", data), (cfg + ".json", config),
                           ("manifest.json", manifest)):
            ti = tarfile.TarInfo(path)
            ti.size = len(blob)
            t.addfile(ti, io.BytesIO(blob))


if __name__ == "__main__":
    main()
