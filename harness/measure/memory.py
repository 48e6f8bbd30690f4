"""Peak memory of this process: reset the kernel's high-water mark before a case, read it after, so each
case reports its own peak resident set size.
"""
from __future__ import annotations

import resource


def reset_peak_rss() -> bool:
    """Reset the kernel's high-water mark so the next reading is this case's peak (Linux ≥ 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_mib() -> float:
    """Peak resident set size since the last reset (else since the process started), in MiB."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
