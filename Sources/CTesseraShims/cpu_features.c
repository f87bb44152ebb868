#include "CTesseraShims.h"
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

int tessera_cpu_features(void) {
  unsigned a, b, c, d;
  int features = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  int fma = (c >> 12) & 1, f16c = (c >> 29) & 1, osxsave = (c >> 27) & 1;
  if (!osxsave) return 0;
  unsigned xcr0_lo, xcr0_hi;
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  int ymm = (xcr0_lo & 6) == 6, zmm = (xcr0_lo & 0xe6) == 0xe6;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) b = 0;
  if (ymm && ((b >> 5) & 1)) features |= 1;
  if (ymm && fma) features |= 2;
  if (ymm && f16c) features |= 4;
  if (zmm && ((b >> 16) & 1)) features |= 8;
  return features;
}

void tessera_cpu_brand(char *buffer, int capacity) {
  unsigned regs[12];
  unsigned max, b, c, d;
  if (capacity <= 0) return;
  buffer[0] = 0;
  if (!__get_cpuid(0x80000000, &max, &b, &c, &d) || max < 0x80000004) return;
  for (unsigned i = 0; i < 3; i++)
    __get_cpuid(0x80000002 + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
  int n = capacity - 1 < 48 ? capacity - 1 : 48;
  memcpy(buffer, regs, (size_t)n);
  buffer[n] = 0;
}
#else
int tessera_cpu_features(void) { return 0; }
void tessera_cpu_brand(char *buffer, int capacity) {
  if (capacity > 0) buffer[0] = 0;
}
#endif
