# When a vassal's master dies (SIGKILL), its workers stop accepting, finish
# the request in flight and exit: the client gets its whole response, and a
# connection that arrives after the master died is not taken by the orphaned
# worker - it waits in the held socket's backlog and the next vassal on that
# socket answers it. An orphaned worker is still bounded: one whose request
# outlasts harakiri is killed.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Vassal::XS;
use Time::HiRes qw(sleep time);

Vassal::XS::set_child_subreaper(1);    # orphaned workers re-parent to us

my $dir = tempdir();

subtest 'the request in flight is finished, the next connection left to the next vassal' => sub {
    my ($held, $port) = held_socket();
    my $v = start_vassal(dir => $dir, log => "$dir/first.log", port => $port, stdin => $held,
                         args => ['--processes', 1]);
    my ($worker) = children_of($v->{pid});
    my $slow = http_connect($port);
    my $t0 = time;
    syswrite $slow, "GET /slow?2 HTTP/1.1\r\nHost: x\r\n\r\n";
    sleep 0.5;    # in the app
    kill 'KILL', $v->{pid};
    ok wait_gone(5, $v->{pid}), 'the master is gone';
    ok process_alive($worker), 'its worker is still finishing the request';

    my $late = http_connect($port);    # after the master died
    syswrite $late, "GET /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

    my $r = read_response($slow, 0, 10);
    is $r && $r->{status}, 200, 'the request in flight gets its 200';
    is $r && $r->{body}, "slow $worker\n", 'with its whole body, from that worker';
    ok time - $t0 >= 1.9, 'after the whole two seconds the app took';
    is $r && $r->{headers}{connection}, 'close', 'Connection: close (the worker stops)';
    ok wait_gone(5, $worker), 'then the worker exits';
    like slurp($v->{log}), qr/worker 1 exiting: the master is gone/, 'logged';

    ok !is_closed($late, 0.5), 'a connection made after the master died is not taken: it waits';
    my $next = start_vassal(dir => $dir, log => "$dir/next.log", port => $port, stdin => $held);
    my $lr = read_response($late, 0, 10);
    is $lr && $lr->{status}, 200, 'the next vassal on the held socket answers it';
    my ($by) = ($lr && $lr->{body} // '') =~ /\A([0-9]+)/;
    is $by && parent_of($by), $next->{pid}, '... with a worker of its own';
    ok stop_vassal($next), 'stops';
};

subtest 'an idle worker exits at once' => sub {
    my $v = start_vassal(dir => $dir, log => "$dir/idle.log", args => ['--processes', 2]);
    my @workers = children_of($v->{pid});
    is scalar @workers, 2, 'two workers';
    my $t0 = time;
    kill 'KILL', $v->{pid};
    ok wait_gone(5, $v->{pid}, @workers), 'master and workers are gone';
    ok time - $t0 < 2, 'at once';
};

subtest 'an orphaned worker is bounded by harakiri' => sub {
    my $v = start_vassal(dir => $dir, log => "$dir/bounded.log", args => ['--processes', 1, '--harakiri', 2]);
    my ($worker) = children_of($v->{pid});
    my $slow = http_connect($v->{port});
    syswrite $slow, "GET /slow?30 HTTP/1.1\r\nHost: x\r\n\r\n";
    sleep 0.3;
    my $t0 = time;
    kill 'KILL', $v->{pid};
    ok wait_gone(10, $v->{pid}, $worker), 'the worker is gone';
    my $took = time - $t0;
    ok $took >= 1.5 && $took < 5, sprintf('killed about harakiri seconds after the master died (%.1f s)', $took);
    is read_response($slow, 0, 2), undef, 'the request that outlasted it gets no response';
};

done_testing;
