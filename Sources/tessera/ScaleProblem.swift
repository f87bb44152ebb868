import Foundation
import Tessera

/// One problem of a scaling sweep, before (strong) or after (weak) growing it with the threads.
struct ScaleProblem {
  var phase: ScalePhase
  var batch: Int
  var heads: Int
  var kvHeads: Int
  /// Query length (prefill) or cached tokens per sequence (decode).
  var seq: Int
  var dim: Int
  var mask: ScaleMask
  var dtype: DecodeDTypeArgument
  /// Weak scaling: heads grow with the threads.
  var weak = false
  /// Heads were multiplied by this (weak scaling).
  var growth = 1

  /// Every problem the command's lists name, in a stable order (seq, then dim, then mask).
  static func sweep(_ c: ScaleCommand) -> [ScaleProblem] {
    let masks: [ScaleMask] =
      c.phase == .decode ? [.causal] : c.mask?.values ?? [(c.causal ?? false) ? .causal : .none]
    let lengths = c.phase == .decode ? c.kvSeq.values : c.seq.values
    var out: [ScaleProblem] = []
    for s in lengths {
      for d in c.dim.values {
        for m in masks {
          out.append(
            ScaleProblem(
              phase: c.phase, batch: c.batch, heads: c.heads, kvHeads: c.kvHeads ?? c.heads, seq: s,
              dim: d, mask: m, dtype: c.phase == .decode ? c.dtype : .f32, weak: c.mode == .weak))
        }
      }
    }
    return out
  }

  /// The problem run on `threads` threads: itself (strong) or with heads × threads (weak).
  func scaled(threads: Int, mode: ScaleMode) -> ScaleProblem {
    guard mode == .weak else { return self }
    var p = self
    p.heads *= threads
    p.kvHeads *= threads
    p.growth = threads
    return p
  }

  /// A short name, the same for every thread count: "S=1024 H=8 D=128 causal"; weak
  /// scaling "H=8×t".
  var label: String {
    let t = weak ? "×t" : ""
    let gqa = kvHeads != heads ? " Hkv=\(kvHeads / growth)\(t)" : ""
    let b = batch > 1 ? "B=\(batch) " : ""
    let h = "H=\(heads / growth)\(t)\(gqa)"
    switch phase {
    case .prefill: return "\(b)S=\(seq) \(h) D=\(dim)" + (mask == .causal ? " causal" : "")
    case .decode: return "\(b)Skv=\(seq) \(h) D=\(dim) \(dtype.rawValue)"
    }
  }

  /// Attention FLOPs of one call: 4·D per visible (query, key) pair (2·D for Q·Kᵀ, 2·D for P·V).
  var flops: Double {
    switch phase {
    case .prefill: return attentionProblem.flops
    case .decode: return Double(batch * heads * seq) * Double(4 * dim)
    }
  }

  /// The prefill problem (bhsd, as `bench` runs it).
  var attentionProblem: AttentionProblem {
    let shape = AttentionShape(
      batch: batch, queryHeads: heads, kvHeads: kvHeads, queryLength: seq, headDim: dim)
    return AttentionProblem(shape: shape, mask: mask.mask, order: .bhsd)
  }
}
