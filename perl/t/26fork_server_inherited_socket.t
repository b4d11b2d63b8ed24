# A base vassal whose fd 0 is the listening socket at its fork-server path
# (the Emperor binds it and passes it to every generation of the base)
# serves adoptions on it: it binds nothing, applies no chmod-socket, and
# never removes the socket file (on byte 0 or SIGTERM). Two generations on
# the same socket: each adoption is served by exactly one of them; the old
# one, stopped, exits at once and the new one keeps adopting.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Vassal::XS;
use Time::HiRes qw(time sleep);
use Fcntl qw(F_GETFL O_NONBLOCK);

Vassal::XS::set_child_subreaper(1);    # adopted vassals re-parent to us, as to an Emperor

my $dir = tempdir();
my ($held, $path) = held_socket("$dir/fork.sock");    # the Emperor's socket
chmod 0640, $path or die "chmod $path: $!";           # its mode is the Emperor's choice
my $app = test_app('test.psgi');
my @vassals;

# A generation of the base on the held socket (chmod-socket configured).
sub generation {
    my ($name) = @_;
    my ($pid, $e, $fork, $log) = start_base(dir => $dir, early_psgi => $app, stdin => $held,
                                            extra => "chmod-socket = 666\n");
    is $fork, $path, "$name: configured with the held socket's path";
    expect_bytes($e, [1, 17], 15, "$name: ready and loyal") or diag slurp($log);
    like slurp($log), qr/^\[base pid $pid\] fork server on \Q$path\E \(inherited fd 0, held by the Emperor\)$/m,
        "$name: serves the inherited socket";
    return { pid => $pid, emperor => $e, log => $log };
}

# Adopts a vassal through the socket; returns the pid of the base that served it.
sub adopt {
    my ($name) = @_;
    my $port = empty_port();
    my $v = adopt_vassal($path, 0x01, ['--http-socket', "127.0.0.1:$port", '--processes', 1], [], "$dir/base.log");
    push @vassals, $v;
    like $v->{pid}, qr/\A[0-9]+\z/, "$name: a pid reply";
    is http_get($port, '/')->{status}, 200, "$name: the vassal serves";
    my @by = slurp("$dir/base.log") =~ /^\[base pid ([0-9]+)\] adopting: .*127\.0\.0\.1:$port\b/mg;
    is scalar @by, 1, "$name: adopted by exactly one base";
    return $by[0];
}

my $g1 = generation('first generation');
my $log = slurp($g1->{log});
unlike $log, qr/fork server listening on|is in use|stale/, 'nothing bound, nothing removed';
like $log, qr/chmod-socket 666 not applied to the inherited fork-server socket/, 'chmod-socket: said so';
is +(stat $path)[2] & 07777, 0640, 'and not applied';
is adopt('through the first generation'), $g1->{pid}, 'the first generation adopts';

my $g2 = generation('second generation');
my %served;
$served{ adopt("with both generations up ($_)") }++ for 1 .. 4;
is_deeply [sort { $a <=> $b } grep { $_ != $g1->{pid} && $_ != $g2->{pid} } keys %served], [],
    'every adoption was served by one of the two generations';

# Connections both generations wake up for: the one that loses the race to
# accept() must not block there (it would not see byte 0 until the next one).
close unix_connect($path) for 1 .. 20;
my $eof = qr/^\[base pid (?:$g1->{pid}|$g2->{pid})\] refused request: EOF before any byte of the request\b.*\n/m;
for (1 .. 100) { last if (() = slurp("$dir/base.log") =~ /$eof/g) >= 20; sleep 0.05 }
is scalar(() = slurp("$dir/base.log") =~ /$eof/g), 20, '20 empty connections, each refused by one generation';
ok fcntl($held, F_GETFL, 0) & O_NONBLOCK, 'the shared socket is non-blocking';

my $t0 = time;
syswrite $g1->{emperor}, chr(0);
ok wait_gone(5, $g1->{pid}), 'byte 0: the first generation exits at once';
cmp_ok time - $t0, '<', 4, '... promptly (not stuck in accept)';
like slurp($g1->{log}), qr/^\[base pid $g1->{pid}\] fork server exiting: byte 0 from the Emperor$/m, 'logged';
ok -S $path, 'the socket file is still there';
is adopt("after the first generation's exit ($_)"), $g2->{pid}, "the second generation adopts ($_)" for 1 .. 2;

syswrite $g2->{emperor}, chr(0);
ok wait_gone(5, $g2->{pid}), 'byte 0: the second generation exits';
ok -S $path, 'the socket file is still there';

my $g3 = generation('third generation');
kill 'TERM', $g3->{pid};
ok wait_gone(5, $g3->{pid}), 'SIGTERM: the third generation exits';
like slurp($g3->{log}), qr/^\[base pid $g3->{pid}\] fork server exiting: SIGTERM$/m, 'logged';
ok -S $path, 'the socket file is still there';
is +(stat $path)[2] & 07777, 0640, 'with the mode the Emperor gave it';

ok stop_vassal($_), "adopted vassal $_->{pid} stops" for @vassals;
unlink $path;
# (huge pages the kernel refuses for some regions - as under ASan - are no error)
unlike slurp("$dir/base.log") =~ s/$eof//gr =~ s/ \([0-9]+ region\(s\) refused: [^)]*\)//gr,
    qr/fatal|refused|warning/, 'no other error';

done_testing;
