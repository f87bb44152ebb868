/// The one seam through which the layer code (GEMM, linear attention) runs in parallel.
///
/// Everything parallel in `Layers/` and `Variants/LinearAttention*` calls `LayerParallel.run`,
/// never the runtime directly, so swapping the runtime (or its call shape) touches this file
/// only. Items run on the shared `Runtime` (pinned workers, one per core, shared admission
/// with concurrent attention calls, so layer calls never oversubscribe the cores); a call that
/// gets one worker runs inline on the caller's thread, which is what decode-sized calls (a few
/// µs of work) need: waking a worker costs 10–50 µs.
///
/// Determinism: every item writes only its own outputs and computes them the same way on any
/// thread, so results are bitwise identical for any thread count.
enum LayerParallel {
  /// Per-worker scratch cache handed to each item: the worker slot's cache on the runtime
  /// (made once per slot and kept across calls), or a fresh one for an inline call.
  struct Worker {
    fileprivate let slot: WorkerSlot?
    fileprivate let local: LocalCache?

    /// The scratch object for `key`, made by `make` on first use by this worker.
    func scratch<S: AnyObject>(_ key: AnyHashable, make: () -> S) -> S {
      if let slot { return slot.state(key, make: make) }
      return local!.state(key, make: make)
    }
  }

  fileprivate final class LocalCache {
    var states: [AnyHashable: AnyObject] = [:]
    func state<S: AnyObject>(_ key: AnyHashable, make: () -> S) -> S {
      if let s = states[key] as? S { return s }
      let s = make()
      states[key] = s
      return s
    }
  }

  /// Runs `body(i, worker)` for every `i` in `0..<items` on at most `threads` workers; returns
  /// when all have run. `cost` (FLOPs, estimated) lets the runtime use fewer workers for small
  /// calls.
  static func run(
    items: Int, threads: Int, cost: Double, runtime: Runtime? = nil,
    body: @escaping @Sendable (Int, Worker) -> Void
  ) {
    if items <= 0 { return }
    let runtime = runtime ?? .shared
    let workers = runtime.workers(threads: threads, items: items, totalCost: cost)
    if workers <= 1 {
      let worker = Worker(slot: nil, local: LocalCache())
      for i in 0..<items { body(i, worker) }
      return
    }
    let partition = WorkPartition(
      itemCount: items, distances: [[10]], home: { _ in 0 }, cost: { Double(items - $0) })
    runtime.run(
      ParallelWork(
        partition: partition, workers: workers, executor: runtime.defaultExecutor,
        body: { i, slot in body(i, Worker(slot: slot, local: nil)) }))
  }
}
