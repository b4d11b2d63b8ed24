# TCP listeners hand a connection to a worker once its first bytes have
# arrived (TCP_DEFER_ACCEPT, as uWSGI): a client that connects and takes its
# time before sending is still served, on http-socket and on a uwsgi socket;
# one that never sends is still dropped; and the only worker serves others
# meanwhile. The kernel keeps a silent connection in SYN-RECV (not handed to
# the server) unless no-defer-accept is set.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Time::HiRes qw(sleep);

my $v = start_vassal(args => ['--processes', 1, '--socket-timeout', 3]);

my $late = http_connect($v->{port});
my $silent = http_connect($v->{port});
is http_get($v->{port}, '/pid')->{status}, 200, 'another client is served meanwhile';
sleep 1.5;
my $r = http_roundtrip($late, "GET /env HTTP/1.1\r\nHost: x\r\n\r\n");
is $r->{status}, 200, 'a request sent 1.5 s after its connection is served';
like $r->{body}, qr/^REQUEST_METHOD=GET$/m, 'as usual';
$r = http_roundtrip($late, "GET /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
is $r->{status}, 200, 'and the next one on that connection';
ok is_closed($late, 5), 'closed after Connection: close';
is server_side($v->{port}, 'syn-recv'), 1, 'the silent one waits in the kernel (SYN-RECV), not in the worker';
ok is_closed($silent, 20), 'a connection that never sends is dropped';
ok stop_vassal($v), 'stops';

my $port = empty_port();
$v = start_vassal(args => ['--processes', 1, '--socket', "127.0.0.1:$port", '--socket-timeout', 3]);
my $c = http_connect($port);
sleep 1.5;
syswrite $c, uwsgi_packet([REQUEST_METHOD => 'GET', REQUEST_URI => '/pid', PATH_INFO => '/pid',
                           QUERY_STRING => '', SERVER_PROTOCOL => 'HTTP/1.1', SERVER_NAME => 'x',
                           SERVER_PORT => $port]);
$r = read_response($c);
is $r && $r->{status}, 200, 'a uwsgi request sent 1.5 s after its connection is served';
ok stop_vassal($v), 'stops';

$v = start_vassal(args => ['--processes', 1, '--no-defer-accept']);
$silent = http_connect($v->{port});
is http_get($v->{port}, '/pid')->{status}, 200, 'no-defer-accept: served';
sleep 0.3;
is server_side($v->{port}, 'syn-recv'), 0, 'no-defer-accept: a silent connection is not held in SYN-RECV';
is server_side($v->{port}, 'established'), 1, '... the worker accepted it (ESTABLISHED)';
close $silent;
ok stop_vassal($v), 'stops';

# server-side sockets of 127.0.0.1:$port in a TCP state, as ss(8) lists them
sub server_side {
    my ($port, $state) = @_;
    my @lines = grep { /\S/ } `ss -Htn state $state '( sport = :$port )'`;
    return scalar @lines;
}

done_testing;
