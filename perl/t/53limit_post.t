# A request body over limit-post gets 413 and the connection is closed -
# announced by Content-Length (refused before the body is read, and without
# a 100 Continue) or found while reading a chunked body.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;

my $v = start_vassal(args => ['--processes', 1, '--limit-post', 1000]);
my @workers = children_of($v->{pid});

my $c = http_connect($v->{port});
syswrite $c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n" . ('b' x 1001);
my $r = read_response($c);
is $r->{status}, 413, '413 for a Content-Length over limit-post';
is $r->{headers}{connection}, 'close', 'Connection: close';
ok is_closed($c), 'closed';
like slurp($v->{log}), qr/request body of 1001 bytes is over limit-post \(1000\)/, 'logged';

$c = http_connect($v->{port});
syswrite $c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\nExpect: 100-continue\r\n\r\n";
$r = read_response($c);
is $r->{status}, 413, '413 instead of 100 Continue';

$c = http_connect($v->{port});
syswrite $c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    . "200\r\n" . ('a' x 512) . "\r\n" . "200\r\n" . ('b' x 512) . "\r\n0\r\n\r\n";
$r = read_response($c);
is $r->{status}, 413, '413 for a chunked body over limit-post';
ok is_closed($c), 'closed';

$c = http_connect($v->{port});
$r = http_roundtrip($c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" . ('c' x 1000));
is $r->{status}, 200, 'exactly limit-post is served';
is length $r->{body}, 1000, 'with its body';

is_deeply [children_of($v->{pid})], \@workers, 'the same worker';
ok stop_vassal($v), 'stops';

done_testing;
