import Tessera
import Testing

/// The async API: same numbers as the sync one, same errors, and many concurrent callers.
@Suite struct AsyncTests {
  static func sync(_ c: AttentionCase, threads: Int) throws -> AttentionResult {
    try Attention.forward(
      c.problem, q: c.q, k: c.k, v: c.v, options: AttentionOptions(threads: threads))
  }

  @Test(arguments: [AttentionMask.none, .causal])
  func sameAsSync(mask: AttentionMask) async throws {
    let shape = AttentionShape(
      batch: 2, queryHeads: 4, kvHeads: 2, queryLength: 150, keyLength: 120, headDim: 40)
    let c = AttentionCase(AttentionProblem(shape: shape, mask: mask), seed: 70)
    let expected = try Self.sync(c, threads: 2)
    let got = try await Attention.forward(
      c.problem, q: c.q, k: c.k, v: c.v, options: AttentionOptions(threads: 2))
    #expect(bitwiseEqual(got.output, expected.output))
    #expect(bitwiseEqual(got.lse, expected.lse))
    let r = compare(
      KernelOutput(output: got.output, lse: got.lse), try reference(c), problem: c.problem)
    #expect(r.isWithin(), "\(r)")
  }

  @Test func throwsTheSameErrors() async {
    let c = AttentionCase(
      AttentionProblem(shape: AttentionShape(queryHeads: 2, queryLength: 4, headDim: 8)), seed: 71)
    do {
      _ = try await Attention.forward(
        c.problem, q: c.q, k: Array(c.k.dropLast()), v: c.v, options: AttentionOptions(threads: 1))
      Issue.record("a short K buffer was accepted")
    } catch {
      #expect(error == .bufferTooSmall(tensor: "K", required: c.k.count, actual: c.k.count - 1))
    }
    do {
      _ = try await Attention.forward(
        c.problem, q: c.q, k: c.k, v: c.v, options: AttentionOptions(threads: 0))
      Issue.record("threads: 0 was accepted")
    } catch {
      #expect(error == .invalidThreadCount(0))
    }
  }

  /// Many concurrent async callers (an inference server) each get their own correct answer.
  @Test func concurrentCallers() async throws {
    let cases = (0..<8).map { i in
      AttentionCase(
        AttentionProblem(
          shape: AttentionShape(queryHeads: 2, queryLength: 40 + 7 * i, keyLength: 90, headDim: 24),
          mask: i % 2 == 0 ? .causal : .none),
        seed: UInt64(80 + i))
    }
    let expected = try cases.map { try Self.sync($0, threads: 1) }
    let results = try await withThrowingTaskGroup(of: (Int, AttentionResult).self) { group in
      for (i, c) in cases.enumerated() {
        let (p, q, k, v) = (c.problem, c.q, c.k, c.v)
        group.addTask {
          (
            i,
            try await Attention.forward(p, q: q, k: k, v: v, options: AttentionOptions(threads: 2))
          )
        }
      }
      var out = [Int: AttentionResult]()
      for try await (i, r) in group { out[i] = r }
      return out
    }
    for i in 0..<cases.count {
      let r = try #require(results[i])
      #expect(bitwiseEqual(r.output, expected[i].output), "caller \(i)")
      #expect(bitwiseEqual(r.lse, expected[i].lse), "caller \(i)")
    }
  }
}
