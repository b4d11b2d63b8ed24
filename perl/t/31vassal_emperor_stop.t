# How a vassal's life ends (and restarts): EOF from the Emperor, byte 0 with
# a request in flight, a killed master (PDEATHSIG stops the idle workers),
# byte 1 (reload: a non-adopted vassal executes itself again).
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Vassal::XS;
use Time::HiRes qw(sleep time);

Vassal::XS::set_child_subreaper(1);    # orphaned workers would re-parent to us
my $dir = tempdir();
my $log = "$dir/log";

sub start {
    my ($workers) = @_;
    my $port = empty_port();
    my ($e, $v) = emperor_pair();
    my $pid = spawn_vassal(args => ['--http-socket', "127.0.0.1:$port", '--psgi', test_app('test.psgi'),
                                    '--workers', $workers], emperor => $v, stderr => $log);
    close $v;
    expect_bytes($e, [1, 5], 15, "vassal $pid ready and accepting");
    ok wait_port({port => $port, max_wait => 10}), 'listening';
    return ($pid, $e, $port, children_of($pid));
}

subtest 'EOF from the Emperor' => sub {
    my ($pid, $e, $port, @w) = start(2);
    is scalar @w, 2, 'two workers';
    close $e;
    ok wait_gone(10, $pid, @w), 'master and workers exit';
    like slurp($log), qr/^\[psgi-vassal pid $pid\] stopping \(now\) on EOF from the Emperor$/m, 'logged';
};

subtest 'byte 0 does not wait for requests in flight' => sub {
    my ($pid, $e, $port, @w) = start(1);
    my $c = http_connect($port);
    syswrite $c, "GET /sleep?5 HTTP/1.1\r\nHost: x\r\n\r\n";
    sleep 0.3;
    my $t0 = time;
    syswrite $e, chr(0);
    ok wait_gone(10, $pid, @w), 'master and worker exit';
    ok time - $t0 < 3, 'at once';
    is read_response($c), undef, 'the request in flight is cut';
};

subtest 'a killed master takes its workers with it' => sub {
    my ($pid, $e, $port, @w) = start(2);
    kill 'KILL', $pid;
    ok wait_gone(10, $pid, @w), 'the idle workers exit with the master (PR_SET_PDEATHSIG, SIGQUIT)';
};

subtest 'byte 1: reload by executing again' => sub {
    my ($pid, $e, $port, @w) = start(2);
    is http_get($port, '/')->{status}, 200, 'serves';
    expect_bytes($e, [17], 5, 'loyal');
    syswrite $e, chr(1);
    expect_bytes($e, [1, 5], 15, 'ready and accepting again after the reload');
    ok process_alive($pid), 'the same master pid';
    ok wait_gone(10, @w), 'the old workers are gone';
    my @new = children_of($pid);
    is scalar @new, 2, 'two new workers';
    is http_get($port, '/')->{status}, 200, 'serves after the reload';
    expect_bytes($e, [17], 5, 'loyal again');
    like slurp($log), qr/^\[psgi-vassal pid $pid\] reloading: exec /m, 'logged';
    syswrite $e, chr(0);
    ok wait_gone(10, $pid, @new), 'stops';
};

subtest 'SIGTERM without an Emperor' => sub {
    my $port = empty_port();
    my $pid = spawn_vassal(args => ['--http-socket', "127.0.0.1:$port", '--psgi', test_app('test.psgi')],
                           stderr => $log);
    ok wait_port({port => $port, max_wait => 10}), 'runs without an Emperor';
    is http_get($port, '/')->{status}, 200, 'serves';
    my @w = children_of($pid);
    kill 'TERM', $pid;
    ok wait_gone(10, $pid, @w), 'exits on SIGTERM';
};

done_testing;
