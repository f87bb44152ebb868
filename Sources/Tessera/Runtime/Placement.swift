import Foundation

#if canImport(CNUMA)
  import CNUMA
#endif

/// Where memory lives: allocation on a node (libnuma), moving a caller's pages to a node, and
/// asking which node holds a page (`numa_move_pages` with no target nodes is a query).
///
/// Node ids here are memory nodes of the real machine. A fake topology's node maps to the real
/// node of its first CPU that exists (`memoryNode(for:)`), so on a one-node machine every fake
/// node places on node 0 and the placement paths still run.
public enum Placement {
  /// Whether libnuma works here (`numa_available() >= 0`).
  public static var isAvailable: Bool {
    #if canImport(CNUMA)
      return numa_available() >= 0
    #else
      return false
    #endif
  }

  static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

  /// The real memory node behind a topology node: the node of its first CPU that this machine
  /// has, 0 when libnuma cannot say.
  public static func memoryNode(for node: Topology.Node) -> Int {
    #if canImport(CNUMA)
      if isAvailable {
        for cpu in node.cpus {
          let n = numa_node_of_cpu(Int32(cpu))
          if n >= 0 { return Int(n) }
        }
      }
    #endif
    return 0
  }

  /// The node holding the page of `address`, `nil` when the page is not mapped in yet (never
  /// touched) or libnuma is missing.
  public static func node(of address: UnsafeRawPointer) -> Int? {
    #if canImport(CNUMA)
      guard isAvailable else { return nil }
      var page: UnsafeMutableRawPointer? = UnsafeMutableRawPointer(mutating: address)
      var status: Int32 = -1
      let rc = numa_move_pages(0, 1, &page, nil, &status, 0)
      return rc == 0 && status >= 0 ? Int(status) : nil
    #else
      return nil
    #endif
  }

  /// Moves the whole pages inside `buffer` to memory node `node`; returns how many moved.
  /// Partial pages at either end stay where they are (they hold someone else's bytes too).
  @discardableResult
  public static func move(_ buffer: UnsafeMutableRawBufferPointer, toNode node: Int) -> Int {
    #if canImport(CNUMA)
      guard isAvailable, let base = buffer.baseAddress else { return 0 }
      let start = (Int(bitPattern: base) + pageSize - 1) / pageSize * pageSize
      let end = (Int(bitPattern: base) + buffer.count) / pageSize * pageSize
      guard end > start else { return 0 }
      let count = (end - start) / pageSize
      var pages = (0..<count).map { UnsafeMutableRawPointer(bitPattern: start + $0 * pageSize) }
      let nodes = [Int32](repeating: Int32(node), count: count)
      var status = [Int32](repeating: -1, count: count)
      let rc = numa_move_pages(0, UInt(count), &pages, nodes, &status, Int32(MPOL_MF_MOVE))
      return rc < 0 ? 0 : status.filter { $0 == Int32(node) }.count
    #else
      return 0
    #endif
  }

  /// Places each head group of a K or V tensor on the node whose workers read it
  /// (`WorkPartition.homeNode`, as the prefill partitioner homes items). Only layouts where a
  /// (batch, head)'s rows are contiguous (`bhsd`) can be split by head; for `bshd` every page
  /// holds every head, and nothing moves. Returns the pages moved.
  @discardableResult
  public static func placeHeads(
    _ tensor: UnsafeMutableBufferPointer<Float>, layout: TensorLayout, batch: Int, heads: Int,
    sequence: Int, dim: Int, topology: Topology
  ) -> Int {
    guard let base = tensor.baseAddress, sequence > 0, heads > 0, batch > 0 else { return 0 }
    let rowsContiguous = layout.sequenceStride == dim
    guard rowsContiguous, topology.nodes.count > 1 else { return 0 }
    var moved = 0
    for b in 0..<batch {
      for h in 0..<heads {
        let first = layout.offset(batch: b, sequence: 0, head: h)
        let last = layout.offset(batch: b, sequence: sequence - 1, head: h) + dim
        guard first >= 0, last <= tensor.count else { continue }
        let position = WorkPartition.homeNode(
          group: b * heads + h, groups: batch * heads, nodes: topology.nodes.count)
        let target = memoryNode(for: topology.nodes[position])
        moved += move(
          UnsafeMutableRawBufferPointer(start: base + first, count: (last - first) * 4),
          toNode: target)
      }
    }
    return moved
  }
}

