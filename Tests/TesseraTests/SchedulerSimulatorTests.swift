import Tessera
import Testing

/// The partitioner's load balance on machines larger than this one, replayed by the schedule
/// simulator with the partition code the runtime runs.
@Suite struct SchedulerSimulatorTests {
  static let longCausal = AttentionShape(queryHeads: 32, queryLength: 32768, headDim: 128)

  /// The bar: ≥ 90 % for causal prefill, S = 32768, H = 32, on 128 cores / 8 nodes.
  @Test func causalPrefill128Cores8Nodes() {
    let r = ScheduleSimulator.prefill(
      shape: Self.longCausal, mask: .causal,
      machine: ScheduleSimulator.Machine(cores: 128, nodes: 8))
    #expect(r.efficiency >= 0.90, "\(r)")
  }

  /// The table the README quotes: 32–256 cores, 2–8 nodes.
  @Test func efficiencyTable() {
    var lines: [String] = []
    for cores in [32, 64, 128, 256] {
      for nodes in [2, 4, 8] {
        let r = ScheduleSimulator.prefill(
          shape: Self.longCausal, mask: .causal,
          machine: ScheduleSimulator.Machine(cores: cores, nodes: nodes))
        lines.append("\(r)")
        #expect(r.efficiency >= 0.85, "\(r)")
      }
    }
    print(lines.joined(separator: "\n"))
  }

  /// The scaling target's shape (B=1, H=8, S=4096, D=128, causal) on this 2-core box: the
  /// partition leaves under 1 % idle, so the balance cannot keep 2 threads from 1.85×.
  @Test func scalingShapeOnTwoCores() {
    let shape = AttentionShape(queryHeads: 8, queryLength: 4096, headDim: 128)
    for nodes in [1, 2] {
      let r = ScheduleSimulator.prefill(
        shape: shape, mask: .causal, machine: ScheduleSimulator.Machine(cores: 2, nodes: nodes))
      print("scaling shape: \(r)")
      #expect(r.efficiency >= 0.99, "\(r)")
    }
  }

  /// Heads that do not divide over the nodes (12 heads, 8 nodes): nodes with one head run dry
  /// and steal from nodes with two.
  @Test func unevenHeads() {
    let shape = AttentionShape(queryHeads: 12, queryLength: 32768, headDim: 128)
    let r = ScheduleSimulator.prefill(
      shape: shape, mask: .causal, machine: ScheduleSimulator.Machine(cores: 128, nodes: 8))
    print("uneven: \(r)")
    #expect(r.efficiency >= 0.90, "\(r)")
    #expect(r.stolen > 0, "\(r)")
  }

  /// Heads divide evenly over nodes: items run at home except the tail that stealing evens out.
  @Test func stealingOnlyAtTheEnd() {
    let r = ScheduleSimulator.prefill(
      shape: Self.longCausal, mask: .causal,
      machine: ScheduleSimulator.Machine(cores: 64, nodes: 4))
    #expect(r.stolen < 0.05, "\(r)")
  }

  /// Fewer head groups than nodes (1 kv head, 8 nodes): nodes without heads steal everything,
  /// and the balance still holds at the remote penalty.
  @Test func fewerGroupsThanNodes() {
    let shape = AttentionShape(queryHeads: 8, kvHeads: 1, queryLength: 16384, headDim: 128)
    let r = ScheduleSimulator.prefill(
      shape: shape, mask: .causal, machine: ScheduleSimulator.Machine(cores: 64, nodes: 8))
    #expect(r.efficiency >= 0.85, "\(r)")
    #expect(r.stolen > 0.5, "\(r)")
  }

  /// Without causal masking every item costs the same; with one worker the schedule is serial.
  @Test func trivialMachines() {
    let shape = AttentionShape(queryHeads: 4, queryLength: 4096, headDim: 64)
    let one = ScheduleSimulator.prefill(
      shape: shape, mask: .none, machine: ScheduleSimulator.Machine(cores: 1, nodes: 1))
    #expect(abs(one.efficiency - 1) < 1e-9)
    let even = ScheduleSimulator.prefill(
      shape: shape, mask: .none, machine: ScheduleSimulator.Machine(cores: 4, nodes: 2))
    #expect(even.efficiency > 0.99, "\(even)")
  }
}
