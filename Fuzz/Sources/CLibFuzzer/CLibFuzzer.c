// Declarations only (include/CLibFuzzer.h); the definitions come from libFuzzer, linked by
// -sanitize=fuzzer. SwiftPM needs one source file in a C target.
#include "CLibFuzzer.h"
