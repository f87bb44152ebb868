import Foundation

/// Decode attention (flash-decoding): one or a few new query tokens per sequence against a KV
/// cache, parallel across sequences, kv heads and fixed-size key splits, merged by log-sum-exp.
///
/// All query heads of a kv group (and all Sq tokens) are computed together, so each cached K and
/// V row is read from memory once per call, whatever the GQA ratio. Results are bitwise
/// identical for any thread count, executor and topology, and for a paged and a contiguous cache
/// holding the same tokens.
public enum Decode {
  /// Computes decode attention into caller-owned buffers: `queries` holds (batch, Sq,
  /// queryHeads, headDim) elements of `problem.queryType`, `output` receives (batch, Sq,
  /// queryHeads, valueDim) of `problem.outputType`, and `lse` (when given) Float32 in (batch,
  /// queryHeads, Sq) order.
  public static func forward(
    _ problem: DecodeProblem, queries: UnsafeRawBufferPointer, cache: KVCache,
    output: UnsafeMutableRawBufferPointer, lse: UnsafeMutableBufferPointer<Float>? = nil,
    options: DecodeOptions = DecodeOptions()
  ) throws(DecodeError) {
    let counts = try problem.validate(cache: cache)
    if queries.count < counts.query * problem.queryType.byteCount {
      throw .attention(
        .bufferTooSmall(
          tensor: "Q", required: counts.query, actual: queries.count / problem.queryType.byteCount))
    }
    if output.count < counts.output * problem.outputType.byteCount {
      throw .attention(
        .bufferTooSmall(
          tensor: "O", required: counts.output, actual: output.count / problem.outputType.byteCount)
      )
    }
    if let lse, lse.count < counts.lse {
      throw .attention(.bufferTooSmall(tensor: "LSE", required: counts.lse, actual: lse.count))
    }
    if options.threads <= 0 { throw .attention(.invalidThreadCount(options.threads)) }
    if options.splitSize <= 0 {
      throw .attention(.nonPositiveSize(field: "splitSize", value: options.splitSize))
    }
    let map: KVRowMap
    do { map = try cache.rowMap() } catch { throw .cache(error) }
    guard let q = queries.baseAddress, let o = output.baseAddress else { return }
    let ops = DecodeOperands(
      problem: problem, map: map, kvHeads: cache.kvHeads, headDim: cache.headDim,
      valueDim: cache.valueDim, splitSize: options.splitSize, q: q, o: o, lse: lse?.baseAddress)
    withExtendedLifetime(cache) {
      run(ops, options: options)
    }
  }

  /// Decode with Float32 queries and output; returns O in (batch, Sq, queryHeads, valueDim)
  /// order and LSE in (batch, queryHeads, Sq) order.
  public static func forward(
    _ problem: DecodeProblem, queries: [Float], cache: KVCache,
    options: DecodeOptions = DecodeOptions()
  ) throws(DecodeError) -> AttentionResult {
    var problem = problem
    problem.queryType = .float32
    problem.outputType = .float32
    let counts = try problem.validate(cache: cache)
    var output = [Float](repeating: 0, count: counts.output)
    var lse = [Float](repeating: 0, count: counts.lse)
    try queries.withUnsafeBufferPointer { (q) throws(DecodeError) in
      try output.withUnsafeMutableBufferPointer { (o) throws(DecodeError) in
        try lse.withUnsafeMutableBufferPointer { (l) throws(DecodeError) in
          try forward(
            problem, queries: UnsafeRawBufferPointer(q), cache: cache,
            output: UnsafeMutableRawBufferPointer(o), lse: l, options: options)
        }
      }
    }
    return AttentionResult(output: output, lse: lse)
  }

  /// Bytes of K and V a call reads from the cache (each visible row once per kv head): the
  /// numerator of the decode bandwidth figure.
  public static func cacheBytesRead(_ problem: DecodeProblem, cache: KVCache, splitSize: Int)
    throws(DecodeError) -> Int
  {
    try problem.validate(cache: cache)
    let map: KVRowMap
    do { map = try cache.rowMap() } catch { throw .cache(error) }
    var keys = 0
    for b in 0..<problem.batch {
      let (lo, hi) = DecodeOperands.unionRange(problem, length: map.lengths[problem.sequence(b)])
      keys += hi - lo
    }
    return keys * cache.kvHeads * (map.keyRowBytes + map.valueRowBytes)
  }

