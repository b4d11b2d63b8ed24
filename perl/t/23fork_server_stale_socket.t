# A stale socket file is replaced; a live one (another fork server's) is
# not, and the second base exits naming it while the first keeps serving; a
# base without an Emperor runs until SIGTERM and removes its socket; a path
# that is not a socket is an error.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use POSIX ();

my $dir = tempdir();
my $path = "$dir/fork.sock";
{
    my $stale = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $path, Listen => 1) or die $!;
    close $stale;    # the file stays
}
ok -S $path, 'a stale socket file';

my $hello = test_app('hello.psgi');
my $log = "$dir/log";
my $pid = spawn_vassal(args => ['--early-psgi', $hello, '--fork-server', $path], stderr => $log);
ok wait_for_log($log, qr/fork server listening on \Q$path\E/, 10), 'listening without an Emperor';
like slurp($log), qr/^\[psgi-vassal pid $pid\] loaded early-psgi/m, 'named psgi-vassal without a config file';
ok +IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $path), 'the stale socket was replaced';
is +(stat $path)[2] & 07777, 0600, 'mode 0600';

my $log2 = "$dir/log2";
my $second = spawn_vassal(args => ['--early-psgi', $hello, '--fork-server', $path], stderr => $log2);
my $status;
for (1 .. 200) {    # bounded: a second base that stays up must fail the test, not hang it
    last if waitpid($second, POSIX::WNOHANG()) == $second && defined($status = $?);
    select undef, undef, undef, 0.05;
}
if (!defined $status) { kill 'KILL', $second; waitpid $second, 0 }
ok defined $status && $status != 0, 'a second base on a live fork-server socket exits with an error';
like slurp($log2), qr/^\[psgi-vassal pid $second\] fatal: fork-server socket \Q$path\E is in use: another fork server listens on it$/m,
    'naming the socket';
{
    require Vassal::XS;
    Vassal::XS::set_child_subreaper(1);
    my $port = empty_port();
    my ($e, $v) = emperor_pair();
    my ($vassal, $err) = fork_request($path, 0x01, [psgi_vassal(), '--http-socket', "127.0.0.1:$port"], [fileno $v]);
    close $v;
    ok $vassal, 'the first base still adopts through its socket' or diag $err;
    expect_bytes($e, [1, 5], 15, 'and its vassal comes up');
    close $e;
    wait_gone(10, $vassal);
}

kill 'TERM', $pid;
waitpid $pid, 0;
is $?, 0, 'exits 0 on SIGTERM';
ok !-e $path, 'removed its socket';

write_file($path, "not a socket\n");
$pid = spawn_vassal(args => ['--early-psgi', $hello, '--fork-server', $path], stderr => $log);
waitpid $pid, 0;
isnt $?, 0, 'a path that is a regular file is refused';
like slurp($log), qr/fork-server path \Q$path\E exists and is not a socket/, 'with a clear error';

$pid = spawn_vassal(args => ['--fork-server', "$dir/x.sock"], stderr => $log);
waitpid $pid, 0;
isnt $?, 0, 'a fork server without an app is refused';
like slurp($log), qr/fork-server needs an app to preload/, 'with a clear error';

done_testing;
