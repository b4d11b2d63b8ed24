# An HTTP/1.0 request with Transfer-Encoding has faulty framing (RFC 9112
# 6.1): it is served, then the connection is closed even when the client
# asked for keep-alive, and nothing sent after it on that connection is
# answered. HTTP/1.0 keep-alive with a Content-Length stays as it was.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;

my $v = start_vassal(args => ['--processes', 1]);

my $chunked = "POST /echo HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
    . "3\r\nabc\r\n0\r\n\r\n";
my $next = "GET /pid HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n";

{
    my $c = http_connect($v->{port});
    my $r = http_roundtrip($c, $chunked);
    is $r && $r->{status}, 200, 'HTTP/1.0 with Transfer-Encoding: chunked is served';
    is $r && $r->{body}, 'abc', '  its chunked body is read';
    is $r && $r->{headers}{connection}, 'close', '  Connection: close, although keep-alive was asked for';
    ok is_closed($c, 2), '  and the connection is closed at once (not after keepalive-timeout)';
}
{
    my $c = http_connect($v->{port});
    syswrite $c, $chunked . $next;
    my $r = read_response($c);
    is $r && $r->{body}, 'abc', 'with a request pipelined behind it: the first is answered';
    is $r && $r->{headers}{connection}, 'close', '  Connection: close';
    is $r && $r->{extra}, '', '  nothing follows its response';
    ok is_closed($c, 2), '  the connection is closed: the pipelined request is not served';
}
{
    my $c = http_connect($v->{port});
    my $r = http_roundtrip($c, "POST /echo HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc");
    is $r && $r->{headers}{connection}, 'keep-alive', 'HTTP/1.0 keep-alive with a Content-Length: kept alive';
    $r = http_roundtrip($c, $next);
    like $r && $r->{body}, qr/\A[0-9]+\n\z/, '  the next request on it is served';
}
ok stop_vassal($v), 'stops';

done_testing;
