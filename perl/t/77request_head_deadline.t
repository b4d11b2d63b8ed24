# A request head has header-timeout seconds in all to arrive: a client that
# sends it a byte at a time, each byte well within socket-timeout (slowloris),
# gets 408 and is closed at that deadline instead of holding the connection
# forever; a client sending empty lines is cut off after a few of them; a
# slow head that is complete in time is served, and the idle wait of a
# keep-alive connection does not count against its next head.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Time::HiRes qw(time sleep);

my $uport = empty_port();
my $v = start_vassal(args => ['--processes', 1, '--socket-timeout', 3, '--header-timeout', 2,
                              '--socket', "127.0.0.1:$uport"]);    # and an http-socket
my $port = $v->{port};

# Sends $bytes $unit (1) at a time every $every seconds, over and over, on a
# new connection, until the server closes it or $limit seconds pass.
# Returns (seconds from connect to the close, what the server sent).
sub trickle {
    my ($to, $bytes, $every, $limit, $unit) = @_;
    $unit //= 1;
    my $sock = http_connect($to);
    my $t0 = time;
    my ($i, $got) = (0, '');
    while (time - $t0 < $limit) {
        syswrite $sock, substr($bytes, ($i++ * $unit) % length $bytes, $unit);
        my $wait = $every;
        my $rin = '';
        vec($rin, fileno $sock, 1) = 1;
        my $until = time + $wait;
        while ((my $left = $until - time) > 0) {
            last unless select(my $rout = $rin, undef, undef, $left) > 0;
            my $r = sysread $sock, $got, 65536, length $got;
            return (time - $t0, $got) unless $r;
        }
    }
    return (undef, $got);
}

my $head = "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " . ('a' x 1000);

my ($secs, $got) = trickle($port, $head, 0.9, 8);
ok defined $secs, 'a head trickled a byte every 0.9 s (socket-timeout 3) is cut off';
cmp_ok $secs // 99, '<', 3.2, 'at header-timeout (2 s) from the accept, not later' or diag "after $secs s";
cmp_ok $secs // 0, '>', 1.5, 'and not before';
like $got, qr{\AHTTP/1\.1 408 }, 'with 408';

($secs, $got) = trickle($port, "\r\n", 0.2, 8, 2);
ok defined $secs, 'empty lines sent forever are cut off';
cmp_ok $secs // 99, '<', 1.6, 'after a few of them, before header-timeout' or diag "after $secs s";
like $got, qr{\AHTTP/1\.1 400 }, 'with 400';

# the same on a keep-alive connection, after a request
{
    my $sock = http_connect($port);
    is http_roundtrip($sock, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")->{status}, 200, 'a keep-alive request';
    my $t0 = time;
    my $closed;
    for (1 .. 40) {
        syswrite $sock, "\r\n";
        if (!no_byte_within($sock, 0.2)) { $closed = time - $t0; last }
    }
    ok defined $closed, 'then empty lines forever are cut off';
    cmp_ok $closed // 99, '<', 2.5, 'soon' or diag "after $closed s";
}

# the uwsgi protocol: the packet is the head
{
    my $pkt = uwsgi_packet([REQUEST_METHOD => 'GET', REQUEST_URI => '/', PATH_INFO => '/', X => 'a' x 200]);
    ($secs) = trickle($uport, $pkt, 0.9, 8);
    ok defined $secs, 'a uwsgi packet trickled a byte every 0.9 s is cut off';
    cmp_ok $secs // 99, '<', 3.2, 'at header-timeout' or diag "after $secs s";
}

# a slow head complete within the deadline is served
{
    my $sock = http_connect($port);
    for my $part ("GET /pid HT", "TP/1.1\r\nHost: x\r\n", "X-A: b\r\n", "\r\n") {
        syswrite $sock, $part;
        sleep 0.4;
    }
    my $r = read_response($sock);
    is $r && $r->{status}, 200, 'a head sent in four parts over 1.6 s is served';

    # idle longer than header-timeout (within keepalive = socket-timeout 3),
    # then a slow head: its clock starts with its first byte
    sleep 2.3;
    for my $part ("GET / HTTP/1.1\r\n", "Host: x\r\n", "\r\n") {
        syswrite $sock, $part;
        sleep 0.6;
    }
    $r = read_response($sock);
    is $r && $r->{status}, 200, 'a keep-alive connection idle for 2.3 s, then a slow head of 1.2 s: served';
}

is http_get($port, '/')->{status}, 200, 'the worker serves';
like slurp($v->{log}), qr/did not arrive within header-timeout/, 'the timeout is logged';
ok stop_vassal($v), 'stops';

done_testing;
