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

  @Option(
    help: """
      Sliding window: keys visible left of the diagonal (Mistral's window W is --window W-1       with --causal).
      """)
  var window: Int?

  @Option(help: "Keys visible right of the diagonal (non-causal local attention).")
  var windowRight: Int?

  func validate() throws {
    if let window, window < 0 { throw ValidationError("--window must be non-negative") }
    if let windowRight, windowRight < 0 {
      throw ValidationError("--window-right must be non-negative")
    }
    if windowRight != nil, causal || causalTopLeft {
      throw ValidationError("--window-right conflicts with a causal mask")
    }
    if causalTopLeft, alignment == .bottomRight {
      throw ValidationError("--causal-top-left conflicts with --alignment bottom-right")
    }
  }

  var mask: AttentionMask {
    let align: CausalAlignment = causalTopLeft ? .topLeft : alignment?.alignment ?? .bottomRight
    return AttentionMask(
      causal: causal || causalTopLeft, alignment: align, windowLeft: window,
      windowRight: windowRight)
  }
}
