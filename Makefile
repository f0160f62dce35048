# berth: build everything into build/, `make check` runs every test.
CC ?= gcc
PKGS := jansson libseccomp libcap libarchive libcrypto libcurl libmnl libnftables libsystemd
# berth-runtime needs only these (it never touches images).
RT_PKGS := jansson libseccomp libcap
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE \
	  -fstack-protector-strong -Isrc $(shell pkg-config --cflags $(PKGS))
# Loaded on first use, not linked (src/lib/dl.h says why); the sonames
# come from the -dev packages' links so that the build names what it was
# compiled against.
DL_PKGS := libarchive libcrypto libcurl libnftables libsystemd
dl_soname = $(shell objdump -p $(shell pkg-config --variable=libdir $(1))/$(1).so | awk '/SONAME/ {print $$2}')
DL_DEFS := $(foreach p,$(DL_PKGS),-DBERTH_SONAME_$(shell echo $(p:lib%=%) | tr a-z A-Z)='"$(call dl_soname,$(p))"')
CFLAGS += $(DL_DEFS)
LDLIBS += $(shell pkg-config --libs $(filter-out $(DL_PKGS),$(PKGS)))
SAN ?=
ifneq ($(SAN),)
CFLAGS += -fsanitize=$(SAN) -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SAN)
endif
B ?= build

# make install: where the files go.  The installed binaries find their
# own files relative to themselves (<bindir>/../lib/berth), so a DESTDIR
# or another PREFIX works without a rebuild; PREFIX is also compiled in as
# the last place they look.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
SYSCONFDIR ?= /etc
CFLAGS += -DBERTH_PREFIX='"$(PREFIX)"'

