# uWSGI's fd://N socket addresses: `http-socket = fd://N` and
# `socket = fd://N` serve descriptor N, already listening, instead of
# binding - so one on-demand config (http-socket = fd://0) serves a spawned
# and an adopted vassal alike, and survives a reload by re-exec. An N that is
# not an open listening socket is an error naming the option and N.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Vassal::XS;
use POSIX ();

Vassal::XS::set_child_subreaper(1);    # adopted vassals re-parent to us

my $dir = tempdir();

subtest 'http-socket = fd://0 in a spawned vassal, through a reload' => sub {
    my ($held, $port) = held_socket();
    my $ini = write_file("$dir/ondemand.ini", "[uwsgi]\nhttp-socket = fd://0\npsgi = " . test_app('test.psgi') . "\n");
    my $v = start_vassal(dir => $dir, log => "$dir/spawned.log", stdin => $held, args => ['--ini', $ini]);
    is http_get($port, '/')->{status}, 200, 'serves descriptor 0';
    like slurp($v->{log}), qr/serving HTTP on 127\.0\.0\.1:$port \(inherited fd 0\)/, 'logged with its address';
    my $r = http_get($port, '/env');
    like $r->{content}, qr/^SERVER_PORT=$port$/m, 'SERVER_PORT is the socket\'s port';
    is_deeply [read_bytes($v->{emperor}, 1, 5)], [17], 'loyal';
    syswrite $v->{emperor}, chr(1);
    is_deeply [read_bytes($v->{emperor}, 2, 20)], [1, 5], 'ready and accepting again after a reload';
    is http_get($port, '/')->{status}, 200, 'serves after the reload';
    my @serving = slurp($v->{log}) =~ /(serving HTTP on 127\.0\.0\.1:$port \(inherited fd 0\))/g;
    is scalar @serving, 2, 'fd 0 before and after, taken once';
    ok stop_vassal($v), 'stops';
};

subtest 'the same config in an adopted vassal (mask 0x05)' => sub {
    my ($held, $port) = held_socket();
    my ($base, $e, $fork, $log) = start_base(dir => $dir, early_psgi => test_app('test.psgi'));
    expect_bytes($e, [1, 17], 15, 'the base is ready and loyal');
    my $a = adopt_vassal($fork, 0x05, ['--ini', "$dir/ondemand.ini"], [$held], $log);
    is http_get($port, '/')->{status}, 200, 'serves the on-demand socket';
    like slurp($log), qr/^\[ondemand pid $a->{pid}\] serving HTTP on 127\.0\.0\.1:$port \(inherited fd 0\)/m,
        'as fd://0';
    ok stop_vassal($a), 'stops';
    syswrite $e, chr(0);
    ok wait_gone(10, $base), 'the base exits';
};

subtest 'socket = fd://N (uwsgi protocol) and a UNIX http-socket = fd://N' => sub {
    my ($tcp, $port) = held_socket();
    my ($unix, $path) = held_socket("$dir/fd.sock");
    my ($tn, $un) = (fileno $tcp, fileno $unix);
    my $v = start_vassal(dir => $dir, log => "$dir/n.log", keep => [$tcp, $unix],
                         args => ['--socket', "fd://$tn", '--http-socket', "fd://$un"]);
    my $out = uwsgi_roundtrip($port, [REQUEST_METHOD => 'GET', PATH_INFO => '/pid', REQUEST_URI => '/pid',
                                      SERVER_PROTOCOL => 'HTTP/1.1', QUERY_STRING => '']);
    like $out, qr{\AHTTP/1\.1 200 OK\r\n}, "fd://$tn speaks the uwsgi protocol";
    my $r = http_roundtrip(unix_connect($path), "GET /env HTTP/1.1\r\nHost: x\r\n\r\n");
    is $r && $r->{status}, 200, "fd://$un serves HTTP on the UNIX socket";
    like $r->{body}, qr/^SERVER_NAME=\Q$path\E$/m, 'SERVER_NAME is its path';
    my $log = slurp($v->{log});
    like $log, qr/serving the uwsgi protocol on 127\.0\.0\.1:$port \(inherited fd $tn\)/, 'logged (TCP)';
    like $log, qr/serving HTTP on UNIX socket \Q$path\E \(inherited fd $un\)/, 'logged (UNIX)';
    ok stop_vassal($v), 'stops';
    ok -S $path, 'a socket file it did not create is left alone';
};

subtest 'fd://N that is not an open listening socket' => sub {
    my ($held, $port) = held_socket();
    my $connected = http_connect($port);
    open my $file, '<', $0 or die "$0: $!";
    my $closed = 250;    # no process here opens that many
    my @cases = (
        ['http-socket', $closed,             undef,        qr/fd $closed is not open/],
        ['socket',      fileno $file,       [$file],      qr/fd \d+ is not a socket/],
        ['http-socket', fileno $connected,  [$connected], qr/fd \d+ is a socket that is not listening/],
    );
    for my $c (@cases) {
        my ($opt, $n, $keep, $why) = @$c;
        my $log = "$dir/bad-$n.log";
        my $pid = spawn_vassal(args => ["--$opt", "fd://$n", '--psgi', test_app('test.psgi')], stderr => $log,
                               keep => $keep);
        waitpid $pid, 0;
        is $? >> 8, 1, "$opt fd://$n: exit status 1";
        like slurp($log), qr/fatal: cannot use \Q$opt\E fd:\/\/$n: $why/, "$opt fd://$n: the error names the option and N";
    }
};

done_testing;
