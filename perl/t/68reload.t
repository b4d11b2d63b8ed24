# Byte 1 (reload) to a plainly spawned vassal: the workers finish their
# requests in flight, the master executes itself again keeping its pid, its
# Emperor pipe and its listening sockets (no connection is refused during
# the reload), and a config from the config pipe is asked for again (byte 2).
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Vassal::XS;
use Vassal::Packet qw(encode_packet);
use Time::HiRes qw(sleep);

subtest 'http-socket vassal' => sub {
    my $v = start_vassal(args => ['--processes', 2]);
    my @old = children_of($v->{pid});
    is http_get($v->{port}, '/')->{status}, 200, 'serves';
    is_deeply [read_bytes($v->{emperor}, 1, 5)], [17], 'loyal';

    my $slow = http_connect($v->{port});
    syswrite $slow, "GET /sleep?1 HTTP/1.1\r\nHost: x\r\n\r\n";
    sleep 0.3;
    syswrite $v->{emperor}, chr(1);
    sleep 0.2;
    # connections made while the old workers finish and the master execs
    # wait in the kept socket's backlog
    my @during = map { http_connect($v->{port}) } 1 .. 3;
    syswrite $_, "GET /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" for @during;

    my $r = read_response($slow);
    is $r->{status}, 200, 'the request in flight completes';
    like $r->{body}, qr/\Aslept/, 'with its body';
    is_deeply [read_bytes($v->{emperor}, 2, 20)], [1, 5], 'ready and accepting again, on the same Emperor pipe';
    ok process_alive($v->{pid}), 'the same master pid';
    ok wait_gone(10, @old), 'the old workers are gone';
    my @new = children_of($v->{pid});
    is scalar @new, 2, 'two new workers';
    for my $c (@during) {
        my $d = read_response($c, 0, 20);
        is $d && $d->{status}, 200, 'a connection made during the reload is served';
    }
    like slurp($v->{log}), qr/^\[psgi-vassal pid $v->{pid}\] reloading: exec /m, 'logged';
    like slurp($v->{log}), qr/serving HTTP on 127\.0\.0\.1:$v->{port} \(inherited fd \d+\)/, 'the socket was kept';
    ok stop_vassal($v), 'stops';
};

subtest 'config from the config pipe' => sub {
    my $dir = tempdir();
    my $port = empty_port();
    my ($ce, $cv) = emperor_pair();
    Vassal::XS::set_cloexec(fileno $cv, 0);
    syswrite $ce, encode_packet(115, 0, "[uwsgi]\nhttp-socket = 127.0.0.1:$port\npsgi = " . test_app('test.psgi') . "\nprocesses = 1\n");
    my ($e, $v) = emperor_pair();
    my $log = "$dir/log";
    my $pid = spawn_vassal(args => ['--ini', 'emperor://app5.ini'], emperor => $v, stderr => $log,
                           env => { UWSGI_EMPEROR_FD_CONFIG => fileno $cv });
    close $v;
    is_deeply [read_bytes($e, 2, 20)], [1, 5], 'ready and accepting';
    is scalar(children_of($pid)), 1, 'one worker';
    syswrite $e, chr(1);
    is_deeply [read_bytes($e, 1, 20)], [2], 'byte 2: send me my config again';
    syswrite $ce, encode_packet(115, 0, "[uwsgi]\nhttp-socket = 127.0.0.1:$port\npsgi = " . test_app('test.psgi') . "\nprocesses = 2\n");
    is_deeply [read_bytes($e, 2, 20)], [1, 5], 'ready and accepting after the reload';
    is scalar(children_of($pid)), 2, 'the new config: two workers';
    like slurp($log), qr/^\[app5 pid $pid\] serving HTTP on 127\.0\.0\.1:$port \(inherited fd \d+\) with 2 worker/m,
        'same socket, new config';
    my @w = children_of($pid);
    syswrite $e, chr(0);
    ok wait_gone(10, $pid, @w), 'stops';
};

done_testing;
