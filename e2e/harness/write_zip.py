"""Writes a zip (a wheel) with Python's zipfile for the e2e harness (e2e/harness/wheels.mjs).

Reads {"out": path, "entries": [{"name": ..., "data": base64}, ...]} as JSON on stdin. Every
member gets the same timestamp (1980-01-01) and mode (-rw-r--r--), so the same entries give
the same bytes, hence the same sha256: Poetry caches file hashes per source, and a rebuilt
wheel with a new hash would fail its hash check (stage.mjs also gives every set of served
files a Poetry cache of its own, for when the bytes do change).
"""

import base64
import json
import sys
import zipfile


def main():
    spec = json.load(sys.stdin)
    with zipfile.ZipFile(spec["out"], "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for entry in spec["entries"]:
            info = zipfile.ZipInfo(entry["name"], date_time=(1980, 1, 1, 0, 0, 0))
            info.create_system = 3  # Unix, so external_attr carries the mode
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, base64.b64decode(entry["data"]), compresslevel=9)


if __name__ == "__main__":
    main()
