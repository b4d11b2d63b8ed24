# The fork-server path is live: the Emperor holds the socket there and a base
# serves it from fd 0. Another base given that path without the socket at
# fd 0 - /dev/null there, or a listening socket bound elsewhere - still refuses
# it ("is in use") as it always did, leaves the file alone, and the base on
# the held socket keeps adopting.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Vassal::XS;

Vassal::XS::set_child_subreaper(1);

my $dir = tempdir();
my ($held, $path) = held_socket("$dir/fork.sock");
my $app = test_app('test.psgi');
my ($base, $e, undef, $log) = start_base(dir => $dir, early_psgi => $app, stdin => $held);
expect_bytes($e, [1, 17], 15, 'the base on the held socket is ready') or diag slurp($log);

my ($other, $other_path) = held_socket("$dir/other.sock");
my %cases = ('/dev/null at fd 0' => undef, 'fd 0 a UNIX socket listening elsewhere' => $other);
for my $what (sort keys %cases) {
    my $err = "$dir/second.log";
    unlink $err;
    my $pid = spawn_vassal(args => ['--early-psgi', $app, '--fork-server', $path], stderr => $err,
                           stdin => $cases{$what});
    my $status = exit_status($pid, 10);
    ok defined $status && $status != 0, "$what: the second base exits with an error";
    like slurp($err), qr/^\[psgi-vassal pid $pid\] fatal: fork-server socket \Q$path\E is in use: another fork server listens on it$/m,
        "$what: naming the socket";
    like slurp($err), qr/fd 0 is a listening socket on \Q$other_path\E, not the fork-server socket \Q$path\E: left alone/,
        "$what: says why fd 0 is not used" if $cases{$what};
    unlike slurp($err), qr/inherited fd 0/, "$what: fd 0 not taken";
    ok -S $path, "$what: the socket file is still there";
    ok -S $other_path, "$what: and the other one";

    my $port = empty_port();
    my $v = adopt_vassal($path, 0x01, ['--http-socket', "127.0.0.1:$port"], [], $log);
    like slurp($log), qr/^\[base pid $base\] adopting: .*127\.0\.0\.1:$port\]/m, "$what: the first base still adopts";
    ok stop_vassal($v), "$what: its vassal stops";
}

syswrite $e, chr(0);
ok wait_gone(10, $base), 'the base exits';
ok -S $path, 'the held socket file is still there';
unlink $path, $other_path;

done_testing;
