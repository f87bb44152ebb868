import Tessera

/// How far one kernel result is from the Double reference.
struct VerifyOutcome {
  /// Largest |O − O_ref| over every element.
  var outputError = 0.0
  /// Largest |LSE − LSE_ref| over rows with a visible key; a row the reference fully masks
  /// must be −∞ exactly, anything else counts as an infinite error.
  var lseError = 0.0
  /// The results with 1, N and N+1 threads are equal bit for bit (the determinism contract of
  /// DESIGN.md).
  var deterministic = true

  // fp32 tolerances for inputs uniform in [-1, 1] and the default scale 1/√D.
  //
  // Rounding (u = 6e-8): a logit s = scale·Σ_d q_d·k_d sums D terms of mean 0 whose partial
  // sums are ~√D/3 in size, so each step adds ~u·√D/3 and the D steps a random walk of
  // ~u·D/3; times scale = 1/√D that is u·√D/3 ≤ 3e-7 for D = 256. P = exp(s − m) inherits it
  // as a relative error, and O = Σ P·V / Σ P sums ≤ 1000 terms of |V| ≤ 1 in fp32, a
  // random-walk error of √Skv·u ≈ 2e-6. LSE is ≤ √D + log Skv ≈ 23 in size: ~u·23 ≈ 1.4e-6.
  // Measured over the full sweep (2 cores, AVX2): worst 1.8e-7 on O and 1.2e-6 on LSE at the
  // default scale, 8e-7 and 2.3e-6 with scale 1 (logits up to ±D).
  //
  // Bugs: one key of 1000 dropped or added by a wrong mask or tile edge moves O by about
  // p·|v − O| ≈ 1e-3 · 0.5 = 5e-4 and LSE by log(1 − p) ≈ 1e-3. The tolerances sit between:
  // ~10× above the worst rounding error seen, ~25× below the smallest bug.
  static let outputTolerance = 2e-5
  static let lseTolerance = 1e-4

  var passed: Bool {
    outputError <= Self.outputTolerance && lseError <= Self.lseTolerance && deterministic
  }

  /// Compares a kernel result (O in `problem`'s output layout) with the reference (O in
  /// contiguous BSHD).
  init(
    problem: AttentionProblem, output: [Float], lse: [Float], reference: ReferenceAttention.Result
  ) {
    let s = problem.shape
    for b in 0..<s.batch {
      for i in 0..<s.queryLength {
        for h in 0..<s.queryHeads {
          let base = problem.output.layout.offset(batch: b, sequence: i, head: h)
          let refBase = ((b * s.queryLength + i) * s.queryHeads + h) * s.valueDim
          for d in 0..<s.valueDim {
            outputError = max(
              outputError, Self.error(Double(output[base + d]), reference.output[refBase + d]))
          }
        }
      }
    }
    for (x, r) in zip(lse, reference.lse) {
      lseError = max(
        lseError, r == -.infinity ? (x == -.infinity ? 0 : .infinity) : Self.error(Double(x), r))
    }
  }

  /// |x − r|, infinite for NaN or infinite x (so `max` never swallows a NaN).
  static func error(_ x: Double, _ r: Double) -> Double {
    x.isFinite ? abs(x - r) : .infinity
  }
}
