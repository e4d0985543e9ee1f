#!/usr/bin/python3
"""Shifts a video's scene, as a camera's does when its place changes (issue 18, section 1,
detection): the frames from FROM until UNTIL darkened, fogged or blurred, the rest as they
were. The ground truth does not change (the objects stay where they are).

  bench/adapt/shift_video.py --in clip/video.avi --out fog.avi --shift fog [--from 0]
                             [--until N]

Shifts (the same as bench/adapt/detect_offline.py measures offline):
  dark   gain 0.5, gamma 1.5 (dusk)
  fog    contrast halved towards light gray
  blur   Gaussian, sigma 2 (a dirty or defocused lens)
Writes MJPG at quality 95 (OpenCV's default), at the input's frame rate. Exit status 2 for
bad arguments, 1 when the input cannot be read.
"""
import argparse
import sys

import cv2
import numpy as np

SHIFTS = {
    "dark": lambda f: np.clip(255.0 * 0.5 * (f / 255.0) ** 1.5, 0, 255).astype(np.uint8),
    "fog": lambda f: np.clip(0.5 * f + 100.0, 0, 255).astype(np.uint8),
    "blur": lambda f: cv2.GaussianBlur(f, (0, 0), 2.0),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--in", dest="src", required=True, help="video to read")
    ap.add_argument("--out", required=True, help="video to write (AVI, MJPG)")
    ap.add_argument("--shift", required=True, choices=sorted(SHIFTS))
    ap.add_argument("--from", dest="first", type=int, default=0,
                    help="first frame shifted [0]")
    ap.add_argument("--until", type=int, default=-1,
                    help="first frame after the shift, clean again [-1: none, shifted to the end]")
    args = ap.parse_args()
    cap = cv2.VideoCapture(args.src)
    if not cap.isOpened():
        print(f"shift_video: cannot read {args.src}", file=sys.stderr)
        return 1
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    writer, n = None, 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if writer is None:
            h, w = frame.shape[:2]
            writer = cv2.VideoWriter(args.out, cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
        shifted = n >= args.first and (args.until < 0 or n < args.until)
        writer.write(SHIFTS[args.shift](frame) if shifted else frame)
        n += 1
    if writer is None:
        print(f"shift_video: {args.src} has no frames", file=sys.stderr)
        return 1
    writer.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
