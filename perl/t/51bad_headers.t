# Malformed header fields get 400 and the connection is closed; codings
# before chunked get 501; chunked that is not the last coding or comes
# twice, chunked framing with bare LFs, and Content-Length with chunked
# (request smuggling) get 400. The worker survives every one.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;

my $v = start_vassal(args => ['--processes', 1]);
my @workers = children_of($v->{pid});

my @cases = (
    [400, "GET / HTTP/1.1\r\nHost: x\r\nNo colon\r\n\r\n",           'a line without a colon'],
    [400, "GET / HTTP/1.1\r\nHost : x\r\n\r\n",                      'whitespace before the colon'],
    [400, "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",            'obs-fold'],
    [400, "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",        'a control character'],
    [400, "GET / HTTP/1.1\r\nHost: x\r\n: empty name\r\n\r\n",       'an empty name'],
    [400, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 'an invalid Content-Length'],
    [400, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 'conflicting Content-Lengths'],
    [400, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 'Content-Length and chunked'],
    [501, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 'an unsupported Transfer-Encoding'],
    [400, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 'chunked not the last coding'],
    [400, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 'chunked twice'],
    [400, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nabcde\r\n0\r\n\r\n", 'a chunk size line ending with a bare LF'],
    [400, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\n0\r\n\r\n", 'chunk data ending with a bare LF'],
    [400, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 'a malformed chunk size'],
    [400, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", 'a chunk without its CRLF'],
    [400, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;\x01\r\nabc\r\n0\r\n\r\n", 'a control character in a chunk extension'],
    [400, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", 'a chunk size too large'],
);
for my $case (@cases) {
    my ($status, $req, $name) = @$case;
    my $c = http_connect($v->{port});
    syswrite $c, $req;
    my $r = read_response($c);
    is $r && $r->{status}, $status, "$status for $name";
    is $r && $r->{headers}{connection}, 'close', '  Connection: close';
    ok is_closed($c), '  and the connection is closed';
}
is_deeply [children_of($v->{pid})], \@workers, 'the same worker is still there';
my $c = http_connect($v->{port});
my $r = http_roundtrip($c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;name=value\r\nabc\r\n0\r\n\r\n");
is $r->{body}, 'abc', 'a valid chunk extension is fine';
ok stop_vassal($v), 'stops';

done_testing;
