// libFuzzer's entry point for a program that has its own main: the fuzzer (linked with
// -sanitize=fuzzer) runs `callback` on each input it generates, driven by argv's options.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
