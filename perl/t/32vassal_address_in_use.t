# A vassal whose http-socket is taken, invalid, or a bare port fails with an
# error naming the address.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use IO::Socket::INET;

my $dir = tempdir();
my $taken = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1) or die $!;
my $port = $taken->sockport;
my $log = "$dir/log";
my $pid = spawn_vassal(args => ['--http-socket', "127.0.0.1:$port", '--psgi', test_app('test.psgi')], stderr => $log);
waitpid $pid, 0;
isnt $? >> 8, 0, 'exits non-zero';
like slurp($log), qr/^\[psgi-vassal pid $pid\] fatal: cannot bind http-socket 127\.0\.0\.1:$port: .*Address already in use/m,
    'the error names the address';

$pid = spawn_vassal(args => ['--http-socket', "127.0.0.1:99999", '--psgi', test_app('test.psgi')], stderr => $log);
waitpid $pid, 0;
isnt $? >> 8, 0, 'an invalid address';
like slurp($log), qr/invalid http-socket address '127\.0\.0\.1:99999' \(port out of range\)/, 'is named';

$pid = spawn_vassal(args => ['--socket', "8080", '--psgi', test_app('test.psgi')], stderr => $log);
waitpid $pid, 0;
isnt $? >> 8, 0, 'a bare port';
like slurp($log), qr/invalid socket address '8080' \(expected host:port or a UNIX socket path\)/, 'is refused';

$pid = spawn_vassal(args => ['--http-socket', "127.0.0.1:$port", '--psgi', "$dir/missing.psgi"], stderr => $log);
waitpid $pid, 0;
isnt $? >> 8, 0, 'a missing app';
like slurp($log), qr/fatal: cannot load psgi '\Q$dir\E\/missing\.psgi'/, 'is named';

done_testing;
