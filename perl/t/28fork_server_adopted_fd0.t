# What an adopted vassal has at fd 0: the on-demand socket with mask 0x04,
# /dev/null otherwise - never its base's fd 0 (the Emperor's fork-server
# socket, or another socket the base was given), which it would take for a
# socket of its own or keep open after the base and the Emperor let it go
# (connections to it would then wait forever instead of being refused). A
# fork server whose own fd 0 is closed puts /dev/null there, so that no
# connection or received descriptor lands at 0 and is lost.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Vassal::XS;
use IO::Socket::INET;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use POSIX ();

Vassal::XS::set_child_subreaper(1);

my $app = test_app('test.psgi');

sub fd0 { readlink("/proc/$_[0]/fd/0") // "none ($!)" }

sub inode_of { 'socket:[' . (stat $_[0])[1] . ']' }

# Adopts a vassal with mask 0x01 and its own http-socket: it serves on it,
# and neither it nor its worker has the base's fd 0.
sub adopt_plain {
    my ($fork, $log) = @_;
    my $port = empty_port();
    my $v = adopt_vassal($fork, 0x01, ['--http-socket', "127.0.0.1:$port", '--processes', 1], [], $log);
    is http_get($port, '/')->{status}, 200, 'mask 0x01: serves its own http-socket';
    like slurp($log), qr/^\[psgi-vassal pid $v->{pid}\] serving HTTP on 127\.0\.0\.1:$port with/m, 'bound, not fd 0';
    is fd0($v->{pid}), '/dev/null', 'its fd 0 is /dev/null';
    my ($worker) = children_of($v->{pid});
    is $worker && fd0($worker), '/dev/null', 'its worker\'s too';
    return $v;
}

subtest 'a base on the Emperor\'s fork-server socket at fd 0' => sub {
    my $dir = tempdir();
    my ($held, $path) = held_socket("$dir/fork.sock");
    my ($base, $e, undef, $log) = start_base(dir => $dir, early_psgi => $app, stdin => $held);
    expect_bytes($e, [1, 17], 15, 'the base is ready') or diag slurp($log);
    is fd0($base), inode_of($held), 'the base has the held socket at fd 0';

    my $plain = adopt_plain($path, $log);

    my ($ve, $vv) = emperor_pair();
    my ($nosock, $err) = fork_request($path, 0x01, [psgi_vassal(), '--processes', 1], [fileno $vv]);
    close $vv;
    ok $nosock, 'mask 0x01, no socket configured: adopted' or diag $err;
    is_deeply [read_bytes($ve, 2, 10)], [], 'it never gets ready';
    ok wait_gone(10, $nosock), 'it exits';
    like slurp($log), qr/^\[psgi-vassal pid $nosock\] fatal: no socket to serve on/m,
        'no socket to serve on: the fork-server socket is not taken for one';

    my ($ondemand, $port) = held_socket();
    my $v = adopt_vassal($path, 0x05, ['--processes', 1], [$ondemand], $log);
    is fd0($v->{pid}), inode_of($ondemand), 'mask 0x05: fd 0 is the on-demand socket';
    is http_get($port, '/')->{status}, 200, 'and it serves it';
    ok stop_vassal($v), 'it stops';

    # the Emperor lets its socket go and the base stops: nobody listens any more
    close $held;
    syswrite $e, chr(0);
    ok wait_gone(10, $base), 'the base exits';
    ok process_alive($plain->{pid}), 'the vassal adopted with mask 0x01 still runs';
    ok !IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $path), 'connecting to the fork-server socket fails';
    ok $!{ECONNREFUSED}, '... refused (the vassal does not hold it)' or diag "connect: $!";
    ok stop_vassal($plain), 'the vassal stops';
    unlink $path;
};

subtest 'a base on its own socket with a TCP listening socket at fd 0' => sub {
    my $dir = tempdir();
    my ($held, $hport) = held_socket();
    my ($base, $e, $fork, $log) = start_base(dir => $dir, early_psgi => $app, stdin => $held);
    expect_bytes($e, [1, 17], 15, 'the base is ready') or diag slurp($log);
    like slurp($log), qr/fd 0 is a listening socket on 127\.0\.0\.1:$hport, not the fork-server socket \Q$fork\E: left alone/,
        'fd 0 left alone, said so';
    like slurp($log), qr/fork server listening on \Q$fork\E$/m, 'it binds its own socket';

    my $plain = adopt_plain($fork, $log);
    close $held;
    syswrite $e, chr(0);
    ok wait_gone(10, $base), 'the base exits';
    ok !-e $fork, 'removing its own socket file';
    ok !IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $hport), 'connecting to the socket that was at fd 0 fails';
    ok $!{ECONNREFUSED}, '... refused (the vassal does not hold it)' or diag "connect: $!";
    ok stop_vassal($plain), 'the vassal stops';
};

subtest 'a fork server whose fd 0 is closed: nothing it receives lands there' => sub {
    my $dir = tempdir();
    my $path = "$dir/fork.sock";
    my $log = "$dir/fs.log";
    my $pid = fork // die "fork: $!";
    if (!$pid) {    # the fork server (Vassal::ForkServer on its own): never returns into the test
        eval {
            open STDERR, '>>', $log or die "$log: $!";
            require Vassal::ForkServer;
            my $fs = Vassal::ForkServer->new(path => $path, on_adopt => sub {
                # byte 1 on the Emperor pipe when it is not fd 0 and fd 0 is /dev/null
                my $ok = ($ENV{UWSGI_EMPEROR_FD} // 0) != 0 && (readlink('/proc/self/fd/0') // '') eq '/dev/null';
                open my $e, '+<&=', $ENV{UWSGI_EMPEROR_FD} or return 1;
                syswrite $e, chr($ok ? 1 : 9);
                return 0;
            });
            $fs->listen;
            close STDIN;
            POSIX::close(0);    # the next connection or received descriptor would land at 0
            $fs->run;
            1;
        } or warn $@;
        POSIX::_exit(0);
    }
    ok wait_for_log($log, qr/fork server listening/, 10), 'listening';
    my ($e, $v) = emperor_pair();
    my ($vassal, $err) = fork_request($path, 0x01, ['x'], [fileno $v]);
    close $v;
    ok $vassal, 'adopted' or diag $err, slurp($log);
    is_deeply [read_bytes($e, 1, 10)], [1], 'the vassal has its Emperor pipe, and /dev/null at fd 0';
    like slurp("/proc/$pid/fdinfo/0"), qr/\S/, 'the fork server has something at fd 0';
    kill 'TERM', $pid;
    ok wait_gone(10, $pid, $vassal // ()), 'the fork server exits';
};

done_testing;
