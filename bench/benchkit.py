"""What tierd's Python benchmarks share: where a report ran (machine, commit, time) and the
test videos they read (tierd-videogen, decoded with OpenCV)."""
import datetime
import os
import platform
import subprocess

import cv2


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


def run_stamp(top):
    """{"generated", "machine", "commit"}: the head of every report's JSON."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return {"generated": now, "machine": machine(), "commit": commit(top)}


def videogen(build, seed, frames, out, *extra):
    """Writes tierd-videogen's video and gt.json for `seed` to `out` (test split)."""
    subprocess.run([os.path.join(build, "tierd-videogen"), "--seed", str(seed), "--frames",
                    str(frames), "--out", out, "-q", *extra], check=True)


def read_frames(path, every=1):
    """Every `every`-th frame of a video file (BGR, as OpenCV decodes it)."""
    cap = cv2.VideoCapture(path)
    frames, k = [], 0
    while True:
        ok, f = cap.read()
        if not ok:
            break
        if k % every == 0:
            frames.append(f)
        k += 1
    return frames


def write_video(path, frames, fourcc="MJPG", fps=25):
    """Writes 640x360 BGR frames as an AVI (MJPG, or FFV1 for lossless); returns how many."""
    w = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), fps, (640, 360))
    if not w.isOpened():
        raise RuntimeError(f"OpenCV cannot write {fourcc} video here ({path})")
    n = 0
    for f in frames:
        w.write(f)
        n += 1
    w.release()
    return n
