import Dispatch

/// Runs worker bodies on libdispatch threads, with one queue per worker slot grouped by node.
///
/// Each slot gets its own serial queue rather than sharing a concurrent queue per node: serial
/// queues target libdispatch's overcommit root queue, so a body always gets a thread even when
/// other Dispatch work (a blocked synchronous caller, say) occupies the pool's CPU-count
/// threads. The runtime admits at most one body per slot, so the queues never hold a backlog.
///
/// libdispatch reuses its threads and never resets their affinity, so every body binds its
/// thread to the node's CPUs and restores the previous mask before it returns.
final class DispatchExecutor: Executor {
  let kind = ExecutorKind.dispatch
  private let queues: [DispatchQueue]
  private let allowed: Affinity.Mask?

  init(slots: [WorkerSlot], allowed: Affinity.Mask?) {
    self.allowed = allowed
    queues = slots.map { slot in
      DispatchQueue(label: "tessera.\(slot.node).slot\(slot.index)", qos: .userInitiated)
    }
  }

  func start(_ slot: WorkerSlot, _ body: @escaping @Sendable (WorkerSlot) -> Void) {
    let allowed = allowed
    queues[slot.index].async {
      Affinity.withBinding(to: slot.cpus, allowedBy: allowed) { body(slot) }
    }
  }
}
