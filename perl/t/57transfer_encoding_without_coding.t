# A Transfer-Encoding field that names no coding at all - empty, or nothing
# but commas and whitespace (empty list elements only) - gets 400 and the
# connection is closed: it is not ignored, which would leave the body to the
# Content-Length beside it and serve the request hidden in that body. Empty
# elements beside a real coding are still skipped (RFC 9110 5.6.1).
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;

my $v = start_vassal(args => ['--processes', 1]);
my @workers = children_of($v->{pid});

my $hidden = "GET /pid HTTP/1.1\r\nHost: x\r\n\r\n";
for my $te (',', ' , ', ',,', ", \t,", '') {
    (my $name = $te) =~ s/\t/\\t/g;
    my $c = http_connect($v->{port});
    syswrite $c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: $te\r\n"
        . "Content-Length: " . length($hidden) . "\r\n\r\n$hidden";
    my $r = read_response($c);
    is $r && $r->{status}, 400, "Transfer-Encoding: '$name' with a Content-Length: 400";
    is $r && $r->{headers}{connection}, 'close', '  Connection: close';
    ok is_closed($c), '  the connection is closed, nothing more is answered';

    $c = http_connect($v->{port});
    syswrite $c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: $te\r\n\r\n$hidden";
    $r = read_response($c);
    is $r && $r->{status}, 400, "Transfer-Encoding: '$name' alone: 400";
    ok is_closed($c), '  the connection is closed';
}
like slurp($v->{log}), qr/^\[psgi-vassal pid \d+\] bad request: a Transfer-Encoding field without a coding$/m,
    'the reason is logged';

my $c = http_connect($v->{port});
my $r = http_roundtrip($c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: , chunked,\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
is $r->{status}, 200, 'empty elements beside chunked are skipped';
is $r->{body}, 'abc', '  and the body is read as chunked';

is_deeply [children_of($v->{pid})], \@workers, 'the same worker is still there';
ok stop_vassal($v), 'stops';

done_testing;
