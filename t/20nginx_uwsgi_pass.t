# Debian's nginx in front of a psgi-vassal with uwsgi_pass to its uwsgi
# `socket`: requests with bodies (small, 8 MiB, chunked) and query strings
# arrive intact. Needs nginx (the Makefile installs it): fails, not skips,
# without it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use NginxTest qw(require_nginx start_vassal start_nginx check_requests_arrive_intact);

require_nginx();
my $dir = NginxTest::tempdir();
my $vassal = start_vassal($dir);
my $nginx = start_nginx($dir, "uwsgi_pass 127.0.0.1:$vassal->{socket_port}");
check_requests_arrive_intact($nginx->{port});
like NginxTest::slurp($vassal->{log}), qr/serving the uwsgi protocol on 127\.0\.0\.1:$vassal->{socket_port}/,
    'the vassal served the uwsgi socket';
unlike NginxTest::slurp($vassal->{log}), qr/bad request|died/, 'and logged no error';
unlike NginxTest::slurp("$nginx->{dir}/error.log"), qr/\[(?:error|crit|alert|emerg)\]/, 'nginx logged no error'
    or diag NginxTest::slurp("$nginx->{dir}/error.log");
done_testing;
