import CTesseraShims
import Dispatch
import Foundation
import Tessera
import Testing

/// Many callers sharing one runtime: every result checked against a single-threaded run, the
/// cores never oversubscribed, queued calls cancellable, Dispatch threads left unpinned.
@Suite struct RuntimeStressTests {
  static func mixedProblem(_ i: Int) -> AttentionProblem {
    let heads = [1, 2, 4, 3][i % 4]
    let kvHeads = heads % 2 == 0 ? heads / 2 : heads
    let masks: [AttentionMask] = [.causal, .none, .causalTopLeft]
    return AttentionProblem(
      shape: AttentionShape(
        batch: 1 + i % 2, queryHeads: heads, kvHeads: kvHeads, queryLength: 17 + 37 * (i % 7),
        keyLength: 40 + 53 * (i % 5), headDim: [16, 33, 64][i % 3]),
      mask: masks[i % 3])
  }

  /// Dozens of concurrent async callers of mixed sizes, thread counts and executors on one
  /// runtime (a fake 2-node topology), plus a few synchronous callers on plain threads.
  @Test(arguments: [0, 2])
  func concurrentCallers(topologyIndex: Int) async throws {
    let runtime = Runtime(
      topology: RuntimeFixtures.topologies[topologyIndex].1, minimumWorkPerWorker: 0)
    let callers = 48
    let inputs = (0..<callers).map {
      RuntimeFixtures.Inputs(Self.mixedProblem($0), seed: UInt64(1000 + $0))
    }
    let one = Runtime(
      topology: Topology(nodes: [RuntimeFixtures.node(0, [0])]), minimumWorkPerWorker: 0)
    let expected = try inputs.map { try $0.run(AttentionOptions(threads: 1, runtime: one)) }

    // Synchronous callers on their own threads, running alongside the async ones.
    let syncDone = DispatchGroup()
    let syncOK = SyncFlags(count: 4)
    for s in 0..<4 {
      syncDone.enter()
      let input = inputs[s]
      let want = expected[s]
      Thread {
        let r = try? input.run(AttentionOptions(threads: 2, runtime: runtime))
        syncOK.set(s, r.map { RuntimeFixtures.identical($0, want) } ?? false)
        syncDone.leave()
      }.start()
    }

    let results = try await withThrowingTaskGroup(of: (Int, AttentionResult).self) { group in
      for (i, input) in inputs.enumerated() {
        let options = AttentionOptions(
          threads: 1 + i % 4, tileConfig: TileConfig(queryTile: 24 * (1 + i % 3)),
          executor: ExecutorKind.allCases[i % 2], runtime: runtime)
        group.addTask {
          (
            i,
            try await Attention.forward(
              input.problem, q: input.q, k: input.k, v: input.v, options: options)
          )
        }
      }
      var out = [Int: AttentionResult]()
      for try await (i, r) in group { out[i] = r }
      return out
    }
    for i in 0..<callers {
      let r = try #require(results[i])
      #expect(RuntimeFixtures.identical(r, expected[i]), "caller \(i): \(inputs[i].problem)")
    }
    await withCheckedContinuation { c in syncDone.notify(queue: .global()) { c.resume() } }
    #expect(syncOK.all, "synchronous callers")
    #expect(runtime.peakConcurrentWorkers <= runtime.workerCount)
    // Every call ran on at least one worker (queued calls take one slot as it frees, so how
    // many ran on several depends on timing).
    #expect(runtime.workersStarted >= callers + 4)
    #expect(runtime.queuedCalls == 0)
  }

