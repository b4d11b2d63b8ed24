# harakiri: a worker serving one request for longer than that is killed by
# the master and replaced; quick requests are left alone.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Time::HiRes qw(sleep);

my $v = start_vassal(args => ['--processes', 1, '--harakiri', 1]);
my ($worker) = children_of($v->{pid});
is http_get($v->{port}, '/pid')->{content}, "$worker\n", 'a quick request';

my $c = http_connect($v->{port});
syswrite $c, "GET /sleep?30 HTTP/1.1\r\nHost: x\r\n\r\n";
is read_response($c, 0, 20), undef, 'the stuck request gets no response';
ok wait_gone(10, $worker), 'its worker was killed';
like slurp($v->{log}), qr/HARAKIRI: worker 1 \(pid $worker\) has been serving one request for [0-9.]+ seconds \(harakiri 1\): killing it/,
    'logged';
my $r;
for (1 .. 50) { $r = http_get($v->{port}, '/pid'); last if $r->{status} == 200; sleep 0.1 }
is $r->{status}, 200, 'a new worker serves';
isnt $r->{content}, "$worker\n", 'another pid';
ok stop_vassal($v), 'stops';

done_testing;
