import Dispatch
import Foundation
import Tessera
import Testing

/// Timings behind the README's runtime note: executor comparison, 1→2 thread scaling and
/// dispatch overhead. Opt-in (`TESSERA_RUNTIME_BENCH=1`): they take ~30 s and mean something
/// only on a quiet machine. Medians of alternating runs, so drift hits every variant alike.
@Suite(
  .serialized, .enabled(if: ProcessInfo.processInfo.environment["TESSERA_RUNTIME_BENCH"] != nil))
struct RuntimeBenchmarkTests {
  static func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
  }

  static func median(_ x: [Double]) -> Double { x.sorted()[x.count / 2] }

  @Test func scalingAndExecutors() throws {
    let rounds =
      Int(ProcessInfo.processInfo.environment["TESSERA_RUNTIME_BENCH_ROUNDS"] ?? "5") ?? 5
    let problem = AttentionProblem(
      shape: AttentionShape(batch: 1, queryHeads: 8, queryLength: 4096, headDim: 128),
      mask: .causal)
    let c = try problem.validate()
    let q = RuntimeFixtures.floats(c.query, seed: 1)
    let k = RuntimeFixtures.floats(c.key, seed: 2)
    let v = RuntimeFixtures.floats(c.value, seed: 3)
    var o = [Float](repeating: 0, count: c.output)
    let variants: [(String, AttentionOptions)] = [
      ("pinned   1", AttentionOptions(threads: 1, executor: .pinned)),
      ("pinned   2", AttentionOptions(threads: 2, executor: .pinned)),
      ("dispatch 1", AttentionOptions(threads: 1, executor: .dispatch)),
      ("dispatch 2", AttentionOptions(threads: 2, executor: .dispatch)),
    ]
    var samples = [[Double]](repeating: [], count: variants.count)
    try q.withUnsafeBufferPointer { q in
      try k.withUnsafeBufferPointer { k in
        try v.withUnsafeBufferPointer { v in
          try o.withUnsafeMutableBufferPointer { o in
            for (_, options) in variants {
              try Attention.forward(problem, q: q, k: k, v: v, output: o, options: options)
            }
            for _ in 0..<rounds {
              for (i, (_, options)) in variants.enumerated() {
                samples[i].append(
                  try Self.seconds {
                    try Attention.forward(problem, q: q, k: k, v: v, output: o, options: options)
                  })
              }
            }
          }
        }
      }
    }
    let flops = problem.flops
    var lines = ["B=1 H=8 S=4096 D=128 causal, \(rounds) rounds, medians:"]
    for (i, (name, _)) in variants.enumerated() {
      let m = Self.median(samples[i])
      let all = samples[i].map { String(format: "%.3f", $0) }.joined(separator: " ")
      lines.append(
        "  \(name): \(String(format: "%.3f", m)) s, \(String(format: "%.1f", flops / m / 1e9)) GFLOP/s  [\(all)]"
      )
    }
    let pinnedSpeedup = Self.median(samples[0]) / Self.median(samples[1])
    let dispatchSpeedup = Self.median(samples[2]) / Self.median(samples[3])
    lines.append(
      String(format: "  speedup 2/1: pinned %.3fx, dispatch %.3fx", pinnedSpeedup, dispatchSpeedup))
    // Per-round ratios are robust to drift between rounds.
    let perRound = zip(samples[0], samples[1]).map { $0 / $1 }
    lines.append(
      "  pinned per-round 2/1 ratios: "
        + perRound.map { String(format: "%.3f", $0) }.joined(separator: " ")
        + String(format: " (median %.3f)", Self.median(perRound)))
    print(lines.joined(separator: "\n"))
  }

  @Test func dispatchOverhead() throws {
    for executor in ExecutorKind.allCases {
      for workers in [1, 2] {
        let t = RuntimeOverhead.callLatency(executor: executor, workers: workers)
        print(
          "call latency \(executor), \(workers) worker(s): \(String(format: "%.1f", t * 1e6)) µs")
      }
    }
    for (s, h) in [(1024, 8), (256, 4)] {
      let problem = AttentionProblem(
        shape: AttentionShape(queryHeads: h, queryLength: s, headDim: 128), mask: .causal)
      for executor in ExecutorKind.allCases {
        let r = try RuntimeOverhead.measure(problem, executor: executor, repeats: 9)
        print("overhead S=\(s) H=\(h): \(r)")
      }
    }
  }
}
