import Foundation
import Tessera

/// Helpers of the runtime, scheduler and determinism suites (self-contained: other suites'
/// helpers may change under them).
enum RuntimeFixtures {
  /// Deterministic inputs in [-1, 1) (SplitMix64).
  static func floats(_ count: Int, seed: UInt64) -> [Float] {
    var state = seed
    return (0..<count).map { _ in
      state &+= 0x9E37_79B9_7F4A_7C15
      var z = state
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      z ^= z >> 31
      return Float(Int64(z >> 40) - (1 << 23)) / Float(1 << 23)
    }
  }

  struct Inputs: Sendable {
    let problem: AttentionProblem
    let q: [Float]
    let k: [Float]
    let v: [Float]

    init(_ problem: AttentionProblem, seed: UInt64) {
      self.problem = problem
      let c = try! problem.validate()
      q = floats(c.query, seed: seed)
      k = floats(c.key, seed: seed &+ 1)
      v = floats(c.value, seed: seed &+ 2)
    }

    func run(_ options: AttentionOptions) throws -> AttentionResult {
      try Attention.forward(problem, q: q, k: k, v: v, options: options)
    }
  }

  /// Waits (up to 20 s, polling every millisecond) until `runtime` holds a call in its queue;
  /// the caller then checks `queuedCalls` itself, so a call that never queued fails there.
  static func waitUntilQueued(_ runtime: Runtime) async throws {
    var waited = 0
    while runtime.queuedCalls == 0, waited < 20000 {
      try await Task.sleep(for: .milliseconds(1))
      waited += 1
    }
  }

  /// Bitwise equality (NaN payloads and signed zeros included), unlike `==` on Float.
  static func identical(_ a: [Float], _ b: [Float]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
  }

  static func identical(_ a: AttentionResult, _ b: AttentionResult) -> Bool {
    identical(a.output, b.output) && identical(a.lse, b.lse)
  }

  static func node(_ id: Int, _ cpus: [Int]) -> Topology.Node {
    Topology.Node(id: Topology.NodeID(id), cpus: cpus)
  }

  /// Fake topologies; CPUs this 2-core machine lacks run unpinned, which is what lets a test
  /// run 4 workers here.
  static let topologies: [(String, Topology)] = [
    ("machine", Topology.current()),
    ("1 node x 4 cpus", Topology(nodes: [node(0, [0, 1, 2, 3])])),
    ("2 nodes x 1 cpu", Topology(nodes: [node(0, [0]), node(1, [1])])),
    ("2 nodes x 2 cpus", Topology(nodes: [node(0, [0, 1]), node(1, [2, 3])])),
  ]
}
