# Which configured fork-server path names the socket at fd 0: the path is
# resolved against the base's directory (after chdir, as bind() would
# resolve it) and compared with '.', '..' and repeated slashes removed, or
# else as the same socket file (a symlinked directory).
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;

my $dir = tempdir();
my ($held, $path) = held_socket("$dir/fork.sock");
mkdir "$dir/sub" or die "mkdir: $!";
symlink $dir, "$dir/link" or die "symlink: $!";
my $app = test_app('test.psgi');

my %cases = (
    'relative, after chdir'      => ['--chdir', $dir, '--fork-server', 'fork.sock'],
    'with . and .. and //'       => ['--fork-server', "$dir/sub/.././/fork.sock"],
    'through a symlinked directory' => ['--fork-server', "$dir/link/fork.sock"],
);
for my $what (sort keys %cases) {
    my $log = "$dir/base.log";
    unlink $log;
    my ($e, $v) = emperor_pair();
    my $pid = spawn_vassal(args => ['--early-psgi', $app, @{ $cases{$what} }], emperor => $v, stderr => $log,
                           stdin => $held);
    close $v;
    expect_bytes($e, [1, 17], 15, "$what: ready") or diag slurp($log);
    my $named = $cases{$what}[-1];
    like slurp($log), qr/^\[psgi-vassal pid $pid\] fork server on \Q$named\E \(inherited fd 0, held by the Emperor\)$/m,
        "$what: the socket at fd 0 is the fork-server socket";
    my ($reply) = fork_request($path, 0x01, [psgi_vassal()], []);    # no descriptor: refused at once
    ok !$reply && wait_for_log($log, qr/^\[psgi-vassal pid $pid\] refused request .*no descriptor attached/m, 5),
        "$what: it serves the socket";
    syswrite $e, chr(0);
    ok wait_gone(10, $pid), "$what: exits on byte 0";
    ok -S $path, "$what: the socket file is still there";
}
unlink $path;

done_testing;
