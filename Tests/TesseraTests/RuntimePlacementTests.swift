import Tessera
import Testing

/// Placement checked with `numa_move_pages` queries, on fake topologies whose nodes map to the
/// machine's real memory nodes.
@Suite struct RuntimePlacementTests {
  @Test(arguments: 1..<RuntimeFixtures.topologies.count)
  func allocationLandsOnTheNode(index: Int) throws {
    guard Placement.isAvailable else { return }
    let topology = RuntimeFixtures.topologies[index].1
    for position in topology.nodes.indices {
      let buffer = PlacedBuffer(byteCount: 1 << 20, nodeAt: position, of: topology)
      #expect(buffer.node == Placement.memoryNode(for: topology.nodes[position]))
      for offset in stride(from: 0, to: buffer.byteCount, by: 256 << 10) {
        #expect(Placement.node(of: buffer.baseAddress + offset) == buffer.node)
      }
    }
  }

  @Test func moveCallerBuffer() throws {
    guard Placement.isAvailable else { return }
    let count = 1 << 18
    let p = UnsafeMutableRawBufferPointer.allocate(byteCount: count * 4, alignment: 4096)
    defer { p.deallocate() }
    p.initializeMemory(as: UInt8.self, repeating: 1)
    let moved = Placement.move(p, toNode: 0)
    #expect(moved == count * 4 / 4096)
    #expect(Placement.node(of: p.baseAddress!) == 0)
  }

  @Test func placeHeadsOfBHSDTensor() throws {
    guard Placement.isAvailable else { return }
    let topology = RuntimeFixtures.topologies[2].1
    let (heads, sequence, dim) = (4, 1024, 64)
    let layout = TensorLayout.bhsd(sequence: sequence, heads: heads, dim: dim)
    let t = UnsafeMutableBufferPointer<Float>.allocate(capacity: heads * sequence * dim)
    defer { t.deallocate() }
    t.initialize(repeating: 1)
    let moved = Placement.placeHeads(
      t, layout: layout, batch: 1, heads: heads, sequence: sequence, dim: dim,
      topology: topology)
    #expect(moved > 0)
    for h in 0..<heads {
      let home = Placement.memoryNode(for: topology.nodes[h * 2 / heads])
      let row = t.baseAddress! + layout.offset(batch: 0, sequence: sequence / 2, head: h)
      #expect(Placement.node(of: row) == home)
    }
  }

  @Test func untouchedPageHasNoNode() {
    guard Placement.isAvailable else { return }
    let buffer = PlacedBuffer(byteCount: 4096, node: 0)
    #expect(Placement.node(of: buffer.baseAddress) == 0)
  }
}
