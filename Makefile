# sealpost — GNU Make build.
#   make            build/sealpost (release flags)
#   make SAN=1      the same binary built with ASan + UBSan
#   make test       unit tests (cmocka, sanitized), protocol tests (pytest
#                   against the sanitized binary), short fuzz runs; the last
#                   line is "N passed, M failed"
#   make run        demo server under demo/
#   make bench      SMTP load benchmark; BENCH_ARGS=--peers: beside Postfix
#                   and Dovecot; BENCH=imap_resync ... (bench/README.md)
#   make bench-outbound  outbound relaying beside Postfix (bench/README.md)
#   make fuzz       every libFuzzer harness for FUZZ_SECONDS each (default 60)
#                   on its persistent corpus build/fuzz-corpus/; figures per
#                   harness; fails when one crashed (make fuzz-build: build only)

CC      ?= gcc
PYTHON  ?= /usr/bin/python3
PKGS    := openssl libevent inih libcrypt libunbound zlib

CSTD    := -std=c17 -D_GNU_SOURCE
WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
           -Wmissing-prototypes -Wno-unused-parameter
OPT     ?= -O2 -g
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread

ifeq ($(SAN),1)
  VARIANT := san
  XFLAGS  := $(SANFLAGS) -O1 -g
else
  VARIANT := rel
  XFLAGS  := $(OPT) -D_FORTIFY_SOURCE=2 -fstack-protector-strong
endif

CFLAGS_ALL = $(CSTD) $(WARN) $(XFLAGS) -Isrc $(PKG_CFLAGS) $(CFLAGS)
LDFLAGS_ALL = $(XFLAGS) $(LDFLAGS)

OBJDIR  := build/obj-$(VARIANT)
# Every .c under src/ except unit tests (test_*.c) and fuzz entry points.
SRCS    := $(shell find src -name '*.c' ! -name 'test_*.c' | sort)
LIBSRCS := $(filter-out src/main.c,$(SRCS))
OBJS    := $(SRCS:%.c=$(OBJDIR)/%.o)
LIBOBJS := $(LIBSRCS:%.c=$(OBJDIR)/%.o)
TESTSRCS := $(shell find src -name 'test_*.c' | sort)
TESTBINS := $(patsubst src/%.c,build/unit/%,$(TESTSRCS))

.PHONY: all clean test test-build unit run deps fuzz fuzz-build bench bench-outbound
all: build/sealpost

# The binary records the variant it was built as, so switching SAN relinks.
build/.variant-$(VARIANT):
	@mkdir -p build && rm -f build/.variant-* && touch $@

build/sealpost: $(OBJS) build/.variant-$(VARIANT)
	$(CC) $(LDFLAGS_ALL) -o $@ $(OBJS) $(PKG_LIBS)

