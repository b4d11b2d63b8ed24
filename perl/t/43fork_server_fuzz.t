# Fuzzes a running fork server with at least 100,000 random and mutated
# packets (the shared vectors, plus truncated, oversized pktsize, wrong
# modifier1, zero / nine+ descriptors, mask/descriptor-count mismatch,
# garbage argv, random bytes) and checks that it refuses every one without
# forking, logs one refusal per connection, keeps its descriptor count, and
# still adopts a valid request that then serves HTTP 200. Separately: a
# non-socket Emperor "pipe" (/dev/null, a pipe) is refused, and valid packets
# whose argv is a bad vassal config are forked (the vassal fails in its own
# process) without hurting the server.
#
# How "nothing was forked" is proven: the fork server runs as init of its own
# PID namespace (unshare --pid), where pids are handed out strictly in
# sequence. A probe request (valid packet, bad config) just before the fuzz
# gets pid P0 (the grandchild) in its reply; the first valid request after it
# must get P0 + 2 (first child, grandchild). Any fork in between - by the
# server, its children, anything in its namespace - shifts that number.
# Without PID namespaces (no CAP_SYS_ADMIN) the test falls back to counting
# the grandchildren that re-parent to it as a subreaper plus /proc sampling,
# which is weaker (a first child that dies before forking could be missed)
# and says so.
#
# FUZZ_PACKETS (default 100000) and FUZZ_SEED override the count and seed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use VassalTest;
use Vassal::XS;
use Socket qw(AF_UNIX SOCK_STREAM pack_sockaddr_un);
use POSIX ();
use Time::HiRes qw(time sleep);

Vassal::XS::set_child_subreaper(1);

my $N = $ENV{FUZZ_PACKETS} // 100_000;
my $SEED = $ENV{FUZZ_SEED} // (time * 1000 % 2**31);
srand $SEED;
diag "fuzz seed $SEED (FUZZ_SEED=$SEED reproduces the packet sequence), $N packets";

my $hello = test_app('hello.psgi');
my $dir = tempdir();
my $sock = "$dir/fork.sock";
my $log = "$dir/base.log";

# --- start the fork server, in its own PID namespace if we may
my $use_ns = system('unshare --pid --fork --kill-child true >/dev/null 2>&1') == 0;
diag $use_ns ? 'exact fork count: the fork server runs as init of a new PID namespace'
             : 'no PID namespaces here: falling back to subreaper counting and /proc sampling (weaker)';
my ($emperor, $v) = emperor_pair();
my @cmd = ($^X, psgi_vassal(), '--fork-server', $sock, '--early-psgi', $hello);
unshift @cmd, qw(unshare --pid --fork --kill-child) if $use_ns;
my $launcher = spawn_vassal(cmd => \@cmd, emperor => $v, stderr => $log);
close $v;
is_deeply [read_bytes($emperor, 2, 30)], [1, 17], 'the fork server is ready (1) and loyal (17)'
    or BAIL_OUT('fork server did not start: ' . slurp($log));
my $server = $launcher;
if ($use_ns) {
    ($server) = children_of($launcher);
    ok $server, "the fork server's pid outside its namespace: " . ($server // 'none');
    like slurp("/proc/$server/status"), qr/^NSpid:\s+$server\s+1$/m, 'it is pid 1 of its namespace';
}

# Live (non-zombie) processes below the server.
sub live_below { grep { process_alive($_) } descendants_of($server) }
sub refusals   { scalar(() = slurp($log) =~ /\] refused request/g) }
sub adoptions  { scalar(() = slurp($log) =~ /\] adopting: /g) }
sub settle     { my $deadline = time + 15; sleep 0.05 while live_below() && time < $deadline; return !live_below() }

# --- the probe: a valid packet with a bad config is forked; its grandchild replies, then fails
my @bad_config_argv = ([psgi_vassal(), '--no-such-option-for-fuzz', '1']);
my ($pe, $pv) = emperor_pair();
my ($p0, $perr) = fork_request($sock, 0x01, $bad_config_argv[0], [fileno $pv]);
close $pv;
like $p0, qr/\A[0-9]+\z/, "probe (valid packet, bad config) is forked: reply pid $p0" or diag $perr, slurp($log);
is_deeply [read_bytes($pe, 1, 20)], [], 'the probe vassal fails and goes away (EOF on its Emperor pipe)';
ok settle(), 'nothing left running below the server';
like slurp($log), qr/unknown option.*no-such-option-for-fuzz|no-such-option-for-fuzz.*unknown/i, 'the probe vassal logs its bad option';

