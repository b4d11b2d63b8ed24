# A client that sends nothing for socket-timeout seconds is dropped - a new
# connection, one in the middle of its request head or body, an idle
# keep-alive one - and while it waits the worker serves everybody else.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;

my $v = start_vassal(args => ['--processes', 1, '--socket-timeout', 1]);
my @workers = children_of($v->{pid});

my $silent = http_connect($v->{port});
my $half = http_connect($v->{port});
syswrite $half, "GET / HTTP/1.1\r\nHost: x\r\n";
my $idle = http_connect($v->{port});
my $r = http_roundtrip($idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
is $r->{status}, 200, 'a keep-alive request';

# the only worker is not held by them
is http_get($v->{port}, '/pid')->{status}, 200, 'meanwhile another client is served';

ok is_closed($silent, 10), 'a silent new connection is dropped';
ok is_closed($half, 10), 'a half-sent request head is dropped';
ok is_closed($idle, 10), 'an idle keep-alive connection is dropped';

my $body = http_connect($v->{port});
syswrite $body, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part of it";
ok is_closed($body, 10), 'a body that stops arriving is dropped';

is_deeply [children_of($v->{pid})], \@workers, 'the same worker';
is http_get($v->{port}, '/')->{status}, 200, 'and it serves';
ok stop_vassal($v), 'stops';

done_testing;
