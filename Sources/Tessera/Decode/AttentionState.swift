import Foundation

/// A partial attention result over some subset of the keys: for each query row the normalized
/// output `O` (valueDim floats) and the log-sum-exp `LSE = log Σ_j exp(s_j)` of that subset
/// (natural log, −∞ when the subset holds no visible key).
///
/// Two partials over disjoint key sets combine exactly (up to Float rounding):
///
///     LSE = log Σ_i exp(LSE_i)                (computed as M + log Σ_i exp(LSE_i − M), M = max)
///     O   = Σ_i exp(LSE_i − LSE) · O_i
///
/// Split-KV decode merges its splits this way; cascade / shared-prefix attention merges the
/// attention over a shared prefix with the attention over each request's suffix, and a context
/// split across workers merges their results. An attention sink is a partial with `LSE = sink`
/// and `O = 0` (it takes probability mass but carries no value). All −∞ gives O = 0, LSE = −∞.
///
/// Rows are in row-major order: row r's output is `output[r·valueDim ..< (r+1)·valueDim]` and
/// its LSE is `lse[r]`.
public struct AttentionState: Hashable, Sendable {
  public var output: [Float]
  public var lse: [Float]
  public var valueDim: Int

  public init(output: [Float], lse: [Float], valueDim: Int) {
    self.output = output
    self.lse = lse
    self.valueDim = valueDim
  }

  public var rows: Int { lse.count }

  /// Merges partial states over disjoint key sets, in the order given (the order fixes the
  /// Float rounding, so a fixed order gives bitwise-repeatable results). `sinks`, when given,
  /// holds one sink logit per row that joins every row's softmax denominator.
  public static func merge(_ states: [AttentionState], sinks: [Float]? = nil)
    throws(AttentionError) -> AttentionState
  {
    guard let first = states.first else {
      throw .nonPositiveSize(field: "states", value: 0)
    }
    let dv = first.valueDim
    let rows = first.rows
    if dv <= 0 { throw .nonPositiveSize(field: "valueDim", value: dv) }
    for (i, s) in states.enumerated() {
      if s.valueDim != dv {
        throw .shapeMismatch(
          tensor: "state \(i)", axis: "valueDim", expected: dv, actual: s.valueDim)
      }
      if s.rows != rows {
        throw .shapeMismatch(tensor: "state \(i)", axis: "rows", expected: rows, actual: s.rows)
      }
      if s.output.count != rows * dv {
        throw .shapeMismatch(
          tensor: "state \(i)", axis: "output count", expected: rows * dv, actual: s.output.count)
      }
    }
    if let sinks, sinks.count != rows {
      throw .shapeMismatch(tensor: "sinks", axis: "rows", expected: rows, actual: sinks.count)
    }
    let n = states.count
    var output = [Float](repeating: 0, count: rows * dv)
    var lse = [Float](repeating: 0, count: rows)
    // Row r of every partial, gathered: [n][dv] outputs and [n] LSEs.
    var rowOutputs = [Float](repeating: 0, count: n * dv)
    var rowLSE = [Float](repeating: 0, count: n)
    for r in 0..<rows {
      for (i, s) in states.enumerated() {
        rowLSE[i] = s.lse[r]
        for d in 0..<dv { rowOutputs[i * dv + d] = s.output[r * dv + d] }
      }
      var sink = sinks?[r] ?? 0
      let hasSink = sinks != nil
      rowOutputs.withUnsafeBufferPointer { po in
        rowLSE.withUnsafeBufferPointer { pl in
          output.withUnsafeMutableBufferPointer { out in
            withUnsafePointer(to: &sink) { sp in
              merge(
                count: n, rows: 1, valueDim: dv, outputs: po.baseAddress!, outputStride: dv,
                lse: pl.baseAddress!, lseStride: 1, sinks: hasSink ? sp : nil,
                into: out.baseAddress! + r * dv, mergedLSE: &lse[r])
            }
          }
        }
      }
    }
    return AttentionState(output: output, lse: lse, valueDim: dv)
  }

