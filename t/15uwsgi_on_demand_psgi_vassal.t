# Debian's uWSGI 2.0 Emperor, on demand (--emperor-on-demand-extension), drives
# psgi-vassal: uWSGI binds the socket, spawns the vassal on the first connection
# with that listening socket at fd 0, and psgi-vassal serves it - whether its
# config names the same address or uWSGI's fd://0 - instead of failing with
# "Address already in use". The connection that woke it is answered.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use Test::More;
use Time::HiRes qw(sleep time);
use EmperorTest qw(root empty_port write_file wait_until http_get slurp start_uwsgi_emperor);

my $root = root();
my $uwsgi = '/usr/bin/uwsgi-core';
ok -x $uwsgi, "Debian's uWSGI is installed ($uwsgi)" or BAIL_OUT('uwsgi-core missing');
my $hello = "$root/integration/apps/hello.psgi";

my $dir = tempdir('uwsgi-ondemand-XXXXXX', TMPDIR => 1, CLEANUP => 1);
mkdir "$dir/vassals" or die $!;
my ($same, $fd0) = (empty_port(), empty_port());
write_file("$dir/vassals/same.ini", "[uwsgi]\npsgi = $hello\nhttp-socket = 127.0.0.1:$same\nprocesses = 1\n");
write_file("$dir/vassals/same.ini.socket", "127.0.0.1:$same\n");
write_file("$dir/vassals/fd0.ini", "[uwsgi]\npsgi = $hello\nhttp-socket = fd://0\nprocesses = 1\n");
write_file("$dir/vassals/fd0.ini.socket", "127.0.0.1:$fd0\n");

my $log = "$dir/uwsgi.log";
my $emperor = start_uwsgi_emperor($log, '--emperor', "$dir/vassals", '--emperor-on-demand-extension', '.socket',
    '--binary-path', "$root/perl/bin/psgi-vassal");

ok wait_until(30, sub { slurp($log) =~ /same\.ini/ && slurp($log) =~ /fd0\.ini/ }), 'uWSGI registered both on demand'
    or diag slurp($log);
for my $case ([same => $same], [fd0 => $fd0]) {
    my ($name, $port) = @$case;
    my $r = http_get($port);
    is $r->{status}, 200, "$name: the first connection wakes the vassal and is answered"
        or diag slurp($log);
    like $r->{content} // '', qr/Hello from pid/, "$name: by hello.psgi";
}
unlike slurp($log), qr/Address already in use|no socket to serve on/, 'no vassal tried to bind the socket itself';
$emperor->stop;
done_testing;
