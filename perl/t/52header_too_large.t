# A header section longer than buffer-size gets 431 (a request line alone
# that long: 414) and the connection is closed; just under it is served.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;

my $v = start_vassal(args => ['--processes', 1, '--buffer-size', 2048]);
my @workers = children_of($v->{pid});

my $c = http_connect($v->{port});
syswrite $c, "GET / HTTP/1.1\r\nHost: x\r\n" . join('', map { "X-Header-$_: " . ('v' x 100) . "\r\n" } 1 .. 30) . "\r\n";
my $r = read_response($c);
is $r->{status}, 431, '431 for a header section over buffer-size';
is $r->{headers}{connection}, 'close', 'Connection: close';
ok is_closed($c), 'closed';
like slurp($v->{log}), qr/bad request: header section longer than buffer-size/, 'logged';

$c = http_connect($v->{port});
syswrite $c, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " . ('v' x 5000);    # never ends: still refused
$r = read_response($c);
is $r->{status}, 431, '431 before the section ends';
ok is_closed($c), 'closed';

$c = http_connect($v->{port});
syswrite $c, "GET /" . ('a' x 3000) . " HTTP/1.1\r\n\r\n";
$r = read_response($c);
is $r->{status}, 414, '414 for a request line over buffer-size';

$c = http_connect($v->{port});
my $head = "GET / HTTP/1.1\r\nHost: x\r\nX-Fill: ";
my $fill = 2048 - length($head) - 4;
$r = http_roundtrip($c, $head . ('v' x $fill) . "\r\n\r\n");
is $r->{status}, 200, 'a header section of exactly buffer-size is served';

is_deeply [children_of($v->{pid})], \@workers, 'the same worker';
ok stop_vassal($v), 'stops';

my $d = start_vassal(args => ['--processes', 1]);
$c = http_connect($d->{port});
$r = http_roundtrip($c, "GET / HTTP/1.1\r\nHost: x\r\nCookie: " . ('c' x 60_000) . "\r\n\r\n");
is $r->{status}, 200, 'the default buffer-size (64 KiB) takes a 60 KB cookie';
ok stop_vassal($d), 'stops';

done_testing;
