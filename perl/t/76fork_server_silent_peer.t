# The fork server reads each request as its bytes arrive, beside the others:
# a peer that connects and sends nothing, or half a request, holds up no
# adoption - one beside them takes no more than 100 ms longer than one alone
# - and is refused at its own deadline (5 s), its connection and the
# descriptors that came with it closed everywhere, also in the vassals
# adopted meanwhile; at most 64 are read at once. A peer whose uid may not
# ask for vassals is refused at once, before anything is read from it.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Vassal::XS;
use Vassal::Packet qw(encode_fork_request);

Vassal::XS::set_child_subreaper(1);    # adopted vassals re-parent to us, as to an Emperor

my ($base, $emperor, $sock, $log, $dir) = start_base();
expect_bytes($emperor, [1, 17], 15, 'the base is ready and loyal');

my (@vassals, $n);
# Asks for a vassal, waits until it accepts; returns the seconds until its pid reply.
sub adoption_time {
    my $port = empty_port();
    my $ini = write_file("$dir/app" . ++$n . ".ini", "[uwsgi]\nhttp-socket = 127.0.0.1:$port\n");
    my ($e, $v) = emperor_pair();
    my $t0 = time;
    my ($pid, $err) = fork_request($sock, 0x01, [psgi_vassal(), '--ini', $ini], [fileno $v]);
    my $took = time - $t0;
    close $v;
    ok $pid, sprintf('adoption %d: pid reply in %.1f ms', $n, $took * 1000) or diag $err // '', slurp($log);
    expect_bytes($e, [1, 5], 15, '  ready and accepting');
    push @vassals, { pid => $pid, emperor => $e };
    return $took;
}

my $alone = 0;
for (1 .. 3) {
    my $t = adoption_time();
    $alone = $t if $t > $alone;
}
ok stop_vassal($_), 'a vassal adopted alone stops' for splice @vassals;

# a silent peer, and one that sent half a request with a descriptor
my $silent = unix_connect($sock);
my $half = unix_connect($sock);
my ($watch, $passed) = emperor_pair();
my $request = encode_fork_request(0x01, psgi_vassal(), '--ini', "$dir/never.ini");
Vassal::XS::send_fds(fileno $half, substr($request, 0, 2), [fileno $passed]);
close $passed;
my $since = time;
sleep 0.3;    # the fork server has them both before the next adoption forks

for (1 .. 3) {
    my $t = adoption_time();
    cmp_ok $t, '<=', $alone + 0.1, sprintf('  beside the silent peers: at most 100 ms over alone (%.1f ms)', $alone * 1000);
}

ok is_closed($silent, 8), 'the silent peer is closed at its deadline';
ok is_closed($half, 3), 'so is the one that sent half a request';
my $after = time - $since;
cmp_ok $after, '>=', 4, sprintf('  after about 5 s (%.1f s)', $after);
ok is_closed($watch, 3), 'the descriptor that came with it is closed, in the adopted vassals too';
like slurp($log), qr/refused request: timeout after 5s waiting for the request \(got 0 of 4 bytes\) \(peer pid $$ uid $<\)/,
    'the silent peer is logged';
like slurp($log), qr/refused request: timeout after 5s waiting for the request \(got 2 of 4 bytes\) \(peer pid $$ uid $<\)/,
    'so is the other one';
ok stop_vassal($_), 'a vassal adopted beside them stops' for splice @vassals;

{
    my @peers = map { unix_connect($sock) } 1 .. 65;
    ok is_closed($peers[0], 2), '65 silent peers at once: the one that waited longest is dropped';
    ok wait_for_log($log, qr/refused request: more than 64 requests being read at once: the oldest is dropped \(got 0 of 4 bytes\)/),
        '  and logged';
    ok !is_closed($peers[1], 0.2), '  the others are still read';
    my $t = adoption_time();
    cmp_ok $t, '<=', $alone + 0.1, '  an adoption beside them is not held up either';
    ok stop_vassal($_), '  its vassal stops' for splice @vassals;
}

SKIP: {
    my $setpriv = (grep { -x } map { "$_/setpriv" } split /:/, $ENV{PATH} // '')[0];
    my $why = nobody_blocker() // ($setpriv ? undef : 'no setpriv');
    skip "a peer of another uid: $why", 3 if $why;
    my ($uid, $gid) = (getpwnam('nobody'))[2, 3];
    ($uid, $gid) = (65534, 65534) unless defined $uid;
    chmod 0755, $dir;
    chmod 0666, $sock;
    # connects, sends nothing, and exits 0 on EOF within a second (3 later, 4 never, 2 no connection)
    my $code = <<'PERL';
use IO::Socket::UNIX; use Socket qw(SOCK_STREAM); use Time::HiRes qw(time);
my $c = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $ARGV[0]) or exit 2;
my $t0 = time;
my $rin = ''; vec($rin, fileno $c, 1) = 1;
select(my $rout = $rin, undef, undef, 8) or exit 4;
sysread $c, my $buf, 1;
exit(time - $t0 < 1 ? 0 : 3);
PERL
    my $peer = spawn_vassal(cmd => [$setpriv, "--reuid=$uid", "--regid=$gid", '--clear-groups', $^X, '-e', $code, $sock]);
    is exit_status($peer, 15), 0, 'a silent peer of another uid is refused at once (EOF within a second)';
    ok wait_for_log($log, qr/refused request from pid \d+ uid $uid: peer uid $uid is neither ours \($>\) nor root/),
        'the refusal names its uid';
    unlike slurp($log), qr/refused request: timeout.*uid $uid\)/, 'nothing was waited for from it';
    chmod 0600, $sock;
    chmod 0700, $dir;
}

unlike slurp($log), qr/adopting: .*never\.ini/, 'the half request was never served';
close $emperor;
ok wait_gone(10, $base), 'the base exits on EOF from its Emperor';

done_testing;
