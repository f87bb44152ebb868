import ArgumentParser
import Foundation
import Tessera

/// `tessera verify`: the kernel against the Double reference over a sweep of shapes and masks.
struct VerifyCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "verify",
    abstract: "Compare the kernel with the Double reference over shapes, masks and tiles.",
    discussion: """
      Checks O and LSE against ReferenceAttention (fp32 tolerances: O \
      \(VerifyOutcome.outputTolerance), LSE \(VerifyOutcome.lseTolerance), absolute, inputs \
      in [-1, 1]) and that 1, N and N+1 threads give bitwise identical results. Exits 1 on \
      any failure.
      """)

  @Flag(help: "A cross-section of the sweep (a few seconds).") var quick = false
  @Option(help: "Threads of the multi-threaded run; default: every CPU, at least 2.")
  var threads: Int?
  @Option(help: "Seed of the random inputs.") var seed: UInt64 = 1

  func run() throws {
    try Console.reportingErrors { try execute() }
  }

  private func execute() throws {
    let cases = VerifyCase.sweep(quick: quick)
    let many = threads ?? max(2, ProcessInfo.processInfo.activeProcessorCount)
    print(
      "verifying \(cases.count) cases, threads 1, \(many), \(many + 1), tolerance O \(VerifyOutcome.outputTolerance)"
        + " LSE \(VerifyOutcome.lseTolerance)")
    var failures = 0
    var worstOutput: (error: Double, label: String) = (0, "")
    var worstLSE: (error: Double, label: String) = (0, "")
    let elapsed = try Stopwatch.seconds {
      for (index, c) in cases.enumerated() {
        let outcome = try check(c, seed: seed &+ UInt64(index), threads: many)
        if !outcome.passed { failures += 1 }
        if outcome.outputError >= worstOutput.error { worstOutput = (outcome.outputError, c.label) }
        if outcome.lseError >= worstLSE.error { worstLSE = (outcome.lseError, c.label) }
        print(
          "\(outcome.passed ? "ok  " : "FAIL") O \(Console.sci(outcome.outputError))"
            + " LSE \(Console.sci(outcome.lseError))"
            + "\(outcome.deterministic ? "" : " NONDETERMINISTIC")  \(c.label)")
      }
    }
    print("worst O error   \(Console.sci(worstOutput.error))  \(worstOutput.label)")
    print("worst LSE error \(Console.sci(worstLSE.error))  \(worstLSE.label)")
    if failures > 0 {
      print("\(failures) of \(cases.count) cases FAILED (\(Console.fixed(elapsed, 1)) s)")
      throw ExitCode.failure
    }
    print("all \(cases.count) cases passed (\(Console.fixed(elapsed, 1)) s)")
  }

  private func check(_ c: VerifyCase, seed: UInt64, threads: Int) throws -> VerifyOutcome {
    let problem = c.problem
    let counts = try problem.validate()
    var random = SeededRandom(seed: seed)
    let q = random.floats(counts.query)
    let k = random.floats(counts.key)
    let v = random.floats(counts.value)
    let parallel = try Attention.forward(
      problem, q: q, k: k, v: v, options: AttentionOptions(threads: threads, tileConfig: c.tiles))
    // One thread, and one more thread than asked (oversubscribed: a different claim order).
    let others = try [1, threads + 1].map { n in
      try Attention.forward(
        problem, q: q, k: k, v: v, options: AttentionOptions(threads: n, tileConfig: c.tiles))
    }
    let reference = try q.withUnsafeBufferPointer { q in
      try k.withUnsafeBufferPointer { k in
        try v.withUnsafeBufferPointer { v in
          try ReferenceAttention.compute(problem, q: q, k: k, v: v)
        }
      }
    }
    var outcome = VerifyOutcome(
      problem: problem, output: parallel.output, lse: parallel.lse, reference: reference)
    outcome.deterministic = others.allSatisfy { other in
      parallel.output.map(\.bitPattern) == other.output.map(\.bitPattern)
        && parallel.lse.map(\.bitPattern) == other.lse.map(\.bitPattern)
    }
    return outcome
  }
}
