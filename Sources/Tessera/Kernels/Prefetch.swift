import CTesseraShims

/// `prefetcht0`: asks for the cache line holding `address` without waiting for it.
///
/// Swift has no prefetch intrinsic; `tessera_prefetch_l1` is a static inline C function
/// (`__builtin_prefetch`) that clang compiles into the caller: one instruction on x86 and arm64,
/// nothing where the target has none.
///
/// Why the GEMM needs it: each 6×16 tile of C is visited once per KC slice, and between visits
/// the whole C is swept, so at 4096² (64 MiB) every visit misses to DRAM. A plain load cannot
/// hide that (it blocks retirement until the line arrives, the ~300-cycle miss stalls the
/// ~1500-cycle micro-kernel by ~20 %); a prefetch issued when the micro-kernel starts has
/// arrived by the time the kernel reaches its stores.
@inline(__always)
func prefetch(_ address: UnsafeRawPointer) {
  tessera_prefetch_l1(address)
}
