# A '#' in the authority of an absolute-form request target gets 400, as in
# nginx: "http://a#@b/" is host a with a fragment to RFC 3986 but host b to
# whatever reads on past the '#', so no reading of it is safe. The authority
# must be uri-host [":" port]. A fragment after the path or the query is
# dropped, as before (and as nginx does).
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;

my $v = start_vassal(args => ['--processes', 1]);
my @workers = children_of($v->{pid});

for my $target ('http://a#@b/env', 'http://a#@b', 'https://a:80#@b/env', 'http://a#/env', 'http://a#',
                'http://a\\@b/env', 'http://a:8x/env', 'http://:80/env', 'http://[::1/env', 'http://a%g1/env') {
    my $c = http_connect($v->{port});
    syswrite $c, "GET $target HTTP/1.1\r\nHost: b\r\n\r\n";
    my $r = read_response($c);
    is $r && $r->{status}, 400, "400 for GET $target";
    is $r && $r->{headers}{connection}, 'close', '  Connection: close';
    ok is_closed($c, 2), '  and the connection is closed';
}
like slurp($v->{log}), qr/^\[psgi-vassal pid \d+\] bad request: malformed request$/m, 'logged';

my @good = (
    ['http://a/env#frag',            '/env', ''],
    ['http://a/env?x=1#@b/',         '/env', 'x=1'],
    ['http://a:8080?x=1#f',          '',     'x=1'],
    ['http://[2001:db8::1]:80/env',  '/env', ''],
    ['/env/p#q',                     '/env/p', ''],
);
for my $case (@good) {
    my ($target, $path, $query) = @$case;
    my $c = http_connect($v->{port});
    my $r = http_roundtrip($c, "GET $target HTTP/1.1\r\nHost: a\r\n\r\n");
    is $r && $r->{status}, 200, "200 for GET $target";
    next unless $path =~ m{\A/env};    # test.psgi shows the env there
    like $r && $r->{body}, qr/^PATH_INFO=\Q$path\E\nQUERY_STRING=\Q$query\E$/m, "  PATH_INFO '$path', QUERY_STRING '$query'";
}

is_deeply [children_of($v->{pid})], \@workers, 'the same worker is still there';
ok stop_vassal($v), 'stops';

done_testing;
