#!/usr/bin/python3
"""Rewrites a docker-archive (docker save's format) so that its image has
a HEALTHCHECK and another name, as a Dockerfile's HEALTHCHECK would set it.

usage: health-image.py IN.tar OUT.tar NAME:TAG SHELL-COMMAND INTERVAL-NS RETRIES"""
import hashlib
import io
import json
import sys
import tarfile


def main():
    src, out, name, cmd, interval, retries = sys.argv[1:7]
    with tarfile.open(src) as t:
        blobs = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}
    manifest = json.loads(blobs.pop("manifest.json"))
    old = manifest[0]["Config"]
    config = json.loads(blobs.pop(old))
    config["config"]["Healthcheck"] = {"Test": ["CMD-SHELL", cmd], "Interval": int(interval),
                                       "Retries": int(retries)}
    data = json.dumps(config).encode()
    new = hashlib.sha256(data).hexdigest() + ".json"
    blobs[new] = data
    manifest[0]["Config"] = new
    manifest[0]["RepoTags"] = [name]
    blobs["manifest.json"] = json.dumps(manifest).encode()
    blobs.pop("index.json", None)
    blobs.pop("oci-layout", None)
    with tarfile.open(out, "w") as t:
        for path, blob in blobs.items():
            ti = tarfile.TarInfo(path)
            ti.size = len(blob)
            t.addfile(ti, io.BytesIO(blob))


if __name__ == "__main__":
    main()
