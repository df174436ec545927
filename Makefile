# attest - one Makefile. Targets: all check sanitize fuzz bench demo install
# uninstall clean. Honours CC, CFLAGS, LDFLAGS, PREFIX, DESTDIR, BUILD, SHARED.

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
PKG_LIBS     = $(shell $(PKG_CONFIG) --libs $(PKGS)) -pthread -lm

WARN        := -std=c11 -Wall -Wextra -Wpedantic -Werror -Wshadow -Wstrict-prototypes
DEFS        := -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64 -DATTEST_VERSION_STRING=\"$(VERSION)\"
ALL_CFLAGS   = $(WARN) $(DEFS) -Iinclude -I. -pthread -fPIC -fvisibility=hidden $(PKG_CFLAGS) $(CFLAGS)
# The engine's results must be the same bits everywhere: no contraction of
# a*b+c into fused multiply-adds, no fast-math reassociation (ENGINE.md).
ENGINE_FP    = -ffp-contract=off -fno-fast-math
ENGINE_CFLAGS = $(WARN) -D_DEFAULT_SOURCE -Iengine -pthread -fPIC -fvisibility=hidden $(CFLAGS) $(ENGINE_FP)

LIB_SRC     := $(sort $(wildcard format/*.c attest/*.c verify/*.c))
ENGINE_SRC  := $(sort $(wildcard engine/*.c))
TOOL_SRC    := $(sort $(wildcard tests/tools/*.c))
CLI_SRC     := $(sort $(wildcard cli/*.c))
UNIT_SRC    := $(sort $(wildcard tests/unit/*.c))
FUZZ_SRC    := $(filter-out tests/fuzz/replay.c,$(sort $(wildcard tests/fuzz/*.c)))
BENCH_SRC   := $(sort $(wildcard bench/*.c))

LIB_OBJ     := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(ENGINE_SRC:%.c=$(BUILD)/obj/%.o)
TOOL_BIN    := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/tools/%)
CLI_OBJ     := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_BIN    := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/tests/fuzz/replay-%)
BENCH_BIN   := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
EXAMPLE_BIN := $(BUILD)/record_minimal $(BUILD)/train_gpt $(BUILD)/tests/forge_gpt

STATIC      := $(BUILD)/libattest.a
SHLIB       := $(BUILD)/libattest.so.$(VERSION)
SONAME      := libattest.so.$(SOVERSION)
CLI         := $(BUILD)/attest
PC          := $(BUILD)/attest.pc

.PHONY: all deps check tests sanitize fuzz bench demo install uninstall clean format vectors
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
  'Version: $(VERSION)' 'Requires.private: $(PKGS)' 'Libs: -L$${libdir} -lattest' 'Libs.private: -pthread -lm' \
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

tests: all $(UNIT_BIN) $(FUZZ_REPLAY) $(EXAMPLE_BIN) $(TOOL_BIN)

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
