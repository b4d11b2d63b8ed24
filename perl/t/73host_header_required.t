# RFC 9112 3.2: an HTTP/1.1 request without a Host field, any request with
# two Host fields, and a Host that is not uri-host [":" port] (RFC 3986) get
# 400 and the connection is closed - as nginx does. HTTP/1.0 may go without
# Host, and an empty Host is valid.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;

my $v = start_vassal(args => ['--processes', 1]);
my @workers = children_of($v->{pid});

my @bad = (
    ["GET /env HTTP/1.1\r\n\r\n",                                 'HTTP/1.1 without Host'],
    ["GET /env HTTP/1.1\r\nUser-Agent: t\r\n\r\n",                'HTTP/1.1 without Host, with other fields'],
    ["GET http://a/env HTTP/1.1\r\n\r\n",                         'HTTP/1.1 absolute-form without Host'],
    ["GET /env HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",           'two equal Host fields'],
    ["GET /env HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nhost: b\r\n\r\n", 'two different Host fields'],
    ["GET /env HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",           'two Host fields in HTTP/1.0'],
    ["GET /env HTTP/1.1\r\nHost: a/b\r\n\r\n",                    "a '/' in Host"],
    ["GET /env HTTP/1.1\r\nHost: a b\r\n\r\n",                    'a space in Host'],
    ["GET /env HTTP/1.1\r\nHost: u\@a\r\n\r\n",                   'userinfo in Host'],
    ["GET /env HTTP/1.1\r\nHost: a#b\r\n\r\n",                    "a '#' in Host"],
    ["GET /env HTTP/1.1\r\nHost: a:80x\r\n\r\n",                  'a port that is not a number'],
    ["GET /env HTTP/1.1\r\nHost: [::1\r\n\r\n",                   'an unclosed IP literal'],
    ["GET /env HTTP/1.1\r\nHost: a%zz\r\n\r\n",                   'an invalid percent escape'],
);
for my $case (@bad) {
    my ($req, $name) = @$case;
    my $c = http_connect($v->{port});
    syswrite $c, $req;
    my $r = read_response($c);
    is $r && $r->{status}, 400, "400 for $name";
    is $r && $r->{headers}{connection}, 'close', '  Connection: close';
    ok is_closed($c, 2), '  and the connection is closed';
}
my $log = slurp($v->{log});
like $log, qr/^\[psgi-vassal pid \d+\] bad request: an HTTP\/1\.1 request without a Host header field$/m, 'a missing Host is logged';
like $log, qr/^\[psgi-vassal pid \d+\] bad request: more than one Host header field$/m, 'two Host fields are logged';
like $log, qr/^\[psgi-vassal pid \d+\] bad request: an invalid Host header field$/m, 'an invalid Host is logged';

{
    my $c = http_connect($v->{port});
    syswrite $c, "GET /pid HTTP/1.1\r\nHost: a\r\n\r\nGET /pid HTTP/1.1\r\n\r\nGET /pid HTTP/1.1\r\nHost: a\r\n\r\n";
    my $r = read_response($c);
    is $r && $r->{status}, 200, 'pipelined: the request with a Host is served';
    $r = read_response($c);
    is $r && $r->{status}, 400, '  the one without gets 400';
    ok is_closed($c, 2), '  and nothing after it is served';
}

my %good = (
    "GET /env HTTP/1.0\r\n\r\n"                          => '',
    "GET /env HTTP/1.1\r\nHost: example.test\r\n\r\n"    => 'example.test',
    "GET /env HTTP/1.1\r\nHost: Example.test:8080\r\n\r\n" => 'Example.test:8080',
    "GET /env HTTP/1.1\r\nHost: 192.0.2.1:80\r\n\r\n"    => '192.0.2.1:80',
    "GET /env HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n" => '[2001:db8::1]:80',
    "GET /env HTTP/1.1\r\nHost: my_host.example\r\n\r\n" => 'my_host.example',
    "GET /env HTTP/1.1\r\nHost: xn--caf-dma.test\r\n\r\n" => 'xn--caf-dma.test',
    "GET /env HTTP/1.1\r\nHost:\r\n\r\n"                 => '',
    "GET http://a/env HTTP/1.1\r\nHost: a\r\n\r\n"       => 'a',
);
for my $req (sort keys %good) {
    (my $name = $req) =~ s/\r\n/ /g;
    my $c = http_connect($v->{port});
    my $r = http_roundtrip($c, $req);
    is $r && $r->{status}, 200, "200 for $name";
    like $r && $r->{body}, qr/^HTTP_HOST=\Q$good{$req}\E$/m, '  HTTP_HOST';
}

is_deeply [children_of($v->{pid})], \@workers, 'the same worker is still there';
ok stop_vassal($v), 'stops';

done_testing;
