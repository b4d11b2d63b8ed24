# What a client can make a worker hold is bounded by default: a request
# body over 1 GiB gets 413 when limit-post is unset (0 lifts the limit), and
# a worker keeps at most worker-connections connections open, closing the
# oldest waiting one for a new one.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Time::HiRes qw(sleep);

my $GiB = 1024 * 1024 * 1024;

my $v = start_vassal(args => ['--processes', 1, '--socket-timeout', 10, '--worker-connections', 8]);

# limit-post unset: 1 GiB
my $r = http_roundtrip(http_connect($v->{port}),
    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " . ($GiB + 1) . "\r\n\r\n");
is $r && $r->{status}, 413, 'limit-post unset: a Content-Length of 1 GiB + 1 gets 413';
$r = http_roundtrip(http_connect($v->{port}),
    "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" . sprintf('%x', $GiB + 1) . "\r\n");
is $r && $r->{status}, 413, 'and so does a chunk of 1 GiB + 1';
$r = http_roundtrip(http_connect($v->{port}),
    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
is $r && $r->{body}, 'hello', 'a small body is served';

# worker-connections 8: twelve clients in the middle of their heads
my @conns;
for (1 .. 12) {
    my $c = http_connect($v->{port});
    syswrite $c, "GET / HTTP/1.1\r\n";
    push @conns, $c;
    sleep 0.1;    # accepted in this order
}
ok is_closed($conns[$_], 3), 'worker-connections 8: the oldest connection ' . ($_ + 1) . ' of 12 is closed' for 0 .. 3;
ok !is_closed($conns[$_], 0.2), 'connection ' . ($_ + 1) . ' stays open' for 4 .. 11;
syswrite $conns[11], "Host: x\r\n\r\n";
$r = read_response($conns[11]);
is $r && $r->{status}, 200, 'and is served once its head is complete';
is http_get($v->{port}, '/')->{status}, 200, 'a new client is served too';
ok stop_vassal($v), 'stops';

# limit-post 0: no limit
my $free = start_vassal(args => ['--processes', 1, '--limit-post', 0]);
my $c = http_connect($free->{port});
syswrite $c, "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: " . ($GiB + 1) . "\r\n\r\n";
$r = read_response($c);
is $r && $r->{status}, 100, 'limit-post 0: a body of 1 GiB + 1 may come (100 Continue)';
close $c;
ok stop_vassal($free), 'stops';

done_testing;
