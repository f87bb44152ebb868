import Foundation

#if canImport(CNUMA)
  import CNUMA
#endif

extension Topology {
  /// The machine's topology, limited to the CPUs this process may run on: libnuma first, then
  /// sysfs, then one node holding every available CPU.
  public static func current() -> Topology {
    let hardware =
      fromLibNUMA() ?? fromSysfs()
      ?? singleNode(cpuCount: ProcessInfo.processInfo.activeProcessorCount)
    guard let allowed = allowedCPUs() else { return hardware }
    let restricted = hardware.restricted(to: allowed)
    return restricted.nodes.isEmpty ? hardware : restricted
  }

  /// Reads nodes, CPUs and distances from libnuma; `nil` when libnuma is not linked or
  /// `numa_available()` says the kernel has no NUMA support.
  public static func fromLibNUMA() -> Topology? {
    #if canImport(CNUMA)
      guard numa_available() >= 0 else { return nil }
      let maxNode = numa_max_node()
      guard maxNode >= 0, let mask = numa_allocate_cpumask() else { return nil }
      defer { numa_bitmask_free(mask) }
      var nodes: [Node] = []
      // Ids up to numa_max_node() may have gaps; numa_node_to_cpus fails (without printing)
      // for a node that does not exist.
      for id in 0...maxNode {
        numa_bitmask_clearall(mask)
        guard numa_node_to_cpus(id, mask) == 0 else { continue }
        let cpus = (0..<Int(mask.pointee.size)).filter {
          numa_bitmask_isbitset(mask, UInt32($0)) != 0
        }
        if !cpus.isEmpty { nodes.append(Node(id: NodeID(Int(id)), cpus: cpus)) }
      }
      if nodes.isEmpty { return nil }
      // numa_distance returns 0 when the firmware table is missing; fall back to 10/20 then.
      let distances = nodes.map { a in
        nodes.map { b in Int(numa_distance(Int32(a.id.rawValue), Int32(b.id.rawValue))) }
      }
      let known = !distances.joined().contains(0)
      return Topology(nodes: nodes, distances: known ? distances : nil, source: .libnuma)
    #else
      return nil
    #endif
  }

  /// The CPUs in this process's affinity mask (a container's cpuset, `taskset`), or `nil`
  /// when libnuma is not available to ask.
  public static func allowedCPUs() -> Set<Int>? {
    #if canImport(CNUMA)
      guard numa_available() >= 0, let mask = numa_allocate_cpumask() else { return nil }
      defer { numa_bitmask_free(mask) }
      guard numa_sched_getaffinity(0, mask) >= 0 else { return nil }
      let cpus = (0..<Int(mask.pointee.size)).filter {
        numa_bitmask_isbitset(mask, UInt32($0)) != 0
      }
      return cpus.isEmpty ? nil : Set(cpus)
    #else
      return nil
    #endif
  }
}
