import ArgumentParser
import Tessera

/// `--dtype` values: storage types of tensors.
enum DTypeArgument: String, CaseIterable, ExpressibleByArgument {
  case f32, f16, bf16

  var scalarType: ScalarType {
    switch self {
    case .f32: .float32
    case .f16: .float16
    case .bf16: .bfloat16
    }
  }
}

/// `--variant` values of `bench`.
enum VariantArgument: String, CaseIterable, ExpressibleByArgument {
  case softmax
  case blockSparse = "block-sparse"
  /// Softmax-free linear attention (elu+1 feature map), O(n·d²).
  case linear
}

/// Score modifiers shared by `bench` and `run`: `--softcap`, `--alibi`, `--sink`.
struct ModifierOptions: ParsableArguments {
  @Option(help: "Logit soft-cap: scores become cap·tanh(score/cap) (Gemma 2).")
  var softcap: Float?

  @Flag(help: "ALiBi: subtract slope_h·|i − j| with the standard per-head slopes.")
  var alibi = false

  @Option(help: "Attention sink: one logit, the same for every head, joins the denominator.")
  var sink: Float?

  func modifiers(queryHeads: Int) -> ScoreModifiers {
    ScoreModifiers(
      softcap: softcap,
      alibiSlopes: alibi ? ScoreModifiers.standardAlibiSlopes(heads: queryHeads) : nil,
      // max(0, …): a negative --heads must reach the typed validation, not crash here.
      sinks: sink.map { [Float](repeating: $0, count: max(0, queryHeads)) })
  }
}