my $fd_before = fd_count($server);
ok $fd_before, "fork server descriptors before the fuzz: $fd_before";
my $refused_before = refusals();
my $adopted_before = adoptions();

# --- the packets
sub vector {
    my $path = vectors_dir() . "/$_[0]";
    open my $fh, '<:raw', $path or die "vector $path: $!";
    local $/;
    return scalar <$fh>;
}
my @vectors = map { vector($_) } qw(request-ini.bin request-config-ondemand.bin bad-truncated-body.bin
                                    bad-item-overruns.bin bad-modifier1.bin config-packet.bin response-pid.bin);
ok @vectors == 7, 'the shared vectors from ' . vectors_dir();

# Would the fork server (PROTOCOL.md section 3) fork for these bytes sent
# with $nfds descriptors, the connection closed after them? An independent
# reading of the contract, not the server's code.
sub would_fork {
    my ($bytes, $nfds) = @_;
    return 0 if length $bytes < 4;
    my ($m1, $size, $m2) = unpack 'C v C', $bytes;
    return 0 if length($bytes) < 4 + $size;    # EOF mid-packet
    return 0 unless $m1 == 35;
    return 0 unless $m2 & 1 and !($m2 & ~7);
    my $want = 0;
    $m2 & $_ and $want++ for 1, 2, 4;
    return 0 unless $nfds >= 1 && $nfds <= 8 && $nfds == $want;
    my $body = substr $bytes, 4, $size;
    my ($off, $items) = (0, 0);
    while ($off < $size) {
        return 0 if $off + 2 > $size;
        my $len = unpack 'v', substr $body, $off, 2;
        $off += 2 + $len;
        return 0 if $off > $size;
        $items++;
    }
    return $items > 0;
}

sub rbytes { join '', map { chr int rand 256 } 1 .. $_[0] }
sub argv_packet {
    my ($m1, $m2, @argv) = @_;
    my $body = join '', map { pack('v', length) . $_ } @argv;
    return pack('C v C', $m1, length $body, $m2) . $body;
}
sub random_argv { map { rbytes(int rand 40) } 1 .. 1 + int rand 5 }
sub valid_packet { argv_packet(35, 1, psgi_vassal(), '--ini', "$dir/" . rbytes(1 + int rand 10) . '.ini') }

sub mutate {
    my ($b) = @_;
    for (1 .. 1 + int rand 4) {
        my $r = rand;
        my $p = int rand(length($b) + 1);
        if    ($r < 0.35 && length $b) { my $i = int rand length $b; substr($b, $i, 1) = chr(ord(substr $b, $i, 1) ^ (1 << int rand 8)) }
        elsif ($r < 0.55) { substr($b, $p, 0) = rbytes(1 + int rand 8) }
        elsif ($r < 0.75 && length $b) { substr($b, $p, 1 + int rand 8) = '' }
        elsif ($r < 0.85 && length $b >= 4) { substr($b, 1, 2) = pack 'v', int rand 65536 }
        elsif ($r < 0.95 && length $b >= 4) { substr($b, 0, 1) = chr int rand 256 }
        else  { substr($b, 3, 1) = chr int rand 256 if length $b >= 4 }
    }
    return $b;
}

