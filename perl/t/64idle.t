# idle: without a request for that long the workers stop until the next
# connection (cheap mode); with die-on-idle the vassal sends byte 22 to its
# Emperor (and exits when it has none).
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Time::HiRes qw(sleep);

subtest 'cheap mode' => sub {
    my $v = start_vassal(args => ['--processes', 2, '--idle', 1]);
    is http_get($v->{port}, '/')->{status}, 200, 'serves';
    ok wait_for_log($v->{log}, qr/cheap mode: stopping the workers until the next connection/, 15), 'goes cheap';
    my $gone = 0;
    for (1 .. 100) { if (!children_of($v->{pid})) { $gone = 1; last } sleep 0.1 }
    ok $gone, 'no worker left';
    ok process_alive($v->{pid}), 'the master stays';
    my $r = http_get($v->{port}, '/pid');
    is $r->{status}, 200, 'the next connection is served';
    like slurp($v->{log}), qr/a connection arrived: leaving cheap mode/, 'logged';
    is scalar(children_of($v->{pid})), 2, 'by fresh workers';
    ok stop_vassal($v), 'stops';
};

subtest 'die-on-idle with an Emperor' => sub {
    my $v = start_vassal(args => ['--processes', 1, '--idle', 1, '--die-on-idle']);
    my @got = read_bytes($v->{emperor}, 1, 15);
    is_deeply \@got, [22], 'byte 22 (stop me)';
    ok process_alive($v->{pid}), 'it waits for the Emperor';
    ok stop_vassal($v), 'which stops it';
};

subtest 'die-on-idle without an Emperor' => sub {
    my $dir = tempdir();
    my $port = empty_port();
    my $pid = spawn_vassal(args => ['--http-socket', "127.0.0.1:$port", '--psgi', test_app('test.psgi'),
                                    '--idle', 1, '--die-on-idle'], stderr => "$dir/log");
    ok wait_gone(20, $pid), 'exits';
    like slurp("$dir/log"), qr/stopping \(graceful\) on die-on-idle/, 'logged';
};

done_testing;
