// Weights repacked at load into interleaved row groups (repack.c).
#pragma once
#include "common.h"

// Added to a weight type id in matmul calls: the matrix is in repack.c's layout of that type.
#define REPACKED 0x100

// y[t][r] = W[r] · x[t] for a repacked W (type without the flag) and quantised activations xq.
void matmul_repacked(int type, const void *w, int nrows, int ncols, const void *xq, int ntok, float *y);
// Row `row` of a repacked matrix of `type` (without the flag) as floats, the values of the file's
// layout; only for the types repacked_rows_readable names.
void repacked_get_row(int type, const void *w, int ncols, int row, float *y);