# Each generator returns ($class, $bytes, $nfds); $bytes must not be a
# would-fork request (checked below: such a draw is sent without descriptors).
my @gen = (
    [vectors     => 8, sub { ($vectors[rand @vectors], int rand 3) }],
    [mutated     => 30, sub { (mutate($vectors[rand @vectors]), int rand 3) }],
    [truncated   => 10, sub { my $p = valid_packet(); (substr($p, 0, int rand length $p), 1) }],
    [oversized   => 8, sub { my $p = valid_packet(); my $more = 1 + int rand(65535 - length($p) + 4);
                             substr($p, 1, 2) = pack 'v', length($p) - 4 + $more; ($p, 1) }],
    [modifier1   => 6, sub { my $m; $m = int rand 256 until defined $m && $m != 35;
                             (argv_packet($m, 1, psgi_vassal(), '--ini', 'x.ini'), 1) }],
    [no_fds      => 6, sub { (valid_packet(), 0) }],
    [many_fds    => 5, sub { (valid_packet(), 9 + int rand 12) }],
    [mask        => 8, sub { my @bad = ([0, 1], [2, 1], [4, 1], [8, 1], [0xff, 1], [3, 1], [5, 1], [7, 2], [1, 2], [1, 3], [3, 3], [0x81, 1]);
                             my ($m, $n) = @{ $bad[rand @bad] }; (argv_packet(35, $m, psgi_vassal(), '--ini', 'x.ini'), $n) }],
    [garbage_argv => 10, sub { my $body = rbytes(int rand 300); (pack('C v C', 35, length $body, 1) . $body, 1) }],
    [item_overrun => 4, sub { my @a = random_argv(); my $p = argv_packet(35, 1, @a);
                              substr($p, 4, 2) = pack 'v', length($p) + int rand 1000; ($p, 1) }],
    [empty_argv  => 2, sub { (pack('C v C', 35, 0, 1), 1) }],
    [random      => 3, sub { (rbytes(int rand 64), int rand 2) }],
);
my @weighted = map { my $g = $_; ($g) x $g->[1] } @gen;

my @pool = map { [emperor_pair()] } 1 .. 4;    # descriptors to attach (the server must close its copies)
my @fdpool = map { fileno $_->[1] } @pool;
my $addr = pack_sockaddr_un($sock);
my (%sent, $demoted);
my $t0 = time;
my $probe_every = 5000;
my ($max_live, $samples) = (0, 0);
for my $i (1 .. $N) {
    my $g = $weighted[rand @weighted];
    my ($bytes, $nfds) = $g->[2]->();
    $nfds = 0 unless length $bytes;
    if (would_fork($bytes, $nfds)) { $nfds = 0; $demoted++ }    # a mutation that happens to be valid: send it bare
    socket(my $c, AF_UNIX, SOCK_STREAM, 0) or die "socket: $!";
    connect($c, $addr) or die "connect $sock: $!";
    if ($nfds) {
        Vassal::XS::send_fds(fileno $c, $bytes, [map { $fdpool[$_ % @fdpool] } 0 .. $nfds - 1]);
    }
    elsif (length $bytes) {
        send($c, $bytes, 0);    # the server may already have closed: an error here is fine
    }
    close $c;    # EOF right after the bytes: truncated packets end without waiting for the timeout
    $sent{ $g->[0] }++;
    if ($i % $probe_every == 0) {    # sampling, for the fallback mode and as a sanity check
        my @live = live_below();
        $samples++;
        $max_live = @live if @live > $max_live;
    }
}
my $sent_time = time - $t0;
my $total = 0;
$total += $_ for values %sent;
diag sprintf "sent %d packets in %.1f s: %s (%d random draws happened to be valid and went without descriptors)",
    $total, $sent_time, join(', ', map { "$_ $sent{$_}" } sort keys %sent), $demoted // 0;
cmp_ok $total, '>=', $N, "at least $N packets sent";

# every connection gets exactly one refusal in the log; wait for the server to get through them
my $deadline = time + 120;
sleep 0.2 while refusals() - $refused_before < $total && time < $deadline && process_alive($server);
diag sprintf 'the server refused them all %.1f s after the first packet', time - $t0;
is refusals() - $refused_before, $total, 'one refusal logged per packet';
is adoptions(), $adopted_before, 'no adoption logged';
ok process_alive($server), 'the fork server survived';
is $max_live, 0, "no live process below the server at $samples samples during the run";
is fd_count($server), $fd_before, "descriptor count back to $fd_before";
for my $p (@pool) {
    ok no_byte_within($p->[0], 0), 'nothing was ever written to an attached descriptor';
}

