# plackup -s Vassal runs the app on Vassal::Server with plackup's options,
# and psgi-vassal's defaults for the others.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Cwd ();

my ($plackup) = grep { -x } map { "$_/plackup" } split /:/, $ENV{PATH};
plan skip_all => 'no plackup in PATH' unless $plackup;

my $dir = tempdir();
my $port = empty_port();
my $log = "$dir/log";
my @inc = map { ('-I', Cwd::abs_path($_)) } grep { -d } "$FindBin::Bin/../blib/lib", "$FindBin::Bin/../blib/arch";
my $pid = spawn_vassal(cmd => [$^X, @inc, $plackup, '-s', 'Vassal', '-E', 'deployment',
                               '--listen', "127.0.0.1:$port", '--workers', 3, test_app('test.psgi')],
                       stderr => $log);
ok wait_port({port => $port, max_wait => 15}), 'plackup -s Vassal listens on --listen' or diag slurp($log);
my $res = http_get($port, '/env');
is $res->{status}, 200, 'serves';
like $res->{content}, qr/^SERVER_PORT=$port$/m, 'SERVER_PORT';
like $res->{content}, qr/^psgi\.multiprocess=1$/m, 'multiprocess';
is scalar(children_of($pid)), 3, '--workers 3';

# Without --timeout a client that goes silent is dropped after psgi-vassal's
# socket-timeout (4 s, uWSGI's), not after a default of the handler's own.
use Time::HiRes ();
my $half = http_connect($port);
syswrite $half, "GET /env HTTP/1.1\r\nHost: x\r\n";
my $t0 = Time::HiRes::time();
ok is_closed($half, 20), 'a half-sent request head is dropped';
my $took = Time::HiRes::time() - $t0;
ok $took > 3 && $took < 8, sprintf('after socket-timeout: %.1f s', $took);
my @w = children_of($pid);
kill 'TERM', $pid;
ok wait_gone(10, $pid, @w), 'stops on SIGTERM';

# a UNIX socket and a TCP port at once
my $path = "$dir/app.sock";
my $port2 = empty_port();
$pid = spawn_vassal(cmd => [$^X, @inc, $plackup, '-s', 'Vassal', '-E', 'deployment', '--listen', $path,
                            '--listen', "127.0.0.1:$port2", '--workers', 1, test_app('test.psgi')],
                    stderr => "$dir/log2");
ok wait_port({port => $port2, max_wait => 15}), 'the TCP --listen' or diag slurp("$dir/log2");
for (1 .. 100) { last if -S $path; select undef, undef, undef, 0.05 }
my $r = http_roundtrip(unix_connect($path), "GET /pid HTTP/1.1\r\nHost: x\r\n\r\n");
is $r->{status}, 200, 'the UNIX --listen';
my @lines = slurp("$dir/log2") =~ /serving HTTP on UNIX socket/g;
is scalar @lines, 1, 'bound once';
@w = children_of($pid);
kill 'TERM', $pid;
ok wait_gone(10, $pid, @w), 'stops';
ok !-e $path, 'and removes its socket file';

done_testing;
