/// Block-sparse attention: queries and keys are cut into blocks of `blockSize` tokens and only
/// the kept (query block, key block) pairs are computed; the kernel never visits the others, so
/// the cost is proportional to the kept blocks. It combines with the element mask (causal,
/// window): a key is visible when both allow it.
///
/// The pattern is per query head (`heads == queryHeads`) or shared (`heads == 1`). Builders give
/// the usual patterns: local band + global tokens (Longformer, BigBird without the random part)
/// and strided (Sparse Transformer).
public struct BlockSparseMask: Hashable, Sendable, CustomStringConvertible {
  public let blockSize: Int
  public let queryBlocks: Int
  public let keyBlocks: Int
  public let heads: Int
  /// Bit (h·queryBlocks + qb)·keyBlocks + kb is set when that block is kept.
  private var bits: [UInt64]

  /// A pattern over `queryLength` × `keyLength` tokens; `kept(head, queryBlock, keyBlock)`
  /// decides each block.
  public init(
    blockSize: Int, queryLength: Int, keyLength: Int, heads: Int = 1,
    kept: (_ head: Int, _ queryBlock: Int, _ keyBlock: Int) -> Bool
  ) {
    self.blockSize = max(1, blockSize)
    self.queryBlocks = max(0, (queryLength + self.blockSize - 1) / self.blockSize)
    self.keyBlocks = max(0, (keyLength + self.blockSize - 1) / self.blockSize)
    self.heads = max(1, heads)
    let count = self.heads * queryBlocks * keyBlocks
    bits = [UInt64](repeating: 0, count: (count + 63) / 64)
    for h in 0..<self.heads {
      for qb in 0..<queryBlocks {
        for kb in 0..<keyBlocks where kept(h, qb, kb) {
          let i = (h * queryBlocks + qb) * keyBlocks + kb
          bits[i >> 6] |= 1 << UInt64(i & 63)
        }
      }
    }
  }

  /// Whether the block is kept; `head` is a query head (any head when the pattern is shared).
  @inlinable
  public func isKept(head: Int, queryBlock: Int, keyBlock: Int) -> Bool {
    let h = heads == 1 ? 0 : head
    let i = (h * queryBlocks + queryBlock) * keyBlocks + keyBlock
    return bitsWord(i >> 6) & (1 << UInt64(i & 63)) != 0
  }

  @usableFromInline
  func bitsWord(_ index: Int) -> UInt64 { bits[index] }

  /// Fraction of blocks kept.
  public var density: Double {
    let total = heads * queryBlocks * keyBlocks
    return total == 0 ? 0 : Double(bits.reduce(0) { $0 + $1.nonzeroBitCount }) / Double(total)
  }

  public var description: String {
    "block-sparse(block=\(blockSize), \(queryBlocks)x\(keyBlocks), density=\(density))"
  }

  /// Local band of `windowBlocks` blocks on each side of the diagonal plus `globalBlocks`
  /// leading blocks that every query sees and that see every key (Longformer's global tokens).
  public static func localGlobal(
    blockSize: Int, queryLength: Int, keyLength: Int, windowBlocks: Int, globalBlocks: Int
  ) -> BlockSparseMask {
    BlockSparseMask(blockSize: blockSize, queryLength: queryLength, keyLength: keyLength) {
      _, qb, kb in
      abs(qb - kb) <= windowBlocks || kb < globalBlocks || qb < globalBlocks
    }
  }

  /// The local block plus every `stride`-th block (Sparse Transformer's strided pattern).
  public static func strided(
    blockSize: Int, queryLength: Int, keyLength: Int, stride: Int
  ) -> BlockSparseMask {
    BlockSparseMask(blockSize: blockSize, queryLength: queryLength, keyLength: keyLength) {
      _, qb, kb in
      qb == kb || (stride > 0 && (qb - kb) % stride == 0)
    }
  }

  /// Checks the pattern against the problem it is used with.
  func validate(shape: AttentionShape) throws(AttentionError) {
    let q = (shape.queryLength + blockSize - 1) / blockSize
    let k = (shape.keyLength + blockSize - 1) / blockSize
    if queryBlocks != q {
      throw .shapeMismatch(
        tensor: "blockSparse", axis: "queryBlocks", expected: q, actual: queryBlocks)
    }
    if keyBlocks != k {
      throw .shapeMismatch(tensor: "blockSparse", axis: "keyBlocks", expected: k, actual: keyBlocks)
    }
    if heads != 1 && heads != shape.queryHeads {
      throw .shapeMismatch(
        tensor: "blockSparse", axis: "heads (1 or queryHeads)", expected: shape.queryHeads,
        actual: heads)
    }
  }
}
