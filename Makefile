# Plain GNU Makefile. `make` builds the release binaries; `make BUILD=asan` builds the
# sanitizer variant used by `make test`. Objects and binaries go to build/$(BUILD)/.
BUILD ?= release
O ?= build/$(BUILD)

CC ?= cc
PKGS := libmariadb json-c libsodium libmicrohttpd libwebsockets
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wformat=2 -Wno-format-nonliteral -Wvla
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Ishared -Iapi -Inotify $(WARN) $(PKG_CFLAGS) $(CURL_CFLAGS) -MMD -MP -g
ifeq ($(BUILD),asan)
  OPT := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
  LDOPT := -fsanitize=address,undefined
else ifeq ($(BUILD),fuzz)
  # libFuzzer targets (clang): `make fuzz` builds with CC=clang.
  OPT := -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
  LDOPT := -fsanitize=fuzzer,address,undefined
else
  OPT := -O2 -D_FORTIFY_SOURCE=2 -fstack-protector-strong
  LDOPT :=
endif
CFLAGS := $(CFLAGS_BASE) $(OPT) $(EXTRA_CFLAGS)
LDFLAGS := $(LDOPT) $(EXTRA_LDFLAGS)
LIBS := $(PKG_LIBS) -lfcgi -lpthread -lm
# libcurl (OpenSSL flavour) for chat-notify's webhook POSTs only.
CURL_CFLAGS := $(shell pkg-config --cflags libcurl 2>/dev/null)
CURL_LIBS := $(shell pkg-config --libs libcurl 2>/dev/null)

SHARED_SRC := $(wildcard shared/*.c)
API_SRC := $(filter-out api/main_fcgi.c,$(wildcard api/*.c))
PUSH_SRC := $(filter-out push/main.c,$(wildcard push/*.c))
NOTIFY_SRC := $(filter-out notify/main.c,$(wildcard notify/*.c))
LOADGEN_SRC := $(wildcard bench/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)

SHARED_OBJ := $(SHARED_SRC:%.c=$(O)/%.o)
API_OBJ := $(API_SRC:%.c=$(O)/%.o)
PUSH_OBJ := $(PUSH_SRC:%.c=$(O)/%.o)
NOTIFY_OBJ := $(NOTIFY_SRC:%.c=$(O)/%.o)
LOADGEN_OBJ := $(LOADGEN_SRC:%.c=$(O)/%.o)

BINS := $(O)/chat-api $(O)/chat-httpd $(O)/chat-push $(O)/chat-notify $(O)/chatctl
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(O)/tests/%)
FUZZ_BINS := $(patsubst fuzz/%.c,$(O)/%,$(wildcard fuzz/fuzz_*.c))

.PHONY: all deps run test unit unit-bins e2e bench fuzz fuzz-bins deb clean help
all: $(BINS)

help:
	@echo "make run     install missing packages, build, start a private MariaDB and serve on 127.0.0.1"
	@echo "make test    install, build with ASan+UBSan, run unit, end-to-end and browser suites"
	@echo "make unit    build and run the cmocka unit tests only"
	@echo "make e2e     run the end-to-end suites only (BUILD=asan by default in make test)"
	@echo "make bench   run the benchmarks and print a table"
	@echo "make fuzz    build the libFuzzer targets in fuzz/ with clang and run each for FUZZ_SECONDS (60)"
	@echo "make deb     build the Debian package chat-server into build/deb/ (dpkg-buildpackage)"
	@echo "make clean   remove build/"

deps:
	@scripts/install-deps.sh

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(O)/libchatshared.a: $(SHARED_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(O)/libchatapi.a: $(API_OBJ)
	@rm -f $@
	ar rcs $@ $^

# Everything of chat-push but its main(), so unit tests and fuzz targets link the code.
$(O)/libchatpush.a: $(PUSH_OBJ)
	@rm -f $@
	ar rcs $@ $^

# Everything of chat-notify but its main(), for the unit tests.
$(O)/libchatnotify.a: $(NOTIFY_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(O)/chat-api: $(O)/api/main_fcgi.o $(O)/libchatapi.a $(O)/libchatshared.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(O)/chat-httpd: $(O)/httpd/main_httpd.o $(O)/libchatapi.a $(O)/libchatshared.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(O)/chat-push: $(O)/push/main.o $(O)/libchatpush.a $(O)/libchatshared.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(O)/chat-notify: $(O)/notify/main.o $(O)/libchatnotify.a $(O)/libchatshared.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(CURL_LIBS)

$(O)/chatctl: $(O)/ctl/chatctl.o $(O)/libchatshared.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# The benchmark's load generator: built by `make bench`, not by `all` or `make test`.
$(O)/chat-loadgen: $(LOADGEN_OBJ) $(O)/libchatshared.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -lev

$(O)/tests/%: $(O)/tests/unit/%.o $(O)/libchatpush.a $(O)/libchatnotify.a $(O)/libchatapi.a $(O)/libchatshared.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(CURL_LIBS) -lcmocka

$(O)/fuzz_%: $(O)/fuzz/fuzz_%.o $(O)/libchatpush.a $(O)/libchatapi.a $(O)/libchatshared.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

fuzz-bins: $(FUZZ_BINS)

fuzz:
	@scripts/install-deps.sh --fuzz
	@$(MAKE) --no-print-directory BUILD=fuzz CC=clang fuzz-bins
	@scripts/fuzz.sh

unit-bins: $(UNIT_BINS)

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

run: deps
	@$(MAKE) --no-print-directory BUILD=release all
	@scripts/run.sh

test: deps
	@$(MAKE) --no-print-directory BUILD=asan all unit-bins
	@$(MAKE) --no-print-directory BUILD=fuzz CC=clang fuzz-bins
	@scripts/test.sh

e2e:
	@scripts/test.sh --e2e-only

bench: deps
	@$(MAKE) --no-print-directory BUILD=release all build/release/chat-loadgen
	@scripts/bench.sh

deb: deps
	@scripts/build-deb.sh

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
