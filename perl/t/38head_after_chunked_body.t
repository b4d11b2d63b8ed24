# Whether a request is HEAD is decided from its own request line, even when
# its chunked body arrives in later reads that move or replace the connection
# buffer the request line was parsed from.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep);
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;

my $v = start_vassal(args => ['--processes', 1]);

# Sends @parts as separate reads (a pause between them).
sub send_split {
    my ($c, @parts) = @_;
    for (@parts) { syswrite $c, $_; sleep 0.2 }
}

{
    my $c = http_connect($v->{port});
    send_split($c, "HEAD /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        "0\r\n\r\n");
    my $r = read_response($c, 1);
    is $r->{status}, 200, 'HEAD with a chunked body in two reads: answered';
    is $r->{extra}, '', 'no body follows the HEAD response';
    ok no_byte_within($c, 0.3), 'nothing more arrives on the connection';
    my $next = http_roundtrip($c, "GET /pid HTTP/1.1\r\nHost: x\r\n\r\n");
    like $next->{body} // '', qr/\A[0-9]+\n\z/, 'the next response on the connection is its own';
}

{
    my $c = http_connect($v->{port});
    send_split($c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n",
        "HEAD\r\n0\r\n\r\n");
    my $r = read_response($c, 0);
    is $r->{status}, 200, 'POST whose next read starts with HEAD: answered';
    is $r->{body}, 'HEAD', 'and its body is sent';
}

{
    # a body bigger than the buffer: the buffer is reallocated, not only moved
    my $data = 'x' x 200_000;
    my $c = http_connect($v->{port});
    send_split($c, "HEAD /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        sprintf("%x\r\n%s\r\n", length $data, $data), "0\r\n\r\n");
    my $r = read_response($c, 1);
    is $r->{status}, 200, 'HEAD with a large chunked body: answered';
    is $r->{extra}, '', 'without a body';
    ok no_byte_within($c, 0.3), 'nothing more arrives';
}

{
    # a trailer section longer than the buffer: the buffer is reallocated
    # while the head it was parsed from is still in use
    my $c = http_connect($v->{port});
    send_split($c, "HEAD /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        "5\r\nhello\r\n0\r\nX-Trailer: " . ('y' x 10_000) . "\r\n", "\r\n");
    my $r = read_response($c, 1);
    is $r->{status}, 200, 'HEAD with a long trailer section: answered';
    is $r->{extra}, '', 'without a body';
    ok no_byte_within($c, 0.3), 'nothing more arrives';
}

ok stop_vassal($v), 'stops';
done_testing;
