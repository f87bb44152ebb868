import Foundation

extension Topology {
  /// Reads `<root>/node<N>/cpulist` and `<root>/node<N>/distance`; `nil` when the directory
  /// holds no node with CPUs (no sysfs, or a container that hides it).
  ///
  /// Each `distance` file lists the distances to every online node in ascending id order,
  /// memory-only nodes included, so rows are read against all node ids before nodes without
  /// CPUs are dropped.
  public static func fromSysfs(root: String = "/sys/devices/system/node") -> Topology? {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: root) else {
      return nil
    }
    let ids = entries.compactMap { name -> Int? in
      name.hasPrefix("node") ? Int(name.dropFirst(4)) : nil
    }.sorted()
    var nodes: [Node] = []
    var rows: [[Int]?] = []
    for id in ids {
      let dir = "\(root)/node\(id)"
      guard let text = try? String(contentsOfFile: "\(dir)/cpulist", encoding: .utf8),
        let cpus = parseCPUList(text), !cpus.isEmpty
      else { continue }
      nodes.append(Node(id: NodeID(id), cpus: cpus))
      let row = (try? String(contentsOfFile: "\(dir)/distance", encoding: .utf8))
        .map { $0.split(whereSeparator: \.isWhitespace).compactMap { Int($0) } }
      rows.append(row)
    }
    if nodes.isEmpty { return nil }
    // Column k of a row is node ids[k]; keep the columns of nodes with CPUs.
    let columns = nodes.map { node in ids.firstIndex(of: node.id.rawValue)! }
    var distances: [[Int]]? = []
    for row in rows {
      guard let row, row.count == ids.count else {
        distances = nil
        break
      }
      distances?.append(columns.map { row[$0] })
    }
    return Topology(nodes: nodes, distances: distances, source: .sysfs)
  }

  /// Parses the kernel's CPU list format, `0-3,8-11,16`: ascending, without duplicates.
  /// `nil` for text that is not such a list; an empty line is the empty list.
  public static func parseCPUList(_ text: String) -> [Int]? {
    let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
    if trimmed.isEmpty { return [] }
    var cpus: Set<Int> = []
    for part in trimmed.split(separator: ",") {
      let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
      switch bounds.count {
      case 1:
        guard let cpu = Int(bounds[0]), cpu >= 0 else { return nil }
        cpus.insert(cpu)
      case 2:
        guard let lo = Int(bounds[0]), let hi = Int(bounds[1]), 0 <= lo, lo <= hi else {
          return nil
        }
        cpus.formUnion(lo...hi)
      default:
        return nil
      }
    }
    return cpus.sorted()
  }

  /// The inverse of `parseCPUList`: runs of consecutive CPUs as ranges.
  public static func formatCPUList(_ cpus: [Int]) -> String {
    var parts: [String] = []
    var i = 0
    let sorted = cpus.sorted()
    while i < sorted.count {
      var j = i
      while j + 1 < sorted.count, sorted[j + 1] == sorted[j] + 1 { j += 1 }
      parts.append(i == j ? "\(sorted[i])" : "\(sorted[i])-\(sorted[j])")
      i = j + 1
    }
    return parts.joined(separator: ",")
  }
}
