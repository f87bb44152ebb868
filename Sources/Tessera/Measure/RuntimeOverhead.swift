import Dispatch

/// What the runtime costs on top of the kernel: the same prefill items run serially on the
/// calling thread (one scratch, no runtime) against the runtime on one worker, which adds the
/// admission lock, waking a worker, claiming every item from an atomic cursor and the
/// completion hand-off. The budget is 2 %.
public enum RuntimeOverhead {
  public struct Report: Sendable, CustomStringConvertible {
    public var items: Int
    /// Median seconds of the serial loop.
    public var direct: Double
    /// Median seconds through the runtime, one worker.
    public var runtime: Double
    public var executor: ExecutorKind
    /// runtime / direct − 1.
    public var overhead: Double { direct > 0 ? runtime / direct - 1 : 0 }

    public var description: String {
      let pct = (overhead * 10000).rounded() / 100
      return
        "\(items) items: direct \(ms(direct)) ms, runtime[\(executor)] \(ms(runtime)) ms,"
        + " overhead \(pct) %"
    }

    private func ms(_ s: Double) -> String { "\((s * 1e5).rounded() / 100)" }
  }

  /// Alternates direct and runtime runs `repeats` times (so drift on a shared machine hits both)
  /// and compares medians. Inputs are zeros: the kernel's time does not depend on the values.
  public static func measure(
    _ problem: AttentionProblem, executor: ExecutorKind = .default, runtime: Runtime = .shared,
    tileConfig: TileConfig = .default, repeats: Int = 7
  ) throws(AttentionError) -> Report {
    let options = AttentionOptions(
      threads: 1, tileConfig: tileConfig, executor: executor, runtime: runtime)
    let counts = try Attention.validate(
      problem, q: .max, k: .max, v: .max, output: .max, lse: .max, options: options)
    let q = [Float](repeating: 0, count: counts.query)
    let k = [Float](repeating: 0, count: counts.key)
    let v = [Float](repeating: 0, count: counts.value)
    let buffers = PrefillBuffers(q: q, k: k, v: v, counts: counts)
    defer { buffers.deallocate() }
    let ops = buffers.operands(problem)
    let shape = problem.shape
    let config = FlashKernel.effectiveConfig(problem, requested: tileConfig)
    let plan = PrefillPlan(
      shape: shape, mask: problem.mask, queryTile: config.queryTile, sparse: problem.blockSparse)
    let scratch = FlashScratch(
      config: config, headDim: shape.headDim, valueDim: shape.valueDim)
    let order = plan.partition(distances: runtime.topology.distances).queues.flatMap { $0 }
    func seconds(_ body: () -> Void) -> Double {
      let start = DispatchTime.now().uptimeNanoseconds
      body()
      return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
    func direct() {
      for i in order {
        let (b, h, t) = plan.item(i)
        FlashKernel.run(FlashWorkItem(batch: b, head: h, tile: t), ops, scratch: scratch)
      }
    }
    direct()
    Attention.runPrefill(ops, options: options)
    var d: [Double] = []
    var r: [Double] = []
    for _ in 0..<max(1, repeats) {
      d.append(seconds(direct))
      r.append(seconds { Attention.runPrefill(ops, options: options) })
    }
    func median(_ x: [Double]) -> Double { x.sorted()[x.count / 2] }
    return Report(
      items: plan.itemCount, direct: median(d), runtime: median(r), executor: executor)
  }

  /// Median seconds of one synchronous call through the runtime whose `workers` workers each
  /// run one empty item: the fixed cost of admission, waking workers and the completion
  /// hand-off, which a call's share of work must dwarf (`Runtime.minimumWorkPerWorker`).
  public static func callLatency(
    executor: ExecutorKind = .default, workers: Int = 1, runtime: Runtime = .shared,
    calls: Int = 2000
  ) -> Double {
    let n = max(1, min(workers, runtime.workerCount))
    let partition = WorkPartition(
      itemCount: n, distances: runtime.topology.distances,
      home: { $0 % max(1, runtime.topology.nodes.count) },
      cost: { _ in 1 })
    let work = ParallelWork(partition: partition, workers: n, executor: executor) { _, _ in }
    for _ in 0..<100 { runtime.run(work) }
    var samples: [Double] = []
    for _ in 0..<max(1, calls) {
      let start = DispatchTime.now().uptimeNanoseconds
      runtime.run(work)
      samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return samples.sorted()[samples.count / 2]
  }
}
