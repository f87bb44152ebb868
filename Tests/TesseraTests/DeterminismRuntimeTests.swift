import Foundation
import Tessera
import Testing

/// The determinism contract: O and LSE are bitwise identical for any thread count, executor,
/// topology (fake 1- and 2-node ones included) and schedule.
@Suite struct DeterminismRuntimeTests {
  static let problems: [AttentionProblem] = [
    AttentionProblem(
      shape: AttentionShape(
        batch: 2, queryHeads: 4, kvHeads: 2, queryLength: 333, keyLength: 333, headDim: 64),
      mask: .causal),
    AttentionProblem(
      shape: AttentionShape(
        queryHeads: 3, queryLength: 200, keyLength: 500, headDim: 33, valueDim: 20)),
    AttentionProblem(
      shape: AttentionShape(
        queryHeads: 8, kvHeads: 1, queryLength: 500, keyLength: 130, headDim: 128),
      mask: .causalTopLeft),
  ]

  @Test(arguments: 0..<problems.count)
  func bitwiseIdenticalEverywhere(index: Int) throws {
    let input = RuntimeFixtures.Inputs(Self.problems[index], seed: UInt64(400 + 10 * index))
    let tiles = TileConfig(queryTile: 24, keyTile: 20)
    let baselineRuntime = Runtime(
      topology: Topology(nodes: [RuntimeFixtures.node(0, [0])]), minimumWorkPerWorker: 0)
    let baseline = try input.run(
      AttentionOptions(threads: 1, tileConfig: tiles, runtime: baselineRuntime))
    #expect(baseline.output.allSatisfy { $0.isFinite })
    for (name, topology) in RuntimeFixtures.topologies {
      let runtime = Runtime(topology: topology, minimumWorkPerWorker: 0)
      var granted = 0
      for executor in ExecutorKind.allCases {
        for threads in 1...4 {
          // Start from an idle runtime so the call is granted min(threads, slots) workers at
          // once, whatever the machine's load (workers of the previous call may still be on
          // their way back).
          while runtime.idleWorkers < runtime.workerCount { Thread.sleep(forTimeInterval: 0.0005) }
          granted += min(threads, runtime.workerCount)
          let options = AttentionOptions(
            threads: threads, tileConfig: tiles, executor: executor, runtime: runtime)
          let got = try input.run(options)
          #expect(
            RuntimeFixtures.identical(got, baseline),
            "\(Self.problems[index]) on \(name), \(executor), \(threads) threads")
        }
      }
      // The multi-worker paths ran: every call got all the workers it asked for.
      #expect(runtime.workersStarted == granted, "\(name)")
      #expect(runtime.peakConcurrentWorkers <= runtime.workerCount, "\(name)")
    }
  }

  /// The shared runtime and the default options give the same bits as one pinned thread.
  @Test func sharedRuntimeMatches() throws {
    let input = RuntimeFixtures.Inputs(Self.problems[0], seed: 470)
    let one = try input.run(AttentionOptions(threads: 1))
    for executor in ExecutorKind.allCases {
      #expect(RuntimeFixtures.identical(try input.run(AttentionOptions(executor: executor)), one))
    }
  }

  /// The result is right, not only repeatable: against the Double reference.
  @Test func matchesReference() throws {
    let input = RuntimeFixtures.Inputs(Self.problems[0], seed: 480)
    let runtime = Runtime(
      topology: RuntimeFixtures.topologies[2].1, minimumWorkPerWorker: 0)
    let got = try input.run(AttentionOptions(threads: 2, runtime: runtime))
    let ref = try input.q.withUnsafeBufferPointer { q in
      try input.k.withUnsafeBufferPointer { k in
        try input.v.withUnsafeBufferPointer { v in
          try ReferenceAttention.compute(input.problem, q: q, k: k, v: v)
        }
      }
    }
    // Float32 kernel against Double: ≈ 1e-6 typical at these sizes (see TestSupport).
    let worst = zip(got.output, ref.output).map { abs(Double($0) - $1) }.max() ?? 0
    #expect(worst < 2e-5)
  }
}
