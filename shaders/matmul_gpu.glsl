// SPDX-License-Identifier: GPL-3.0-or-later
// The GPU family's GEMM core, shared by matmul_gpu.comp and conv2d_gpu.comp:
// a workgroup of 16x16 invocations computes a 64x64 block of outputs, 4x4
// per invocation, staging 64x16 slices of A and 16x64 slices of B in shared
// memory. The including shader defines load_a(batch, m, k),
// load_b(batch, k, n) (both return 0 outside the matrix) and
// store_c(batch, m, n, value) before including this file.
#ifndef HB_MATMUL_GPU_GLSL
#define HB_MATMUL_GPU_GLSL

#define BM 64
#define BN 64
#define BK 16

layout(local_size_x = 16, local_size_y = 16, local_size_z = 1) in;

// +1 column keeps the column reads of the inner loop off one memory bank.
shared float s_a[BK][BM + 1];
shared float s_b[BK][BN + 1];

void main()
{
  uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
  uint tid = ty * 16u + tx;
  uint bm = gl_WorkGroupID.y * BM, bn = gl_WorkGroupID.x * BN;
  uint batch = gl_WorkGroupID.z;
  float acc[4][4];

  [[unroll]] for (uint i = 0u; i < 4u; i++)
    [[unroll]] for (uint j = 0u; j < 4u; j++)
      acc[i][j] = 0.0;

  for (uint k0 = 0u; k0 < p.K; k0 += BK)
    {
      // 1024 elements of each tile, 4 per invocation; consecutive
      // invocations take consecutive k for A and consecutive n for B,
      // the contiguous direction of each operand's usual layout.
      [[unroll]] for (uint r = 0u; r < 4u; r++)
        {
          uint e = tid + r * 256u;
          uint am = e / BK, ak = e % BK;
          uint bk = e / BN, bn_ = e % BN;

          s_a[ak][am] = load_a(batch, bm + am, k0 + ak);
          s_b[bk][bn_] = load_b(batch, k0 + bk, bn + bn_);
        }
      barrier();

      [[unroll]] for (uint k = 0u; k < BK; k++)
        {
          float a[4], b[4];

          [[unroll]] for (uint i = 0u; i < 4u; i++)
            a[i] = s_a[k][ty + 16u * i];
          [[unroll]] for (uint j = 0u; j < 4u; j++)
            b[j] = s_b[k][tx + 16u * j];
          [[unroll]] for (uint i = 0u; i < 4u; i++)
            [[unroll]] for (uint j = 0u; j < 4u; j++)
              acc[i][j] = fma(a[i], b[j], acc[i][j]);
        }
      barrier();
    }

  [[unroll]] for (uint i = 0u; i < 4u; i++)
    [[unroll]] for (uint j = 0u; j < 4u; j++)
      {
        uint m = bm + ty + 16u * i, n = bn + tx + 16u * j;

        if (m < p.M && n < p.N)
          store_c(batch, m, n, acc[i][j]);
      }
}

#endif