  /// Merges results of `Attention.forward` on the same problem shape over disjoint key sets
  /// (O in `problem`'s output layout, LSE in (batch, queryHeads, queryLength) order), e.g. the
  /// attention of a chunk of queries over a shared prefix and over its own keys.
  public static func merge(_ results: [AttentionResult], problem: AttentionProblem)
    throws(AttentionError) -> AttentionResult
  {
    let counts = try problem.validate()
    let s = problem.shape
    for (i, r) in results.enumerated() {
      if r.output.count < counts.output {
        throw .bufferTooSmall(
          tensor: "O of result \(i)", required: counts.output, actual: r.output.count)
      }
      if r.lse.count < counts.lse {
        throw .bufferTooSmall(
          tensor: "LSE of result \(i)", required: counts.lse, actual: r.lse.count)
      }
    }
    var states: [AttentionState] = []
    for r in results {
      var out = [Float](repeating: 0, count: counts.lse * s.valueDim)
      for b in 0..<s.batch {
        for h in 0..<s.queryHeads {
          for i in 0..<s.queryLength {
            let row = (b * s.queryHeads + h) * s.queryLength + i
            let base = problem.output.layout.offset(batch: b, sequence: i, head: h)
            for d in 0..<s.valueDim { out[row * s.valueDim + d] = r.output[base + d] }
          }
        }
      }
      states.append(
        AttentionState(output: out, lse: Array(r.lse.prefix(counts.lse)), valueDim: s.valueDim))
    }
    let merged = try merge(states)
    var output = results.first.map { Array($0.output.prefix(counts.output)) } ?? []
    for b in 0..<s.batch {
      for h in 0..<s.queryHeads {
        for i in 0..<s.queryLength {
          let row = (b * s.queryHeads + h) * s.queryLength + i
          let base = problem.output.layout.offset(batch: b, sequence: i, head: h)
          for d in 0..<s.valueDim { output[base + d] = merged.output[row * s.valueDim + d] }
        }
      }
    }
    return AttentionResult(output: output, lse: merged.lse)
  }

  /// Merges `count` partial states of ONE row: partial i has output `outputs[i]` (valueDim
  /// floats) and log-sum-exp `lse[i]`; `sink` is an extra partial with O = 0. Writes the merged
  /// output to `output` (which may be one of the inputs only if it is `outputs[0]`) and returns
  /// the merged LSE. Partials are summed in index order.
  @inline(never)
  public static func mergeRow(
    count: Int, outputs: UnsafePointer<UnsafePointer<Float>>, lse: UnsafePointer<Float>,
    valueDim: Int, sink: Float? = nil, into output: UnsafeMutablePointer<Float>
  ) -> Float {
    var m = sink ?? -Float.infinity
    for i in 0..<count where lse[i] > m { m = lse[i] }
    if m == -.infinity {
      output.update(repeating: 0, count: valueDim)
      return -.infinity
    }
    var sum: Float = sink.map { Foundation.exp($0 - m) } ?? 0
    for i in 0..<count { sum += Foundation.exp(lse[i] - m) }
    let total = m + Foundation.log(sum)
    // Each partial's weight once per row (computed per 8 outputs, `expf` took 2.6 % of a
    // short decode call's samples: B=4, 32/8 heads, Skv=128), then the outputs; partials with
    // LSE = −∞ are skipped, not weighted by 0 (their O may be anything).
    withUnsafeTemporaryAllocation(of: Float.self, capacity: count) { weights in
      for i in 0..<count {
        weights[i] = lse[i] > -.infinity ? Foundation.exp(lse[i] - total) : 0
      }
      // No partial's output is read after `output` is written, so `output` may alias
      // `outputs[0]` (each element is read before it is written).
      var d = 0
      while d &+ 8 <= valueDim {
        var acc = Vec()
        for i in 0..<count where lse[i] > -.infinity {
          acc = fma(
            Vec(repeating: weights[i]),
            UnsafeRawPointer(outputs[i] + d).loadUnaligned(as: Vec.self),
            acc)
        }
        UnsafeMutableRawPointer(output + d).storeBytes(of: acc, as: Vec.self)
        d &+= 8
      }
      while d < valueDim {
        var acc: Float = 0
        for i in 0..<count where lse[i] > -.infinity {
          acc += weights[i] * outputs[i][d]
        }
        output[d] = acc
        d &+= 1
      }
    }
    return total
  }

  /// Merges `count` partials stored at a fixed stride: partial i's rows start at
  /// `outputs + i·outputStride` (row r at `+ r·valueDim`) and its LSEs at `lse + i·lseStride`.
  /// Writes `rows` merged rows to `output` (row-major) and `mergedLSE`.
  public static func merge(
    count: Int, rows: Int, valueDim: Int,
    outputs: UnsafePointer<Float>, outputStride: Int,
    lse: UnsafePointer<Float>, lseStride: Int,
    sinks: UnsafePointer<Float>? = nil,
    into output: UnsafeMutablePointer<Float>, mergedLSE: UnsafeMutablePointer<Float>
  ) {
    let po = UnsafeMutablePointer<UnsafePointer<Float>>.allocate(capacity: max(1, count))
    let pl = UnsafeMutablePointer<Float>.allocate(capacity: max(1, count))
    defer {
      po.deallocate()
      pl.deallocate()
    }
    for r in 0..<rows {
      for i in 0..<count {
        po[i] = outputs + i * outputStride + r * valueDim
        pl[i] = lse[i * lseStride + r]
      }
      mergedLSE[r] = mergeRow(
        count: count, outputs: po, lse: pl, valueDim: valueDim, sink: sinks?[r],
        into: output + r * valueDim)
    }
  }
}
