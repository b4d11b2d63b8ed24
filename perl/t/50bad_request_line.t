# A malformed request line gets 400 and the connection is closed; an HTTP
# version other than 1.0/1.1 gets 505. The worker survives every one.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;

my $v = start_vassal(args => ['--processes', 1]);
my @workers = children_of($v->{pid});

my @cases = (
    "GARBAGE\r\n\r\n",
    "GET /\r\n\r\n",
    "GET / HTTP/1.1 extra\r\n\r\n",
    "GET  / HTTP/1.1\r\n\r\n",
    "get / http/1.1\r\n\r\n",
    "GE(T / HTTP/1.1\r\n\r\n",
    "GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n",
    "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",    # a TLS ClientHello
    "GET / HTTP/1.1\rHost: x\r\n\r\n",
    "GET a/b HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET * HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET http:// HTTP/1.1\r\nHost: x\r\n\r\n",
);
for my $req (@cases) {
    (my $name = $req) =~ s/([^\x20-\x7e])/sprintf '\\x%02x', ord $1/ge;
    my $c = http_connect($v->{port});
    syswrite $c, $req;
    my $r = read_response($c);
    is $r && $r->{status}, 400, "400 for '$name'";
    is $r && $r->{headers}{connection}, 'close', '  Connection: close';
    ok is_closed($c), '  and the connection is closed';
}

my $c = http_connect($v->{port});
syswrite $c, "GET / HTTP/2.0\r\nHost: x\r\n\r\n";
my $r = read_response($c);
is $r->{status}, 505, '505 for HTTP/2.0';
ok is_closed($c), 'closed';

like slurp($v->{log}), qr/^\[psgi-vassal pid \d+\] bad request: malformed request$/m, 'logged';
is_deeply [children_of($v->{pid})], \@workers, 'the same worker is still there';
is http_get($v->{port}, '/')->{status}, 200, 'and serves';
ok stop_vassal($v), 'stops';

done_testing;
