/// One call's per-slot state (a kernel's scratch), looked up in the slot's own cache
/// (`WorkerSlot.state`) once per slot and call instead of once per work item.
///
/// `WorkerSlot.state` hashes an `AnyHashable` key and casts the stored object: ~0.5 µs per
/// lookup. A short-context decode call (B=4, 32/8 heads, Skv=128: 32 items of ~5 µs) paid it per
/// item; with one lookup per slot, 1 thread, best of 3000 calls, 3 rounds: 185.6–186.0 →
/// 169.8–170.2 µs. Entry `slot.index` is only touched by the body that holds that slot, and the
/// runtime gives a slot to one body at a time.
final class SlotStates<State: AnyObject>: @unchecked Sendable {
  private let entries: UnsafeMutablePointer<State?>
  private let count: Int

  init(slots: Int) {
    count = max(1, slots)
    entries = .allocate(capacity: count)
    entries.initialize(repeating: nil, count: count)
  }

  deinit {
    entries.deinitialize(count: count)
    entries.deallocate()
  }

  /// The state of `slot` for this call: `lookup` on the slot's first item, then that object.
  func state(for slot: WorkerSlot, lookup: () -> State) -> State {
    precondition(slot.index < count, "slot \(slot.index) of a runtime with \(count) slots")
    if let s = entries[slot.index] { return s }
    let s = lookup()
    entries[slot.index] = s
    return s
  }
}
