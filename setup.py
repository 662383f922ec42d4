"""Only the C kernel pack's build lives here (cffi_modules); everything else is in pyproject.toml.

The pack is skipped, and mxlite installs without it, when ``MXLITE_NO_C_KERNELS=1`` is set or
no working C compiler is found; see plugins/c_kernels/_build.py.
"""

import sys
from pathlib import Path

from setuptools import setup

sys.path.insert(0, str(Path(__file__).resolve().parent / "plugins" / "c_kernels"))
from _build import cffi_modules

setup(cffi_modules=cffi_modules())
