/// Which executor runs a call's workers. Both sit behind `Executor`; the runtime's admission,
/// partitioning and per-thread state are shared, so the choice changes only how a worker gets
/// a thread bound to its node.
///
/// Measured side by side (README, "Runtime"; B=1, H=8, S=4096, D=128 causal, 2-core box): 2
/// threads take 0.351 s pinned against 0.383 s dispatch (in-process medians; CLI rounds 334
/// against 336 ms). `pinned` is the default: no affinity system call per call, and its threads
/// (and their scratch) never leave their node.
public enum ExecutorKind: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
  /// Per-node Dispatch queues; each worker body binds its (pooled) thread to the node's CPUs
  /// and restores the previous mask before it returns.
  case dispatch
  /// Threads the runtime owns, one per worker slot, pinned once to their node's CPUs.
  case pinned

  /// The executor of calls that name none (see README, "Runtime").
  public static let `default`: ExecutorKind = .pinned

  public var description: String { rawValue }
}

/// Starts worker bodies on threads bound to a NUMA node.
///
/// The executor knows slots and nodes, never work items: the runtime grants a call some slots,
/// asks the executor to run one body per slot, and the body claims items from the call's
/// `WorkPartition` until none is left. A slot is held by one body at a time, so its state
/// (per-thread scratch) needs no lock.
protocol Executor: AnyObject, Sendable {
  var kind: ExecutorKind { get }
  /// Runs `body(slot)` once, on a thread bound to `slot.node`'s CPUs; returns at once.
  func start(_ slot: WorkerSlot, _ body: @escaping @Sendable (WorkerSlot) -> Void)
}

/// One worker position of a runtime: a place on a node where one thread computes at a time.
/// A runtime has one slot per CPU of its topology, which is what keeps concurrent callers from
/// oversubscribing the cores.
///
/// `state` caches per-thread working memory (the kernel's scratch) across calls. It is first
/// touched by the thread that runs the body, which is bound to the slot's node, so the pages
/// land on that node.
final class WorkerSlot: @unchecked Sendable {
  /// Position in the runtime's slot list.
  let index: Int
  /// Position of the slot's node in `Topology.nodes`.
  let nodeIndex: Int
  let node: Topology.NodeID
  /// The node's CPUs: a worker may run on any of them (the kernel balances within a node).
  let cpus: [Int]
  /// Whether a caller thread working this slot must bind to `cpus` (false when `cpus` is every
  /// CPU the process may use). Set once by the runtime.
  var bindsCaller = true
  /// Whether the slot's node spans every CPU the process may use: then a caller that is its
  /// call's only worker has nothing to bind for (no node to choose, no worker to keep off its
  /// CPU). Set once by the runtime.
  var nodeSpansAllowed = false
  /// Only touched by the body that holds the slot.
  private var states: [AnyHashable: AnyObject] = [:]
  /// Distinct state kinds kept per slot; beyond it the cache starts over (a server that cycles
  /// through many head dims should not grow without bound).
  static let stateCapacity = 4

  init(index: Int, nodeIndex: Int, node: Topology.NodeID, cpus: [Int]) {
    self.index = index
    self.nodeIndex = nodeIndex
    self.node = node
    self.cpus = cpus
  }

  /// The slot's state for `key`, made by `make` on first use.
  func state<S: AnyObject>(_ key: AnyHashable, make: () -> S) -> S {
    if let s = states[key] as? S { return s }
    if states.count >= Self.stateCapacity { states.removeAll() }
    let s = make()
    states[key] = s
    return s
  }
}
