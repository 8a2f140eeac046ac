/* hb-test-compare.h — run one graph on the reference and Vulkan backends
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * A kernel test builds a graph from random inputs and weights with the
 * helpers below, then hb_test_compare() runs it on both backends and
 * returns the normalised mean squared error of the Vulkan output against
 * the reference: sum (vk - ref)^2 / sum ref^2.
 */
#pragma once

#include "hb-vulkan.h"

typedef struct {
  HbGraph   *graph;
  GPtrArray *inputs;      /* HbTensor */
  GPtrArray *data;        /* host data of inputs (same order) and weights */
  GRand     *rand;
} HbTestCase;

HbTestCase *hb_test_case_new       (guint32 seed);
void        hb_test_case_free      (HbTestCase *tc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HbTestCase, hb_test_case_free)

/* Random fp32/fp16 values in [-range, range); I32 ids in [0, range). */
HbTensor   *hb_test_input          (HbTestCase *tc, HbDType dtype, int ndim, const int64_t *shape,
                                    double range);
HbTensor   *hb_test_weight         (HbTestCase *tc, HbDType dtype, int ndim, const int64_t *shape,
                                    double range);

/* The Vulkan backend shared by the tests of one program (created on first
 * use; a failure to create it fails the test: these tests never skip). */
HbBackend  *hb_test_vk_backend     (void);
void        hb_test_vk_backend_free (void);

/* Runs tc's graph with `out` marked as output on both backends; returns
 * the normalised MSE (fp32 outputs) or the largest per-byte difference
 * (U8X4 outputs). */
double      hb_test_compare        (HbTestCase *tc, HbTensor *out);
