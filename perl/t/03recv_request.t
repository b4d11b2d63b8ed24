# Vassal::XS::recv_request(_nb) and send_fds: descriptors, credentials,
# fragments, timeout, EOF mid-packet, too many descriptors (all closed on
# error).
use strict;
use warnings;
use Test::More;
use Socket qw(AF_UNIX SOCK_STREAM PF_UNSPEC);
use POSIX ();
use Time::HiRes qw(time);
use Vassal::XS;
use Vassal::Packet qw(:all);

sub pair {
    socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die $!;
    return ($a, $b);
}
sub cloexec { my $i = do { local $/; open my $f, '<', "/proc/self/fdinfo/$_[0]" or die $!; <$f> }; $i =~ /^flags:\s*([0-7]+)/m or die; oct($1) & 02000000 }
sub open_fds { opendir my $d, '/proc/self/fd' or return -1; scalar grep /\A[0-9]+\z/, readdir $d }

my $req = encode_fork_request(0x01, '/usr/local/bin/uwsgi', '--ini', 'app1.ini');

subtest 'one packet with one descriptor and credentials' => sub {
    my ($a, $b) = pair();
    pipe(my $r, my $w) or die $!;
    Vassal::XS::send_fds(fileno $a, $req, [fileno $w]);
    my $got = Vassal::XS::recv_request(fileno $b, 2);
    is $got->{modifier1}, 35, 'modifier1';
    is $got->{modifier2}, 1, 'modifier2';
    is_deeply [decode_array($got->{body})], ['/usr/local/bin/uwsgi', '--ini', 'app1.ini'], 'body';
    is scalar @{ $got->{fds} }, 1, 'one descriptor';
    is $got->{pid}, $$, 'peer pid';
    is $got->{uid}, $<, 'peer uid';
    is $got->{gid}, (split ' ', $()[0], 'peer gid';
    my $fd = $got->{fds}[0];
    ok cloexec($fd), 'received close-on-exec';
    POSIX::write($fd, "hi", 2);
    sysread $r, my $buf, 2;
    is $buf, 'hi', 'the descriptor is the pipe';
    POSIX::close($fd);
};

subtest 'header and body in fragments, descriptors on the first' => sub {
    my ($a, $b) = pair();
    pipe(my $r, my $w) or die $!;
    socketpair(my $c, my $d, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die $!;
    my $pid = fork // die;
    if (!$pid) {
        Vassal::XS::send_fds(fileno $a, substr($req, 0, 2), [fileno $w, fileno $c]);
        select undef, undef, undef, 0.1;
        syswrite $a, substr($req, 2, 5);
        select undef, undef, undef, 0.1;
        syswrite $a, substr($req, 7);
        POSIX::_exit(0);
    }
    my $got = Vassal::XS::recv_request(fileno $b, 3);
    waitpid $pid, 0;
    is length($got->{body}), length($req) - 4, 'whole body';
    is scalar @{ $got->{fds} }, 2, 'two descriptors';
    is $got->{pid}, $$, 'SO_PEERCRED names the process that made the connection';
    POSIX::close($_) for @{ $got->{fds} };
};

subtest 'does not read past the packet' => sub {
    my ($a, $b) = pair();
    syswrite $a, $req . "NEXT";
    my $got = Vassal::XS::recv_request(fileno $b, 1);
    is length($got->{body}), length($req) - 4, 'one packet';
    sysread $b, my $rest, 10;
    is $rest, 'NEXT', 'the following bytes are left on the socket';
};

subtest 'timeout' => sub {
    my ($a, $b) = pair();
    syswrite $a, substr($req, 0, 6);
    my $t0 = time;
    eval { Vassal::XS::recv_request(fileno $b, 0.3) };
    like $@, qr/timeout after 0\.3s waiting for the request \(got 6 of 43 bytes\) \(peer pid $$ uid $<\)/, 'timeout reason';
    ok time - $t0 < 2, 'bounded by the timeout';
};

subtest 'EOF mid-packet closes the received descriptors' => sub {
    my ($a, $b) = pair();
    pipe(my $r, my $w) or die $!;
    my $before = open_fds();
    Vassal::XS::send_fds(fileno $a, substr($req, 0, 10), [fileno $w]);
    shutdown $a, 1;
    eval { Vassal::XS::recv_request(fileno $b, 2) };
    like $@, qr/EOF mid-packet \(got 10 of 43 bytes\)/, 'EOF reason';
    is open_fds(), $before, 'no descriptor leaked';
};

subtest 'EOF before anything' => sub {
    my ($a, $b) = pair();
    close $a;
    eval { Vassal::XS::recv_request(fileno $b, 2) };
    like $@, qr/EOF before any byte of the request/, 'EOF reason';
};

subtest 'too many descriptors: refused, all closed' => sub {
    my ($a, $b) = pair();
    pipe(my $r, my $w) or die $!;
    my $before = open_fds();
    Vassal::XS::send_fds(fileno $a, $req, [(fileno $w) x 9]);
    eval { Vassal::XS::recv_request(fileno $b, 2) };
    like $@, qr/too many descriptors \(9 received, at most 8 accepted\)/, 'reason';
    is open_fds(), $before, 'every received descriptor closed';

    Vassal::XS::send_fds(fileno $a, $req, [(fileno $w) x 8]);
    my $got = Vassal::XS::recv_request(fileno $b, 2);
    is scalar @{ $got->{fds} }, 8, 'eight are accepted';
    POSIX::close($_) for @{ $got->{fds} };
};

subtest 'recv_request_nb: what has arrived, without waiting' => sub {
    my ($a, $b) = pair();
    pipe(my $r, my $w) or die $!;
    my $before = open_fds();
    my $state = '';
    is Vassal::XS::recv_request_nb(fileno $b, $state), undef, 'nothing yet: undef at once';
    Vassal::XS::send_fds(fileno $a, substr($req, 0, 2), [fileno $w]);
    is Vassal::XS::recv_request_nb(fileno $b, $state), undef, 'half a header: undef';
    syswrite $a, substr($req, 2, 10);
    is Vassal::XS::recv_request_nb(fileno $b, $state), undef, 'part of the body: undef';
    syswrite $a, substr($req, 12) . 'NEXT';
    my $got = Vassal::XS::recv_request_nb(fileno $b, $state);
    is_deeply [decode_array($got->{body})], ['/usr/local/bin/uwsgi', '--ini', 'app1.ini'], 'then the whole request';
    is scalar @{ $got->{fds} }, 1, 'with its descriptor';
    is $got->{uid}, $<, 'and the peer uid';
    POSIX::close($_) for @{ $got->{fds} };
    sysread $b, my $rest, 10;
    is $rest, 'NEXT', 'nothing read past the packet';

    Vassal::XS::send_fds(fileno $a, substr($req, 0, 6), [fileno $w]);
    is Vassal::XS::recv_request_nb(fileno $b, $state = ''), undef, 'another half request';
    is_deeply [Vassal::XS::recv_request_abort($state)], [6, 43], 'abort: the bytes got and expected';
    is open_fds(), $before, 'its descriptor closed';

    Vassal::XS::send_fds(fileno $a, substr($req, 0, 6), [fileno $w]);
    shutdown $a, 1;
    eval { Vassal::XS::recv_request_nb(fileno $b, $state = '') };
    like $@, qr/EOF mid-packet \(got 6 of 43 bytes\) \(peer pid $$ uid $<\)/, 'half a request, then EOF: croaks';
    is open_fds(), $before, 'its descriptor closed';
};

subtest 'peer_cred and prctl helpers' => sub {
    my ($a, $b) = pair();
    is_deeply [ (Vassal::XS::peer_cred(fileno $a))[0, 1] ], [$$, $<], 'peer_cred';
    my $pid = fork // die;
    if (!$pid) {
        Vassal::XS::set_pdeathsig(9);
        Vassal::XS::set_child_subreaper(1);
        Vassal::XS::set_child_subreaper(0);
        POSIX::_exit(0);
    }
    waitpid $pid, 0;
    is $?, 0, 'set_pdeathsig and set_child_subreaper work';
    pipe(my $r, my $w) or die $!;
    Vassal::XS::set_cloexec(fileno $r, 0);
    ok !(cloexec(fileno $r)), 'set_cloexec off';
    Vassal::XS::set_cloexec(fileno $r, 1);
    ok cloexec(fileno $r), 'set_cloexec on';
    eval { Vassal::XS::send_fds(fileno $a, '', []) };
    like $@, qr/at least one byte/, 'send_fds needs a byte';
};

done_testing;
