/// `prefetcht0`: asks for the cache line holding `address` without waiting for it.
///
/// Swift has no prefetch intrinsic; LLVM's `llvm.prefetch` is reachable by name (arguments:
/// address, 0 = read / 1 = write, locality 0…3 (3 = keep in all levels), 1 = data cache). It
/// compiles to one instruction on x86 and arm64, and to nothing where the target has none.
///
/// Why the GEMM needs it: each 6×16 tile of C is visited once per KC slice, and between visits
/// the whole C is swept, so at 4096² (64 MiB) every visit misses to DRAM. A plain load cannot
/// hide that (it blocks retirement until the line arrives, the ~300-cycle miss stalls the
/// ~1500-cycle micro-kernel by ~20 %); a prefetch issued when the micro-kernel starts has
/// arrived by the time the kernel reaches its stores.
@_silgen_name("llvm.prefetch.p0")
func llvmPrefetch(_ address: UnsafeRawPointer, _ rw: Int32, _ locality: Int32, _ cache: Int32)

@inline(__always)
func prefetch(_ address: UnsafeRawPointer) {
  llvmPrefetch(address, 0, 3, 1)
}