# libberth, one archive per subsystem folder.  LAYER_DEPS_x lists what
# folder x may call (docs/architecture.md); $(B)/layers/x.ok links x's
# whole archive against those alone, so a call in the wrong direction is
# an undefined reference and fails the build.
LAYERS := base runtime image net vm engine monitor
LAYER_DEPS_base :=
LAYER_DEPS_runtime := base
LAYER_DEPS_image := base
LAYER_DEPS_net := base
LAYER_DEPS_vm := runtime net image base
LAYER_DEPS_engine := vm image net runtime base
LAYER_DEPS_monitor := engine vm image net runtime base
layer_obj = $(patsubst src/%.c,$(B)/obj/%.o,$(wildcard src/lib/$(1)/*.c))
layer_lib = $(B)/lib/libberth-$(1).a
layer_libs = $(foreach l,$(1),$(call layer_lib,$(l)))
LIB_ALL := $(call layer_libs,monitor engine vm image net runtime base)
LIB_OBJ := $(foreach l,$(LAYERS),$(call layer_obj,$(l)))
LAYER_OK := $(LAYERS:%=$(B)/layers/%.ok)
RT_SRC := $(wildcard src/runtime/*.c)
RT_OBJ := $(RT_SRC:src/%.c=$(B)/obj/%.o)
AGENT_SRC := $(wildcard src/agent/*.c)
AGENT_OBJ := $(AGENT_SRC:src/%.c=$(B)/obj/%.o)
CLI_SRC := $(wildcard src/cli/*.c)
CLI_OBJ := $(CLI_SRC:src/%.c=$(B)/obj/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

# VM isolation's guest: Debian's cloud kernel as unpacked by
# scripts/guest-kernel.sh (install-deps.sh runs it).  Without it, make
# builds everything else and berth says what is missing when asked for a VM.
GUEST_KERNEL_DIR ?= $(lastword $(sort $(wildcard /var/cache/berth/guest-kernel/*-cloud-amd64)))
VM_TARGETS := $(B)/berth-agent $(if $(GUEST_KERNEL_DIR),$(B)/vm/vmlinux $(B)/vm/initrd.img)

all: $(B)/berth-runtime $(B)/berth $(B)/images/busybox.tar $(LAYER_OK) $(B)/rootfs/busybox.stamp $(B)/tests/recvtty $(B)/tests/seccomp-listener $(B)/tests/unixcat $(B)/tests/udpecho $(B)/bench/tinyhttpd $(VM_TARGETS)

# -MMD: each object depends on the headers it includes, no more.
$(B)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

define layer_rules
$(call layer_lib,$(1)): $(call layer_obj,$(1))
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $$^
$(B)/layers/$(1).ok: $(call layer_lib,$(1)) $(call layer_libs,$(LAYER_DEPS_$(1))) $(B)/obj/layer-main.o
	@mkdir -p $$(dir $$@)
	@$(CC) $(LDFLAGS) -o $$(@:.ok=.check) $(B)/obj/layer-main.o -Wl,--whole-archive $$< -Wl,--no-whole-archive \
	  $(call layer_libs,$(LAYER_DEPS_$(1))) $(LDLIBS) \
	  || { echo "layering: src/lib/$(1) calls outside $(or $(LAYER_DEPS_$(1)),itself) (docs/architecture.md)"; exit 1; }
	@rm -f $$(@:.ok=.check) && touch $$@
endef
$(foreach l,$(LAYERS),$(eval $(call layer_rules,$(l))))

$(B)/obj/layer-main.o:
	@mkdir -p $(dir $@)
	echo 'int main (void) { return 0; }' | $(CC) $(CFLAGS) -x c -c -o $@ -

# Linked statically where the static libraries exist (Debian's -dev
# packages ship them): the runtime execs twice per container (the second
# time from its sealed copy), and skipping the dynamic loader saves about a
# third of a millisecond each time.  STATIC=0 links dynamically.
STATIC ?= $(if $(SAN),0,1)
ifeq ($(STATIC),1)
RT_LDLIBS := -static $(shell pkg-config --static --libs $(RT_PKGS))
else
RT_LDLIBS := $(shell pkg-config --libs $(RT_PKGS))
endif

# The debug info goes to a side file: the binary is copied into a memfd on
# every create/run/exec, and a smaller copy is a faster one.
# berth-runtime never touches images, the engine or the monitor: it links
# without them.
RT_LIBS := $(call layer_libs,vm image net runtime base)
$(B)/berth-runtime: $(RT_OBJ) $(RT_LIBS)
	$(CC) $(LDFLAGS) -o $@.full $(RT_OBJ) $(RT_LIBS) $(RT_LDLIBS)
	objcopy --only-keep-debug $@.full $@.debug
	objcopy --strip-all --add-gnu-debuglink=$@.debug $@.full $@
	rm -f $@.full

# The guest's PID 1: always static, there is no libc in the initramfs.
# The tar code cp, export, diff and commit of a running VM container need
# (image/pack, unpack, copy) is built again for it calling libarchive
# directly, linked statically with the compressors Debian ships as .a.
AGENT_LIBS := $(call layer_libs,vm net runtime base)
AGENT_TAR_OBJ := $(patsubst %,$(B)/obj/agent-tar/%.o,pack unpack copy)
AGENT_TAR_LIBS := -larchive -lnettle -lz -lbz2 -llzma
$(B)/obj/agent-tar/%.o: src/lib/image/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DBERTH_ARCHIVE_STATIC -MMD -MP -c -o $@ $<
$(B)/berth-agent: $(AGENT_OBJ) $(AGENT_TAR_OBJ) $(AGENT_LIBS)
	$(CC) -o $@ $(AGENT_OBJ) $(AGENT_TAR_OBJ) $(AGENT_LIBS) -static $(AGENT_TAR_LIBS) $(shell pkg-config --static --libs $(RT_PKGS))
	strip $@

$(B)/vm/vmlinuz: $(GUEST_KERNEL_DIR)/vmlinuz
	@mkdir -p $(dir $@)
	cp $< $@

# Uncompressed, booted through PVH: no self-decompression in the guest.
$(B)/vm/vmlinux: $(B)/vm/vmlinuz scripts/vmlinux.sh
	scripts/vmlinux.sh $< $@

$(B)/vm/initrd.img: $(B)/berth-agent scripts/mkinitramfs.sh
	@mkdir -p $(dir $@)
	scripts/mkinitramfs.sh $(B)/berth-agent $@ $(GUEST_KERNEL_DIR)/modules

# A minimal guest kernel (about 20 minutes on 2 cores; CI does not build
# it): berth run --isolation=vm --kernel build/vm-min ...
guest-kernel: $(B)/vm-min/vmlinux
$(B)/vm-min/vmlinux: vm/guest-kernel.config scripts/build-guest-kernel.sh $(B)/berth-agent
	scripts/build-guest-kernel.sh $(B)/vm-min

$(B)/berth: $(CLI_OBJ) $(LIB_ALL)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIB_ALL) $(LDLIBS)

# The built-in image's root filesystem, owned by root whoever builds it.
$(B)/images/busybox.tar: $(B)/rootfs/busybox.stamp
	@mkdir -p $(dir $@)
	tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C $(B)/rootfs/busybox -cf $@.tmp .
	mv $@.tmp $@

# A busybox-static root filesystem for the tests and the README's first command.
$(B)/rootfs/busybox.stamp: scripts/mkrootfs.sh
	scripts/mkrootfs.sh $(B)/rootfs/busybox
	touch $@

$(B)/tests/recvtty: tests/helpers/recvtty.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $<

# Static: they run inside containers and VMs.
$(B)/tests/unixcat: tests/helpers/unixcat.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -static -o $@ $<

$(B)/bench/tinyhttpd: bench/tinyhttpd.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -static -o $@ $<

$(B)/tests/udpecho: tests/helpers/udpecho.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -static -o $@ $<

$(B)/tests/seccomp-listener: tests/helpers/seccomp-listener.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< -lseccomp

$(B)/tests/%: tests/unit/%.c $(LIB_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_ALL) $(LDLIBS) -lcmocka

# libFuzzer targets (tests/fuzz), built by clang with ASan and UBSan in a
# build directory of their own; each runs FUZZ_SECONDS from its seed corpus.
FUZZ_B ?= build-fuzz
FUZZ_SECONDS ?= 30
FUZZ_CC ?= clang-14
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
fuzz:
	$(MAKE) -s B=$(FUZZ_B) CC=$(FUZZ_CC) SAN=address,undefined,fuzzer-no-link STATIC=0 $(FUZZ_TARGETS:%=$(FUZZ_B)/fuzz/%)
	@scripts/run-fuzz.sh $(FUZZ_B) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

$(B)/fuzz/%: tests/fuzz/%.c $(LIB_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -fsanitize=fuzzer -o $@ $< $(LIB_ALL) $(LDLIBS)

unit: $(UNIT_BIN)
	@scripts/run-unit.sh $(UNIT_BIN)

e2e: all
	@scripts/run-e2e.sh

# The OCI runtime-tools conformance suite (../shared/oci-validation).
validate: all
	@scripts/run-validation.sh

# The process-isolation suites and OCI validation inside a booted Debian 12
# host with systemd and cgroup v2 only (scripts/check-hosts.sh).
check-hosts: all
	@scripts/check-hosts.sh

# Every test: make check, then make check-hosts; one closing line.
check-all: all
	@scripts/check-all.sh

# Every test: unit, end to end, OCI conformance.  The last line sums them.
check: all
	@scripts/check.sh

demo: all
	@scripts/demo.sh

clean:
	rm -rf $(B) build-fuzz build-asan

# The host config is installed only where none exists (a user's is kept),
# and uninstall removes it only while it is the sample unchanged.
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/berth $(DESTDIR)$(DATADIR)/berth \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DATADIR)/bash-completion/completions \
	  $(DESTDIR)$(SYSCONFDIR)/berth
	install -m 0755 $(B)/berth $(B)/berth-runtime $(DESTDIR)$(BINDIR)/
	@# berth-runtime under this name defaults to VM isolation (a BinaryName for containerd's runc shim).
	ln -sf berth-runtime $(DESTDIR)$(BINDIR)/berth-runtime-vm
	install -m 0755 $(B)/berth-agent $(DESTDIR)$(LIBDIR)/berth/
	@# QEMU runs as an unprivileged uid (its jail): the guest's files are world-readable.
	if [ -e $(B)/vm/initrd.img ]; then \
	  install -d $(DESTDIR)$(LIBDIR)/berth/vm && \
	  install -m 0644 $(B)/vm/vmlinux $(B)/vm/initrd.img $(DESTDIR)$(LIBDIR)/berth/vm/; \
	else echo "install: no guest kernel built (scripts/guest-kernel.sh): VM isolation will need BERTH_VM_DIR"; fi
	install -m 0644 $(B)/images/busybox.tar $(DESTDIR)$(DATADIR)/berth/
	install -m 0644 etc/config.json $(DESTDIR)$(DATADIR)/berth/config.json.sample
	[ -e $(DESTDIR)$(SYSCONFDIR)/berth/config.json ] || install -m 0644 etc/config.json $(DESTDIR)$(SYSCONFDIR)/berth/config.json
	install -m 0644 man/berth.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/berth-runtime.8 $(DESTDIR)$(MANDIR)/man8/
	install -d $(DESTDIR)$(LIBDIR)/systemd/system
	sed 's|@BINDIR@|$(BINDIR)|' etc/berth-restart.service.in > $(DESTDIR)$(LIBDIR)/systemd/system/berth-restart.service
	install -m 0644 completions/berth $(DESTDIR)$(DATADIR)/bash-completion/completions/berth
	ln -sf berth $(DESTDIR)$(DATADIR)/bash-completion/completions/berth-runtime
	ln -sf berth $(DESTDIR)$(DATADIR)/bash-completion/completions/berth-runtime-vm

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/berth $(DESTDIR)$(BINDIR)/berth-runtime $(DESTDIR)$(BINDIR)/berth-runtime-vm \
	  $(DESTDIR)$(LIBDIR)/berth/berth-agent \
	  $(DESTDIR)$(LIBDIR)/berth/vm/vmlinux $(DESTDIR)$(LIBDIR)/berth/vm/initrd.img \
	  $(DESTDIR)$(DATADIR)/berth/busybox.tar $(DESTDIR)$(MANDIR)/man1/berth.1 $(DESTDIR)$(MANDIR)/man8/berth-runtime.8 \
	  $(DESTDIR)$(DATADIR)/bash-completion/completions/berth $(DESTDIR)$(DATADIR)/bash-completion/completions/berth-runtime \
	  $(DESTDIR)$(DATADIR)/bash-completion/completions/berth-runtime-vm \
	  $(DESTDIR)$(LIBDIR)/systemd/system/berth-restart.service
	if cmp -s $(DESTDIR)$(SYSCONFDIR)/berth/config.json $(DESTDIR)$(DATADIR)/berth/config.json.sample; then \
	  rm -f $(DESTDIR)$(SYSCONFDIR)/berth/config.json; rmdir $(DESTDIR)$(SYSCONFDIR)/berth 2>/dev/null || true; fi
	rm -f $(DESTDIR)$(DATADIR)/berth/config.json.sample
	-rmdir $(DESTDIR)$(LIBDIR)/berth/vm $(DESTDIR)$(LIBDIR)/berth $(DESTDIR)$(DATADIR)/berth \
	  $(DESTDIR)$(LIBDIR)/systemd/system $(DESTDIR)$(LIBDIR)/systemd 2>/dev/null

# A Debian package of the same install (PREFIX=/usr), built with
# dpkg-buildpackage from debian/; the .deb lands in $(B)/deb.
deb:
	scripts/make-deb.sh $(B)/deb

format:
	clang-format -i $(shell find src -name '*.[ch]') tests/unit/*.c

.PHONY: guest-kernel all unit e2e validate check check-hosts check-all demo clean format fuzz install uninstall deb