/// Memory the runtime owns, allocated on one node (libnuma: `numa_alloc_onnode`, which binds
/// the range so first touch faults pages in on that node). Without libnuma it is an ordinary
/// aligned allocation. Zeroed.
///
/// Buffers of 2 MiB or more ask for transparent huge pages (the KV caches are the users). A paged
/// cache's blocks are scattered through its pool: with 4 KiB pages each block of K or V rows
/// (4 KiB at 16 rows of D=128 fp16) is its own page, whose walk likely shares no page-table
/// line with the previous block's (the probable cause; this VM has no counters to confirm).
/// Measured (`tessera decode --batch 4 --heads 32 --kv-heads 8 --dim 128 --kv-seq 32768 --dtype
/// f16 --threads 2 --paged --block-size 16`, interleaved rounds: one build with the advice
/// switched by an environment variable, 12 rounds, then against the build before, 2 × 10):
/// higher GB/s in 30 of 32 rounds, medians 9.8 → 11.7, 11.5 → 13.6 and 11.3 → 12.7 GB/s
/// (paired triad 39 → 45, 41 → 52 and 41 → 47 %). A contiguous cache (read in order) is
/// unchanged: 2 sets of 12 rounds, 63 → 68 % and 69 → 63 % of the triad, the same GB/s.
public final class PlacedBuffer: @unchecked Sendable {
  public let baseAddress: UnsafeMutableRawPointer
  public let byteCount: Int
  /// The memory node asked for.
  public let node: Int
  private let fromNUMA: Bool

  public init(byteCount: Int, node: Int) {
    let bytes = max(1, byteCount)
    self.byteCount = bytes
    self.node = node
    #if canImport(CNUMA)
      if Placement.isAvailable, let p = numa_alloc_onnode(bytes, Int32(node)) {
        baseAddress = p
        fromNUMA = true
        Self.adviseHugePages(p, bytes: bytes)
        // First touch, on the bound node.
        p.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        return
      }
    #endif
    baseAddress = UnsafeMutableRawPointer.allocate(
      byteCount: bytes, alignment: bytes >= Self.hugePageBytes ? Self.hugePageBytes : 4096)
    Self.adviseHugePages(baseAddress, bytes: bytes)
    baseAddress.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
    fromNUMA = false
  }

  static let hugePageBytes = 1 << 21

  /// Asks for transparent huge pages (`madvise(MADV_HUGEPAGE)`) on a buffer of at least one
  /// huge page, before its first touch. Where THP is off or the call fails, nothing changes.
  private static func adviseHugePages(_ p: UnsafeMutableRawPointer, bytes: Int) {
    if bytes >= hugePageBytes { _ = madvise(p, bytes, MADV_HUGEPAGE) }
  }

  /// A buffer for the heads homed on `topology.nodes[position]`.
  public convenience init(byteCount: Int, nodeAt position: Int, of topology: Topology) {
    self.init(byteCount: byteCount, node: Placement.memoryNode(for: topology.nodes[position]))
  }

  deinit {
    #if canImport(CNUMA)
      if fromNUMA {
        numa_free(baseAddress, byteCount)
        return
      }
    #endif
    baseAddress.deallocate()
  }

  public var bytes: UnsafeMutableRawBufferPointer {
    UnsafeMutableRawBufferPointer(start: baseAddress, count: byteCount)
  }
}
