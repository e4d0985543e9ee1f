#!/usr/bin/python3
"""Write a small IDX image file and labels for pipeline tests, and the classes the test
model (tests/plugins/make_test_model.py) predicts for them.

Usage: make_idx.py DIR COUNT
Writes DIR/images.idx.gz (gzipped IDX3), DIR/labels.idx (raw IDX1) and DIR/expected.txt
(one predicted class per line). Image k is a deterministic pseudo-random pattern; its
label is the predicted class for even k and (predicted + 1) % 10 for odd k, so exactly
the even ones are right.
"""
import gzip
import struct
import sys

PIXELS, CLASSES = 28 * 28, 10


def weight(i, c):
    return ((i * 7 + c * 13) % 17 - 8) / 100.0


def predict(pixels):
    x = [p / 255.0 for p in pixels]
    logits = [sum(x[i] * weight(i, c) for i in range(PIXELS)) + c / 10.0 for c in range(CLASSES)]
    return max(range(CLASSES), key=lambda c: logits[c])


def main(out, count):
    images, labels, expected = [], [], []
    state = 12345
    for k in range(count):
        pixels = []
        for _ in range(PIXELS):
            state = (state * 1103515245 + 12345) % (1 << 31)
            pixels.append((state >> 16) % 256 if (state >> 8) % (k % 5 + 2) == 0 else 0)
        p = predict(pixels)
        images.append(bytes(pixels))
        expected.append(p)
        labels.append(p if k % 2 == 0 else (p + 1) % CLASSES)
    with gzip.open(f"{out}/images.idx.gz", "wb") as f:
        f.write(struct.pack(">BBBBIII", 0, 0, 8, 3, count, 28, 28))
        for img in images:
            f.write(img)
    with open(f"{out}/labels.idx", "wb") as f:
        f.write(struct.pack(">BBBBI", 0, 0, 8, 1, count))
        f.write(bytes(labels))
    with open(f"{out}/expected.txt", "w") as f:
        f.write("\n".join(str(p) for p in expected) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
