#ifndef TESSERA_CNUMA_SHIM_H
#define TESSERA_CNUMA_SHIM_H
#include <numa.h>
#include <numaif.h>
#endif
