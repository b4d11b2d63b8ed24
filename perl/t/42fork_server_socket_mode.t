# The fork-server socket is 0600 unless chmod-socket widens it; a peer whose
# uid is neither the server's, nor root, nor allow-listed
# (fork-server-allow-uid) is refused and logged, and nothing is forked; an
# allow-listed uid is adopted. The foreign peer is a real process running as
# `nobody` (setpriv), so this part needs root (CI runs as root).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use VassalTest;
use Vassal::XS;

Vassal::XS::set_child_subreaper(1);    # adopted vassals re-parent to us, as to an Emperor

my $hello = test_app('hello.psgi');
my $setpriv = (grep { -x } map { "$_/setpriv" } split /:/, $ENV{PATH} // '')[0];
my ($nobody_uid, $nobody_gid) = (getpwnam('nobody'))[2, 3];
my $no_nobody = nobody_blocker() // ($setpriv ? undef : 'no setpriv');

# Starts a base vassal running a fork server; returns a hash.
sub start_socket_base {
    my (@extra) = @_;
    my $dir = tempdir();
    chmod 0755, $dir;    # so that only the socket's own mode decides who may connect
    my $sock = "$dir/fork.sock";
    my $log = "$dir/base.log";
    my ($e, $v) = emperor_pair();
    my $pid = spawn_vassal(cmd => [$^X, psgi_vassal(), '--fork-server', $sock, '--early-psgi', $hello, @extra],
                    emperor => $v, stderr => $log);
    close $v;
    my @got = read_bytes($e, 2, 30);
    is_deeply \@got, [1, 17], "base @extra: ready (1) and loyal (17)" or diag slurp($log);
    return { pid => $pid, emperor => $e, sock => $sock, log => $log, dir => $dir };
}

sub stop_base {
    my ($base) = @_;
    close $base->{emperor};
    ok wait_gone(15, $base->{pid}), 'the base exits on EOF from its Emperor';
    ok !-e $base->{sock}, 'its socket file is removed';
}

# Runs, as uid/gid nobody, a client that connects to $sock and sends a fork
# request for @argv with the inherited descriptor $fh attached. Returns its
# one-line report: "connect-failed ERRNO", "pid N" or "no-reply REASON".
sub as_nobody {
    my ($sock, $fh, @argv) = @_;
    my $out = tempdir() . '/client.out';
    chmod 0777, ($out =~ m{(.*)/})[0];
    my $lib = blib_dir();
    my $code = <<'PERL';
use strict; use warnings;
use IO::Socket::UNIX; use Socket qw(SOCK_STREAM);
use Vassal::XS; use Vassal::Packet;
my ($sock, $fd, $out, @argv) = @ARGV;
open my $o, '>', $out or die "$out: $!";
my $report = sub { print $o "uid $< euid $> gid ", $( + 0, ": @_\n"; close $o; exit 0 };
my $c = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $sock)
    or $report->("connect-failed " . ($!{EACCES} ? 'EACCES' : "$!"));
Vassal::XS::send_fds(fileno $c, Vassal::Packet::encode_fork_request(0x01, @argv), [$fd]);
my $r = eval { Vassal::XS::recv_request(fileno $c, 15) };
$report->("no-reply " . ($@ =~ s/\n//gr)) unless $r;
my %d = Vassal::Packet::decode_dict($r->{body});
$report->("pid $d{pid}");
PERL
    my $pid = spawn_vassal(cmd => [$setpriv, "--reuid=$nobody_uid", "--regid=$nobody_gid", '--clear-groups',
                            $^X, "-I$lib/lib", "-I$lib/arch", '-e', $code, $sock, fileno($fh), $out, @argv],
                    keep => [$fh]);
    waitpid $pid, 0;
    is $?, 0, 'the client as nobody ran' or diag "exit status $?";
    my $line = slurp($out);
    chomp $line;
    like $line, qr/\Auid $nobody_uid euid $nobody_uid gid $nobody_gid: /, 'it really ran as nobody';
    return $line =~ s/\A[^:]*: //r;
}

subtest 'default mode 0600' => sub {
    my $base = start_socket_base();
    ok -S $base->{sock}, 'the socket exists';
    is sprintf('%04o', (stat $base->{sock})[2] & 07777), '0600', 'mode 0600 by default';
    SKIP: {
        skip $no_nobody, 3 if $no_nobody;
        my ($mine, $theirs) = emperor_pair();
        my $r = as_nobody($base->{sock}, $theirs, psgi_vassal(), '--ini', "$base->{dir}/never.ini");
        is $r, 'connect-failed EACCES', 'nobody cannot even connect to a 0600 socket';
    }
    unlike slurp($base->{log}), qr/adopting/, 'nothing adopted';
    stop_base($base);
};

subtest 'chmod-socket widens it; a foreign uid is refused and logged, nothing forked' => sub {
    my $base = start_socket_base('--chmod-socket', '666');
    is sprintf('%04o', (stat $base->{sock})[2] & 07777), '0666', 'chmod-socket 666 gives 0666';
    SKIP: {
        skip $no_nobody, 8 if $no_nobody;
        my ($mine, $theirs) = emperor_pair();
        my @before = children_of($$);
        my $r = as_nobody($base->{sock}, $theirs, psgi_vassal(), '--ini', "$base->{dir}/never.ini");
        close $theirs;
        like $r, qr/\Ano-reply .*EOF before any byte/, 'nobody connects but gets no reply' or diag $r;
        ok wait_for_log($base->{log}, qr/^\[[^\]]*\] refused request from pid \d+ uid $nobody_uid: peer uid $nobody_uid is neither ours \(0\) nor root/m),
            'the refusal is logged with the peer uid' or diag slurp($base->{log});
        is_deeply [read_bytes($mine, 1, 10)], [], 'the descriptor it sent was closed by the server (EOF on our end)';
        unlike slurp($base->{log}), qr/adopting/, 'no adoption logged';
        is_deeply [children_of($base->{pid})], [], 'the fork server has no child';
        # a forked grandchild would have re-parented to us (the subreaper)
        is_deeply [sort { $a <=> $b } children_of($$)], [sort { $a <=> $b } @before], 'no process re-parented to us';
    }
    ok process_alive($base->{pid}), 'the fork server still runs';
    stop_base($base);
};

subtest 'fork-server-allow-uid accepts that uid' => sub {
    my $base = start_socket_base('--chmod-socket', '666', '--fork-server-allow-uid', 'nobody');
    SKIP: {
        skip $no_nobody, 10 if $no_nobody;
        my $port = empty_port();
        my $ini = write_file("$base->{dir}/app1.ini", "[uwsgi]\nhttp-socket = 127.0.0.1:$port\nprocesses = 1\n");
        chmod 0644, $ini;
        my ($mine, $theirs) = emperor_pair();
        my $r = as_nobody($base->{sock}, $theirs, psgi_vassal(), '--ini', $ini);
        close $theirs;
        my ($vassal) = $r =~ /\Apid ([0-9]+)\z/;
        ok $vassal, 'nobody gets a pid reply' or diag $r, slurp($base->{log});
        like slurp($base->{log}), qr/adopting: pid \d+ uid $nobody_uid asks for/, 'the adoption is logged with uid nobody';
        is_deeply [read_bytes($mine, 2, 30)], [1, 5], 'the vassal is ready (1) and accepting (5)' or diag slurp($base->{log});
        ok wait_port({port => $port, max_wait => 15}), 'it listens';
        like http_raw($port, "GET / HTTP/1.0\r\n\r\n"), qr{\AHTTP/1\.[01] 200 }, 'HTTP 200 from the adopted vassal';
        my @workers = $vassal ? children_of($vassal) : ();
        syswrite $mine, chr(0);
        ok $vassal && wait_gone(15, $vassal, @workers), 'byte 0 stops it';
    }
    stop_base($base);
};

subtest 'fork-server-allow-uid by number' => sub {
    plan skip_all => $no_nobody if $no_nobody;
    my $base = start_socket_base('--chmod-socket', '666', '--fork-server-allow-uid', $nobody_uid);
    my ($mine, $theirs) = emperor_pair();
    # argv names no config: the packet is valid, so it is adopted (and the vassal then stops on its own)
    my $port = empty_port();
    my $ini = write_file("$base->{dir}/app2.ini", "[uwsgi]\nhttp-socket = 127.0.0.1:$port\n");
    chmod 0644, $ini;
    my $r = as_nobody($base->{sock}, $theirs, psgi_vassal(), '--ini', $ini);
    close $theirs;
    like $r, qr/\Apid [0-9]+\z/, 'accepted with a numeric allow-uid' or diag $r, slurp($base->{log});
    is_deeply [read_bytes($mine, 2, 30)], [1, 5], 'ready and accepting';
    close $mine;    # EOF: the vassal goes away
    stop_base($base);
};

done_testing;
