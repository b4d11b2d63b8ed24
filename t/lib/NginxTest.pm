package NginxTest;
# What the nginx tests share: Debian's nginx started as a private instance
# (its own prefix, config, pid, logs and temp paths in the test's temp dir,
# on a free 127.0.0.1 port) in front of a psgi-vassal serving the echo app on
# a uwsgi `socket` and an `http-socket`; the checks that requests arrive
# intact through it; and a teardown of nginx and the vassal whatever the
# test's outcome. Works as root (nginx's workers then run as nobody) and as
# any other user.
use strict;
use warnings;
use Exporter 'import';
use Cwd ();
use Digest::SHA ();
use File::Temp ();
use HTTP::Tiny;
use IO::Socket::INET;
use Net::EmptyPort qw(empty_port wait_port);
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);
use File::Basename ();
use lib File::Basename::dirname(__FILE__) . '/../../perl/t/lib';
use VassalTest qw(slurp psgi_vassal test_app blib_dir);

our @EXPORT_OK = qw(nginx_binary require_nginx start_vassal start_nginx check_requests_arrive_intact);

my @STARTED;    # process groups to kill at the end
my $OWNER = $$;

$SIG{PIPE} = 'IGNORE';
$SIG{$_} = sub { die "killed by SIG$_[0]\n" } for qw(INT TERM HUP);

END {
    local $?;
    return unless $$ == $OWNER;
    for my $pgid (reverse @STARTED) {
        kill 'TERM', -$pgid;
    }
    my $deadline = time + 10;
    for my $pgid (reverse @STARTED) {
        while (kill(0, -$pgid) && time < $deadline) {
            1 while waitpid(-1, POSIX::WNOHANG()) > 0;
            sleep 0.05;
        }
        kill 'KILL', -$pgid;
        waitpid $pgid, 0;
    }
}


# Runs @cmd in its own process group with STDERR (and STDOUT) to $log.
sub spawn {
    my ($log, @cmd) = @_;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        setpgrp(0, 0);
        $SIG{$_} = 'DEFAULT' for qw(PIPE INT TERM HUP);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
        { no warnings 'exec'; exec @cmd; }
        POSIX::_exit(127);
    }
    push @STARTED, $pid;
    return $pid;
}

