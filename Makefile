# One entry point for both halves: the Java Emperor (Maven) and the Perl
# distribution (ExtUtils::MakeMaker). `make demo` and `make test` work on a
# fresh Debian 12 machine: `deps` installs whatever is missing.

SHELL       := /bin/bash
MVN         ?= mvn -B -q
PERL        ?= /usr/bin/perl
PROVE       ?= prove

# Debian packages the build, the tests and the demo need.
DEB_PACKAGES := \
	openjdk-17-jdk-headless maven gcc make perl \
	libplack-perl libhttp-message-perl libtest-tcp-perl libtest-pod-perl libhttp-parser-xs-perl \
	libplack-middleware-session-perl libdancer2-perl libmojolicious-perl libcatalyst-perl \
	libmoose-perl libdatetime-perl libtemplate-perl \
	nginx-light uwsgi-core uwsgi-plugin-psgi iproute2 postgresql \
	chromium chromium-driver prometheus

.PHONY: all deps build build-perl build-java test test-perl test-sanitize test-java test-cross test-tools test-example \
        dist disttest demo install clean

all: build

# $(call apt_install,PACKAGES): apt-get installs those not installed yet
# (as root directly, else through sudo); silent when nothing is missing.
define apt_install
@missing=$$(for p in $(1); do \
    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
  done); \
if [ -n "$$missing" ]; then \
  echo "installing Debian packages:" $$missing; \
  if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
  $$sudo apt-get update -qq && \
  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
fi
endef

deps:
	$(call apt_install,$(DEB_PACKAGES))

build: deps build-perl build-java

build-perl: perl/Makefile
	$(MAKE) -C perl

perl/Makefile: perl/Makefile.PL
	cd perl && $(PERL) Makefile.PL

build-java:
	$(MVN) -DskipTests package

test: build test-perl test-sanitize test-java test-example test-cross test-tools

test-perl:
	$(MAKE) -C perl test

# The Perl tests of the HTTP, uwsgi and fork-server paths against a private
# build of the XS and C with -fsanitize=address,undefined (perl/blib is not
# touched); any ASan or UBSan report fails it. About a minute.
test-sanitize:
	$(call apt_install,gcc libasan8 libubsan1)
	perl/tools/test-sanitize

# The CPAN tarball perl/Vassal-VERSION.tar.gz, from the files perl/MANIFEST
# lists (its tests carry their apps and a copy of ../shared/vectors).
dist: perl/Makefile
	$(MAKE) -C perl dist

# The tarball unpacked alone, built and tested there as a CPAN client would:
# about as long as test-perl. `make test` leaves it out: t/14perl_install.t
# (test-cross) already builds, tests and installs from the tarball.
disttest: deps perl/Makefile
	$(MAKE) -C perl disttest

# Unit tests (surefire) and integration tests against the Perl side (failsafe).
test-java:
	mvn -B --no-transfer-progress verify

# Cross-language tests: the Emperor CLI driving real psgi-vassal processes.
test-cross:
	$(PROVE) -r t/

# The demo stopped by Ctrl-C and by DEMO_SECONDS (it needs the demo's ports,
# 9081-9083, free), and the benchmark report rebuilt from a results.json.
test-tools:
	$(call apt_install,gnuplot-nox)
	$(PROVE) integration/bench/t integration/demo/t

# A Java host that uses only the library (no CLI), against the installed artifact.
test-example:
	$(MVN) -DskipTests install
	integration/java-host/run-example

demo: build
	integration/demo/run

install: build
	$(MAKE) -C perl install
	$(MVN) -DskipTests install

clean:
	-$(MVN) clean
	-[ -f perl/Makefile ] && $(MAKE) -C perl realclean

# ---------------------------------------------------------------------------
# Benchmarks (issue 6): integration/bench/run measures, then
# integration/bench/report writes the report from results.json alone. `bench`
# regenerates integration/bench/REPORT.md and its plots; `bench-quick` (< 3 min)
# writes its report under integration/bench/out/quick/.
BENCH_DEB_PACKAGES := wrk starman uwsgi-core uwsgi-plugin-psgi gnuplot-nox

.PHONY: bench bench-quick bench-deps bench-fleet

bench-deps:
	$(call apt_install,$(BENCH_DEB_PACKAGES))

bench: build bench-deps
	integration/bench/run
	$(MAKE) bench-fleet

# Issue 14: a fleet of 2 Emperors on a private PostgreSQL (insert -> serving,
# takeover after SIGKILL, 50 vassals); its table goes to integration/bench/out/fleet.md
bench-fleet: build
	mkdir -p integration/bench/out
	integration/bench/fleet --vassals 50 --out integration/bench/out/fleet.md

bench-quick: build bench-deps
	integration/bench/run --quick
