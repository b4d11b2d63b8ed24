# Debian's nginx in front of an ADOPTED vassal, the way it runs in production:
# the Emperor adopts it from a fork server whose base preloaded the app, and
# nginx reaches it once through uwsgi_pass (its uwsgi `socket`) and once through
# proxy_pass (its `http-socket`). Requests with bodies and query strings must
# arrive intact either way.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use EmperorTest qw(root empty_port write_file wait_until http_get parent_of start_emperor);
use NginxTest qw(require_nginx start_nginx check_requests_arrive_intact);

require_nginx();
my $root = root();
my $dir = NginxTest::tempdir();
mkdir "$dir/vassals" or die $!;
chmod 0755, $dir;    # nginx workers run as nobody and buffer bodies below it
my ($uwsgi_port, $http_port) = (empty_port(), empty_port());
write_file("$dir/vassals/base.ini", "[uwsgi]\nearly-psgi = $root/perl/t/apps/echo.psgi\nfork-server = $dir/fork.sock\n");
write_file("$dir/vassals/app.ini",
    "[uwsgi]\nsocket = 127.0.0.1:$uwsgi_port\nhttp-socket = 127.0.0.1:$http_port\nprocesses = 2\n");

my $emperor = start_emperor(dir => $dir, args => [
    '--emperor', "$dir/vassals", '--vassal-fork-base', 'base.ini',
    '--emperor-use-fork-server', "$dir/fork.sock",
    '--binary-path', "$root/perl/bin/psgi-vassal", '--reload-mercy', '5',
]);
ok wait_until(60, sub { http_get($http_port)->{status} == 200 }), 'the adopted vassal serves'
    or diag $emperor->log_text;
my $worker = NginxTest::echo_fields(http_get($http_port)->{content})->{pid};
is parent_of(parent_of($worker) // 0), $emperor->pid, "its master is the Emperor's (adopted) child";

my %pass = (uwsgi => "uwsgi_pass 127.0.0.1:$uwsgi_port", http => "proxy_pass http://127.0.0.1:$http_port");
for my $kind (sort keys %pass) {
    subtest "nginx $pass{$kind}" => sub {
        mkdir "$dir/$kind" or die $!;
        my $nginx = start_nginx("$dir/$kind", $pass{$kind});
        check_requests_arrive_intact($nginx->{port});
    };
}
is $emperor->stop(60), 0, 'Emperor stops cleanly';
done_testing;
