import Dispatch
import Foundation
import Synchronization

/// Runs worker bodies on threads it owns: one per worker slot, started on first use and pinned
/// once to the slot's node's CPUs for their whole life.
///
/// A parked thread waits on its own semaphore; `start` hands it the body and signals. No
/// affinity system call happens per call, and per-thread scratch stays on the node of the
/// thread that first touched it.
final class PinnedThreadPool: Executor {
  let kind = ExecutorKind.pinned
  private let slots: [WorkerSlot]
  private let allowed: Affinity.Mask?
  private let workers: Mutex<[Int: Mailbox]> = Mutex([:])

  init(slots: [WorkerSlot], allowed: Affinity.Mask?) {
    self.slots = slots
    self.allowed = allowed
  }

  deinit {
    // Threads hold their mailbox, not the pool: tell each to exit.
    let boxes = workers.withLock { Array($0.values) }
    for box in boxes { box.post(nil) }
  }

  func start(_ slot: WorkerSlot, _ body: @escaping @Sendable (WorkerSlot) -> Void) {
    let box = workers.withLock { workers in
      if let box = workers[slot.index] { return box }
      let box = Mailbox()
      workers[slot.index] = box
      let cpus = slot.cpus
      let allowed = allowed
      let thread = Thread {
        Affinity.bind(to: cpus, allowedBy: allowed)
        while let job = box.take() { job(slot) }
      }
      thread.name = "tessera.\(slot.node).slot\(slot.index)"
      thread.stackSize = 1 << 20
      thread.start()
      return box
    }
    box.post(body)
  }

  /// A one-deep hand-off from `start` to a parked thread. `nil` tells the thread to exit.
  private final class Mailbox: Sendable {
    typealias Body = @Sendable (WorkerSlot) -> Void
    private let pending = Mutex<[Body?]>([])
    private let ready = DispatchSemaphore(value: 0)

    func post(_ body: Body?) {
      pending.withLock { $0.append(body) }
      ready.signal()
    }

    /// Blocks until a body arrives; `nil` means exit.
    func take() -> Body? {
      ready.wait()
      return pending.withLock { $0.removeFirst() }
    }
  }
}
