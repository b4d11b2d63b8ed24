# The fork server refuses bad requests - malformed packet, wrong modifier1, no
# descriptor, mask/descriptor mismatch, too many descriptors, a descriptor
# that is not a socket (or not the right kind), foreign uid -
# logging the reason, closing the descriptors, forking nothing; then it still
# adopts a valid request.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Vassal::XS;
use Vassal::Packet qw(:all);
use POSIX ();

Vassal::XS::set_child_subreaper(1);

my ($base, $emperor, $sock, $log, $dir) = start_base();
expect_bytes($emperor, [1, 17], 15, 'the base is ready and loyal');

sub vector {
    my $path = vectors_dir() . "/$_[0]";
    open my $fh, '<:raw', $path or return undef;
    local $/;
    return scalar <$fh>;
}

my $valid = encode_fork_request(0x01, psgi_vassal(), '--ini', "$dir/never.ini");
my @cases = (
    ['malformed packet (EOF mid-packet)', vector('bad-truncated-body.bin') // substr($valid, 0, -3), 1,
        qr/refused request: EOF mid-packet \(got \d+ of \d+ bytes\)/, shutdown => 1],
    ['malformed argv (item overruns)', vector('bad-item-overruns.bin') // "\x23\x06\x00\x01\xc8\x00abcd", 1,
        qr/refused request from pid $$ uid $<: malformed argv: malformed: array item 0 at offset 0: length 200 overruns/],
    ['wrong modifier1', vector('bad-modifier1.bin') // "\x00\x03\x00\x01\x01\x00x", 1,
        qr/refused request from pid $$ uid $<: wrong modifier1 0 \(fork-server requests use 35\)/],
    ['no descriptor', $valid, 0,
        qr/refused request from pid $$ uid $<: no descriptor attached/],
    ['mask 0x03 with one descriptor', encode_fork_request(0x03, psgi_vassal(), '--ini', 'x.ini'), 1,
        qr/refused request from pid $$ uid $<: descriptor mask 0x03 announces 2 descriptor\(s\), 1 attached/],
    ['mask 0x01 with two descriptors', $valid, 2,
        qr/refused request from pid $$ uid $<: descriptor mask 0x01 announces 1 descriptor\(s\), 2 attached/],
    ['invalid mask 0x08', encode_fork_request(0x09, psgi_vassal()), 2,
        qr/refused request from pid $$ uid $<: invalid descriptor mask 0x09/],
    ['nine descriptors', $valid, 9,
        qr/refused request: too many descriptors \(9 received, at most 8 accepted\) \(peer pid $$ uid $<\)/],
);

for my $case (@cases) {
    my ($name, $bytes, $nfds, $re, %opt) = @$case;
    subtest $name => sub {
        # descriptors whose other end we watch: EOF there proves the server closed its copies
        my (@watch, @send);
        for (1 .. $nfds) {
            my ($mine, $theirs) = emperor_pair();
            push @watch, $mine;
            push @send, $theirs;
        }
        my ($pid, $err) = fork_request($sock, 0, [], [map { fileno $_ } @send], raw => $bytes, %opt);
        close $_ for @send;
        ok !$pid, 'no reply';
        like $err, qr/EOF before any byte/, 'the server closed the connection';
        ok wait_for_log($log, $re), 'the reason is logged' or diag slurp($log);
        is_deeply [read_bytes($_, 1, 5)], [], 'a received descriptor was closed' for @watch;
        is_deeply [children_of($$)], [$base], 'no child was forked';
        ok process_alive($base), 'the server is still running';
    };
}

# descriptors that are not what their place in the request says
{
    use IO::Socket::INET;
    pipe(my $pr, my $pw) or die $!;
    open my $null, '<', '/dev/null' or die $!;
    my $listening = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1) or die $!;
    my ($ce, $cv) = emperor_pair();
    my @kinds = (
        ['a pipe as the Emperor pipe', 0x01, [fileno $pw], qr/the Emperor pipe \(descriptor 0\) is a pipe, not a socket/],
        ['/dev/null as the Emperor pipe', 0x01, [fileno $null], qr/the Emperor pipe \(descriptor 0\) is a character device, not a socket/],
        ['a TCP listening socket as the Emperor pipe', 0x01, [fileno $listening],
            qr/the Emperor pipe \(descriptor 0\) is not a UNIX stream socket/],
        ['a connected socket as the on-demand socket', 0x05, [fileno $cv, fileno $cv],
            qr/the on-demand socket \(descriptor 1\) is not listening/],
    );
    for my $case (@kinds) {
        my ($name, $mask, $fds, $re) = @$case;
        subtest $name => sub {
            my ($pid, $err) = fork_request($sock, $mask, [psgi_vassal(), '--ini', "$dir/never.ini"], $fds);
            ok !$pid, 'no reply';
            ok wait_for_log($log, qr/refused request from pid $$ uid $<: $re/), 'the reason is logged' or diag slurp($log);
            is_deeply [children_of($$)], [$base], 'no child was forked';
        };
    }
}

SKIP: {
    skip 'the foreign-uid check needs root', 3 unless $> == 0;
    my $nobody = getpwnam('nobody') // 65534;
    chmod 0755, $dir;
    chmod 0666, $sock;
    my ($mine, $theirs) = emperor_pair();
    my $pid = fork // die;
    if (!$pid) {
        POSIX::setgid($nobody); POSIX::setuid($nobody);
        my ($p, $e) = eval { fork_request($sock, 0x01, [psgi_vassal()], [fileno $theirs]) };
        POSIX::_exit($p ? 1 : 0);
    }
    close $theirs;
    waitpid $pid, 0;
    is $?, 0, 'a request from uid nobody gets no reply';
    ok wait_for_log($log, qr/refused request from pid \d+ uid $nobody: peer uid $nobody is neither ours \(0\) nor root/),
        'the foreign uid is logged';
    ok is_closed($mine, 5), 'its descriptor was closed (never received: it was not read)';
    chmod 0600, $sock;
    chmod 0700, $dir;
}

unlike slurp($log), qr/adopting/, 'nothing was adopted so far';

# --- a valid request is still served
my $port = empty_port();
my $ini = write_file("$dir/app1.ini", "[uwsgi]\nhttp-socket = 127.0.0.1:$port\n");
my ($e1, $v1) = emperor_pair();
my ($vassal, $err) = fork_request($sock, 0x01, [psgi_vassal(), '--ini', $ini], [fileno $v1]);
close $v1;
ok $vassal, 'a valid request is adopted afterwards' or diag $err;
expect_bytes($e1, [1, 5], 15, 'ready and accepting');
ok wait_port({port => $port, max_wait => 10}), 'listening';
is http_get($port, '/')->{status}, 200, 'serves';
my @workers = children_of($vassal);
syswrite $e1, chr(0);
ok wait_gone(10, $vassal, @workers), 'stopped by byte 0';

close $emperor;
ok wait_gone(10, $base), 'the base exits on EOF from its Emperor';
ok !-e $sock, 'its socket file is removed';

done_testing;
