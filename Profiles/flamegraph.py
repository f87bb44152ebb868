#!/usr/bin/env python3
"""Renders folded stacks (Profiles/perf-record.sh's stacks.folded) as an SVG flame graph.

    Profiles/flamegraph.py [--title T] [--width PX] [--inverted] STACKS.folded > flame.svg

Plain Python 3 standard library, no download: the format is that of Brendan Gregg's
stackcollapse scripts, one line per distinct stack, root first, "frame;frame;...;leaf COUNT".

Each frame is a rectangle as wide as its share of the samples (its own and its callees'),
stacked on its caller: the root at the bottom, the leaves (where the CPU was) on top, so a wide
top edge is a hot function. Siblings are sorted by name, as flamegraph.pl does, so the x axis is
not time. Hovering a rectangle shows the full (demangled) name, the samples and their share of
the total. Labels drop Swift argument lists and are cut to fit the rectangle.

Colours by module:
  red/orange   Tessera's numeric kernels (FlashKernel.*, DecodeKernel.*, GEMM and linear kernels)
  yellow       the rest of Tessera (API, runtime, executors, command-line tool)
  blue         the Swift runtime and standard library (swift_*, Swift.*, ARC, allocation)
  purple       the operating-system kernel (frames tagged _[k] by perf-record.sh)
  green        everything else (libc, libdispatch, libnuma, unknown)
"""

import argparse
import html
import re
import sys
import zlib

KERNEL_PATTERNS = [
    r"\bFlashKernel\.",
    r"\bDecodeKernel\.",
    r"\bLinearKernel\.",
    r"\bGemm\w*\.",
    r"\bPeakProbe\.",
]
TESSERA_PATTERNS = [
    r"\bTessera\b",
    r"\b(Attention|Decode|Runtime|WorkerPool|PinnedExecutor|DispatchExecutor|RuntimeJob|"
    r"Partition\w*|Schedule\w*|KVCache|ContiguousKVCache|PagedKVCache|AttentionProblem|"
    r"BenchCommand|BenchBuffers|DecodeCommand|MultiHeadAttention|Topology\w*|NUMA\w*|"
    r"TraceRecorder|FlashOperands|DecodeOperands|TileConfig)\b",
    r"^tessera$",
]
SWIFT_PATTERNS = [
    r"^swift_",
    r"\bSwift\.",
    r"^\$s",
    r"^_swift",
    r"(retain|release)\b",
    r"\b(malloc|free|calloc|realloc)\b",
]


def classify(name):
    if name.endswith("_[k]"):
        return "os"
    for p in KERNEL_PATTERNS:
        if re.search(p, name):
            return "kernel"
    for p in SWIFT_PATTERNS:
        if re.search(p, name):
            return "swift"
    for p in TESSERA_PATTERNS:
        if re.search(p, name):
            return "tessera"
    return "other"


def colour(name, kind):
    """A stable colour per frame name inside its module's hue band."""
    h = zlib.crc32(name.encode()) & 0xFFFF
    a, b = (h & 0xFF) / 255.0, (h >> 8) / 255.0
    if kind == "kernel":  # red to orange
        return (225 + int(30 * a), 60 + int(90 * b), 30 + int(30 * a))
    if kind == "tessera":  # yellow
        return (220 + int(30 * a), 190 + int(40 * b), 50 + int(40 * a))
    if kind == "swift":  # blue
        return (80 + int(40 * a), 140 + int(40 * b), 220 + int(30 * a))
    if kind == "os":  # purple
        return (170 + int(40 * a), 120 + int(40 * b), 210 + int(30 * a))
    return (90 + int(50 * a), 190 + int(40 * b), 90 + int(40 * a))  # green


def short_label(name):
    """The function without its argument list or generic signature, for the rectangle."""
    label = name
    for prefix in ("specialized ", "static ", "closure #1 in ", "merged "):
        if label.startswith(prefix):
            label = label[len(prefix):]
    # Drop the outermost (...) argument list, keeping what follows (e.g. " in Foo.bar").
    depth, out = 0, []
    for ch in label:
        if ch == "(":
            if depth == 0:
                out.append("(…)")
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(ch)
    label = "".join(out)
    label = re.sub(r"<[^<>]*>", "", label)
    return label.strip() or name


class Node:
    __slots__ = ("name", "value", "children")

    def __init__(self, name):
        self.name = name
        self.value = 0
        self.children = {}

    def child(self, name):
        node = self.children.get(name)
        if node is None:
            node = self.children[name] = Node(name)
        return node


def parse(lines):
    root = Node("all")
    bad = 0
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            continue
        stack, _, count = line.rpartition(" ")
        try:
            n = int(float(count))
        except ValueError:
            bad += 1
            continue
        if n <= 0 or not stack:
            continue
        root.value += n
        node = root
        for frame in stack.split(";"):
            node = node.child(frame)
            node.value += n
    return root, bad


def depth_of(node):
    if not node.children:
        return 1
    return 1 + max(depth_of(c) for c in node.children.values())


