"""Runs inside the user's venv and reports, as one JSON line on stdout, what torch build it has.

`probe.py interpreter` describes the interpreter itself (used to key and to check a restored venv).
`probe.py torch [--gpu-op-timeout SECONDS]` imports torch and describes the build and the GPUs.
Before the import it prints what the venv itself holds wrong (a distribution installed twice, a file
two distributions claim) on a line of its own, so the action still has it if the import kills us.
Standard library only: it must run in any venv, even one without torch.
"""

import csv
import json
import os
import platform
import re
import sys
import sysconfig
import threading
import warnings

ENVIRONMENT_MARKER = "SETUP_POETRY_TORCH_ENV "


def describe_interpreter():
    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "realpath": os.path.realpath(sys.executable),
        "base_prefix": sys.base_prefix,
        "prefix": sys.prefix,
        "in_venv": sys.prefix != sys.base_prefix,
    }


def distribution_name(dist_info):
    """The Name: header of METADATA (PEP 503-normalised); the folder name when that is unreadable."""
    try:
        with open(os.path.join(dist_info, "METADATA"), encoding="utf-8", errors="replace") as metadata:
            for line in metadata:
                if not line.strip():
                    break
                if line.lower().startswith("name:"):
                    return re.sub(r"[-_.]+", "-", line[5:].strip()).lower()
    except OSError:
        pass
    return re.sub(r"[-_.]+", "-", os.path.basename(dist_info).split("-")[0]).lower()


def scan_environment():
    """Two versions of one package installed side by side (a lock that pins it twice), and files that
    two distributions both claim with different contents: when the installs ran in parallel, such a
    file can be a mix of both and crash whatever loads it."""
    roots = []
    for key in ("purelib", "platlib"):
        root = os.path.realpath(sysconfig.get_paths()[key])
        if os.path.isdir(root) and root not in roots:
            roots.append(root)
    by_name = {}
    owners = {}  # file -> {hash: dist-info folder}
    for root in roots:
        for entry in sorted(os.listdir(root)):
            if not entry.endswith(".dist-info"):
                continue
            dist_info = os.path.join(root, entry)
            by_name.setdefault(distribution_name(dist_info), []).append(entry)
            try:
                with open(os.path.join(dist_info, "RECORD"), newline="", encoding="utf-8", errors="replace") as record:
                    rows = list(csv.reader(record))
            except OSError:
                continue
            for row in rows:
                if len(row) < 2 or not row[1]:
                    continue  # RECORD itself, .pyc files: no hash to disagree on
                path = os.path.normpath(os.path.join(root, row[0]))
                owners.setdefault(path, {}).setdefault(row[1], entry)
    duplicates = [{"name": name, "dist_infos": folders} for name, folders in sorted(by_name.items()) if len(folders) > 1]
    conflicts = {}
    for path, hashes in owners.items():
        dists = sorted(set(hashes.values()))
        if len(dists) > 1:
            conflict = conflicts.setdefault(tuple(dists), {"dists": dists, "files": 0, "example": None})
            conflict["files"] += 1
            # A shared library is what crashes the loader: name one when there is one.
            rank = (not re.search(r"\.(so(\.\d+)*|dll|dylib|pyd)$", path), path)
            if conflict["example"] is None or rank < conflict["rank"]:
                conflict["example"], conflict["rank"] = path, rank
    for conflict in conflicts.values():
        del conflict["rank"]
        conflict["example"] = os.path.relpath(conflict["example"], roots[0]) if roots else conflict["example"]
    return {"duplicate_dists": duplicates, "file_conflicts": sorted(conflicts.values(), key=lambda c: c["dists"])}


def run_with_timeout(function, seconds):
    """A hung GPU blocks inside the driver; a daemon thread lets us give up and report it."""
    outcome = {}

    def target():
        try:
            outcome["value"] = function()
        except Exception as error:  # noqa: BLE001 - every failure is reported, not raised
            outcome["error"] = f"{type(error).__name__}: {error}"

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        return {"error": f"timed out after {seconds:g} s"}
    return outcome


def check_matmul(torch, index):
    generator = torch.Generator().manual_seed(index)
    a = torch.randn(64, 64, generator=generator)
    b = torch.randn(64, 64, generator=generator)
    expected = a @ b
    device = torch.device("cuda", index)
    got = (a.to(device) @ b.to(device)).cpu()
    torch.cuda.synchronize(device)
    error = float((got - expected).abs().max())
    return {"ok": error < 1e-2, "max_abs_error": error}


def describe_torch(gpu_op_timeout):
    report = {"python": platform.python_version(), "torch_installed": False}
    report["environment"] = scan_environment()
    sys.stdout.write("\n" + ENVIRONMENT_MARKER + json.dumps(report["environment"]) + "\n")
    sys.stdout.flush()
    try:
        import torch
    except Exception as error:  # noqa: BLE001 - ImportError and broken installs alike
        report["import_error"] = f"{type(error).__name__}: {error}"
        return report

    report["torch_installed"] = True
    report["torch_version"] = str(torch.__version__)
    report["torch_file"] = getattr(torch, "__file__", None)
    version = getattr(torch, "version", None)
    report["cuda_version"] = getattr(version, "cuda", None)
    report["hip_version"] = getattr(version, "hip", None)

    # torch says why CUDA is unusable only through warnings (driver too old, no kernel image).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            available = bool(torch.cuda.is_available())
        except Exception as error:  # noqa: BLE001
            available = False
            report["cuda_error"] = f"{type(error).__name__}: {error}"
        count = 0
        if available:
            try:
                count = int(torch.cuda.device_count())
            except Exception as error:  # noqa: BLE001
                report["cuda_error"] = f"{type(error).__name__}: {error}"
        report["cuda_available"] = available
        report["device_count"] = count
        try:
            report["arch_list"] = list(torch.cuda.get_arch_list()) if report["cuda_version"] else []
        except Exception:  # noqa: BLE001
            report["arch_list"] = []
        try:
            cudnn = torch.backends.cudnn.version() if available else None
        except Exception:  # noqa: BLE001
            cudnn = None
        report["cudnn_version"] = cudnn

        devices = []
        for index in range(count):
            device = {"index": index}
            try:
                device["name"] = torch.cuda.get_device_name(index)
                major, minor = torch.cuda.get_device_capability(index)
                device["capability"] = f"{major}.{minor}"
                device["memory_mib"] = int(torch.cuda.get_device_properties(index).total_memory // (1024 * 1024))
            except Exception as error:  # noqa: BLE001
                device["error"] = f"{type(error).__name__}: {error}"
            device["matmul"] = run_with_timeout(lambda i=index: check_matmul(torch, i), gpu_op_timeout)
            devices.append(device)
        report["devices"] = devices
    report["warnings"] = [str(item.message) for item in caught]
    return report


def main(argv):
    what = argv[1] if len(argv) > 1 else "torch"
    if what == "interpreter":
        report = describe_interpreter()
    else:
        timeout = 60.0
        if "--gpu-op-timeout" in argv:
            timeout = float(argv[argv.index("--gpu-op-timeout") + 1])
        report = describe_torch(timeout)
    sys.stdout.write("\nSETUP_POETRY_TORCH_PROBE " + json.dumps(report) + "\n")
    sys.stdout.flush()
    # A GPU op still hung in a daemon thread must not keep the process alive.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