$(OBJDIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

-include $(OBJS:.o=.d)

# ---- unit tests: always sanitized ------------------------------------------
SANOBJDIR := build/obj-san
SANLIBOBJS := $(LIBSRCS:%.c=$(SANOBJDIR)/%.o)

$(SANOBJDIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(SANFLAGS) -O1 -g -Isrc $(PKG_CFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

build/unit/%: src/%.c $(SANLIBOBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(SANFLAGS) -O1 -g -Isrc $(PKG_CFLAGS) $(CFLAGS) -o $@ $< \
	    $(SANLIBOBJS) $(PKG_LIBS) $(shell pkg-config --libs cmocka)

-include $(SANLIBOBJS:.o=.d)

# The sanitized server binary the protocol tests run against.
build/san/sealpost: $(SANLIBOBJS) $(SANOBJDIR)/src/main.o
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(PKG_LIBS)

$(SANOBJDIR)/src/main.o: src/main.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(SANFLAGS) -O1 -g -Isrc $(PKG_CFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

unit: $(TESTBINS)

# ---- fuzz harnesses (clang + libFuzzer) -----------------------------------
FUZZSRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZBINS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZSRCS))
FUZZOBJDIR := build/obj-fuzz
FUZZCFLAGS := $(CSTD) -Wall -Wextra -Werror -Wno-unused-parameter -g -O1 \
              -fsanitize=fuzzer-no-link,address,undefined -Isrc $(PKG_CFLAGS)
FUZZLIBOBJS := $(LIBSRCS:%.c=$(FUZZOBJDIR)/%.o)

$(FUZZOBJDIR)/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZCFLAGS) -MMD -MP -c -o $@ $<

build/fuzz/%: tests/fuzz/%.c $(FUZZLIBOBJS)
	@mkdir -p $(dir $@)
	clang $(FUZZCFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZLIBOBJS) $(PKG_LIBS)

-include $(FUZZLIBOBJS:.o=.d)
# Only pattern rules name them: without this make deletes them as
# intermediates after every link, and the next run rebuilds them all.
.SECONDARY: $(FUZZLIBOBJS) $(SANLIBOBJS)

fuzz-build: $(FUZZBINS)

# make fuzz FUZZ_SECONDS=300 [FUZZ_TARGETS="fuzz_smtp fuzz_pop3"]
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
fuzz: fuzz-build
	@$(PYTHON) tests/fuzz/run_fuzz.py --seconds $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# ---- entry points -----------------------------------------------------------
# test and run first install missing Debian packages, then re-enter make so
# that pkg-config sees them.
deps:
	@scripts/install-deps.sh

# The builds of make test (release, sanitized, fuzz) on every core.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

test: deps
	@$(MAKE) --no-print-directory -j$(JOBS) test-build
	@$(PYTHON) tests/run.py

test-build: build/sealpost build/san/sealpost unit fuzz-build \
            build/tests/keyupdate_client

# The TLS 1.3 client of test_abuse's KeyUpdate test: OpenSSL only.
build/tests/keyupdate_client: tests/proto/keyupdate_client.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) -O2 -g $(shell pkg-config --cflags openssl) $(CFLAGS) \
	    -o $@ $< $(shell pkg-config --libs openssl)

run: deps
	@$(MAKE) --no-print-directory build/sealpost
	@scripts/demo.sh

# The benchmarks (measurements, not part of make test): bench/$(BENCH).py,
# the SMTP load by default. Options go in BENCH_ARGS, e.g.
# make bench BENCH_ARGS="-n 100 --mode implicit" or BENCH_ARGS=--suite,
# BENCH_ARGS=--peers (sealpost beside Postfix and Dovecot, driven by the C
# load generator); make bench BENCH=imap_resync BENCH_ARGS="--messages 10000"
# (IMAP resync with QRESYNC against a full sync); see bench/README.md.
BENCH ?= smtp_load
BENCH_ARGS ?=
bench: build/sealpost build/bench/loadgen build/bench/tls_floor
	@$(PYTHON) bench/$(BENCH).py $(BENCH_ARGS)

# Outbound throughput beside Postfix, both relaying to smtp-sink (root:
# Postfix's master must be started by root); bench/README.md.
bench-outbound: deps
	@$(MAKE) --no-print-directory build/sealpost
	@$(PYTHON) bench/outbound_bench.py $(BENCH_ARGS)

# The load generator of the peers benchmark: OpenSSL + libevent, no sealpost
# code, always release flags.
LOADGEN_PKGS := openssl libevent libevent_openssl libevent_pthreads
build/bench/loadgen: bench/loadgen.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) -O2 -g -D_FORTIFY_SOURCE=2 -fstack-protector-strong \
	    $(shell pkg-config --cflags $(LOADGEN_PKGS)) $(CFLAGS) -o $@ $< \
	    $(shell pkg-config --libs $(LOADGEN_PKGS)) -lpthread

# OpenSSL's own cost per server handshake, with no socket or sealpost code
# (bench/handshakes.py prints it beside the server's).
build/bench/tls_floor: bench/tls_floor.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) -O2 -g $(shell pkg-config --cflags openssl) $(CFLAGS) \
	    -o $@ $< $(shell pkg-config --libs openssl)

clean:
	rm -rf build
