"""Build the decoder's native library (decoder/_slicer.c) into the package at install.

A plain C library loaded with ctypes, so it needs a C compiler but no Python headers, and
one build serves every CPython. Without a compiler the install still succeeds and the
decoder slices with numpy alone (slower, same output); `nibrs-decode --engine native`
then says what is missing.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCES = [Path("_slicer.c")]  # beside this file, in the decoder's project root
LIBRARY = "_slicer.so"  # the name decoder/native.py loads


def compiler() -> list[str] | None:
    """The C compiler: $CC, else the one Python was built with, else cc or gcc."""
    for candidate in (os.environ.get("CC"), sysconfig.get_config_var("CC"), "cc", "gcc"):
        if candidate and shutil.which(shlex.split(candidate)[0]):
            return shlex.split(candidate)
    return None


def build_library(sources: list[Path], target: Path) -> str | None:
    """Compile ``sources`` into ``target``; the reason when that was not possible."""
    cc = compiler()
    if cc is None:
        return "no C compiler found (set CC, or install gcc)"
    command = [*cc, "-O3", "-shared", "-fPIC", "-o", str(target), *map(str, sources)]
    result = subprocess.run(command, check=False, capture_output=True, text=True)
    if result.returncode:
        return f"{shlex.join(command)} failed:\n{result.stderr.strip()}"
    return None


class SlicerBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel":
            return  # the sdist ships the C source; its wheel builds it
        root = Path(self.root)
        if version == "editable":  # the package is imported from the source tree
            target = root / LIBRARY
        else:
            target = Path(tempfile.mkdtemp(prefix="nibrs-decoder-slicer-")) / "_slicer.so"
        problem = build_library([root / source for source in SOURCES], target)
        if problem:
            self.app.display_warning(
                f"the decoder's native slicer was not built: {problem}\n"
                "nibrs-decode will slice with numpy: the same output, about twice as slow."
            )
            return
        if version != "editable":
            # the wheel's `sources` option puts it under decoder/, as every file of this folder
            build_data["force_include"][str(target)] = LIBRARY
        build_data["pure_python"] = False
        platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
        build_data["tag"] = f"py3-none-{platform}"  # ctypes: no CPython ABI involved
