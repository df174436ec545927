// tests/gpu/cuda_emu.cc - the scheduler of the CPU emulation of CUDA (cuda_emu.h).
#define CUDA_EMU_IMPLEMENTATION
#include "cuda_emu.h"
