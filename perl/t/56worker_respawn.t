# A worker that dies anyway - the app calls _exit, or the worker is killed -
# is replaced by the master; the client of the request in flight sees the
# connection closed.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Time::HiRes qw(sleep);

my $v = start_vassal(args => ['--processes', 1]);
my ($worker) = children_of($v->{pid});

my $c = http_connect($v->{port});
syswrite $c, "GET /exit HTTP/1.1\r\nHost: x\r\n\r\n";
is read_response($c), undef, 'the request in flight gets no response';
ok wait_gone(10, $worker), 'the worker is gone';
my $new;
for (1 .. 100) {
    ($new) = children_of($v->{pid});
    last if $new && $new != $worker;
    sleep 0.05;
}
ok $new && $new != $worker, 'a new worker replaced it';
like slurp($v->{log}), qr/worker 1 \(pid $worker\) died unexpectedly \(exit status 3\), respawning/, 'logged';
my $r;
for (1 .. 50) { $r = http_get($v->{port}, '/pid'); last if $r->{status} == 200; sleep 0.1 }
is $r->{content}, "$new\n", 'the new worker serves';

kill 'KILL', $new;
ok wait_gone(10, $new), 'a killed worker is gone';
my $third;
for (1 .. 100) {
    ($third) = children_of($v->{pid});
    last if $third && $third != $new;
    sleep 0.05;
}
ok $third && $third != $new, 'and replaced too';
like slurp($v->{log}), qr/worker 1 \(pid $new\) died unexpectedly \(signal 9\), respawning/, 'logged';
ok stop_vassal($v), 'stops';

done_testing;
