# A vassal the Emperor spawns (not adopted) with the vassal's listening
# socket at fd 0 - a socket the Emperor binds once and holds, as uWSGI passes
# an on-demand socket - serves it in place of the configured socket with that
# address instead of binding (no "Address already in use"), TCP and UNIX.
# Connections made while no vassal runs wait in the held socket's backlog and
# are answered by the next vassal; a reload by re-exec keeps it (taken once);
# an fd 0 that is not a listening socket is ignored as before; a base vassal
# (fork server) is not affected.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Vassal::XS;
use Socket qw(AF_UNIX SOCK_STREAM PF_UNSPEC);
use Time::HiRes qw(sleep);

Vassal::XS::set_child_subreaper(1);    # adopted vassals re-parent to us

my $dir = tempdir();

# A request sent now, on a connection the held socket's backlog keeps.
sub waiting_request {
    my ($c) = @_;
    syswrite $c, "GET /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    return $c;
}

sub answered_by {
    my ($c, $v, $name) = @_;
    my $r = read_response($c, 0, 20);
    is $r && $r->{status}, 200, $name;
    my ($worker) = ($r && $r->{body} // '') =~ /\A([0-9]+)/;
    is $worker && parent_of($worker), $v->{pid}, '... by a worker of that vassal';
}

subtest 'TCP: the held socket is served, through stops and a reload' => sub {
    my ($held, $port) = held_socket();
    my $early = waiting_request(http_connect($port));    # before any vassal runs

    my $v = start_vassal(dir => $dir, log => "$dir/tcp1.log", port => $port, stdin => $held,
                         args => ['--processes', 2]);
    answered_by($early, $v, 'a connection made before the vassal started is answered');
    is http_get($port, '/')->{status}, 200, 'serves';
    my $log = slurp($v->{log});
    like $log, qr/serving HTTP on 127\.0\.0\.1:$port \(inherited fd 0\)/, 'the socket at fd 0, in place of http-socket';
    unlike $log, qr/Address already in use|no socket to serve on/, 'no bind error';

    # a reload by re-exec: fd 0 travels in VASSAL_LISTEN_FDS and is taken once
    is_deeply [read_bytes($v->{emperor}, 1, 5)], [17], 'loyal';
    syswrite $v->{emperor}, chr(1);
    is_deeply [read_bytes($v->{emperor}, 2, 20)], [1, 5], 'ready and accepting again after a reload';
    is http_get($port, '/')->{status}, 200, 'serves after the reload';
    my @serving = slurp($v->{log}) =~ /^(.*serving HTTP on 127\.0\.0\.1:$port \(inherited fd 0\).*)$/mg;
    is scalar @serving, 2, 'the same fd 0 before and after the reload';
    unlike slurp($v->{log}), qr/fatal|cannot use/, 'no error';
    ok stop_vassal($v), 'stops';

    my $between = waiting_request(http_connect($port));    # no vassal runs now
    ok !is_closed($between, 0.5), 'a connection made between two vassals waits in the backlog';
    my $v2 = start_vassal(dir => $dir, log => "$dir/tcp2.log", port => $port, stdin => $held);
    answered_by($between, $v2, 'the next vassal on the same held socket answers it');
    unlike slurp($v2->{log}), qr/Address already in use/, 'no "Address already in use"';
    ok stop_vassal($v2), 'stops';
};

subtest 'UNIX: the held socket is served, its file left alone' => sub {
    my ($held, $path) = held_socket("$dir/held.sock");
    my $early = waiting_request(unix_connect($path));
    my $v = start_vassal(dir => $dir, log => "$dir/unix1.log", stdin => $held, args => ['--http-socket', $path]);
    answered_by($early, $v, 'a connection made before the vassal started is answered');
    like slurp($v->{log}), qr/serving HTTP on UNIX socket \Q$path\E \(inherited fd 0\)/, 'the socket at fd 0';
    ok stop_vassal($v), 'stops';
    ok -S $path, 'the socket file is the holder\'s: not removed';

    my $between = waiting_request(unix_connect($path));
    my $v2 = start_vassal(dir => $dir, log => "$dir/unix2.log", stdin => $held, args => ['--http-socket', $path]);
    answered_by($between, $v2, 'a connection made between two vassals is answered by the next one');
    ok stop_vassal($v2), 'stops';
};

subtest 'the address rule: match, else the first socket, else HTTP' => sub {
    my ($held, $port) = held_socket();
    my $other = empty_port();
    my $v = start_vassal(dir => $dir, log => "$dir/rule1.log", stdin => $held,
                         args => ['--http-socket', "127.0.0.1:$other", '--socket', "127.0.0.1:$port"]);
    like slurp($v->{log}), qr/serving the uwsgi protocol on 127\.0\.0\.1:$port \(inherited fd 0\)/,
        'in place of the configured socket with its address (not the first one)';
    like slurp($v->{log}), qr/serving HTTP on 127\.0\.0\.1:$other with/, 'the other one is bound';
    ok stop_vassal($v), 'stops';

    $v = start_vassal(dir => $dir, log => "$dir/rule2.log", stdin => $held, args => ['--http-socket', "127.0.0.1:$other"]);
    like slurp($v->{log}), qr/serving HTTP on 127\.0\.0\.1:$port \(inherited fd 0\)/,
        'no configured socket has its address: in place of the first one';
    is http_get($port, '/')->{status}, 200, 'serves on it';
    ok stop_vassal($v), 'stops';

    $v = start_vassal(dir => $dir, log => "$dir/rule3.log", stdin => $held, no_http => 1);
    like slurp($v->{log}), qr/serving HTTP on 127\.0\.0\.1:$port \(inherited fd 0\)/, 'no socket configured: as HTTP';
    is http_get($port, '/')->{status}, 200, 'serves on it';
    ok stop_vassal($v), 'stops';
};

subtest 'an fd 0 that is not a listening socket is ignored' => sub {
    my ($held, $hport) = held_socket();
    my $connected = http_connect($hport);
    pipe(my $r, my $w) or die "pipe: $!";
    socketpair(my $s1, my $s2, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die "socketpair: $!";
    my %cases = ('/dev/null' => undef, 'a pipe' => $r, 'a connected TCP socket' => $connected,
                 'a UNIX socket pair' => $s1);
    for my $what (sort keys %cases) {
        my $port = empty_port();
        my $v = start_vassal(dir => $dir, log => "$dir/ignored.log", port => $port, stdin => $cases{$what});
        is http_get($port, '/')->{status}, 200, "$what: serves its own http-socket";
        like slurp($v->{log}), qr/serving HTTP on 127\.0\.0\.1:$port with/, "$what: bound, not inherited";
        ok stop_vassal($v), 'stops';
        unlink $v->{log};
    }
    my $port = empty_port();
    my $pid = spawn_vassal(cmd => ['/bin/sh', '-c', 'exec "$@" <&-', 'sh', $^X, psgi_vassal(),
                                   '--http-socket', "127.0.0.1:$port", '--psgi', test_app('test.psgi')],
                           stderr => "$dir/closed.log");
    ok wait_port({port => $port, max_wait => 10}), 'fd 0 closed: serves its own http-socket';
    is http_get($port, '/')->{status}, 200, 'serves';
    kill 'TERM', $pid;
    ok wait_gone(10, $pid), 'stops';
};

subtest 'a base vassal with a listening socket at fd 0 still adopts' => sub {
    my ($held) = held_socket();
    my ($base, $e, $fork, $log) = start_base(dir => $dir, early_psgi => test_app('test.psgi'), stdin => $held);
    expect_bytes($e, [1, 17], 15, 'the base is ready and loyal');
    my $port = empty_port();
    my $a = adopt_vassal($fork, 0x01, ['--http-socket', "127.0.0.1:$port"], [], $log);
    is http_get($port, '/')->{status}, 200, 'the adopted vassal serves its own socket';
    like slurp($log), qr/serving HTTP on 127\.0\.0\.1:$port with/, 'an adopted vassal takes fd 0 only with mask 0x04';
    ok stop_vassal($a), 'the adopted vassal stops';
    syswrite $e, chr(0);
    ok wait_gone(10, $base), 'the base exits';
};

done_testing;
