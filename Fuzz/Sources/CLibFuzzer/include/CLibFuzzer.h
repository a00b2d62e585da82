// libFuzzer's entry points (compiler-rt, lib/fuzzer/FuzzerInterface.h and FuzzerDriver.cpp).
#ifndef TOLLGATE_CLIBFUZZER_H
#define TOLLGATE_CLIBFUZZER_H

#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer's command-line driver with `callback` as the target: what libFuzzer's own `main` does.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
