"""Asks libcuda, the NVIDIA driver's own user-mode library, which CUDA version the driver
supports (cuDriverGetVersion) and which devices it sees. For runners without nvidia-smi:
containers given the driver libraries only, Jetson before JetPack 6, WSL2.

Standard library only (ctypes): it runs with whatever python3 the runner has, before any
virtualenv exists. Prints one line: SETUP_POETRY_TORCH_CUDA_DRIVER {json}.
"""

import ctypes
import json
import sys

MARKER = "SETUP_POETRY_TORCH_CUDA_DRIVER "
# cuDeviceGetAttribute: CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR / _MINOR.
CAPABILITY_MAJOR = 75
CAPABILITY_MINOR = 76


def emit(report):
    print(MARKER + json.dumps(report), flush=True)


def library_names():
    if sys.platform == "win32":
        return ["nvcuda.dll"]
    # libcuda.so.1 is the driver's soname; the unversioned name only exists with dev packages.
    return ["libcuda.so.1", "libcuda.so"]


def load():
    failures = []
    for name in library_names():
        try:
            return ctypes.CDLL(name), failures
        except OSError as error:
            failures.append(f"{name}: {error}")
    return None, failures


def error_name(lib, code):
    text = ctypes.c_char_p()
    try:
        if lib.cuGetErrorName(code, ctypes.byref(text)) == 0 and text.value:
            return f"{text.value.decode(errors='replace')} ({code})"
    except AttributeError:
        pass
    return f"CUresult {code}"


def devices(lib):
    count = ctypes.c_int(0)
    code = lib.cuDeviceGetCount(ctypes.byref(count))
    if code != 0:
        raise RuntimeError(f"cuDeviceGetCount: {error_name(lib, code)}")
    found = []
    for ordinal in range(count.value):
        device = ctypes.c_int(0)
        lib.cuDeviceGet(ctypes.byref(device), ordinal)
        name = ctypes.create_string_buffer(256)
        lib.cuDeviceGetName(name, len(name), device)
        major, minor = ctypes.c_int(0), ctypes.c_int(0)
        lib.cuDeviceGetAttribute(ctypes.byref(major), CAPABILITY_MAJOR, device)
        lib.cuDeviceGetAttribute(ctypes.byref(minor), CAPABILITY_MINOR, device)
        memory = ctypes.c_size_t(0)
        lib.cuDeviceTotalMem_v2(ctypes.byref(memory), device)
        found.append(
            {
                "index": ordinal,
                "name": name.value.decode(errors="replace"),
                "capability": f"{major.value}.{minor.value}",
                "memory_mib": memory.value // (1024 * 1024),
            }
        )
    return found


def main():
    lib, failures = load()
    if lib is None:
        emit({"error": "libcuda not found: " + "; ".join(failures)})
        return
    version = ctypes.c_int(0)
    code = lib.cuDriverGetVersion(ctypes.byref(version))
    if code != 0:
        emit({"error": f"cuDriverGetVersion: {error_name(lib, code)}"})
        return
    # 12020 means CUDA 12.2: major * 1000 + minor * 10.
    report = {"driver_cuda_version": f"{version.value // 1000}.{(version.value % 1000) // 10}"}
    code = lib.cuInit(0)
    if code != 0:
        report["init_error"] = f"cuInit: {error_name(lib, code)}"
    else:
        try:
            report["devices"] = devices(lib)
        except RuntimeError as error:
            report["init_error"] = str(error)
    emit(report)


if __name__ == "__main__":
    main()
