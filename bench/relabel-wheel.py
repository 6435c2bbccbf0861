"""Rewrites a wheel under a local version label: torch-2.14.1 -> torch-2.14.1+cu130.

download.pytorch.org/whl/cu130 serves its CUDA builds labelled (`2.14.1+cu130`), and the action
recognises a CUDA torch in poetry.lock by that label. PyPI's torch 2.14.1 is the same CUDA 13.0
build without it, so the bench relabels it once: dist-info renamed, METADATA's Version and RECORD
updated, every other member copied unchanged (recompressed with zlib's default level).

usage: relabel-wheel.py <wheel> <label> <out-dir>
"""

import base64
import hashlib
import os
import sys
import zipfile


def main(source, label, out_dir):
    name, version, *tags = os.path.basename(source)[: -len(".whl")].split("-")
    new_version = f"{version}+{label}"
    old_info, new_info = f"{name}-{version}.dist-info/", f"{name}-{new_version}.dist-info/"
    target = os.path.join(out_dir, "-".join([name, new_version, *tags]) + ".whl")
    partial = target + ".partial"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zout:
        metadata = zin.read(old_info + "METADATA").decode()
        metadata = metadata.replace(f"\nVersion: {version}\n", f"\nVersion: {new_version}\n", 1).encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(metadata).digest()).rstrip(b"=").decode()
        record = []
        for line in zin.read(old_info + "RECORD").decode().splitlines():
            path = line.split(",", 1)[0]
            if path == old_info + "METADATA":
                line = f"{new_info}METADATA,sha256={digest},{len(metadata)}"
            elif path.startswith(old_info):
                line = new_info + line[len(old_info):]
            record.append(line)
        for info in zin.infolist():
            renamed = new_info + info.filename[len(old_info):] if info.filename.startswith(old_info) else info.filename
            if renamed == new_info + "METADATA":
                data = metadata
            elif renamed == new_info + "RECORD":
                data = ("\n".join(record) + "\n").encode()
            else:
                data = zin.read(info)
            copy = zipfile.ZipInfo(renamed, date_time=info.date_time)
            copy.external_attr = info.external_attr
            copy.compress_type = zipfile.ZIP_DEFLATED if info.compress_type != zipfile.ZIP_STORED else zipfile.ZIP_STORED
            zout.writestr(copy, data)
    os.replace(partial, target)
    print(target)


if __name__ == "__main__":
    main(*sys.argv[1:4])
