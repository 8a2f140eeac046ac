// SPDX-License-Identifier: GPL-3.0-or-later
// Shared definitions for Huabu's compute shaders.
#ifndef HB_COMMON_GLSL
#define HB_COMMON_GLSL

#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_shader_16bit_storage : require

#endif
