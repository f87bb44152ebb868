import Foundation
import Tessera
import Testing

/// Nothing traps on user input: building a problem and the array API must report bad sizes as
/// `AttentionError`s. The crashing cases run in a child process (exit tests) so a trap is
/// observed as a failure instead of killing the test run.
@Suite struct ProblemInitTests {
  /// `AttentionProblem(shape:)` derives contiguous layouts with `TensorLayout.bshd/bhsd`; a
  /// shape whose tensor would have 2⁶³ elements must not trap there (the strides saturate)
  /// but let `validate()` throw `.sizeOverflow`.
  @Test func hugeShapeDoesNotTrap() async {
    await #expect(processExitsWith: .success) {
      let shape = AttentionShape(queryHeads: 1 << 21, queryLength: 1 << 21, headDim: 1 << 21)
      let p = AttentionProblem(shape: shape)
      do throws(AttentionError) {
        try p.validate()
        exit(2)
      } catch {
        exit(error == .sizeOverflow(tensor: "Q") ? 0 : 3)
      }
    }
  }

  /// The array API must check the arrays against the problem before it allocates O and LSE
  /// from the problem's counts: a problem that claims 2⁵⁸ query rows with a one-element Q array
  /// throws `.bufferTooSmall(Q)` instead of trapping in a 2⁶⁰-byte allocation.
  @Test func arrayAPIChecksBuffersBeforeAllocating() async {
    await #expect(processExitsWith: .success) {
      let shape = AttentionShape(queryHeads: 1, queryLength: 1 << 58, keyLength: 1, headDim: 1)
      let p = AttentionProblem(shape: shape)
      do throws(AttentionError) {
        _ = try Attention.forward(
          p, q: [1], k: [1], v: [1], options: AttentionOptions(threads: 1))
        exit(2)
      } catch {
        exit(error == .bufferTooSmall(tensor: "Q", required: 1 << 58, actual: 1) ? 0 : 3)
      }
    }
  }

  /// The same call on the buffer API throws (it never allocates).
  @Test func bufferAPIHugeClaimThrows() {
    let shape = AttentionShape(queryHeads: 1, queryLength: 1 << 58, keyLength: 1, headDim: 1)
    let p = AttentionProblem(shape: shape)
    let one: [Float] = [1]
    var out: [Float] = [0]
    do throws(AttentionError) {
      try one.withUnsafeBufferPointer { (b) throws(AttentionError) in
        try out.withUnsafeMutableBufferPointer { (o) throws(AttentionError) in
          try Attention.forward(
            p, q: b, k: b, v: b, output: o, options: AttentionOptions(threads: 1))
        }
      }
      Issue.record("accepted")
    } catch {
      #expect(error == .bufferTooSmall(tensor: "Q", required: 1 << 58, actual: 1))
    }
  }

  /// Sequence lengths above Int32.max are rejected (the kernel's mask compares Int32 key
  /// positions). Buffers that claim enough elements are faked: validation reads only counts and
  /// throws before any element is touched.
  @Test(arguments: [(1, 1 << 31), (1 << 31, 1)])
  func sequenceLengthLimit(lengths: (Int, Int)) {
    let shape = AttentionShape(
      queryHeads: 1, queryLength: lengths.0, keyLength: lengths.1, headDim: 1)
    let p = AttentionProblem(shape: shape)
    let storage = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    defer { storage.deallocate() }
    let big = 1 << 31
    let input = UnsafeBufferPointer(start: storage, count: big)
    let output = UnsafeMutableBufferPointer(start: storage, count: big)
    do throws(AttentionError) {
      try Attention.forward(
        p, q: input, k: input, v: input, output: output, lse: output,
        options: AttentionOptions(threads: 1))
      Issue.record("a sequence of 2³¹ was accepted")
    } catch {
      #expect(error == .sequenceTooLong(length: 1 << 31, maximum: Int(Int32.max)))
      #expect(error.description.contains("sequence length"), "\(error)")
    }
  }
}
