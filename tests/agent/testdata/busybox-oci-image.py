#!/usr/bin/env python3
"""Writes an OCI image archive holding Debian's static busybox, for containerd_test:

    busybox-oci-image.py BUSYBOX OUT.tar NAME        e.g. /bin/busybox img.tar sluice.test/busybox:1

then `ctr images import OUT.tar` knows the image as NAME. No registry, no network:
one uncompressed layer (/bin/busybox and a link per applet the test runs), its config,
a manifest and an index whose descriptor carries NAME and the machine's platform.
The archive is byte-identical for the same busybox (every timestamp is 0)."""

import hashlib
import io
import json
import platform
import struct
import sys
import tarfile

APPLETS = ["sh", "ip", "nc", "cat", "echo", "sleep", "wget", "hostname"]
GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x",
          "riscv64": "riscv64"}


def require_static(binary, path):
    """The image has no libraries: a busybox with an ELF interpreter (Debian's `busybox`
    rather than `busybox-static`) would not start in it."""
    if binary[:4] != b"\x7fELF" or binary[4] != 2:
        sys.exit(f"{path}: not a 64-bit ELF executable")
    endian = "<" if binary[5] == 1 else ">"
    phoff, = struct.unpack_from(endian + "Q", binary, 0x20)
    phentsize, phnum = struct.unpack_from(endian + "HH", binary, 0x36)
    for i in range(phnum):
        p_type, = struct.unpack_from(endian + "I", binary, phoff + i * phentsize)
        if p_type == 3:  # PT_INTERP
            sys.exit(f"{path} is dynamically linked: install Debian's busybox-static (tools/bootstrap does)")


def tar_bytes(entries):
    """entries: (TarInfo, bytes or None). Returns the tar stream."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
        for info, data in entries:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def entry(name, kind, mode, data=None, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.linkname = kind, mode, 0, link
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if data is not None:
        info.size = len(data)
    return info, data


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    busybox, out, name = sys.argv[1:]
    with open(busybox, "rb") as f:
        binary = f.read()
    require_static(binary, busybox)
    arch = GOARCH.get(platform.machine(), platform.machine())

    rootfs = [entry("bin", tarfile.DIRTYPE, 0o755), entry("bin/busybox", tarfile.REGTYPE, 0o755, binary)]
    rootfs += [entry("bin/" + a, tarfile.SYMTYPE, 0o777, link="busybox") for a in APPLETS]
    for d in ("proc", "sys", "dev", "etc", "tmp"):  # mount points runc would otherwise make
        rootfs.append(entry(d, tarfile.DIRTYPE, 0o755))
    layer = tar_bytes(rootfs)

    blobs = {}

    def add(media_type, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def js(obj):
        return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()

    layer_desc = add("application/vnd.oci.image.layer.v1.tar", layer)
    config_desc = add("application/vnd.oci.image.config.v1+json", js({
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},  # uncompressed: digest = diff ID
    }))
    manifest_desc = add("application/vnd.oci.image.manifest.v1+json", js({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_desc, "layers": [layer_desc],
    }))
    manifest_desc["platform"] = {"architecture": arch, "os": "linux"}
    manifest_desc["annotations"] = {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name}
    index = js({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [manifest_desc]})

    archive = [entry("oci-layout", tarfile.REGTYPE, 0o644, js({"imageLayoutVersion": "1.0.0"})),
               entry("index.json", tarfile.REGTYPE, 0o644, index),
               entry("blobs", tarfile.DIRTYPE, 0o755), entry("blobs/sha256", tarfile.DIRTYPE, 0o755)]
    for digest in sorted(blobs):
        archive.append(entry("blobs/sha256/" + digest.split(":")[1], tarfile.REGTYPE, 0o644, blobs[digest]))
    with open(out, "wb") as f:
        f.write(tar_bytes(archive))


if __name__ == "__main__":
    main()
