// SPDX-License-Identifier: Apache-2.0
// dnft: library version, kept in sync with project(VERSION) in CMakeLists.txt (a test checks).
#pragma once

#define DNFT_VERSION_MAJOR 0
#define DNFT_VERSION_MINOR 1
#define DNFT_VERSION_PATCH 0

namespace dnft {
inline constexpr int version_major = DNFT_VERSION_MAJOR;
inline constexpr int version_minor = DNFT_VERSION_MINOR;
inline constexpr int version_patch = DNFT_VERSION_PATCH;
}  // namespace dnft
