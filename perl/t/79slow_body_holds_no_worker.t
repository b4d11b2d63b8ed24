# A request body is read in the worker's event loop before the app is
# called: a client trickling its body (Content-Length, chunked or after a
# uwsgi packet) holds no worker - a second request to a one-worker vassal
# is answered at once meanwhile - and body-timeout ends the trickle with 408.
# Bodies over post-buffering go to an unlinked temporary file while they
# arrive, and every body reaches the app intact as psgi.input.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Time::HiRes qw(time sleep);

$SIG{PIPE} = 'IGNORE';

my $uport = empty_port();
my $v = start_vassal(args => ['--processes', 1, '--socket-timeout', 4, '--body-timeout', 3,
                              '--post-buffering', 4096, '--socket', "127.0.0.1:$uport"]);
my $port = $v->{port};
my ($worker) = children_of($v->{pid});

sub spool_files { scalar grep { defined && /\(deleted\)/ } map { readlink } glob "/proc/$worker/fd/*" }

# Sends $head, then a byte of $drip every 0.4 s until the server closes the
# connection (or 8 s); between bytes a GET on another connection is timed.
# Returns (seconds from the head to the close, what the server sent, the
# slowest GET in seconds, GETs answered 200, spool files seen meanwhile).
sub trickle {
    my ($to, $head, $drip) = @_;
    my $sock = http_connect($to);
    syswrite $sock, $head;
    my $t0 = time;
    my ($got, $slowest, $ok, $spooled, $i) = ('', 0, 0, 0, 0);
    while (time - $t0 < 8) {
        syswrite $sock, substr($drip, $i++ % length $drip, 1);
        my $s = time;
        my $r = http_roundtrip(http_connect($port), "GET /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        my $took = time - $s;
        $slowest = $took if $took > $slowest;
        $ok++ if $r && $r->{status} == 200;
        $spooled = spool_files() if spool_files() > $spooled;
        my $until = time + 0.4;
        while ((my $left = $until - time) > 0) {
            my $rin = '';
            vec($rin, fileno $sock, 1) = 1;
            last unless select(my $rout = $rin, undef, undef, $left) > 0;
            return (time - $t0, $got, $slowest, $ok, $spooled) unless sysread $sock, $got, 65536, length $got;
        }
    }
    return (undef, $got, $slowest, $ok, $spooled);
}

for my $case (
    [ 'a Content-Length body', $port,
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", 'a' ],
    [ 'a chunked body', $port,
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", "1\r\na\r\n" ],
    [ 'a body after a uwsgi packet', $uport,
      uwsgi_packet([REQUEST_METHOD => 'POST', REQUEST_URI => '/echo', PATH_INFO => '/echo',
                    CONTENT_LENGTH => 100000]), 'a' ],
) {
    my ($what, $to, $head, $drip) = @$case;
    my ($secs, $got, $slowest, $ok, $spooled) = trickle($to, $head, $drip);
    cmp_ok $ok, '>=', 5, "$what trickled a byte every 0.4 s: other requests are served meanwhile ($ok)";
    cmp_ok $slowest, '<', 1, "each at once, the one worker is not held (slowest ${slowest}s)";
    ok defined $secs, "$what trickled forever is cut off";
    cmp_ok $secs // 99, '<', 4.5, 'at body-timeout (3 s) from its head, not later' or diag "after $secs s";
    cmp_ok $secs // 0, '>', 2.5, 'and not before';
    like $got, qr{\AHTTP/1\.1 408 }, 'with 408';
    is $spooled, 1, "its 100000 bytes (over post-buffering) were spooled to an unlinked file"
        unless $drip =~ /\r/;
}
is spool_files(), 0, 'no spool file is left open';

# Sends $data on $sock in $n pieces, $pause seconds apart.
sub send_slowly {
    my ($sock, $data, $n, $pause) = @_;
    my $size = int(length($data) / $n) + 1;
    for (my $off = 0; $off < length $data; $off += $size) {
        my $piece = substr($data, $off, $size);
        while (length $piece) {
            my $w = syswrite $sock, $piece;
            die "write: $!" unless defined $w;
            substr($piece, 0, $w, '');
        }
        sleep $pause;
    }
}

srand 79;
my $big = join '', map { chr int rand 256 } 1 .. 3 * 1024 * 1024;

# a slow body within the deadline, kept in memory
{
    my $sock = http_connect($port);
    send_slowly($sock, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n\r\n" . substr($big, 0, 3000), 5, 0.3);
    my $r = read_response($sock);
    is $r && $r->{body}, substr($big, 0, 3000), 'a slow body in memory complete within body-timeout reaches the app intact';
}

# large bodies, spooled, arriving in pieces
{
    my $sock = http_connect($port);
    send_slowly($sock, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " . length($big) . "\r\n\r\n$big", 6, 0.1);
    my $r = read_response($sock);
    ok $r && $r->{body} eq $big, 'a 3 MiB Content-Length body reaches the app intact';
    is $r && $r->{headers}{'x-content-length'}, length $big, 'with its CONTENT_LENGTH';

    my ($chunked, $off) = ('', 0);
    while ($off < 2 * 1024 * 1024) {
        my $n = 1 + int rand 70000;
        $chunked .= sprintf("%x\r\n", $n) . substr($big, $off, $n) . "\r\n";
        $off += $n;
    }
    $chunked .= "0\r\nX-Trailer: dropped\r\n\r\n";
    send_slowly($sock, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n$chunked", 7, 0.1);
    $r = read_response($sock);
    ok $r && $r->{body} eq substr($big, 0, $off), "a chunked body of $off bytes in random chunks reaches the app intact, on the same connection";
    is $r && $r->{headers}{'x-content-length'}, $off, 'with CONTENT_LENGTH its decoded length';

    $r = http_roundtrip($sock, "GET /pid HTTP/1.1\r\nHost: x\r\n\r\n");
    is $r && $r->{status}, 200, 'and the connection takes the next request';
}

{
    my $len = 2 * 1024 * 1024 + 17;
    my $out = uwsgi_roundtrip($uport, [REQUEST_METHOD => 'POST', REQUEST_URI => '/echo', PATH_INFO => '/echo',
                                       CONTENT_LENGTH => $len], substr($big, 0, $len));
    my ($head, $body) = split /\r\n\r\n/, $out, 2;
    like $head // '', qr{\AHTTP/1\.1 200 }, 'a uwsgi request with a 2 MiB body is served';
    ok defined $body && $body eq substr($big, 0, $len), 'and its body reaches the app intact';
}

ok stop_vassal($v), 'stops';
unlike slurp($v->{log}), qr/ERROR|AddressSanitizer/, 'no error in the log';

# memory grows with what arrives, not with what a Content-Length announces:
# a hundred clients announcing 1000000 bytes each (under post-buffering,
# so kept in memory) and sending 10 cost the worker no 100 MB
{
    my $v2 = start_vassal(args => ['--processes', 1]);
    my ($w) = children_of($v2->{pid});
    my $data = sub { (slurp("/proc/$w/status") =~ /^VmData:\s*([0-9]+) kB/m)[0] };
    is http_get($v2->{port}, '/pid')->{status}, 200, 'a second vassal (default post-buffering) serves';
    my $before = $data->();
    my @slow = map { my $s = http_connect($v2->{port});
                     syswrite $s, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n0123456789"; $s } 1 .. 100;
    sleep 0.5;
    is http_get($v2->{port}, '/pid')->{status}, 200, 'a hundred bodies announced, barely begun: other requests are served';
    my $grew = $data->() - $before;
    cmp_ok $grew, '<', 20_000, "and the worker's data grew by ${grew} kB, not by the 100 MB announced";
    close $_ for @slow;
    ok stop_vassal($v2), 'stops';
}
done_testing;
