// Prefill (self-attention over a whole prompt), Float32: the FMA-bound half of Tessera's work.
//
// Shapes: B = 1, H = 8 query and kv heads, D = 64 and 128, S = 1024, 4096, 16384, causal and
// not, on 1 thread and on every online CPU. FLOPs follow DESIGN.md: 4·D per visible
// (query, key) pair, so one non-causal run is 4·D·S²·H:
//
//   S       D = 64        D = 128
//   1024    2.1 GFLOP     4.3 GFLOP
//   4096    34 GFLOP      69 GFLOP
//   16384   550 GFLOP     1.1 TFLOP   (causal: about half)
//
// At 50–90 GFLOP/s per core an S = 16384 run takes 6–25 s, so those benchmarks do no warmup and
// stop after 3 iterations or 20 s, whichever comes first (at least one iteration always runs).
//
// Each benchmark reports, besides wall clock and throughput, two custom metrics computed from the
// same timed call: `GFLOP/s` and `% of FMA peak`, the peak being `PeakProbe.fmaGFLOPS` measured
// once per thread count in the benchmark's setup (outside the measurement).
//
// Names are "fp32_D=<D>_S=<S>_<causal|noncausal>_threads=<1|all>", with no spaces and no tags:
// `thresholds update` names each file after the benchmark with spaces turned into underscores,
// but `thresholds check` looks the file up by the raw name, and it filters on the name with the
// tags appended, so either would make the check find nothing. `--filter` takes a regex that
// must match the WHOLE name:
// ".*D=128_S=4096_.*", ".*_threads=1", "fp32_D=64_S=1024_causal_.*".

import Benchmark
import Foundation
import Tessera

let benchmarks: @Sendable () -> Void = {
  let allThreads = ProcessInfo.processInfo.activeProcessorCount
  var threadCounts: [(label: String, count: Int)] = [("1", 1)]
  if allThreads > 1 { threadCounts.append(("all", allThreads)) }

  for headDim in [64, 128] {
    for length in [1024, 4096, 16384] {
      for causal in [false, true] {
        for (label, threads) in threadCounts {
          registerPrefill(
            headDim: headDim, length: length, causal: causal, threadLabel: label, threads: threads)
        }
      }
    }
  }
}

/// Custom metrics, one value per iteration, computed from the iteration's own timing.
enum PrefillMetric {
  static let gflops = BenchmarkMetric.custom(
    "GFLOP/s", polarity: .prefersLarger, useScalingFactor: false)
  static let percentOfPeak = BenchmarkMetric.custom(
    "% of FMA peak", polarity: .prefersLarger, useScalingFactor: false)
}

/// Tolerances for `benchmark thresholds check` (static p90 thresholds in `Thresholds/`) and
/// `benchmark baseline check` (two baselines), sized for a noisy shared 2-core VM. The static
/// check compares only p90, so p90 carries a tolerance too; a metric missing here would be
/// checked strictly (0 %). Improvements beyond the tolerance fail the check as well (exit 4):
/// refresh the thresholds after a speed-up.
enum PrefillTolerance {
  static var timing: BenchmarkThresholds { BenchmarkThresholds(relative: [.p50: 25, .p90: 50]) }
  static var memory: BenchmarkThresholds { BenchmarkThresholds(relative: [.p50: 25, .p90: 25]) }
  static var mallocs: BenchmarkThresholds {
    BenchmarkThresholds(absolute: [.p50: 1_000, .p90: 1_000])
  }

  static var all: [BenchmarkMetric: BenchmarkThresholds] {
    [
      .wallClock: timing, .throughput: timing, .cpuTotal: timing, PrefillMetric.gflops: timing,
      PrefillMetric.percentOfPeak: timing, .peakMemoryResident: memory, .mallocCountTotal: mallocs,
    ]
  }
}

/// Iteration budget by sequence length (see the FLOP table at the top of the file).
func prefillConfiguration(length: Int) -> Benchmark.Configuration {
  let metrics: [BenchmarkMetric] = [
    .wallClock, .throughput, .cpuTotal, .mallocCountTotal, .peakMemoryResident,
    PrefillMetric.gflops, PrefillMetric.percentOfPeak,
  ]
  switch length {
  case ...2048:
    return .init(
      metrics: metrics, timeUnits: .milliseconds, warmupIterations: 1,
      maxDuration: .seconds(2), maxIterations: 25,
      thresholds: PrefillTolerance.all)
  case ...8192:
    return .init(
      metrics: metrics, timeUnits: .milliseconds, warmupIterations: 1,
      maxDuration: .seconds(5), maxIterations: 5,
      thresholds: PrefillTolerance.all)
  default:
    return .init(
      metrics: metrics, timeUnits: .milliseconds, warmupIterations: 0,
      maxDuration: .seconds(20), maxIterations: 3,
      thresholds: PrefillTolerance.all)
  }
}

