# attest - one Makefile. Targets: all check sanitize fuzz bench demo install
# uninstall clean check-gpu bench-gpu gpu-kit. Honours CC, CFLAGS, LDFLAGS, PREFIX, DESTDIR, BUILD, SHARED.

VERSION     := 0.1.0
SOVERSION   := 0
PREFIX      ?= /usr/local
DESTDIR     ?=
BUILD       ?= build
SHARED      ?= $(abspath ../shared)
CC          ?= cc
CFLAGS      ?= -O2 -g
PKG_CONFIG  ?= pkg-config
PKGS        := libsodium jansson libgit2 libzstd libcrypto tss2-esys tss2-mu tss2-tctildr tss2-rc

# Evaluated when a recipe runs, so that `make check` can install the
# packages before pkg-config is first asked about them.
PKG_CFLAGS   = $(shell $(PKG_CONFIG) --cflags $(PKGS))
PKG_LIBS     = $(shell $(PKG_CONFIG) --libs $(PKGS)) -pthread -lm $(CUDA_LIBS)

WARN        := -std=c11 -Wall -Wextra -Wpedantic -Werror -Wshadow -Wstrict-prototypes
DEFS        := -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64 -DATTEST_VERSION_STRING=\"$(VERSION)\"
ALL_CFLAGS   = $(WARN) $(DEFS) -Iinclude -I. -pthread -fPIC -fvisibility=hidden $(PKG_CFLAGS) $(CFLAGS)
# The engine's results must be the same bits everywhere: no contraction of
# a*b+c into fused multiply-adds, no fast-math reassociation (ENGINE.md).
ENGINE_FP    = -ffp-contract=off -fno-fast-math
ENGINE_CFLAGS = $(WARN) -D_DEFAULT_SOURCE -Iengine -pthread -fPIC -fvisibility=hidden $(CFLAGS) $(ENGINE_FP)

# The CUDA backend (engine/cuda/) is built whenever nvcc is found: on PATH or
# in /usr/local/cuda. Same rules as the CPU engine: no fused multiply-add,
# IEEE division and square root, subnormals kept (ENGINE.md [ARITH-1..3]).
NVCC        ?= $(firstword $(shell command -v nvcc 2>/dev/null) $(wildcard /usr/local/cuda/bin/nvcc))
CUDA_ARCH   ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
NVCC_FLAGS   = -O3 -std=c++17 -fmad=false -prec-div=true -prec-sqrt=true -ftz=false $(CUDA_ARCH) \
               -Werror all-warnings -Xcompiler -fPIC,-fvisibility=hidden,-Wall,-Wextra,-Werror -Iengine
