"""What a benchmark report says about where it ran: the machine and the commit."""
import os
import platform
import subprocess


def machine():
    """'<CPU model>, <cores> cores, Linux <release>'."""
    name = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return f"{name}, {os.cpu_count()} cores, Linux {platform.release()}"


def commit(top):
    """The checkout's short commit, marked when the working tree has changes."""
    out = subprocess.run(["git", "-C", top, "rev-parse", "--short=12", "HEAD"],
                         capture_output=True, text=True).stdout.strip() or "unknown"
    if subprocess.run(["git", "-C", top, "status", "--porcelain"], capture_output=True,
                      text=True).stdout.strip():
        out += " (working tree changed)"
    return out
