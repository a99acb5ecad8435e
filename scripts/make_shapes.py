#!/usr/bin/env python3
"""Writes a small non-digit image dataset for `convgrad train --data DIR`: coloured shapes in class folders.

    python3 scripts/make_shapes.py DIR [--train 400] [--test 100] [--size 32] [--seed 1]

DIR/train/<class>/NNNNN.png and DIR/test/<class>/NNNNN.png, RGB PNGs of SIZE x SIZE: a circle, square, triangle,
cross or ring of random position, size and colour on a noisy background of another colour (5 classes). Needs only
the Python standard library (PNGs are written with zlib)."""
import argparse, math, os, random, struct, zlib

CLASSES = ["circle", "cross", "ring", "square", "triangle"]


def png(path, w, h, rgb):
    raw = b"".join(b"\x00" + bytes(rgb[y * w * 3:(y + 1) * w * 3]) for y in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def inside(shape, x, y, cx, cy, r, angle):
    dx, dy = x - cx, y - cy
    # rotate the point into the shape's frame
    rx = dx * math.cos(angle) + dy * math.sin(angle)
    ry = -dx * math.sin(angle) + dy * math.cos(angle)
    if shape == "circle":
        return dx * dx + dy * dy <= r * r
    if shape == "ring":
        d = math.hypot(dx, dy)
        return 0.6 * r <= d <= r
    if shape == "square":
        return abs(rx) <= r * 0.8 and abs(ry) <= r * 0.8
    if shape == "cross":
        return (abs(rx) <= r * 0.3 and abs(ry) <= r) or (abs(ry) <= r * 0.3 and abs(rx) <= r)
    # triangle: apex up in its frame
    return -r * 0.8 <= ry <= r * 0.8 and abs(rx) <= (ry + r * 0.8) * 0.6


def draw(shape, size, rng):
    bg = [rng.randrange(0, 120) for _ in range(3)]
    fg = [rng.randrange(120, 256) for _ in range(3)]
    r = rng.uniform(size * 0.22, size * 0.4)
    cx, cy = rng.uniform(r, size - r), rng.uniform(r, size - r)
    angle = rng.uniform(0, 2 * math.pi) if shape in ("square", "cross", "triangle") else 0
    px = []
    for y in range(size):
        for x in range(size):
            c = fg if inside(shape, x + 0.5, y + 0.5, cx, cy, r, angle) else bg
            px.extend(max(0, min(255, v + rng.randrange(-20, 21))) for v in c)
    return px


def main():
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("dir")
    a.add_argument("--train", type=int, default=400, help="images per class in train/")
    a.add_argument("--test", type=int, default=100, help="images per class in test/")
    a.add_argument("--size", type=int, default=32)
    a.add_argument("--seed", type=int, default=1)
    o = a.parse_args()
    rng = random.Random(o.seed)
    for part, n in (("train", o.train), ("test", o.test)):
        for c in CLASSES:
            folder = os.path.join(o.dir, part, c)
            os.makedirs(folder, exist_ok=True)
            for i in range(n):
                png(os.path.join(folder, f"{i:05d}.png"), o.size, o.size, draw(c, o.size, rng))
    print(f"wrote {len(CLASSES) * (o.train + o.test)} images of {o.size}x{o.size} in {len(CLASSES)} classes to {o.dir}")


if __name__ == "__main__":
    main()
