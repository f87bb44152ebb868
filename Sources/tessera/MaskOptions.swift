import ArgumentParser
import Tessera

/// `--alignment` values.
enum AlignmentArgument: String, CaseIterable, ExpressibleByArgument {
  case bottomRight = "bottom-right"
  case topLeft = "top-left"

  var alignment: CausalAlignment {
    switch self {
    case .bottomRight: .bottomRight
    case .topLeft: .topLeft
    }
  }
}

/// `--causal`, `--causal-top-left`, `--alignment`: the mask options of `bench` and `run`.
struct MaskOptions: ParsableArguments {
  @Flag(
    help: """
      Causal mask. When Sq < Skv the queries are the last Sq positions (bottom-right aligned, \
      as in chunked prefill and decode).
      """)
  var causal = false

  @Flag(help: "Causal mask aligned top-left (PyTorch's is_causal): query i sees keys j ≤ i.")
  var causalTopLeft = false

  @Option(help: "Where the causal diagonal sits when Sq ≠ Skv: bottom-right (default) or top-left.")
  var alignment: AlignmentArgument?

  func validate() throws {
    if alignment != nil, !causal, !causalTopLeft {
      throw ValidationError("--alignment needs --causal")
    }
    if causalTopLeft, alignment == .bottomRight {
      throw ValidationError("--causal-top-left conflicts with --alignment bottom-right")
    }
  }

  var mask: AttentionMask {
    if causalTopLeft { return .causalTopLeft }
    if causal {
      return AttentionMask(causal: true, alignment: alignment?.alignment ?? .bottomRight)
    }
    return .none
  }
}
