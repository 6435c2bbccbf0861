"""Print which torch build is installed; optionally insist on one.

    python check.py            # prints: <torch.__version__> <torch.version.cuda> <cuda available>
    python check.py cpu        # exit 1 unless this is a CPU build
    python check.py cuda       # exit 1 unless this is a CUDA build
"""
import sys

import torch

cuda = torch.version.cuda
print(torch.__version__, cuda, torch.cuda.is_available())

want = sys.argv[1] if len(sys.argv) > 1 else None
if want == "cpu" and cuda is not None:
    sys.exit(f"expected a CPU build of torch, got CUDA {cuda}")
if want == "cuda" and cuda is None:
    sys.exit(f"expected a CUDA build of torch, got {torch.__version__}")
