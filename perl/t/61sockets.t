# Sockets: several http-sockets in one vassal, an http-socket on a UNIX
# path (chmod-socket, a stale file replaced), an abstract one, the listen
# backlog, and a path that is not a socket refused.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);

my $dir = tempdir();
my $path = "$dir/http.sock";
{
    my $stale = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $path, Listen => 1) or die $!;
    close $stale;
}
my $port2 = empty_port();
my $abstract = "\@vassal-test-$$";
my $v = start_vassal(dir => $dir, args => ['--processes', 1, '--http-socket', "127.0.0.1:" . empty_port(),
    '--http-socket', "127.0.0.1:$port2", '--http-socket', $path, '--http-socket', $abstract,
    '--chmod-socket', '--listen', 64]);
my $log = slurp($v->{log});
like $log, qr/serving HTTP on 127\.0\.0\.1:$port2/, 'a second http-socket';
like $log, qr/serving HTTP on UNIX socket \Q$path\E/, 'a UNIX http-socket (the stale file replaced)';
like $log, qr/serving HTTP on UNIX socket \Q$abstract\E/, 'an abstract one';
is +(stat $path)[2] & 07777, 0666, 'chmod-socket without a value: 0666';

is http_get($port2, '/pid')->{status}, 200, 'the second TCP socket serves';
for my $addr ($path, $abstract) {
    my $c = unix_connect($addr =~ /\A@/ ? "\0" . substr($addr, 1) : $addr);
    my $r = http_roundtrip($c, "GET /env HTTP/1.1\r\nHost: x\r\n\r\n");
    is $r->{status}, 200, "$addr serves";
    like $r->{body}, qr/^SERVER_NAME=\Q$addr\E$/m, 'SERVER_NAME is the socket path';
    like $r->{body}, qr/^SERVER_PORT=0$/m, 'SERVER_PORT 0';
}
ok stop_vassal($v), 'stops';
ok !-e $path, 'its UNIX socket file is removed';

write_file("$dir/file", "not a socket\n");
my $pid = spawn_vassal(args => ['--http-socket', "$dir/file", '--psgi', test_app('test.psgi')], stderr => "$dir/log2");
waitpid $pid, 0;
isnt $? >> 8, 0, 'a path that is not a socket: fails';
like slurp("$dir/log2"), qr/cannot bind http-socket \Q$dir\E\/file: it exists and is not a socket/, 'with a clear error';

done_testing;
