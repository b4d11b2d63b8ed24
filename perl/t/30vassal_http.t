# A plain vassal (psgi-vassal --http-socket --psgi --processes 2) under a fake
# Emperor: Emperor bytes, keep-alive, request bodies, HEAD, streaming, errors,
# the PSGI env, and a graceful stop on byte 2.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Time::HiRes qw(sleep);

my $dir = tempdir();
my $port = empty_port();
my ($emperor, $v) = emperor_pair();
my $log = "$dir/log";
my $master = spawn_vassal(args => ['--http-socket', "127.0.0.1:$port", '--psgi', test_app('test.psgi'),
                                   '--processes', '2', '--master'],
                          emperor => $v, stderr => $log);
close $v;

expect_bytes($emperor, [1, 5], 15, 'ready (1) and accepting (5)');
ok no_byte_within($emperor, 0.3), 'not loyal before a request';
my @workers = children_of($master);
is scalar @workers, 2, 'two workers';

my $c = http_connect($port);
my $r = http_roundtrip($c, "GET /pid HTTP/1.1\r\nHost: localhost\r\n\r\n");
is $r->{status}, 200, 'GET 200';
my $pid = $r->{body};
chomp $pid;
ok +(grep { $_ == $pid } @workers), 'served by a worker';
expect_bytes($emperor, [17], 5, 'loyal (17) after the first request');
ok !defined $r->{headers}{connection}, 'HTTP/1.1 keep-alive by default (no Connection header)';
ok $r->{headers}{date}, 'a Date header';