def render(root, title, subtitle, width, frame_h, font, min_px, inverted):
    total = max(root.value, 1)
    pad_x, top = 10, 48
    depth = depth_of(root)
    height = top + depth * frame_h + 30
    scale = (width - 2 * pad_x) / total
    char_w = font * 0.6
    out = [
        '<?xml version="1.0" standalone="no"?>',
        f'<svg version="1.1" width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        ' xmlns="http://www.w3.org/2000/svg">',
        "<style>text { font-family: Verdana, 'DejaVu Sans', sans-serif; }"
        f" .f {{ font-size: {font}px; fill: #000; }} g:hover rect {{ stroke: #000;"
        " stroke-width: 0.7; }</style>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#f8f8f4"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" style="font-size: 16px">'
        f"{html.escape(title)}</text>",
        f'<text x="{width / 2}" y="40" text-anchor="middle" style="font-size: 11px; fill: #555">'
        f"{html.escape(subtitle)}</text>",
    ]
    legend = [
        ("kernel", "Tessera kernels"),
        ("tessera", "Tessera runtime/API"),
        ("swift", "Swift runtime"),
        ("os", "OS kernel"),
        ("other", "other"),
    ]
    lx = pad_x
    for kind, text in legend:
        r, g, b = colour(kind, kind)
        out.append(
            f'<rect x="{lx}" y="{height - 20}" width="12" height="12" fill="rgb({r},{g},{b})"/>'
            f'<text x="{lx + 16}" y="{height - 10}" style="font-size: 11px">{text}</text>'
        )
        lx += 28 + len(text) * 6.5

    def y_of(level):
        if inverted:
            return top + level * frame_h
        return top + (depth - 1 - level) * frame_h

    # Iterative walk: (node, level, x in samples).
    stack = [(root, 0, 0)]
    while stack:
        node, level, x0 = stack.pop()
        w = node.value * scale
        if w < min_px:
            continue
        x = pad_x + x0 * scale
        y = y_of(level)
        kind = "tessera" if node is root else classify(node.name)
        r, g, b = colour(node.name, kind)
        pct = 100.0 * node.value / total
        name = "all" if node is root else node.name
        tip = f"{name} ({node.value} samples, {pct:.2f}%)"
        out.append(f"<g><title>{html.escape(tip)}</title>")
        out.append(
            f'<rect x="{x:.2f}" y="{y}" width="{max(w - 0.5, 0.1):.2f}" height="{frame_h - 1}"'
            f' rx="2" fill="rgb({r},{g},{b})"/>'
        )
        label = short_label(name)
        fit = int((w - 6) / char_w)
        if fit >= 3:
            if len(label) > fit:
                label = label[: fit - 1] + "…"
            out.append(
                f'<text class="f" x="{x + 3:.2f}" y="{y + frame_h - 5}">{html.escape(label)}</text>'
            )
        out.append("</g>")
        cx = x0
        for name_ in sorted(node.children):
            child = node.children[name_]
            stack.append((child, level + 1, cx))
            cx += child.value
    out.append("</svg>")
    return "\n".join(out) + "\n"


def hottest(root, n):
    """Self samples per frame name (the leaves), hottest first."""
    self_counts = {}
    todo = [root]
    while todo:
        node = todo.pop()
        own = node.value - sum(c.value for c in node.children.values())
        if own > 0 and node is not root:
            self_counts[node.name] = self_counts.get(node.name, 0) + own
        todo.extend(node.children.values())
    return sorted(self_counts.items(), key=lambda kv: -kv[1])[:n]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folded", help="folded stacks file ('-' for stdin)")
    ap.add_argument("-o", "--output", help="SVG file (default: stdout)")
    ap.add_argument("--title", default="Flame graph")
    ap.add_argument("--subtitle", default=None)
    ap.add_argument("--width", type=int, default=1200)
    ap.add_argument("--height", type=int, default=17, help="pixels per frame")
    ap.add_argument("--font", type=float, default=11)
    ap.add_argument("--min-width", type=float, default=0.3, help="omit frames narrower (px)")
    ap.add_argument("--inverted", action="store_true", help="icicle: root at the top")
    ap.add_argument("--top", type=int, default=0, help="also print the N hottest frames (self)")
    args = ap.parse_args()

    src = sys.stdin if args.folded == "-" else open(args.folded, encoding="utf-8", errors="replace")
    with src:
        root, bad = parse(src)
    if root.value == 0:
        sys.exit(f"flamegraph.py: no samples in {args.folded}")
    if bad:
        print(f"flamegraph.py: skipped {bad} malformed line(s)", file=sys.stderr)
    subtitle = args.subtitle or f"{root.value} samples; width = share of samples; hover for details"
    svg = render(
        root, args.title, subtitle, args.width, args.height, args.font, args.min_width, args.inverted
    )
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(svg)
    else:
        sys.stdout.write(svg)
    if args.top:
        print(f"== {args.top} hottest frames by self samples ==", file=sys.stderr)
        for name, n in hottest(root, args.top):
            print(f"{100.0 * n / root.value:7.2f}%  {n:8d}  {name}", file=sys.stderr)


if __name__ == "__main__":
    main()
