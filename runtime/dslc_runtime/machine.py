"""What a benchmark says about where it ran: the device's name and the session's options."""

from __future__ import annotations

import os
import platform
import subprocess
from typing import Any

__all__ = ["device_name", "session_options"]


def device_name(provider: str, device_id: int = 0) -> str | None:
    """The GPU's name (from nvidia-smi) or the CPU's model name, None when unknown."""
    if provider == "cuda":
        try:
            done = subprocess.run(
                ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader", "-i", str(device_id)],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() or None
    return _cpu_name()


def _cpu_name() -> str | None:
    """The CPU's model name and logical core count, where the OS says."""
    name = platform.processor() or None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = os.cpu_count()
    if name is None:
        return None
    return f"{name} ({cores} logical cores)" if cores else name


def session_options(session: Any) -> dict[str, Any]:
    """The options of a created session that bear on speed."""
    o = session.get_session_options()
    return {
        "graph_optimization_level": str(o.graph_optimization_level).split(".")[-1],
        "execution_mode": str(o.execution_mode).split(".")[-1],
        "intra_op_num_threads": int(o.intra_op_num_threads),
        "inter_op_num_threads": int(o.inter_op_num_threads),
        "enable_mem_pattern": bool(o.enable_mem_pattern),
        "enable_cpu_mem_arena": bool(o.enable_cpu_mem_arena),
    }