subtest 'keep-alive' => sub {
    my $r2 = http_roundtrip($c, "GET /pid HTTP/1.1\r\nHost: localhost\r\n\r\n");
    is $r2->{body}, "$pid\n", 'second request on the same connection, same worker';
    my $r3 = http_roundtrip($c, "GET /pid HTTP/1.1\r\nHost: localhost\r\n\r\nGET /delayed HTTP/1.1\r\nHost: localhost\r\n\r\n");
    is $r3->{body}, "$pid\n", 'pipelined first';
    my $r4 = read_response($c);
    is $r4->{body}, "delayed\n", 'pipelined second (a delayed response)';
    my $r5 = http_roundtrip($c, "GET /pid HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    is $r5->{headers}{connection}, 'close', 'Connection: close is honoured';
    is sysread($c, my $buf, 1), 0, 'and the server closes';

    my $c10 = http_connect($port);
    my $r10 = http_roundtrip($c10, "GET /pid HTTP/1.0\r\n\r\n");
    like $r10->{status_line}, qr{\AHTTP/1\.0 200}, 'HTTP/1.0 response';
    is $r10->{headers}{connection}, 'close', 'HTTP/1.0 closes by default';
    my $c10k = http_connect($port);
    my $r10k = http_roundtrip($c10k, "GET /pid HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    is $r10k->{headers}{connection}, 'keep-alive', 'HTTP/1.0 keep-alive on request';
    is http_roundtrip($c10k, "GET /pid HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")->{status}, 200, 'second HTTP/1.0 request';
};

$c = http_connect($port);
subtest 'request bodies' => sub {
    my $r1 = http_roundtrip($c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world");
    is $r1->{body}, 'hello world', 'Content-Length body';
    is $r1->{headers}{'x-content-length'}, 11, 'CONTENT_LENGTH';
    my $r2 = http_roundtrip($c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        . "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n");
    is $r2->{body}, 'hello world', 'chunked body';
    is $r2->{headers}{'x-content-length'}, 11, 'CONTENT_LENGTH set from the chunks';
    my $big = join '', map { chr(65 + $_ % 26) } 1 .. 200_000;
    my $r3 = http_roundtrip($c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        . sprintf("%x\r\n%s\r\n", length $big, $big) . "0\r\n\r\n");
    is length($r3->{body}), 200_000, 'a big chunk';
    ok $r3->{body} eq $big, 'intact';
    my $r4 = http_roundtrip($c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    is $r4->{status}, 100, '100 Continue';
    syswrite $c, 'abc';
    is read_response($c)->{body}, 'abc', 'then the body';
    my $r5 = http_roundtrip($c, "GET /pid HTTP/1.1\r\nHost: x\r\n\r\n");
    is $r5->{status}, 200, 'the connection is still usable';
};

subtest 'HEAD' => sub {
    my $r1 = http_roundtrip($c, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", 1);
    is $r1->{status}, 200, 'HEAD 200';
    ok $r1->{headers}{'content-length'} > 0, 'Content-Length as for GET';
    my $r2 = http_roundtrip($c, "HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\n", 1);
    is $r2->{status}, 200, 'HEAD of a streaming response';
    my $r3 = http_roundtrip($c, "GET /pid HTTP/1.1\r\nHost: x\r\n\r\n");
    like $r3->{body}, qr/\A[0-9]+\n\z/, 'no body was sent after the HEAD responses';
    is $r3->{extra}, '', 'nothing extra on the wire';
};

subtest 'streaming and delayed responses' => sub {
    my $r1 = http_roundtrip($c, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    is $r1->{headers}{'transfer-encoding'}, 'chunked', 'chunked';
    is $r1->{body}, "chunk1\nchunk2\nchunk3\n", 'the writer\'s chunks';
    is $r1->{raw_body}, "7\r\nchunk1\n\r\n7\r\nchunk2\n\r\n7\r\nchunk3\n\r\n0\r\n\r\n", 'one HTTP chunk per write';
    my $r2 = http_roundtrip($c, "GET /delayed HTTP/1.1\r\nHost: x\r\n\r\n");
    is $r2->{body}, "delayed\n", 'delayed response';
    is $r2->{headers}{'content-length'}, 8, 'with a Content-Length';
    my $c10 = http_connect($port);
    my $r3 = http_roundtrip($c10, "GET /stream HTTP/1.0\r\n\r\n");
    ok !$r3->{headers}{'transfer-encoding'}, 'HTTP/1.0: not chunked';
    is $r3->{body}, "chunk1\nchunk2\nchunk3\n", 'the body ends with the connection';
};

subtest 'the PSGI env' => sub {
    my $r1 = http_roundtrip($c, "GET /env/x%20y?a=1 HTTP/1.1\r\nHost: example.test\r\n\r\n");
    my %env = map { split /=/, $_, 2 } split /\n/, $r1->{body};
    is $env{REQUEST_METHOD}, 'GET', 'REQUEST_METHOD';
    is $env{PATH_INFO}, '/env/x y', 'PATH_INFO decoded';
    is $env{QUERY_STRING}, 'a=1', 'QUERY_STRING';
    is $env{SERVER_NAME}, '127.0.0.1', 'SERVER_NAME';
    is $env{SERVER_PORT}, $port, 'SERVER_PORT';
    is $env{REMOTE_ADDR}, '127.0.0.1', 'REMOTE_ADDR';
    is $env{SERVER_PROTOCOL}, 'HTTP/1.1', 'SERVER_PROTOCOL';
    is $env{SCRIPT_NAME}, '', 'SCRIPT_NAME';
    is $env{HTTP_HOST}, 'example.test', 'HTTP_HOST';
    is $env{'psgi.version'}, '1.1', 'psgi.version';
    is $env{'psgi.multithread'}, 0, 'psgi.multithread';
    is $env{'psgi.multiprocess'}, 1, 'psgi.multiprocess';
    is $env{'psgi.run_once'}, 0, 'psgi.run_once';
    is $env{'psgi.nonblocking'}, 0, 'psgi.nonblocking';
    is $env{'psgi.streaming'}, 1, 'psgi.streaming';
    is $env{'psgi.url_scheme'}, 'http', 'psgi.url_scheme';
    is $env{'psgi.input'}, 1, 'psgi.input';
    is $env{'psgi.errors'}, 1, 'psgi.errors';
};

subtest 'errors' => sub {
    my $r1 = http_roundtrip($c, "GET /die HTTP/1.1\r\nHost: x\r\n\r\n");
    is $r1->{status}, 500, 'an app that dies: 500';
    like slurp($log), qr/the app died on purpose/, 'its error goes to psgi.errors (STDERR)';
    my $g = http_connect($port);
    my $r2 = http_roundtrip($g, "GARBAGE\r\n\r\n");
    is $r2->{status}, 400, 'garbage: 400';
    is $r2->{headers}{connection}, 'close', 'Connection: close';
    is sysread($g, my $buf, 1), 0, 'and the connection is closed';
    like slurp($log), qr/^\[psgi-vassal pid \d+\] bad request: malformed request$/m, 'logged';
    my $g2 = http_connect($port);
    my $r3 = http_roundtrip($g2, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    is $r3->{status}, 400, 'a malformed chunk: 400';
    my $g3 = http_connect($port);
    is http_roundtrip($g3, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")->{status}, 400,
        'an invalid Content-Length: 400';
};

subtest 'a dead worker is replaced' => sub {
    my @before = children_of($master);
    kill 'KILL', $before[0];
    my $ok = 0;
    for (1 .. 100) {
        my @now = children_of($master);
        if (@now == 2 && !grep { $_ == $before[0] } @now) { $ok = 1; last }
        sleep 0.05;
    }
    ok $ok, 'two workers again, without the killed one';
    like slurp($log), qr/worker \d \(pid $before[0]\) died unexpectedly \(signal 9\), respawning/, 'logged';
};

subtest 'byte 2: graceful stop' => sub {
    my @w = children_of($master);
    my $slow = http_connect($port);
    syswrite $slow, "GET /sleep?1 HTTP/1.1\r\nHost: x\r\n\r\n";
    sleep 0.3;
    syswrite $emperor, chr(2);
    my $r1 = read_response($slow);
    is $r1->{status}, 200, 'the in-flight request completes';
    like $r1->{body}, qr/\Aslept [0-9]+\n\z/, 'with its body';
    is $r1->{headers}{connection}, 'close', 'and Connection: close';
    ok wait_gone(10, $master, @w), 'the master and its workers exit';
    is $? >> 8, 0, 'exit status 0' if 0;
    like slurp($log), qr/stopping \(graceful\) on byte 2/, 'logged';
    is_deeply [read_bytes($emperor, 1, 2)], [], 'EOF on the Emperor pipe';
};

done_testing;