CUDA_SRC    := $(sort $(wildcard engine/cuda/*.cu))
# nvcc may be a wrapper script or a symlink: its own -dryrun names the
# toolkit's root and target directory; the runtime is in lib64, lib or
# <target>/lib.
ifneq ($(NVCC),)
override NVCC := $(or $(realpath $(NVCC)),$(NVCC))# a symlinked nvcc looks beside the link
CUDA_DRYRUN := $(shell $(NVCC) -dryrun -x cu -c /dev/null 2>&1)
CUDA_TOP    := $(patsubst TOP=%,%,$(filter TOP=%,$(CUDA_DRYRUN)))
CUDA_TARGET := $(lastword $(patsubst _TARGET_DIR_=%,%,$(filter _TARGET_DIR_=%,$(CUDA_DRYRUN))))
CUDA_FIND    = $(patsubst %/,%,$(dir $(firstword $(wildcard $(addsuffix /$1,$(addprefix $(CUDA_TOP)/,$2))))))
CUDA_LIBDIR := $(if $(CUDA_TOP),$(call CUDA_FIND,libcudart_static.a,lib64 lib $(CUDA_TARGET)/lib))
CUDA_INCDIR := $(if $(CUDA_TOP),$(call CUDA_FIND,cuda_runtime.h,include $(CUDA_TARGET)/include))
ifeq ($(CUDA_TOP),)
$(warning $(NVCC) -dryrun names no toolkit root (TOP=): building without the CUDA backend)
override NVCC :=
else ifeq ($(and $(CUDA_LIBDIR),$(CUDA_INCDIR)),)
$(warning no libcudart_static.a or no cuda_runtime.h under $(CUDA_TOP) (lib64, lib, include, $(CUDA_TARGET)/lib, $(CUDA_TARGET)/include): building without the CUDA backend)
override NVCC :=
endif
endif
ifneq ($(NVCC),)
CUDA_OBJ    := $(CUDA_SRC:%.cu=$(BUILD)/obj/%.o)
CUDA_LIBS   := -L$(CUDA_LIBDIR) -lcudart_static -ldl -lrt -lstdc++
else
CUDA_OBJ    := $(BUILD)/obj/engine/cuda/none.o
CUDA_LIBS   :=
endif

LIB_SRC     := $(sort $(wildcard format/*.c attest/*.c verify/*.c))
ENGINE_SRC  := $(sort $(wildcard engine/*.c))
TOOL_SRC    := $(sort $(wildcard tests/tools/*.c))
CLI_SRC     := $(sort $(wildcard cli/*.c))
UNIT_SRC    := $(sort $(wildcard tests/unit/*.c))
FUZZ_SRC    := $(filter-out tests/fuzz/replay.c,$(sort $(wildcard tests/fuzz/*.c)))
BENCH_SRC   := $(sort $(wildcard bench/*.c))

LIB_OBJ     := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(ENGINE_SRC:%.c=$(BUILD)/obj/%.o) $(CUDA_OBJ)
TOOL_BIN    := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/tools/%)
CLI_OBJ     := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_BIN    := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/tests/fuzz/replay-%)
BENCH_BIN   := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
EXAMPLE_BIN := $(BUILD)/record_minimal $(BUILD)/train_gpt $(BUILD)/tests/forge_gpt

STATIC      := $(BUILD)/libattest.a
ENGINE_ONLY := $(BUILD)/engine-only
SHLIB       := $(BUILD)/libattest.so.$(VERSION)
SONAME      := libattest.so.$(SOVERSION)
CLI         := $(BUILD)/attest
PC          := $(BUILD)/attest.pc

.PHONY: all deps check tests sanitize fuzz bench demo install uninstall clean format vectors \
        check-gpu bench-gpu gpu-kit engine-gpu
.DEFAULT_GOAL := all

all: $(STATIC) $(SHLIB) $(BUILD)/libattest.so $(CLI) $(PC) $(BUILD)/train_gpt

deps:
	@scripts/install-deps

$(BUILD)/obj/%.o: %.c $(wildcard include/attest/*.h format/*.h attest/*.h verify/*.h cli/*.h engine/*.h) Makefile
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) -c $< -o $@

# The engine depends on libc and pthreads only (it also builds alone on CUDA machines).
$(BUILD)/obj/engine/%.o: engine/%.c $(wildcard engine/*.h) Makefile
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(ENGINE_CFLAGS) -c $< -o $@

$(BUILD)/obj/engine/cuda/%.o: engine/cuda/%.cu $(wildcard engine/*.h engine/cuda/*.h) Makefile
	@mkdir -p $(dir $@)
	@echo "  NVCC    $<"
	@$(NVCC) $(NVCC_FLAGS) -c $< -o $@

$(BUILD)/obj/engine/cuda/none.o: engine/cuda/none.c $(wildcard engine/*.h) Makefile
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(ENGINE_CFLAGS) -c $< -o $@

$(STATIC): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@echo "  AR      $@"
	@rm -f $@ && ar rcs $@ $^

$(SHLIB): $(LIB_OBJ)
	@echo "  LD      $@"
	@$(CC) -shared -Wl,-soname,$(SONAME) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/libattest.so: $(SHLIB)
	@ln -sf libattest.so.$(VERSION) $(BUILD)/$(SONAME)
	@ln -sf libattest.so.$(VERSION) $@

$(CLI): $(CLI_OBJ) $(STATIC)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(CLI_OBJ) $(STATIC) $(PKG_LIBS)

# The .pc file names PREFIX, so install rewrites it for the PREFIX it installs to.
PC_LINES = 'prefix=$(1)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
  'Name: attest' 'Description: signed, TPM-anchored Merkle logs of ML training runs' \
  'Version: $(VERSION)' 'Requires.private: $(PKGS)' 'Libs: -L$${libdir} -lattest' 'Libs.private: -pthread -lm $(CUDA_LIBS)' \
  'Cflags: -I$${includedir}'

$(PC): Makefile
	@mkdir -p $(dir $@)
	@printf '%s\n' $(call PC_LINES,$(PREFIX)) > $@

# Unit tests see internal headers too (-Iformat etc.) and link the static library.
$(BUILD)/tests/unit/%: tests/unit/%.c tests/harness.h tests/swtpm.h $(STATIC)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(ALL_CFLAGS) -fvisibility=default -I. -Iengine -DSHARED_DIR=\"$(SHARED)\" $(LDFLAGS) -o $@ $< $(STATIC) $(PKG_LIBS)

# Fuzz targets, replayed over their corpus by a plain driver (no libFuzzer needed).
$(BUILD)/tests/fuzz/replay-%: tests/fuzz/%.c tests/fuzz/replay.c $(STATIC)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@$(CC) $(ALL_CFLAGS) -I. $(LDFLAGS) -o $@ $< tests/fuzz/replay.c $(STATIC) $(PKG_LIBS)

$(BUILD)/bench/%: bench/%.c $(STATIC)
	@mkdir -p $(dir $@)
	@echo "  BENCH   $@"
	@$(CC) $(ALL_CFLAGS) -I. $(LDFLAGS) -o $@ $< $(STATIC) $(PKG_LIBS)

# Examples see only the public headers, as a user's program would.
$(BUILD)/record_minimal: examples/c/record_minimal.c $(STATIC)
	@echo "  EXAMPLE $@"
	@$(CC) $(WARN) -Iinclude $(CFLAGS) $(LDFLAGS) -o $@ $< $(STATIC) $(PKG_LIBS)

# The C reference trainer; the test build adds the dishonest modes the
# verifier's forgery tests need (never in the example users run).
$(BUILD)/train_gpt: examples/c/train_gpt.c engine/gpt.h $(STATIC)
	@echo "  EXAMPLE $@"
	@$(CC) $(WARN) $(DEFS) -Iinclude -Iengine $(CFLAGS) $(LDFLAGS) -o $@ $< $(STATIC) $(PKG_LIBS)

$(BUILD)/tests/forge_gpt: examples/c/train_gpt.c engine/gpt.h $(STATIC)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(WARN) $(DEFS) -DTRAIN_GPT_FORGE -Iinclude -Iengine $(CFLAGS) $(LDFLAGS) -o $@ $< $(STATIC) $(PKG_LIBS)

# Helper programs the test scripts call.
$(BUILD)/tests/tools/%: tests/tools/%.c $(STATIC)
	@mkdir -p $(dir $@)
	@echo "  TOOL    $@"
	@$(CC) $(ALL_CFLAGS) -Iengine $(LDFLAGS) -o $@ $< $(STATIC) $(PKG_LIBS)

# The CUDA backend against the CPU engine: with the real backend (on a GPU it
# compares, without one it checks the error), and with the CUDA source run
# by the CPU emulation of tests/gpu/cuda_emu.h.
GPU_TESTS   := $(BUILD)/tests/gpu/engine_devices $(BUILD)/tests/gpu/engine_devices_emu \
               $(BUILD)/tests/gpu/sumsq_emu $(if $(NVCC),$(BUILD)/tests/gpu/sumsq)
CUDA_KERNEL_OBJ := $(filter-out %/gpt_cuda.o,$(CUDA_OBJ))
EMU_FLAGS    = -std=c++17 -x c++ -DGPT_CUDA_EMU -include tests/gpu/cuda_emu.h -Wall -Wextra -Werror \
               -Wno-unknown-pragmas -fPIC -Iengine -Itests/gpu $(CFLAGS) $(ENGINE_FP)
EMU_OBJ     := $(CUDA_SRC:engine/cuda/%.cu=$(BUILD)/obj/emu/%.o) $(BUILD)/obj/emu/cuda_emu.o

$(BUILD)/obj/emu/%.o: engine/cuda/%.cu tests/gpu/cuda_emu.h $(wildcard engine/*.h engine/cuda/*.h) Makefile
	@mkdir -p $(dir $@)
	@echo "  EMU     $<"
	@$(CXX) $(EMU_FLAGS) -c $< -o $@

$(BUILD)/obj/emu/cuda_emu.o: tests/gpu/cuda_emu.cc tests/gpu/cuda_emu.h Makefile
	@mkdir -p $(dir $@)
	@$(CXX) -std=c++17 -Wall -Wextra -Werror $(CFLAGS) -c $< -o $@

$(BUILD)/tests/gpu/engine_devices: tests/gpu/engine_devices.c tests/harness.h $(STATIC)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(WARN) -D_DEFAULT_SOURCE -Iengine -I. -Itests $(CFLAGS) $(LDFLAGS) -o $@ $< $(STATIC) $(PKG_LIBS)

$(BUILD)/tests/gpu/engine_devices_emu: tests/gpu/engine_devices.c tests/harness.h $(ENGINE_SRC:%.c=$(BUILD)/obj/%.o) $(EMU_OBJ)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(WARN) -D_DEFAULT_SOURCE -Iengine -I. -Itests $(CFLAGS) $(LDFLAGS) -o $@ $< \
	  $(ENGINE_SRC:%.c=$(BUILD)/obj/%.o) $(EMU_OBJ) -lstdc++ -pthread -lm

# The library, the CLI and the trainer with the emulated CUDA backend, for
# the cross-device tests of make check (tests/cli/device.sh).
EMU_LIB     := $(BUILD)/tests/gpu/libattest-emu.a
EMU_BIN     := $(BUILD)/tests/gpu/attest-emu $(BUILD)/tests/gpu/train_gpt-emu $(BUILD)/tests/gpu/forge_gpt-emu

$(EMU_LIB): $(filter-out $(CUDA_OBJ),$(LIB_OBJ)) $(EMU_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/gpu/attest-emu: $(CLI_OBJ) $(EMU_LIB)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(CLI_OBJ) $(EMU_LIB) $(PKG_LIBS) -lstdc++

$(BUILD)/tests/gpu/train_gpt-emu: examples/c/train_gpt.c engine/gpt.h $(EMU_LIB)
	@echo "  LD      $@"
	@$(CC) $(WARN) $(DEFS) -Iinclude -Iengine $(CFLAGS) $(LDFLAGS) -o $@ $< $(EMU_LIB) $(PKG_LIBS) -lstdc++

$(BUILD)/tests/gpu/forge_gpt-emu: examples/c/train_gpt.c engine/gpt.h $(EMU_LIB)
	@echo "  LD      $@"
	@$(CC) $(WARN) $(DEFS) -DTRAIN_GPT_FORGE -Iinclude -Iengine $(CFLAGS) $(LDFLAGS) -o $@ $< $(EMU_LIB) $(PKG_LIBS) -lstdc++

$(BUILD)/tests/gpu/sumsq_emu: tests/gpu/sumsq.cc $(EMU_OBJ)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CXX) $(EMU_FLAGS) -I. -o $@ $< -x none $(filter-out %/gpt_cuda.o,$(EMU_OBJ))

$(BUILD)/tests/gpu/sumsq $(ENGINE_ONLY)/tests/gpu/sumsq: tests/gpu/sumsq.cc $(CUDA_KERNEL_OBJ)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CXX) -std=c++17 -Wall -Wextra -Werror $(CFLAGS) -I. -I$(CUDA_INCDIR) -o $@ $< \
	  $(CUDA_KERNEL_OBJ) $(CUDA_LIBS) -pthread

tests: all $(UNIT_BIN) $(FUZZ_REPLAY) $(EXAMPLE_BIN) $(TOOL_BIN) $(GPU_TESTS) $(EMU_BIN)

check:
	@scripts/install-deps
	@$(MAKE) --no-print-directory tests
	@BUILD=$(BUILD) SHARED=$(SHARED) tests/run

sanitize:
	@scripts/install-deps
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/sanitize \
	  CFLAGS='-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer' \
	  LDFLAGS='-fsanitize=address,undefined' tests
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	  BUILD=$(BUILD)/sanitize SHARED=$(SHARED) tests/run

# libFuzzer runs (Debian's clang); FUZZ_SECONDS per target. New inputs go to
# $(BUILD)/fuzz/TARGET-found; copy the ones worth keeping into tests/fuzz/corpus/TARGET.
FUZZ_SECONDS ?= 60
fuzz:
	@scripts/install-deps fuzz
	@for t in $(FUZZ_SRC:tests/fuzz/%.c=%); do \
	  mkdir -p $(BUILD)/fuzz && \
	  clang -g -O1 -fsanitize=fuzzer,address,undefined $(WARN) $(DEFS) -Iinclude -I. -Iengine $(ENGINE_FP) $(PKG_CFLAGS) \
	    -o $(BUILD)/fuzz/$$t tests/fuzz/$$t.c $(LIB_SRC) $(ENGINE_SRC) $(PKG_LIBS) || exit 2; \
	  mkdir -p $(BUILD)/fuzz/$$t-found && \
	  $(BUILD)/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    $(BUILD)/fuzz/$$t-found tests/fuzz/corpus/$$t || exit 1; \
	done

# On a machine with an NVIDIA GPU: the CPU/GPU comparisons on the real device
# (make check builds and runs everything else, emulating the kernels).
check-gpu:
	@scripts/install-deps
	@$(MAKE) --no-print-directory tests
	@BUILD=$(BUILD) tests/gpu/run

bench-gpu: all $(BUILD)/bench/engine_gpu
	@BUILD=$(BUILD) bench/gpu

# The engine alone (libc, pthreads, CUDA): its CPU/GPU test and the GPU
# benchmark build on any machine with nvcc, without the project's other
# dependencies: make engine-gpu, then
#   ENGINE_DEVICES_LARGE=1 $(BUILD)/engine-only/tests/gpu/engine_devices
#   BUILD=$(BUILD)/engine-only bench/gpu
ENGINE_LINK  = $(ENGINE_SRC:%.c=$(BUILD)/obj/%.o) $(CUDA_OBJ) $(CUDA_LIBS) -pthread -lm
engine-gpu: $(ENGINE_ONLY)/tests/gpu/engine_devices $(ENGINE_ONLY)/tests/gpu/sumsq \
            $(ENGINE_ONLY)/bench/engine_gpu

$(ENGINE_ONLY)/tests/gpu/engine_devices: tests/gpu/engine_devices.c tests/harness.h $(ENGINE_SRC:%.c=$(BUILD)/obj/%.o) $(CUDA_OBJ)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(WARN) -D_DEFAULT_SOURCE -Iengine -I. -Itests $(CFLAGS) $(LDFLAGS) -o $@ $< $(ENGINE_LINK)

$(ENGINE_ONLY)/bench/engine_gpu: bench/engine_gpu.c $(ENGINE_SRC:%.c=$(BUILD)/obj/%.o) $(CUDA_OBJ)
	@mkdir -p $(dir $@)
	@echo "  BENCH   $@"
	@$(CC) $(WARN) -D_DEFAULT_SOURCE -I. $(CFLAGS) $(LDFLAGS) -o $@ $< $(ENGINE_LINK)

# A self-contained copy of the GPU checks and benchmark, with the shared
# libraries and loader they need, for GPU machines without the Debian
# packages: copy $(BUILD)/gpu-kit there and run its check-gpu or bench-gpu.
gpu-kit: tests $(BUILD)/bench/engine_gpu
	@BUILD=$(BUILD) scripts/gpu-kit

bench: all $(BENCH_BIN)
	@scripts/install-deps bench
	@BUILD=$(BUILD) bench/run

demo:
	@scripts/install-deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) examples/demo.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/attest
	install -m 0755 $(CLI) $(DESTDIR)$(PREFIX)/bin/attest
	install -m 0644 $(STATIC) $(DESTDIR)$(PREFIX)/lib/libattest.a
	install -m 0755 $(SHLIB) $(DESTDIR)$(PREFIX)/lib/libattest.so.$(VERSION)
	ln -sf libattest.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf libattest.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libattest.so
	install -m 0644 include/attest/*.h engine/gpt.h $(DESTDIR)$(PREFIX)/include/attest/
	printf '%s\n' $(call PC_LINES,$(PREFIX)) > $(DESTDIR)$(PREFIX)/lib/pkgconfig/attest.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/attest $(DESTDIR)$(PREFIX)/lib/libattest.a \
	  $(DESTDIR)$(PREFIX)/lib/libattest.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(SONAME) \
	  $(DESTDIR)$(PREFIX)/lib/libattest.so $(DESTDIR)$(PREFIX)/lib/pkgconfig/attest.pc
	rm -rf $(DESTDIR)$(PREFIX)/include/attest

format:
	clang-format -i $(LIB_SRC) $(ENGINE_SRC) $(CLI_SRC) $(UNIT_SRC) $(FUZZ_SRC) include/attest/*.h

clean:
	rm -rf $(BUILD)

# Regenerates the worked example of format/LOG.md section 12.
vectors: $(STATIC)
	@mkdir -p $(BUILD)
	$(CC) $(ALL_CFLAGS) -o $(BUILD)/make-example format/vectors/example.c $(STATIC) $(PKG_LIBS)
	$(BUILD)/make-example format/vectors