# --- a valid request is still adopted, and it is the very next fork
my $port = empty_port();
my $ini = write_file("$dir/app1.ini", "[uwsgi]\nhttp-socket = 127.0.0.1:$port\nprocesses = 2\n");
my ($e1, $v1) = emperor_pair();
my ($p1, $err) = fork_request($sock, 0x01, [psgi_vassal(), '--ini', $ini], [fileno $v1]);
close $v1;
like $p1, qr/\A[0-9]+\z/, 'a valid request is adopted after the fuzz' or diag $err, substr(slurp($log), -2000);
if ($use_ns) {
    is $p1, $p0 + 2, "no fork during the fuzz: the adopted vassal is pid P0+2 = @{[$p0 + 2]} of the namespace";
}
else {
    my @mine = children_of($$);
    # the adopted vassal (and the probe's leftovers) re-parented to us; anything else is a fork by the fuzz
    my @extra = grep { $_ != $launcher && $_ != $p1 } @mine;
    is_deeply \@extra, [], 'no other process re-parented to us (fallback check)';
}
is_deeply [read_bytes($e1, 2, 30)], [1, 5], 'the vassal is ready (1) and accepting (5)' or diag substr(slurp($log), -2000);
ok wait_port({port => $port, max_wait => 15}), 'it listens';
like http_raw($port, "GET / HTTP/1.0\r\n\r\n"), qr{\AHTTP/1\.[01] 200 .*Hello from pid}s, 'HTTP 200 from the adopted vassal';
syswrite $e1, chr(0);
ok settle(), 'byte 0 stops it and its workers';
is fd_count($server), $fd_before, 'descriptor count still the same after the adoption';

# --- a descriptor that is not a socket as the Emperor pipe: refused, nothing forked
subtest 'non-socket Emperor pipe' => sub {
    open my $null, '<', '/dev/null' or die $!;
    open my $file, '<', $log or die "$log: $!";
    pipe my $r, my $w or die $!;
    my @cases = (['/dev/null', [fileno $null]], ['a pipe (read end)', [fileno $r]], ['a pipe (write end)', [fileno $w]],
                 ['a regular file', [fileno $file]]);
    for my $case (@cases) {
        my ($name, $fds) = @$case;
        my $ref = refusals();
        my $ad = adoptions();
        my ($pid, $why) = fork_request($sock, 0x01, [psgi_vassal(), '--ini', "$dir/never.ini"], $fds, timeout => 15);
        ok !$pid, "$name: no pid reply" or diag "got pid $pid";
        my $deadline = time + 10;
        sleep 0.05 while refusals() == $ref && adoptions() == $ad && time < $deadline;
        is refusals(), $ref + 1, "$name: a refusal is logged" or diag substr(slurp($log), -600);
        is adoptions(), $ad, "$name: nothing adopted";
        ok settle(), "$name: nothing left running below the server";
    }
    is fd_count($server), $fd_before, 'descriptor count unchanged';
};

# --- valid packets with bad configs ARE forked: the vassal fails in its own process
subtest 'valid packet, bad vassal config (forked, counted separately)' => sub {
    my @argvs = (
        [psgi_vassal(), '--no-such-option', 'x'],
        [psgi_vassal(), '--ini', "$dir/does-not-exist.ini"],
        [psgi_vassal(), '--processes', 'many'],
        [psgi_vassal(), '--http-socket', '127.0.0.1:notaport'],
        ['/usr/local/bin/uwsgi', '--ini', 'app1.ini'],    # the request-ini vector's argv: relative, not found
        [psgi_vassal(), '--psgi', "$dir/missing.psgi", '--http-socket', '127.0.0.1:' . empty_port()],
        [psgi_vassal(), "\x00\xff\n", '--ini'],
    );
    my $forked = 0;
    for my $argv (@argvs) {
        my ($e, $v) = emperor_pair();
        my ($pid, $why) = fork_request($sock, 0x01, $argv, [fileno $v]);
        close $v;
        ok $pid, 'forked for [' . join(' ', map { s/([^\x21-\x7e])/sprintf '\\x%02x', ord $1/ger } @$argv) . ']' or diag $why;
        $forked++ if $pid;
        my @b = read_bytes($e, 3, 20);
        ok !grep({ $_ == 5 } @b), '... it never accepts';
        ok settle(), '... and is gone (failed in its own process)' or diag substr(slurp($log), -1500);
    }
    diag "$forked bad-config vassals forked and failed";
    ok process_alive($server), 'the fork server still runs';
    is fd_count($server), $fd_before, 'descriptor count unchanged';
};

close $emperor;
ok wait_gone(15, $server, $launcher), 'the fork server exits on EOF from its Emperor';
ok !-e $sock, 'its socket file is removed';
diag sprintf 'total run time %.1f s', time - $t0;

done_testing;