# nginx from PATH or /usr/sbin; undef when it is not installed.
sub nginx_binary {
    for my $dir (split(/:/, $ENV{PATH} // ''), '/usr/sbin', '/usr/local/sbin') {
        return "$dir/nginx" if -x "$dir/nginx";
    }
    return undef;
}

# The nginx tests need Debian's nginx: its absence is a failure (make deps
# installs it), reported once, and the test file ends there.
sub require_nginx {
    return if nginx_binary();
    Test::More::fail('nginx is not installed (Debian: nginx-light); the nginx tests need it');
    Test::More::done_testing();
    exit;
}

sub tempdir {
    my $dir = File::Temp::tempdir('nginx-test-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    return Cwd::abs_path($dir);
}

# Starts perl/bin/psgi-vassal serving perl/t/apps/echo.psgi on a uwsgi socket
# and an http-socket; returns {pid, socket_port, http_port, log}.
sub start_vassal {
    my ($dir) = @_;
    my $blib = blib_dir();
    die "psgi-vassal is not built: run make in perl/ first\n" unless $blib && -d $blib;
    my ($uport, $hport) = (empty_port(), empty_port());
    my $log = "$dir/vassal.log";
    my $pid = spawn($log, $^X, psgi_vassal(), '--socket', "127.0.0.1:$uport", '--http-socket', "127.0.0.1:$hport",
                    '--psgi', test_app('echo.psgi'), '--processes', 2, '--master',
                    '--limit-post', 20 * 1024 * 1024);
    for my $port ($uport, $hport) {
        wait_port({ port => $port, max_wait => 20 }) or die "psgi-vassal did not start:\n" . slurp($log);
    }
    return { pid => $pid, socket_port => $uport, http_port => $hport, log => $log };
}

# The parameters of Debian's /etc/nginx/uwsgi_params, inline so that the test
# does not depend on where a distribution keeps them.
my $UWSGI_PARAMS = <<'PARAMS';
            uwsgi_param QUERY_STRING    $query_string;
            uwsgi_param REQUEST_METHOD  $request_method;
            uwsgi_param CONTENT_TYPE    $content_type;
            uwsgi_param CONTENT_LENGTH  $content_length;
            uwsgi_param REQUEST_URI     $request_uri;
            uwsgi_param PATH_INFO       $document_uri;
            uwsgi_param DOCUMENT_ROOT   $document_root;
            uwsgi_param SERVER_PROTOCOL $server_protocol;
            uwsgi_param REQUEST_SCHEME  $scheme;
            uwsgi_param HTTPS           $https if_not_empty;
            uwsgi_param REMOTE_ADDR     $remote_addr;
            uwsgi_param REMOTE_PORT     $remote_port;
            uwsgi_param SERVER_PORT     $server_port;
            uwsgi_param SERVER_NAME     $server_name;
PARAMS

# Starts nginx with `location /` being $location ('uwsgi_pass 127.0.0.1:N'
# or 'proxy_pass http://127.0.0.1:N'); returns {pid, port, dir}.
sub start_nginx {
    my ($dir, $pass) = @_;
    my $nginx = nginx_binary() or die "nginx is not installed (Debian: nginx-light)\n";
    my $port = empty_port();
    my $prefix = "$dir/nginx";
    mkdir $prefix or die "$prefix: $!";
    my @temp = map { "$prefix/$_" } qw(client_body proxy fastcgi uwsgi scgi);
    mkdir $_ or die "$_: $!" for @temp;
    my $user = '';
    if ($> == 0) {
        # the master reads the config as root; the workers run as nobody and
        # write the temp files (a large body is buffered there)
        my ($uid, $gid) = (getpwnam('nobody'))[2, 3];
        $uid //= 65534;
        $gid //= 65534;
        chmod 0755, $dir, $prefix;
        chown $uid, $gid, @temp;
        my $group = getgrgid($gid) // 'nogroup';
        $user = "user nobody $group;";
    }
    my $location = $pass =~ /\Auwsgi_pass /
        ? "$pass;\n$UWSGI_PARAMS            uwsgi_param HTTP_X_FORWARDED_PROTO \$scheme;"
        : "$pass;\n            proxy_http_version 1.1;\n            proxy_set_header Connection \"\";\n"
          . "            proxy_set_header Host \$http_host;";
    my $conf = <<"CONF";
$user
worker_processes 1;
pid $prefix/nginx.pid;
error_log $prefix/error.log info;
events { worker_connections 64; }
http {
    access_log $prefix/access.log;
    client_body_temp_path $temp[0];
    proxy_temp_path $temp[1];
    fastcgi_temp_path $temp[2];
    uwsgi_temp_path $temp[3];
    scgi_temp_path $temp[4];
    client_max_body_size 64m;
    server {
        listen 127.0.0.1:$port;
        server_name localhost;
        location / {
            $location
        }
    }
}
CONF
    open my $fh, '>', "$prefix/nginx.conf" or die "$prefix/nginx.conf: $!";
    print $fh $conf;
    close $fh;
    my $log = "$prefix/stderr.log";
    my $pid = spawn($log, $nginx, '-p', "$prefix/", '-c', "$prefix/nginx.conf", '-e', "$prefix/error.log",
                    '-g', 'daemon off;');
    wait_port({ port => $port, max_wait => 20 }) or die "nginx did not start:\n" . slurp($log) . slurp("$prefix/error.log");
    return { pid => $pid, port => $port, dir => $prefix };
}

sub echo_fields {
    my ($content) = @_;
    return { map { /\A([a-z0-9_]+): ?(.*)\z/ ? ($1, $2) : () } split /\n/, $content // '' };
}

# Requests through nginx on $port: query strings, paths, headers, bodies
# small, large and chunked, HEAD, keep-alive - checked against what the echo
# app saw.
sub check_requests_arrive_intact {
    my ($port) = @_;
    my $http = HTTP::Tiny->new(timeout => 30, keep_alive => 1);
    my $base = "http://127.0.0.1:$port";

    my $r = $http->get("$base/some/path%20with%20space/x?a=1&b=two%20words&c=%26amp", { headers => { 'X-Test' => 'marker 42' } });
    is $r->{status}, 200, 'GET through nginx' or diag "$r->{status} $r->{reason}\n$r->{content}";
    my $f = echo_fields($r->{content});
    is $f->{method}, 'GET', 'the method';
    is $f->{path_info}, '/some/path with space/x', 'the path, decoded';
    is $f->{query_string}, 'a=1&b=two%20words&c=%26amp', 'the query string, intact';
    is $f->{request_uri}, '/some/path%20with%20space/x?a=1&b=two%20words&c=%26amp', 'REQUEST_URI';
    is $f->{x_test}, 'marker 42', 'a request header';
    is $f->{body_length}, 0, 'no body';
    is $r->{headers}{'x-echo'}, 'yes', "the app's response header";

    my $form = 'name=caf%C3%A9&list=1&list=2&empty=';
    $r = $http->post("$base/form?via=post", { content => $form,
        headers => { 'Content-Type' => 'application/x-www-form-urlencoded' } });
    $f = echo_fields($r->{content});
    is $f->{method}, 'POST', 'POST';
    is $f->{content_type}, 'application/x-www-form-urlencoded', 'CONTENT_TYPE';
    is $f->{content_length}, length $form, 'CONTENT_LENGTH';
    is $f->{body_sha1}, Digest::SHA::sha1_hex($form), 'a small body arrives intact';
    is $f->{query_string}, 'via=post', 'with its query string';

    my $big = join '', map { pack 'N', $_ * 2654435761 % 4294967296 } 1 .. 2 * 1024 * 1024;   # 8 MiB
    $r = $http->request('PUT', "$base/upload?big=1", { content => $big,
        headers => { 'Content-Type' => 'application/octet-stream' } });
    is $r->{status}, 200, 'a large PUT (8 MiB)';
    $f = echo_fields($r->{content});
    is $f->{body_length}, length $big, 'its length';
    is $f->{body_sha1}, Digest::SHA::sha1_hex($big), 'intact';

    my $mid = substr($big, 0, 300_000);
    $r = $http->post("$base/echo?body=1", { content => $mid });
    ok $r->{content} eq $mid, 'a 300 KB body echoed back intact';

    my @parts = map { substr($big, $_ * 100_000, 100_000) } 0 .. 4;
    my @send = @parts;
    $r = $http->request('POST', "$base/chunked?c=1", { content => sub { shift @send },
        headers => { 'Content-Type' => 'application/octet-stream' } });
    is $r->{status}, 200, 'a chunked request body';
    $f = echo_fields($r->{content});
    is $f->{body_length}, 500_000, 'its length';
    is $f->{body_sha1}, Digest::SHA::sha1_hex(join '', @parts), 'intact';

    $r = $http->head("$base/head?x=1");
    is $r->{status}, 200, 'HEAD';
    is $r->{content} // '', '', 'without a body';

    my ($p1) = echo_fields($http->get("$base/ka1")->{content})->{pid};
    my ($p2) = echo_fields($http->get("$base/ka2")->{content})->{pid};
    ok $p1 && $p2, 'keep-alive requests through nginx';
    return;
}

1;