func registerPrefill(headDim: Int, length: Int, causal: Bool, threadLabel: String, threads: Int) {
  let shape = AttentionShape(batch: 1, queryHeads: 8, queryLength: length, headDim: headDim)
  let problem = AttentionProblem(shape: shape, mask: causal ? .causal : .none)
  let options = AttentionOptions(threads: threads)
  let flops = problem.flops
  let name =
    "fp32_D=\(headDim)_S=\(length)_\(causal ? "causal" : "noncausal")_threads=\(threadLabel)"
  let slot = PrefillSlot()

  Benchmark(
    name,
    configuration: prefillConfiguration(length: length),
    closure: { (benchmark: Benchmark) -> Void in
      guard let buffers = slot.buffers else {
        benchmark.error("setup did not allocate the inputs")
        return
      }
      let start = DispatchTime.now().uptimeNanoseconds
      for _ in benchmark.scaledIterations {
        do {
          try Attention.forward(
            problem, q: UnsafeBufferPointer(buffers.q), k: UnsafeBufferPointer(buffers.k),
            v: UnsafeBufferPointer(buffers.v), output: buffers.o, lse: nil, options: options)
        } catch {
          benchmark.error("Attention.forward failed: \(error)")
          return
        }
      }
      let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
      blackHole(buffers.o[0])
      let calls = Double(benchmark.scaledIterations.count)
      let gflops = flops * calls / max(seconds, 1e-9) / 1e9
      benchmark.measurement(PrefillMetric.gflops, Int(gflops.rounded()))
      benchmark.measurement(
        PrefillMetric.percentOfPeak, Int((100 * gflops / slot.peakGFLOPS).rounded()))
    },
    setup: {
      let counts = try problem.validate()
      slot.buffers = PrefillBuffers(counts: counts, seed: UInt64(headDim * 1_000_003 + length))
      slot.peakGFLOPS = PeakCache.shared.gflops(threads: threads)
    },
    teardown: {
      slot.buffers = nil
    }
  )
}

/// Holds one benchmark's inputs from its setup to its teardown, so a suite never keeps more than
/// one problem's tensors alive (S = 16384, D = 128 is 64 MiB per tensor) and the
/// `peakMemoryResident` metric reflects the benchmark that runs. The runner calls setup, the
/// iterations and teardown one after another, never concurrently.
final class PrefillSlot: @unchecked Sendable {
  var buffers: PrefillBuffers?
  var peakGFLOPS = Double.nan
}

/// Q, K, V (uniform in [-1, 1), from a fixed seed) and O, in BSHD layout.
final class PrefillBuffers {
  let q: UnsafeMutableBufferPointer<Float>
  let k: UnsafeMutableBufferPointer<Float>
  let v: UnsafeMutableBufferPointer<Float>
  let o: UnsafeMutableBufferPointer<Float>

  init(counts: AttentionProblem.RequiredCounts, seed: UInt64) {
    var state = seed | 1
    // xorshift64*: fast enough to fill 3 × 16M floats in well under a second, unlike
    // `Float.random(in:)` through the system generator.
    func fill(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
      let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
      for i in 0..<count {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        let bits = (state &* 0x2545_F491_4F6C_DD1D) >> 40  // 24 random bits
        buffer[i] = Float(bits) * 0x1p-23 - 1
      }
      return buffer
    }
    q = fill(counts.query)
    k = fill(counts.key)
    v = fill(counts.value)
    o = .allocate(capacity: counts.output)
    o.initialize(repeating: 0)
  }

  deinit {
    q.deallocate()
    k.deallocate()
    v.deallocate()
    o.deallocate()
  }
}

/// The measured FMA peak per thread count, probed once per process (about 0.5 s each).
final class PeakCache: @unchecked Sendable {
  static let shared = PeakCache()
  private let lock = NSLock()
  private var peaks: [Int: Double] = [:]

  func gflops(threads: Int) -> Double {
    lock.lock()
    defer { lock.unlock() }
    if let peak = peaks[threads] { return peak }
    let peak = PeakProbe.fmaGFLOPS(threads: threads)
    peaks[threads] = peak
    return peak
  }
}
