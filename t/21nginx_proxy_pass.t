# Debian's nginx in front of a psgi-vassal with proxy_pass (HTTP/1.1) to its
# `http-socket`: requests with bodies (small, 8 MiB, chunked) and query
# strings arrive intact. Needs nginx (the Makefile installs it): fails, not
# skips, without it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use NginxTest qw(require_nginx start_vassal start_nginx check_requests_arrive_intact);

require_nginx();
my $dir = NginxTest::tempdir();
my $vassal = start_vassal($dir);
my $nginx = start_nginx($dir, "proxy_pass http://127.0.0.1:$vassal->{http_port}");
check_requests_arrive_intact($nginx->{port});
unlike NginxTest::slurp($vassal->{log}), qr/bad request|died/, 'the vassal logged no error';
unlike NginxTest::slurp("$nginx->{dir}/error.log"), qr/\[(?:error|crit|alert|emerg)\]/, 'nginx logged no error'
    or diag NginxTest::slurp("$nginx->{dir}/error.log");
done_testing;
