# Pipelined requests - sent at once, split anywhere, mixed with bodies and
# HEAD - are answered in order on one connection.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;

my $v = start_vassal(args => ['--processes', 1]);
my @reqs = (
    "GET /pid HTTP/1.1\r\nHost: x\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst",
    "HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nsecond\r\n0\r\n\r\n",
    "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /delayed HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
);
my $all = join '', @reqs;
for my $split (0, 7, 61, 150) {
    my $c = http_connect($v->{port});
    if ($split) {
        for (my $off = 0; $off < length $all; $off += $split) {
            syswrite $c, substr($all, $off, $split);
            select undef, undef, undef, 0.01;
        }
    }
    else {
        syswrite $c, $all;
    }
    my $how = $split ? "split every $split bytes" : 'at once';
    my @r = map { read_response($c, $_ == 2) } 0 .. $#reqs;
    like $r[0]{body}, qr/\A[0-9]+\n\z/, "$how: 1st";
    is $r[1]{body}, 'first', "$how: 2nd (a body)";
    is $r[2]{status}, 200, "$how: 3rd (HEAD)";
    is $r[3]{body}, 'second', "$how: 4th (chunked)";
    is $r[4]{body}, "chunk1\nchunk2\nchunk3\n", "$how: 5th (streaming)";
    is $r[5]{body}, "delayed\n", "$how: 6th (delayed)";
    is $r[5]{headers}{connection}, 'close', "$how: Connection: close is honoured";
    ok is_closed($c), "$how: then closed";
}
ok stop_vassal($v), 'stops';
done_testing;