  /// A call waiting behind a long one is withdrawn when its task is cancelled; the long call
  /// and later calls are unaffected.
  @Test func cancelQueuedCall() async throws {
    let runtime = Runtime(
      topology: Topology(nodes: [RuntimeFixtures.node(0, [0])]), minimumWorkPerWorker: 0)
    let long = RuntimeFixtures.Inputs(
      AttentionProblem(shape: AttentionShape(queryHeads: 8, queryLength: 3072, headDim: 64)),
      seed: 2000)
    let small = RuntimeFixtures.Inputs(
      AttentionProblem(shape: AttentionShape(queryHeads: 1, queryLength: 30, headDim: 16)),
      seed: 2001)
    let first = Task { try await runtime.attention(long.problem, q: long.q, k: long.k, v: long.v) }
    // Wait until the long call holds the only worker.
    while runtime.peakConcurrentWorkers == 0 { try await Task.sleep(for: .milliseconds(1)) }
    let queued = Task {
      try await runtime.attention(small.problem, q: small.q, k: small.k, v: small.v)
    }
    try await RuntimeFixtures.waitUntilQueued(runtime)
    #expect(runtime.queuedCalls == 1)
    queued.cancel()
    do {
      _ = try await queued.value
      Issue.record("a cancelled queued call ran")
    } catch {
      #expect(error is CancellationError)
    }
    #expect(runtime.queuedCalls == 0)
    let longResult = try await first.value
    let reference = try long.run(AttentionOptions(threads: 1, runtime: runtime))
    #expect(RuntimeFixtures.identical(longResult, reference))
    // The runtime still serves calls afterwards.
    let after = try await runtime.attention(small.problem, q: small.q, k: small.k, v: small.v)
    #expect(RuntimeFixtures.identical(after, try small.run(AttentionOptions(threads: 1))))
  }

  /// A task cancelled before it reaches the runtime never runs.
  @Test func cancelBeforeSubmit() async throws {
    let runtime = Runtime(minimumWorkPerWorker: 0)
    let small = RuntimeFixtures.Inputs(
      AttentionProblem(shape: AttentionShape(queryHeads: 1, queryLength: 30, headDim: 16)),
      seed: 2002)
    let task = Task {
      while !Task.isCancelled { await Task.yield() }
      return try await runtime.attention(small.problem, q: small.q, k: small.k, v: small.v)
    }
    task.cancel()
    await #expect(throws: CancellationError.self) { try await task.value }
  }

  /// The Dispatch executor binds its pooled threads to a node while a worker runs and restores
  /// the mask: afterwards no Dispatch thread is left pinned to the fake node's single CPU.
  @Test func dispatchRestoresAffinity() throws {
    var processMask = tessera_cpu_mask()
    guard tessera_thread_get_affinity(&processMask) == 0 else { return }
    let cpus = (0..<64).filter { cpu in
      withUnsafeBytes(of: processMask.words) { $0.load(as: UInt64.self) >> UInt64(cpu) & 1 == 1 }
    }
    guard cpus.count >= 2 else { return }
    let runtime = Runtime(
      topology: Topology(nodes: [RuntimeFixtures.node(0, [cpus[0]])]), executor: .dispatch,
      minimumWorkPerWorker: 0)
    let input = RuntimeFixtures.Inputs(
      AttentionProblem(shape: AttentionShape(queryHeads: 2, queryLength: 200, headDim: 32)),
      seed: 2003)
    for _ in 0..<20 { _ = try input.run(AttentionOptions(threads: 1, runtime: runtime)) }
    let pinned = SyncFlags(count: 256)
    let expectedMask = processMask
    DispatchQueue.concurrentPerform(iterations: 256) { i in
      var m = tessera_cpu_mask()
      _ = tessera_thread_get_affinity(&m)
      let same = withUnsafeBytes(of: m.words) { a in
        withUnsafeBytes(of: expectedMask.words) { b in a.elementsEqual(b) }
      }
      pinned.set(i, !same)
    }
    #expect(!pinned.any, "a Dispatch thread kept the worker's binding")
  }
}

/// Booleans set from several threads.
final class SyncFlags: @unchecked Sendable {
  private var flags: [Bool]
  private let lock = NSLock()
  init(count: Int) { flags = Array(repeating: false, count: count) }
  func set(_ i: Int, _ value: Bool) { lock.withLock { flags[i] = value } }
  var all: Bool { lock.withLock { flags.allSatisfy { $0 } } }
  var any: Bool { lock.withLock { flags.contains(true) } }
}
