# A base vassal preloads hello.psgi and runs a fork server; playing the
# Emperor, we ask it for vassals and check they serve, report 1/5/17, and go
# away with their workers on byte 0.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Vassal::XS;

Vassal::XS::set_child_subreaper(1);    # adopted vassals re-parent to us, as to an Emperor

my ($base, $emperor, $sock, $base_log, $dir) = start_base();

expect_bytes($emperor, [1, 17], 15, 'the base sends ready (1) and loyal (17)');
ok -S $sock, 'the fork-server socket exists';
is +(stat $sock)[2] & 07777, 0600, 'its mode is 0600';
like slurp($base_log), qr/^\[base pid $base\] fork server listening on \Q$sock\E$/m, 'the base logs as [base pid N]';

# --- adopt app1, which names no psgi: it reuses the preloaded hello app
my $port = empty_port();
my $app1 = write_file("$dir/app1.ini", "[uwsgi]\nhttp-socket = 127.0.0.1:$port\nprocesses = 2\nmaster = true\n");
my ($e1, $v1) = emperor_pair();
my ($vassal, $err) = fork_request($sock, 0x01, [psgi_vassal(), '--ini', $app1], [fileno $v1]);
close $v1;
ok $vassal, 'the fork server replies with a pid' or diag $err, slurp($base_log);
like $vassal, qr/\A[0-9]+\z/, 'the pid is decimal';
isnt $vassal, $base, 'a new process';
is parent_of($vassal), $$, 'the grandchild re-parented to the subreaper (us)';

expect_bytes($e1, [1, 5], 15, 'the vassal sends ready (1) then accepting (5)');
ok no_byte_within($e1, 0.3), 'no loyal (17) before a request was served';

ok wait_port({port => $port, max_wait => 10}), 'the vassal listens';
my $res = http_get($port, '/');
is $res->{status}, 200, 'HTTP 200';
like $res->{content}, qr/\AHello from pid [0-9]+\n\z/, 'the hello body';
my ($worker) = $res->{content} =~ /pid ([0-9]+)/;
is parent_of($worker), $vassal, 'served by a worker of the adopted vassal';
expect_bytes($e1, [17], 5, 'loyal (17) after the first request');

my @workers = children_of($vassal);
is scalar @workers, 2, 'two workers';

my $log = slurp($base_log);
like $log, qr/^\[app1 pid $vassal\] serving HTTP on 127\.0\.0\.1:$port with 2 worker\(s\)$/m, 'the vassal logs as [app1 pid N]';
unlike $log, qr/^\[app1 pid \d+\] loaded/m, 'the vassal did not load an app: it shares the preloaded one';
like $log, qr/^\[base pid $base\] adopting: pid $$ uid $< asks for \[\Q@{[psgi_vassal()]}\E --ini \Q$app1\E\]/m,
    'the base logs the request with the peer credentials';

# --- adopt app2, which names its own psgi
my $port2 = empty_port();
my $app2 = write_file("$dir/app2.ini", "[uwsgi]\nhttp-socket = 127.0.0.1:$port2\npsgi = " . test_app('other.psgi') . "\n");
my ($e2, $v2) = emperor_pair();
my ($vassal2) = fork_request($sock, 0x01, [psgi_vassal(), '--ini', $app2], [fileno $v2]);
close $v2;
ok $vassal2, 'second adoption';
expect_bytes($e2, [1, 5], 15, 'app2 ready and accepting');
ok wait_port({port => $port2, max_wait => 10}), 'app2 listens';
like http_get($port2, '/')->{content}, qr/\Aother app [0-9]+\n\z/, 'app2 serves its own app';
expect_bytes($e2, [17], 5, 'app2 loyal');
my @workers2 = children_of($vassal2);
close $e2;    # EOF from the Emperor: app2 goes away
ok wait_gone(10, $vassal2, @workers2), 'EOF on its Emperor pipe stops app2 and its worker';

# --- byte 0 stops app1 and its workers
syswrite $e1, chr(0);
ok wait_gone(10, $vassal, @workers), 'byte 0 stops the vassal and its workers';
my @got = read_bytes($e1, 1, 5);
is_deeply \@got, [], 'then its Emperor pipe reaches EOF';
like slurp($base_log), qr/^\[app1 pid $vassal\] stopping \(now\) on byte 0/m, 'logged';

# --- the base keeps serving, and exits on a byte from its Emperor
ok kill(0, $base), 'the base is still alive';
syswrite $emperor, chr(1);
ok wait_gone(10, $base), 'the base exits on a byte from its Emperor';
ok !-e $sock, 'and removes its socket file';

done_testing;
