// SPDX-License-Identifier: Apache-2.0
// The doctest runner of the CUDA tests. Test cases that need a GPU are in suites named
// "cuda_device"; the others ("cuda_host") run everywhere. Without a usable CUDA device the
// device suites are excluded with a message, and with --dnft-needs-device the runner exits with
// 77 (ctest's SKIP_RETURN_CODE, shown as "Skipped") instead of running anything.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstring>
#include <vector>

int main(int argc, char** argv) {
  bool needs_device = false;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--dnft-needs-device") == 0) {
      needs_device = true;
    } else {
      args.push_back(argv[i]);
    }
  }
  int count = 0;
  // Without a driver this is cudaErrorInsufficientDriver, not cudaErrorNoDevice: any error means no GPU.
  const cudaError_t e = cudaGetDeviceCount(&count);
  (void)cudaGetLastError();
  char exclude[] = "--test-suite-exclude=cuda_device";
  if (e != cudaSuccess || count == 0) {
    std::printf("no CUDA device: skipped (cudaGetDeviceCount: %s)\n",
                e != cudaSuccess ? cudaGetErrorName(e) : "0 devices");
    if (needs_device) return 77;
    args.push_back(exclude);
  }
  doctest::Context ctx(static_cast<int>(args.size()), args.data());
  return ctx.run();
}
