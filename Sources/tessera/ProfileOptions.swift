import ArgumentParser
import Tessera

/// `--phase` of `tessera bench --profile`.
enum ProfilePhase: String, CaseIterable, ExpressibleByArgument {
  /// One layer's causal attention over the whole context (Sq = Skv = context).
  case prefill
  /// One new token per sequence against a KV cache holding the context.
  case decode
}

/// `--profile FILE --phase prefill|decode --context N`: run a model's attention shape from a
/// workload profile (`Profiles/models/*.json`) instead of the shape options of `bench`.
struct ProfileOptions: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      """
      Workload profile of a model (JSON, see Profiles/models/): heads, dims, window, softcap \
      and scale come from the file; the shape and mask options of bench are not used.
      """, valueName: "file"))
  var profile: String?

  @Option(
    help: """
      With --profile: prefill (one layer's causal attention over --context tokens) or decode \
      (--batch sequences, one new token each, against --context cached tokens).
      """)
  var phase: ProfilePhase?

  @Option(
    help: "With --profile: tokens of context (default: 4096, or the model's maximum if smaller).")
  var context: Int?

  @Option(help: "With --profile --phase decode: storage of the KV cache, queries and output.")
  var cacheDtype: DTypeArgument = .f16

  func validate() throws {
    if let context, context < 1 { throw ValidationError("--context must be at least 1") }
    if profile == nil, phase != nil || context != nil {
      throw ValidationError("--phase and --context need --profile")
    }
  }
}
