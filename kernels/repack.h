// Weights repacked at load into interleaved row groups (repack.c).
#pragma once
#include "common.h"

// Added to a weight type id in matmul calls: the matrix is in repack.c's layout of that type.
#define REPACKED 0x100

// y[t][r] = W[r] · x[t] for a repacked W (type without the flag) and quantised activations xq.
void matmul_repacked(int type, const void *w, int nrows, int ncols, const void *xq, int ntok, float *y);
