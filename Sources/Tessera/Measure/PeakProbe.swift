import Dispatch
import Foundation

/// Measures what this machine can do, so every benchmark reports a fraction of it rather than
/// a bare GFLOP/s or GB/s.
public enum PeakProbe {
  /// Float32 FMA throughput in GFLOP/s (2 flops per lane per FMA) on `threads` threads.
  ///
  /// Each thread runs 12 independent SIMD8 accumulator chains: Zen 3 has 2 FMA pipes of
  /// latency 4, so 8 chains in flight saturate it; 12 leave margin for other cores' designs. The
  /// result is the best of `repeats` timed runs of about `seconds` each (the maximum, since
  /// the peak is what the hardware can do and interference only slows it).
  public static func fmaGFLOPS(threads: Int = 1, seconds: Double = 0.1, repeats: Int = 3) -> Double
  {
    let threads = max(1, threads)
    // Calibrate the iteration count on one short run.
    var iterations = 1 << 16
    while true {
      let t = timeFMA(iterations: iterations)
      if t > seconds / 4 || iterations > 1 << 30 { break }
      iterations *= 2
    }
    let target = Int(Double(iterations) * (seconds / max(timeFMA(iterations: iterations), 1e-6)))
    let perCall = Double(max(target, 1)) * 12 * 8 * 2
    var best = 0.0
    for _ in 0..<max(1, repeats) {
      let start = DispatchTime.now().uptimeNanoseconds
      DispatchQueue.concurrentPerform(iterations: threads) { _ in
        _ = fmaChains(iterations: max(target, 1))
      }
      let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
      best = max(best, perCall * Double(threads) / elapsed / 1e9)
    }
    return best
  }

  private static func timeFMA(iterations: Int) -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    _ = fmaChains(iterations: iterations)
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
  }

  /// 12 independent FMA chains; the result is returned so the optimizer keeps the work.
  @inline(never)
  static func fmaChains(iterations: Int) -> Float {
    let a = Vec(repeating: 0.999_999), b = Vec(repeating: 1e-7)
    var c0 = Vec(repeating: 1), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0
    var c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0
    for _ in 0..<iterations {
      c0 = fma(c0, a, b)
      c1 = fma(c1, a, b)
      c2 = fma(c2, a, b)
      c3 = fma(c3, a, b)
      c4 = fma(c4, a, b)
      c5 = fma(c5, a, b)
      c6 = fma(c6, a, b)
      c7 = fma(c7, a, b)
      c8 = fma(c8, a, b)
      c9 = fma(c9, a, b)
      c10 = fma(c10, a, b)
      c11 = fma(c11, a, b)
    }
    let s = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11))
    return s.sum()
  }

  /// STREAM-like triad bandwidth `a[i] = b[i] + s·c[i]` in GB/s (3 arrays of `megabytes` each,
  /// far beyond the last-level cache), counting 3 streams of 4 bytes per element (the
  /// write-allocate read is not counted, as STREAM does not). The best of `repeats` passes.
  public static func triadGBps(threads: Int = 1, megabytes: Int = 256, repeats: Int = 3) -> Double {
    TriadProbe(threads: threads, megabytes: megabytes).gbps(repeats: repeats)
  }

  @inline(never)
  static func triad(
    _ a: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>,
    count: Int
  ) {
    let s = Vec(repeating: 3)
    var i = 0
    while i + 8 <= count {
      let x = UnsafeRawPointer(b + i).loadUnaligned(as: Vec.self)
      let y = UnsafeRawPointer(c + i).loadUnaligned(as: Vec.self)
      UnsafeMutableRawPointer(a + i).storeBytes(of: fma(s, y, x), as: Vec.self)
      i += 8
    }
    while i < count {
      a[i] = b[i] + 3 * c[i]
      i += 1
    }
  }
}

/// Carries non-Sendable values (pointers) into `concurrentPerform`, whose workers partition them.
struct UncheckedBox<T>: @unchecked Sendable {
  let value: T
  init(_ value: T) { self.value = value }
}
