#!/usr/bin/env python3
"""Checks `tessera run` against a NumPy float64 reference, and its error handling.

Usage: python3 scripts/check_run_numpy.py [--tessera PATH]
       (default PATH: .build/release/tessera; build it first with
        swift build -c release -Xcc -march=native)

1. Random Q, K, V in [-1, 1] (float32, layout (batch, seq, heads, dim)) over self- and
   cross-attention, GQA, Dv != D, both causal alignments and an explicit scale: `tessera run`
   must match the float64 reference to 1e-4 on O and LSE (LSE = -inf exactly on fully masked
   rows).
2. Malformed .npy files and mismatched shapes: `tessera run` must exit with status 1 and print
   `error: ...` on stderr.
Exits 1 if any check fails.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

TOLERANCE = 1e-4


def reference(q, k, v, mask, scale):
    """O (b, sq, h, dv) and LSE (b, h, sq) in float64; mask is none, bottom-right or top-left."""
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    b, sq, hq, d = q.shape
    skv, hkv = k.shape[1], k.shape[2]
    group = hq // hkv
    k = np.repeat(k, group, axis=2)  # query head h reads kv head h // group
    v = np.repeat(v, group, axis=2)
    s = np.einsum("bqhd,bkhd->bhqk", q, k) * (scale if scale is not None else 1 / np.sqrt(d))
    if mask != "none":
        offset = skv - sq if mask == "bottom-right" else 0
        i = np.arange(sq)[:, None]
        j = np.arange(skv)[None, :]
        s = np.where(j <= i + offset, s, -np.inf)
    m = s.max(axis=-1, keepdims=True)
    finite = np.isfinite(m)
    p = np.where(finite, np.exp(s - np.where(finite, m, 0)), 0)
    l = p.sum(axis=-1, keepdims=True)
    o = np.einsum("bhqk,bkhd->bqhd", p / np.where(l > 0, l, 1), v)
    with np.errstate(divide="ignore"):
        lse = np.where(finite, m + np.log(np.where(l > 0, l, 1)), -np.inf)[..., 0]
    return o, lse


def run(tessera, args):
    return subprocess.run([tessera, "run", *args], capture_output=True, text=True)


def accuracy_cases():
    # (batch, sq, skv, hq, hkv, d, dv, mask, scale)
    return [
        (1, 65, 65, 4, 4, 64, 64, "none", None),
        (2, 100, 100, 8, 2, 128, 128, "bottom-right", None),
        (1, 37, 200, 4, 1, 80, 80, "bottom-right", None),
        (1, 200, 37, 4, 2, 33, 33, "bottom-right", None),  # first 163 rows fully masked
        (1, 200, 37, 4, 2, 33, 33, "top-left", None),
        (2, 63, 130, 6, 3, 96, 48, "top-left", None),
        (1, 1, 300, 8, 1, 128, 128, "bottom-right", None),  # a decode step, MQA
        (1, 129, 129, 2, 2, 256, 256, "none", 0.5),
    ]


def check_accuracy(tessera, tmp, rng):
    ok = True
    for case in accuracy_cases():
        b, sq, skv, hq, hkv, d, dv, mask, scale = case
        q = rng.uniform(-1, 1, (b, sq, hq, d)).astype(np.float32)
        k = rng.uniform(-1, 1, (b, skv, hkv, d)).astype(np.float32)
        v = rng.uniform(-1, 1, (b, skv, hkv, dv)).astype(np.float32)
        paths = {n: os.path.join(tmp, f"{n}.npy") for n in ("q", "k", "v", "o", "lse")}
        for n, x in (("q", q), ("k", k), ("v", v)):
            np.save(paths[n], x)
        args = ["--q", paths["q"], "--k", paths["k"], "--v", paths["v"], "--out", paths["o"]]
        args += ["--lse", paths["lse"]]
        if mask == "bottom-right":
            args += ["--causal"]
        elif mask == "top-left":
            args += ["--causal-top-left"]
        if scale is not None:
            args += ["--scale", str(scale)]
        result = run(tessera, args)
        label = f"B={b} Sq={sq} Skv={skv} Hq={hq} Hkv={hkv} D={d} Dv={dv} mask={mask} scale={scale}"
        if result.returncode != 0:
            print(f"FAIL {label}: exit {result.returncode}: {result.stderr.strip()}")
            ok = False
            continue
        o = np.load(paths["o"], allow_pickle=False)
        lse = np.load(paths["lse"], allow_pickle=False)
        o_ref, lse_ref = reference(q, k, v, mask, scale)
        shapes_ok = (
            o.dtype == np.float32 and o.shape == (b, sq, hq, dv)
            and lse.dtype == np.float32 and lse.shape == (b, hq, sq)
        )
        masked = np.isneginf(lse_ref)
        lse_masked_ok = bool(np.all(np.isneginf(lse[masked]))) if shapes_ok else False
        o_err = float(np.max(np.abs(o - o_ref))) if shapes_ok else float("inf")
        lse_err = (
            float(np.max(np.abs(lse[~masked] - lse_ref[~masked]), initial=0.0))
            if shapes_ok else float("inf")
        )
        passed = shapes_ok and lse_masked_ok and o_err <= TOLERANCE and lse_err <= TOLERANCE
        ok &= passed
        print(
            f"{'ok  ' if passed else 'FAIL'} O {o_err:.2e} LSE {lse_err:.2e}"
            f" masked rows {int(masked.sum())}  {label}"
        )
    return ok


def check_versions(tessera, tmp, rng):
    """Inputs saved as .npy format 2.0 and 3.0 give the same O as format 1.0."""
    q = rng.uniform(-1, 1, (1, 20, 2, 16)).astype(np.float32)
    k = rng.uniform(-1, 1, (1, 30, 1, 16)).astype(np.float32)
    v = rng.uniform(-1, 1, (1, 30, 1, 16)).astype(np.float32)
    p = lambda name: os.path.join(tmp, name)
    np.save(p("k.npy"), k)
    np.save(p("v.npy"), v)
    outputs = {}
    ok = True
    for version in ((1, 0), (2, 0), (3, 0)):
        with open(p("qv.npy"), "wb") as f:
            np.lib.format.write_array(f, q, version=version)
        result = run(
            tessera,
            ["--q", p("qv.npy"), "--k", p("k.npy"), "--v", p("v.npy"), "--out", p("o.npy"),
             "--causal"])
        outputs[version] = np.load(p("o.npy")) if result.returncode == 0 else None
        passed = outputs[version] is not None and np.array_equal(outputs[version], outputs[(1, 0)])
        ok &= passed
        print(f"{'ok  ' if passed else 'FAIL'} .npy format {version[0]}.{version[1]} {result.stderr.strip()}")
    return ok


def write_raw(path, header, data, version=b"\x01\x00"):
    """A .npy file with a hand-written header (padded to 64 bytes like np.save)."""
    header = header.encode()
    pad = (64 - (10 + len(header) + 1) % 64) % 64
    header += b" " * pad + b"\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY" + version + len(header).to_bytes(2, "little") + header + data)


def check_errors(tessera, tmp, rng):
    def arr(*shape, dtype=np.float32):
        return rng.uniform(-1, 1, shape).astype(dtype)

    good_q, good_k, good_v = arr(1, 8, 2, 16), arr(1, 8, 2, 16), arr(1, 8, 2, 16)
    p = lambda name: os.path.join(tmp, name)
    np.save(p("q.npy"), good_q)
    np.save(p("k.npy"), good_k)
    np.save(p("v.npy"), good_v)
    f32 = good_q.tobytes()

    cases = []  # (label, which input is replaced, path)

    def bad_file(label, name, writer, slot="q"):
        writer(p(name))
        cases.append((label, slot, p(name)))

    bad_file("bad magic", "magic.npy", lambda f: open(f, "wb").write(b"NOTNUMPY" + bytes(100)))
    bad_file("empty file", "empty.npy", lambda f: open(f, "wb").close())
    bad_file(
        "truncated data", "trunc.npy",
        lambda f: open(f, "wb").write(open(p("q.npy"), "rb").read()[:-10]))
    bad_file(
        "trailing data", "trail.npy",
        lambda f: open(f, "wb").write(open(p("q.npy"), "rb").read() + b"xx"))
    bad_file(
        "truncated header", "trunchdr.npy",
        lambda f: open(f, "wb").write(open(p("q.npy"), "rb").read()[:40]))
    bad_file("big-endian", "be.npy", lambda f: np.save(f, good_q.astype(">f4")))
    bad_file(
        "fortran order", "fortran.npy",
        lambda f: np.save(f, np.asfortranarray(arr(1, 8, 2, 16))))
    bad_file("float64", "f64.npy", lambda f: np.save(f, good_q.astype(np.float64)))
    bad_file(
        "object dtype", "obj.npy",
        lambda f: np.save(f, np.array([{"a": 1}, None], dtype=object), allow_pickle=True))
    bad_file(
        "structured dtype", "struct.npy",
        lambda f: np.save(f, np.zeros(4, dtype=[("a", "<f4"), ("b", "<f4")])))
    bad_file(
        "header garbage", "garbage.npy",
        lambda f: write_raw(f, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 8, 2, 16", f32))
    bad_file(
        "header missing shape", "noshape.npy",
        lambda f: write_raw(f, "{'descr': '<f4', 'fortran_order': False}", f32))
    bad_file(
        "unknown version", "v9.npy",
        lambda f: write_raw(f, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 8, 2, 16), }",
                            f32, version=b"\x09\x00"))
    bad_file("float16 (not yet supported)", "f16.npy", lambda f: np.save(f, good_q.astype(np.float16)))
    cases.append(("missing file", "q", p("does-not-exist.npy")))
    bad_file("Q is 3-D", "q3.npy", lambda f: np.save(f, arr(8, 2, 16)))
    bad_file("batch mismatch", "kb.npy", lambda f: np.save(f, arr(2, 8, 2, 16)), slot="k")
    bad_file("K/V length mismatch", "vs.npy", lambda f: np.save(f, arr(1, 9, 2, 16)), slot="v")
    bad_file("K/V heads mismatch", "vh.npy", lambda f: np.save(f, arr(1, 8, 1, 16)), slot="v")
    bad_file("Q/K dim mismatch", "kd.npy", lambda f: np.save(f, arr(1, 8, 2, 32)), slot="k")
    bad_file("heads not divisible", "qh.npy", lambda f: np.save(f, arr(1, 8, 3, 16)))
    bad_file("zero-length axis", "q0.npy", lambda f: np.save(f, arr(1, 0, 2, 16)))

    ok = True
    for label, slot, path in cases:
        inputs = {"q": p("q.npy"), "k": p("k.npy"), "v": p("v.npy")}
        inputs[slot] = path
        result = run(
            tessera,
            ["--q", inputs["q"], "--k", inputs["k"], "--v", inputs["v"], "--out", p("o.npy")])
        message = result.stderr.strip()
        passed = result.returncode == 1 and message.startswith("error:") and "\n" not in message
        ok &= passed
        print(f"{'ok  ' if passed else 'FAIL'} exit {result.returncode}  {label:28} {message}")

    # Invalid scale: a library error, also exit 1.
    result = run(
        tessera,
        ["--q", p("q.npy"), "--k", p("k.npy"), "--v", p("v.npy"), "--out", p("o.npy"),
         "--scale", "inf"])
    passed = result.returncode == 1 and result.stderr.startswith("error:")
    ok &= passed
    print(f"{'ok  ' if passed else 'FAIL'} exit {result.returncode}  {'scale inf':28} {result.stderr.strip()}")
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tessera", default=".build/release/tessera")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"accuracy against NumPy float64 (tolerance {TOLERANCE})")
        accurate = check_accuracy(args.tessera, tmp, rng)
        print("errors: malformed files and mismatched shapes must exit 1")
        errors = check_errors(args.tessera, tmp, rng)
        print("format versions")
        versions = check_versions(args.tessera, tmp, rng)
    passed = accurate and errors and versions
    print("PASS" if passed else "FAILED")
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