  /// Runs every work item on the runtime: items (`DecodeChunks`: runs of consecutive splits of
  /// one group) are homed on their kv head's node (where the cache placed that head's K/V) and
  /// claimed longest first (equal-cost items keep their order), each worker with its own
  /// scratch. This is the only place that knows about threads.
  static func run(_ ops: DecodeOperands, options: DecodeOptions) {
    let runtime = options.runtime ?? .shared
    let nodes = runtime.topology.nodes.count
    // Costs in the runtime's unit, prefill FLOPs (~90 GFLOP/s per core), so that its
    // minimum work per worker means the same time for both kernels. Fitted on calls run by one
    // worker (B=4, 32/8 heads, D=128, fp16, Skv = 64, 128, 512: 147, 212, 623 µs): decode runs
    // its FLOPs at ~64 GFLOP/s (×1.4) and each item costs ~2.6 µs besides (queries, partial
    // state, merge: 230 000 FLOPs' worth). A key also costs at least its bytes at an assumed
    // ~22 GB/s per core (×4 per byte), what bounds groups of 1–2 rows (not fitted; it puts MHA,
    // B=1, 32 heads, Skv = 512 on 2 workers: 286 → 176 µs). Counted as FLOPs alone, a 200 µs
    // call stayed on one worker: 2 threads took 211–324 µs at Skv = 128, against 140–162 with
    // the cost counted this way.
    let flopsPerKey = Double(2 * (ops.headDim + ops.valueDim) * ops.rows) * 1.4
    let bytesPerKey = Double(4 * (ops.map.keyRowBytes + ops.map.valueRowBytes))
    let perKey = max(flopsPerKey, bytesPerKey)
    var costs: [Double] = []
    costs.reserveCapacity(ops.itemCount)
    for i in 0..<ops.itemCount {
      costs.append(Double(ops.keyRange(item: i).count) * perKey + 230_000)
    }
    let total = costs.reduce(0, +)
    let chunks = DecodeChunks(
      ops,
      splitsPerChunk: DecodeChunks.splitsPerChunk(
        items: ops.itemCount,
        workers: runtime.workers(
          threads: options.threads, items: ops.itemCount, totalCost: total)))
    let kvHeads = ops.kvHeads
    let partition = WorkPartition(
      itemCount: chunks.count, distances: runtime.topology.distances,
      home: {
        WorkPartition.homeNode(
          group: Int(ops.itemGroup[chunks.first[$0]]) % kvHeads, groups: kvHeads, nodes: nodes)
      },
      cost: { c in chunks.items(c).reduce(0) { $0 + costs[$1] } })
    let key = DecodeScratch.Key(rows: ops.rows, depth: ops.depth, valueDepth: ops.valueDepth)
    let scratches = SlotStates<DecodeScratch>(slots: runtime.workerCount)
    var work = ParallelWork(
      partition: partition,
      workers: runtime.workers(threads: options.threads, items: chunks.count, totalCost: total),
      executor: options.executor ?? runtime.defaultExecutor,
      body: { c, slot in
        let scratch = scratches.state(for: slot) { slot.state(key) { DecodeScratch(key) } }
        let items = chunks.items(c)
        for i in items {
          DecodeKernel.run(item: i, ops, scratch: scratch, continues: i + 1 < items.upperBound)
        }
      })
    // Trace labels (read only when a `TraceRecorder` is attached to the runtime).
    work.name = "decode"
    work.describe = { c in
      let i = chunks.first[c]
      let g = Int(ops.itemGroup[i])
      return [
        ("sequence", g / kvHeads), ("kv_head", g % kvHeads), ("split", Int(ops.itemSplit[i])),
        ("splits", chunks.items(c).count),
      ]
    }
    runtime.run(work)
  }
}
