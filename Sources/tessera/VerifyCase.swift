import Tessera

/// One configuration `tessera verify` checks against the Double reference.
struct VerifyCase {
  var shape: AttentionShape
  var mask: AttentionMask = .none
  var scale: Float? = nil
  var order: LayoutOrder = .bshd
  var tiles: TileConfig = .default

  var problem: AttentionProblem {
    AttentionProblem(shape: shape, mask: mask, scale: scale, order: order)
  }

  var label: String {
    var s = "\(shape) \(mask)"
    if let scale { s += " scale=\(scale)" }
    if order != .bshd { s += " \(order.rawValue)" }
    if tiles != .default { s += " \(tiles)" }
    return s
  }
}

extension VerifyCase {
  /// The sweep: lengths that are not tile multiples (1, 7, 63, 65, 1000), head dims 32–256
  /// and an odd one, GQA ratios 1–8, Sq ≠ Skv both ways under every mask, Dv ≠ D, BHSD
  /// layout, explicit scales, and tile shapes that put boundaries everywhere.
  ///
  /// Full: 131 cases, about 5·10⁹ reference multiply-adds; the scalar Double reference
  /// dominates, ~7 s in release on 2 cores. Quick: 37 cases, a cross-section, under 1 s.
  static func sweep(quick: Bool) -> [VerifyCase] {
    let lengths = quick ? [1, 7, 65] : [1, 7, 63, 65, 1000]
    let dims = quick ? [33, 64, 128] : [32, 64, 80, 96, 128, 256, 33]
    let masks: [AttentionMask] = [.none, .causal]
    let allMasks: [AttentionMask] = [.none, .causal, .causalTopLeft]
    var cases: [VerifyCase] = []

    // Self-attention across lengths and head dims; batch 2 and GQA 2 where it is cheap.
    for length in lengths {
      for dim in dims {
        for mask in masks {
          let long = length >= 1000
          let shape = AttentionShape(
            batch: long ? 1 : 2, queryHeads: long ? 2 : 4, kvHeads: long ? 1 : 2,
            queryLength: length, headDim: dim)
          cases.append(VerifyCase(shape: shape, mask: mask))
        }
      }
    }

    // GQA ratios (query heads per kv head); 8 of 8 heads is multi-query attention.
    for ratio in quick ? [1, 4] : [1, 2, 4, 8] {
      for mask in masks {
        let shape = AttentionShape(
          queryHeads: 2 * ratio, kvHeads: 2, queryLength: 100, keyLength: 130, headDim: 64)
        cases.append(VerifyCase(shape: shape, mask: mask))
      }
    }
    if !quick {
      let mqa = AttentionShape(queryHeads: 8, kvHeads: 1, queryLength: 65, headDim: 80)
      cases.append(VerifyCase(shape: mqa, mask: .causal))
    }

    // Sq ≠ Skv both ways under every mask. Sq > Skv bottom-right leaves the first Sq − Skv
    // rows fully masked (O = 0, LSE = −∞); Sq = 1 is a decode step.
    let pairs =
      quick
      ? [(7, 65), (65, 7), (1, 100)]
      : [
        (1, 1000), (1, 7), (7, 65), (63, 1000), (65, 7), (1000, 63), (100, 37), (37, 100), (97, 1),
      ]
    for (sq, skv) in pairs {
      for mask in allMasks {
        let shape = AttentionShape(
          queryHeads: 2, kvHeads: 1, queryLength: sq, keyLength: skv, headDim: quick ? 64 : 96)
        cases.append(VerifyCase(shape: shape, mask: mask))
      }
    }

    // Value head dim different from the Q·K head dim.
    for (d, dv) in quick ? [(33, 80)] : [(64, 32), (33, 80), (128, 64), (32, 256)] {
      for mask in masks {
        let shape = AttentionShape(
          queryHeads: 2, queryLength: 70, keyLength: 90, headDim: d, valueDim: dv)
        cases.append(VerifyCase(shape: shape, mask: mask))
      }
    }

    // BHSD storage.
    for mask in quick ? [AttentionMask.causal] : allMasks {
      let shape = AttentionShape(
        batch: 2, queryHeads: 4, kvHeads: 2, queryLength: 50, keyLength: 77, headDim: 64)
      cases.append(VerifyCase(shape: shape, mask: mask, order: .bhsd))
    }

    // Explicit scales: 1.0 gives logits up to ±D (typically ±5 for these inputs).
    for scale: Float in quick ? [1] : [1, 0.01] {
      let shape = AttentionShape(queryHeads: 2, queryLength: 65, headDim: 64)
      cases.append(VerifyCase(shape: shape, mask: .causal, scale: scale))
    }

    // Tile shapes: the smallest micro-tile multiples, odd multiples, and tiles longer than
    // the sequence, so every tile straddles a mask boundary or a sequence end somewhere.
    let tileShapes =
      quick
      ? [TileConfig(queryTile: 24, keyTile: 4)]
      : [
        TileConfig(queryTile: 24, keyTile: 4), TileConfig(queryTile: 48, keyTile: 20),
        TileConfig(queryTile: 120, keyTile: 100), TileConfig(queryTile: 312, keyTile: 512),
      ]
    for tiles in tileShapes {
      for mask in quick ? masks : allMasks {
        let shape = AttentionShape(
          queryHeads: 2, kvHeads: 1, queryLength: 257, keyLength: 300, headDim: 64)
        cases.append(VerifyCase(shape: shape, mask: mask, tiles: tiles))
      }
    }
    return cases
  }
}
