# Expect: 100-continue: "100 Continue" before the body is read - once, only
# for HTTP/1.1, not when the body came with the head; chunked bodies too.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;

my $v = start_vassal(args => ['--processes', 1]);
my $c = http_connect($v->{port});

my $r = http_roundtrip($c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
is $r->{status}, 100, '100 Continue';
is $r->{status_line}, 'HTTP/1.1 100 Continue', 'its status line';
syswrite $c, 'hello';
$r = read_response($c);
is $r->{status}, 200, 'then the response';
is $r->{body}, 'hello', 'to the body';

$r = http_roundtrip($c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-Continue\r\n\r\n");
is $r->{status}, 100, '100 Continue for a chunked body (the token is case-insensitive)';
syswrite $c, "3\r\nabc\r\n0\r\n\r\n";
is read_response($c)->{body}, 'abc', 'the chunked body';

$r = http_roundtrip($c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nxyz");
is $r->{status}, 200, 'no 100 when the body came with the head';
is $r->{body}, 'xyz', 'the body';
is $r->{extra}, '', 'nothing else on the wire';

$r = http_roundtrip($c, "GET /pid HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n");
is $r->{status}, 200, 'no 100 without a body';

my $c10 = http_connect($v->{port});
syswrite $c10, "POST /echo HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n";
ok no_byte_within($c10, 0.3), 'no 100 for HTTP/1.0';
syswrite $c10, 'ok';
is read_response($c10)->{body}, 'ok', 'the HTTP/1.0 request is served';

ok stop_vassal($v), 'stops';
done_testing;
