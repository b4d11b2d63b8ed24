#!/usr/bin/perl
# The demo, stopped as a newcomer stops it: Ctrl-C typed on a terminal while
# `make demo` runs (make runs integration/demo/run, as the top-level Makefile
# does), and DEMO_SECONDS. Each way must end with status 0, no "make: ***"
# line, the Emperor told SIGINT, and nothing it started left: no process, no
# listening port, no temp dir. The terminal is a pty from script(1)
# (util-linux, in every Debian); typing ^C into it makes the kernel send
# SIGINT to the foreground process group, as a real terminal does.
#
# The demo's ports are fixed (9081-9083): the test fails at once, naming
# them, if something else listens there.
#
#   prove integration/demo/t/
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Temp qw(tempdir);
use FindBin;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(sleep time);

my $ROOT = abs_path("$FindBin::RealBin/../../..");
my $RUN = "$ROOT/integration/demo/run";
my @PORTS = (9081, 9082, 9083);
-f "$ROOT/target/emperor.jar" && -x "$ROOT/perl/bin/psgi-vassal"
    or BAIL_OUT("no target/emperor.jar or perl/bin/psgi-vassal: run 'make build' first");
for my $p (@PORTS) {
    BAIL_OUT("127.0.0.1:$p is in use: the demo needs 9081-9083") if listening($p);
}

my $TMP = tempdir('demo-stop-t.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my @started;    # [pid, what] of everything a case started, for the final guard
END { kill 'KILL', map { $_->[0] } grep { alive($_->[0]) } @started }
$SIG{$_} = sub { exit 1 } for qw(INT TERM HUP);    # through END, and File::Temp's cleanup

sub listening {
    my ($port) = @_;
    return IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 1) ? 1 : 0;
}

sub alive { my ($pid) = @_; open my $fh, '<', "/proc/$pid/stat" or return 0; (split ' ', <$fh>)[2] ne 'Z' }

sub http_200 {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 2) or return 0;
    print {$s} "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    my $line = <$s> // '';
    return $line =~ m{^HTTP/1\.[01] 200\b};
}

sub wait_until {
    my ($timeout, $cond) = @_;
    my $end = time + $timeout;
    while (time < $end) { return 1 if $cond->(); sleep 0.1 }
    return $cond->();
}

# Every process below $pid (by /proc ppid), $pid first.
sub tree {
    my ($root) = @_;
    my %kids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $s = <$fh> // next;
        my ($pid, $ppid) = $s =~ /^(\d+) \(.*\) \S+ (\d+)/s or next;
        push @{ $kids{$ppid} }, $pid;
    }
    my @out = ($root);
    for (my $i = 0; $i < @out; $i++) { push @out, @{ $kids{ $out[$i] } || [] } }
    return @out;
}

# Starts @cmd with its stdin on a pipe (returned) and stdout+stderr into $log.
sub start {
    my ($log, $env, @cmd) = @_;
    pipe(my $rd, my $wr) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $wr;
        open STDIN, '<&', $rd or die;
        open STDOUT, '>', $log or die;
        open STDERR, '>&', \*STDOUT or die;
        $ENV{$_} = $env->{$_} for keys %$env;
        exec @cmd or POSIX::_exit(127);
    }
    close $rd;
    $wr->autoflush(1);
    push @started, [$pid, "@cmd"];
    return ($pid, $wr);
}

sub wait_exit {
    my ($pid, $timeout) = @_;
    my $st;
    wait_until($timeout, sub { my $w = waitpid($pid, WNOHANG); $st = $? if $w == $pid; $w == $pid || $w < 0 })
        or return undef;
    return $st;
}

sub slurp { open my $fh, '<', $_[0] or return ''; local $/; <$fh> }

# One case: the demo up (three vassals answering 200), then stopped by
# $stop->(); afterwards everything must be gone.
sub demo_case {
    my ($name, %a) = @_;
    my $tmpdir = tempdir("$name.XXXXXX", DIR => $TMP);    # the demo's VASSAL_RUNDIR goes in here
    my $log = "$TMP/$name.log";
    my ($pid, $stdin) = start($log, { TMPDIR => $tmpdir, %{ $a{env} || {} } }, @{ $a{cmd} });
    my $up = wait_until(90, sub { !grep { !http_200($_) } @PORTS });
    ok($up, "$name: the three demo vassals answer 200 on 9081-9083") or diag slurp($log);
    my @tree = tree($pid);
    cmp_ok(scalar @tree, '>=', 8, "$name: the demo runs its Emperor and vassals (" . scalar(@tree) . ' processes)');
    push @started, map { [$_, "$name tree"] } @tree[1 .. $#tree];
    $a{stop}->($stdin);
    my $st = wait_exit($pid, 40);
    ok(defined $st, "$name: the demo ended within 40 s") or return;
    my $out = slurp($log);
    is($st, 0, "$name: exit status 0") or diag $out;
    unlike($out, qr/make(?:\[\d+\])?: \*\*\*/, "$name: no 'make: ***' line");
    like($out, qr/SIGINT received/, "$name: the Emperor was told SIGINT");
    like($out, qr/all vassals stopped/, "$name: the Emperor stopped every vassal in order");
    is_deeply([grep { alive($_) } @tree], [], "$name: none of its processes is left");
    is_deeply([grep { listening($_) } @PORTS], [], "$name: nothing listens on 9081-9083 any more");
    is_deeply([glob "$tmpdir/*"], [], "$name: its temp dir (the fork-server socket) is removed");
    close $stdin;
}

# `make demo`: the top-level Makefile's recipe, in a makefile of its own (the
# real target builds first, which is not what is tested here).
my $mk = "$TMP/Makefile";
open my $fh, '>', $mk or die;
print {$fh} "demo:\n\t$RUN\n";
close $fh;

demo_case('ctrl-c', cmd => ['script', '-q', '-e', '-c', "exec make -f $mk demo", '/dev/null'],
          stop => sub { print {$_[0]} "\x03" });
demo_case('demo-seconds', cmd => [$RUN], env => { DEMO_SECONDS => 20 }, stop => sub {});

# (under timeout(1): a demo that took them for no option would run on)
my $help = `timeout 30 $RUN --help`;
is($?, 0, '--help: exit status 0');
like($help, qr/DEMO_SECONDS=N/, '--help documents DEMO_SECONDS');
my $bad = `DEMO_SECONDS=soon timeout 30 $RUN 2>&1`;
is($? >> 8, 2, 'DEMO_SECONDS=soon: exit status 2');
like($bad, qr/DEMO_SECONDS must be a positive number of seconds, not 'soon'/, 'DEMO_SECONDS=soon: named in the error');

done_testing;
