import ArgumentParser
import Foundation
import Tessera

extension BenchCommand {
  /// `bench --variant linear`: times `LinearAttention.forward` on the same shape flags.
  /// FLOPs are the linear kernel's own count (`LinearAttention.flops`), not 4·D per pair.
  func executeLinear() throws {
    if dtype != .f32 || qoDtype != .f32 {
      throw ValidationError("--variant linear takes float32 only")
    }
    if maskOptions.window != nil || maskOptions.windowRight != nil || maskOptions.causalTopLeft {
      throw ValidationError("--variant linear takes --causal only (no windows or alignment)")
    }
    let shape = AttentionShape(
      batch: batch, queryHeads: heads, kvHeads: kvHeads, queryLength: seq, keyLength: kvSeq,
      headDim: dim, valueDim: valueDim)
    try shape.validate()
    let causal = maskOptions.causal
    let options = LinearAttentionOptions(
      threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
    var random = SeededRandom(seed: seed)
    let q = random.floats(shape.batch * shape.queryLength * shape.queryHeads * shape.headDim)
    let k = random.floats(shape.batch * shape.keyLength * shape.kvHeads * shape.headDim)
    let v = random.floats(shape.batch * shape.keyLength * shape.kvHeads * shape.valueDim)
    for _ in 0..<warmup {
      _ = try LinearAttention.forward(
        shape: shape, causal: causal, q: q, k: k, v: v, options: options)
    }
    let peakGFLOPS = peak ? PeakProbe.fmaGFLOPS(threads: options.threads, seconds: 0.05) : nil
    var samples: [Double] = []
    for _ in 0..<iterations {
      samples.append(
        try Stopwatch.seconds {
          _ = try LinearAttention.forward(
            shape: shape, causal: causal, q: q, k: k, v: v, options: options)
        })
    }
    let timing = TimingSummary(samples: samples)
    let flops = LinearAttention.flops(shape: shape, causal: causal, chunk: options.chunk)
    let gflops = flops / timing.median / 1e9
    if json {
      var object: [String: Any] = [
        "variant": "linear", "batch": batch, "heads": heads, "kv_heads": shape.kvHeads,
        "seq": seq, "dim": dim, "causal": causal, "threads": options.threads,
        "median_ms": timing.median * 1e3, "min_ms": timing.min * 1e3, "gflops": gflops,
        "flops": flops,
      ]
      if let peakGFLOPS { object["peak_gflops"] = peakGFLOPS }
      let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
      print(String(decoding: data, as: UTF8.self))
    } else {
      print("problem  linear attention \(shape) causal=\(causal) (elu+1)")
      print("run      threads=\(options.threads), \(iterations) iterations after \(warmup) warmup")
      print(
        "time     median \(Console.fixed(timing.median * 1e3, 3)) ms, min "
          + "\(Console.fixed(timing.min * 1e3, 3)) ms")
      var rate = "rate     \(Console.fixed(gflops)) GFLOP/s (linear-attention FLOPs)"
      if let peakGFLOPS { rate += ", \(Console.fixed(100 * gflops / peakGFLOPS, 1)) % of peak" }
      print(rate)
    }
  }
}
