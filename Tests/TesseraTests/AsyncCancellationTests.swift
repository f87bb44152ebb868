import Tessera
import Testing

/// The async `Attention.forward` is withdrawn when its task is cancelled while it waits for a
/// worker, and says so with `.cancelled`; the call ahead of it is unaffected.
@Suite struct AsyncCancellationTests {
  @Test func cancelledWhileQueuedThrowsCancelled() async throws {
    let runtime = Runtime(
      topology: Topology(nodes: [RuntimeFixtures.node(0, [0])]), minimumWorkPerWorker: 0)
    let long = RuntimeFixtures.Inputs(
      AttentionProblem(shape: AttentionShape(queryHeads: 8, queryLength: 3072, headDim: 64)),
      seed: 3000)
    let small = RuntimeFixtures.Inputs(
      AttentionProblem(shape: AttentionShape(queryHeads: 1, queryLength: 30, headDim: 16)),
      seed: 3001)
    let options = AttentionOptions(threads: 1, runtime: runtime)
    let first = Task {
      try await Attention.forward(long.problem, q: long.q, k: long.k, v: long.v, options: options)
    }
    while runtime.peakConcurrentWorkers == 0 { try await Task.sleep(for: .milliseconds(1)) }
    let queued = Task {
      try await Attention.forward(
        small.problem, q: small.q, k: small.k, v: small.v, options: options)
    }
    try await RuntimeFixtures.waitUntilQueued(runtime)
    #expect(runtime.queuedCalls == 1)
    queued.cancel()
    do {
      _ = try await queued.value
      Issue.record("a cancelled queued call ran")
    } catch {
      #expect(error as? AttentionError == .cancelled)
    }
    let longResult = try await first.value
    // The call ahead is unaffected: bitwise equal to a single-threaded synchronous run.
    #expect(RuntimeFixtures.identical(longResult, try long.run(AttentionOptions(threads: 1))))
  }
}
