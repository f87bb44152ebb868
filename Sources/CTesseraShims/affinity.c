// Thread affinity wrappers for the runtime (see CTesseraShims.h). Linux only; elsewhere they
// report ENOSYS and the runtime runs unpinned.
#define _GNU_SOURCE
#include "CTesseraShims.h"
#include <errno.h>
#include <string.h>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>

int tessera_thread_get_affinity(tessera_cpu_mask *mask) {
  cpu_set_t *set = CPU_ALLOC(TESSERA_MAX_CPUS);
  if (!set) return ENOMEM;
  size_t size = CPU_ALLOC_SIZE(TESSERA_MAX_CPUS);
  CPU_ZERO_S(size, set);
  int rc = pthread_getaffinity_np(pthread_self(), size, set);
  memset(mask, 0, sizeof *mask);
  if (rc == 0) {
    for (int cpu = 0; cpu < TESSERA_MAX_CPUS; cpu++)
      if (CPU_ISSET_S(cpu, size, set)) mask->words[cpu / 64] |= 1ull << (cpu % 64);
  }
  CPU_FREE(set);
  return rc;
}

int tessera_thread_set_affinity(const tessera_cpu_mask *mask) {
  cpu_set_t *set = CPU_ALLOC(TESSERA_MAX_CPUS);
  if (!set) return ENOMEM;
  size_t size = CPU_ALLOC_SIZE(TESSERA_MAX_CPUS);
  CPU_ZERO_S(size, set);
  for (int cpu = 0; cpu < TESSERA_MAX_CPUS; cpu++)
    if (mask->words[cpu / 64] >> (cpu % 64) & 1) CPU_SET_S(cpu, size, set);
  int rc = pthread_setaffinity_np(pthread_self(), size, set);
  CPU_FREE(set);
  return rc;
}

int tessera_current_cpu(void) { return sched_getcpu(); }
#else
int tessera_thread_get_affinity(tessera_cpu_mask *mask) {
  memset(mask, 0, sizeof *mask);
  return ENOSYS;
}
int tessera_thread_set_affinity(const tessera_cpu_mask *mask) {
  (void)mask;
  return ENOSYS;
}
int tessera_current_cpu(void) { return -1; }
#endif
