import CTesseraShims

/// Binding the calling thread to a set of CPUs, and restoring what it had.
///
/// libdispatch never resets a pooled thread's mask, so a work item that binds its thread must
/// put the previous mask back before it returns (`withBinding`); otherwise unrelated Dispatch
/// work would later run pinned to this node.
enum Affinity {
  /// A CPU mask as the kernel takes it (CPUs 0..<4096).
  struct Mask: Sendable, Equatable {
    fileprivate var raw = tessera_cpu_mask()

    init() {}

    init<S: Sequence<Int>>(_ cpus: S) {
      for cpu in cpus { insert(cpu) }
    }

    static let capacity = Int(TESSERA_MAX_CPUS)

    mutating func insert(_ cpu: Int) {
      guard cpu >= 0, cpu < Self.capacity else { return }
      withUnsafeMutableBytes(of: &raw.words) { bytes in
        let words = bytes.bindMemory(to: UInt64.self)
        words[cpu / 64] |= 1 << UInt64(cpu % 64)
      }
    }

    func contains(_ cpu: Int) -> Bool {
      guard cpu >= 0, cpu < Self.capacity else { return false }
      return withUnsafeBytes(of: raw.words) { bytes in
        bytes.load(fromByteOffset: (cpu / 64) * 8, as: UInt64.self) >> UInt64(cpu % 64) & 1 == 1
      }
    }

    /// The CPUs in the mask, ascending.
    var cpus: [Int] { (0..<Self.capacity).filter(contains) }

    var isEmpty: Bool {
      withUnsafeBytes(of: raw.words) { bytes in bytes.allSatisfy { $0 == 0 } }
    }

    static func == (a: Mask, b: Mask) -> Bool {
      withUnsafeBytes(of: a.raw.words) { x in
        withUnsafeBytes(of: b.raw.words) { y in x.elementsEqual(y) }
      }
    }
  }

  /// The calling thread's mask, `nil` where the platform cannot say.
  static func current() -> Mask? {
    var mask = Mask()
    return tessera_thread_get_affinity(&mask.raw) == 0 ? mask : nil
  }

  /// Binds the calling thread to `cpus`, restricted to the CPUs it may use now (a fake
  /// topology may name CPUs this machine lacks). Returns whether a binding took effect; with
  /// no usable CPU the thread stays as it was.
  @discardableResult
  static func bind(to cpus: [Int], allowedBy allowed: Mask? = current()) -> Bool {
    var mask = Mask()
    for cpu in cpus where allowed?.contains(cpu) ?? true { mask.insert(cpu) }
    if mask.isEmpty { return false }
    return set(mask)
  }

  /// Sets the calling thread's mask; whether the kernel accepted it.
  @discardableResult
  static func set(_ mask: Mask) -> Bool {
    var copy = mask
    return tessera_thread_set_affinity(&copy.raw) == 0
  }

  /// Runs `body` bound to `cpus` and restores the previous mask afterwards, even when the
  /// binding was a no-op.
  static func withBinding<R>(to cpus: [Int], allowedBy allowed: Mask?, _ body: () -> R) -> R {
    let saved = current()
    let bound = bind(to: cpus, allowedBy: allowed ?? saved)
    defer { if bound, let saved { set(saved) } }
    return body()
  }

  /// The CPU the calling thread runs on, `nil` when unknown.
  static var currentCPU: Int? {
    let cpu = Int(tessera_current_cpu())
    return cpu >= 0 ? cpu : nil
  }
}
