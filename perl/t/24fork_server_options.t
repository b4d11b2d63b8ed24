# A base that preloads code (early-perl-exec, no app) and the vassals it
# adopts: each loads its own psgi on top (one using the preloaded modules),
# named after the argv it received; one without an app exits 22
# (need-app). The fork-server socket honours chmod-socket, and
# fork-server-allow-uid lets another uid ask for vassals.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Vassal::XS;
use Vassal::ForkServer;
use POSIX ();

Vassal::XS::set_child_subreaper(1);

my $preload = test_app('preload.pl');
my $app = test_app('on_preload.psgi');

my $nobody = getpwnam('nobody') // 65534;
my $dir = tempdir();
chmod 0755, $dir;
my $sock = "$dir/fork.sock";
my $base_ini = write_file("$dir/base.ini", "[uwsgi]\nearly-perl-exec = $preload\nfork-server = $sock\n"
    . "chmod-socket = 666\nfork-server-allow-uid = $nobody\n");
my ($emperor, $ev) = emperor_pair();
my $log = "$dir/base.log";
my $base = spawn_vassal(args => ['--ini', $base_ini], emperor => $ev, stderr => $log);
close $ev;
expect_bytes($emperor, [1, 17], 60, 'the base is ready and loyal');
like slurp($log), qr/^\[base pid $base\] executed early-perl-exec \Q$preload\E$/m, 'it ran the preload file';
unlike slurp($log), qr/loaded (?:early-)?psgi/, 'and loaded no app';
is +(stat $sock)[2] & 07777, 0666, 'chmod-socket widens the fork-server socket';

sub cmdline { (my $c = slurp("/proc/$_[0]/cmdline")) =~ s/\0+\z//; $c =~ s/\0/ /g; $c }

subtest 'an adopted app on top of the preloaded modules' => sub {
    my $port = empty_port();
    my $ini = write_file("$dir/adopted.ini", "[uwsgi]\nhttp-socket = 127.0.0.1:$port\npsgi = $app\nprocesses = 2\n");
    my ($e, $v) = emperor_pair();
    my ($vassal, $err) = fork_request($sock, 0x01, [psgi_vassal(), '--ini', $ini], [fileno $v]);
    close $v;
    ok $vassal, 'adopted' or diag $err, slurp($log);
    expect_bytes($e, [1, 5], 60, 'ready and accepting');
    my $r = http_get($port, '/hello/world');
    is $r->{status}, 200, 'the app serves';
    is $r->{content}, '{"hello":"world","preloaded":1}', 'its JSON: Plack::Request came from the base';
    like slurp($log), qr/^\[adopted pid $vassal\] loaded psgi \Q$app\E$/m, 'it loaded its own psgi';
    is cmdline($vassal), join(' ', psgi_vassal(), '--ini', $ini), 'named after the argv it received (as uWSGI)';
    # a worker names itself just after the fork: give both a moment
    my @want = map { join(' ', psgi_vassal(), '--ini', $ini) . " (worker $_)" } 1, 2;
    my (@w, @names);
    for (1 .. 200) {
        @w = children_of($vassal);
        @names = sort map { cmdline($_) } @w;
        last if "@names" eq "@want";
        select undef, undef, undef, 0.05;
    }
    is_deeply \@names, \@want, 'its workers marked';
    syswrite $e, chr(0);
    ok wait_gone(10, $vassal, @w), 'stops';
};

subtest 'an adopted vassal with no app to serve' => sub {
    my $ini = write_file("$dir/noapp.ini", "[uwsgi]\nhttp-socket = 127.0.0.1:" . empty_port() . "\n");
    my ($e, $v) = emperor_pair();
    my ($vassal) = fork_request($sock, 0x01, [psgi_vassal(), '--ini', $ini], [fileno $v]);
    close $v;
    ok $vassal, 'adopted';
    my $status;
    for (1 .. 200) {    # it is our child: we are its subreaper
        if (waitpid($vassal, POSIX::WNOHANG()) == $vassal) { $status = $?; last }
        select undef, undef, undef, 0.05;
    }
    is defined $status ? $status >> 8 : 'running', 22, 'exits with status 22 (need-app)';
    like slurp($log), qr/^\[noapp pid $vassal\] fatal: no app to serve: set psgi \(need-app\)$/m, 'logged';
};

my $fs = Vassal::ForkServer->new(path => "$dir/unused.sock", on_adopt => sub {}, allow_uids => [1234]);
ok $fs->uid_allowed(1234), 'fork-server-allow-uid: an allowed uid';
ok !$fs->uid_allowed(4321), 'another is not';
ok $fs->uid_allowed($>) && $fs->uid_allowed(0), 'ours and root always are';

SKIP: {
    my $why = nobody_blocker();
    skip "asking as another uid: $why", 4 if $why;
    my $port = empty_port();
    my $ini = write_file("$dir/other.ini", "[uwsgi]\nhttp-socket = 127.0.0.1:$port\npsgi = " . test_app('test.psgi') . "\n");
    chmod 0644, $ini;
    my ($mine, $theirs) = emperor_pair();
    my $pid = fork // die;
    if (!$pid) {
        POSIX::setgid($nobody);
        POSIX::setuid($nobody);
        my ($p) = eval { fork_request($sock, 0x01, [psgi_vassal(), '--ini', $ini], [fileno $theirs]) };
        POSIX::_exit($p ? 0 : 1);
    }
    close $theirs;
    waitpid $pid, 0;
    is $?, 0, 'uid nobody (allowed) gets a vassal';
    expect_bytes($mine, [1, 5], 30, 'ready and accepting');
    is http_get($port, '/')->{status}, 200, 'it serves';
    like slurp($log), qr/adopting: pid \d+ uid $nobody asks for/, 'logged with the uid';
    syswrite $mine, chr(0);
}

close $emperor;
ok wait_gone(15, $base), 'the base exits on EOF from its Emperor';
ok !-e $sock, 'its socket file is removed';

done_testing;
