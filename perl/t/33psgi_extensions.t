# What the PSGI env and responses offer beyond the basics: psgi.input
# (buffered, spooled to a file over post-buffering), bodies that are file
# handles or objects, psgix.cleanup, psgix.harakiri, psgix.io, and invalid
# responses (500, never a crash).
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Digest::SHA qw(sha1_hex);

my $v = start_vassal(args => ['--processes', 1, '--post-buffering', 10_000]);
my $c = http_connect($v->{port});

subtest 'psgi.input' => sub {
    my $small = 'a' x 5000;
    my $r = http_roundtrip($c, "POST /input HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n$small");
    like $r->{body}, qr/^class=Vassal::Input$/m, 'a Vassal::Input';
    like $r->{body}, qr/^buffered=1$/m, 'psgix.input.buffered';
    like $r->{body}, qr/^spooled=0$/m, 'in memory under post-buffering';
    like $r->{body}, qr/^first5=aaaaa$/m, 'seek(0, 0) rewinds';
    my $big = join '', map { chr(48 + $_ % 64) } 1 .. 300_000;
    $r = http_roundtrip($c, "POST /input HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n$big");
    like $r->{body}, qr/^spooled=1$/m, 'a temporary file over post-buffering';
    like $r->{body}, qr/^length=300000$/m, 'the whole body';
    like $r->{body}, qr/^sha1=@{[sha1_hex($big)]}$/m, 'intact';
    my $chunked = join '', map { sprintf("%x\r\n%s\r\n", length $_, $_) } map { substr($big, $_ * 7000, 7000) } 0 .. 3;
    $r = http_roundtrip($c, "POST /input HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}0\r\n\r\n");
    like $r->{body}, qr/^spooled=1$/m, 'a chunked body spills to a file when it grows';
    like $r->{body}, qr/^sha1=@{[sha1_hex(substr $big, 0, 28000)]}$/m, 'intact';
};

subtest 'bodies that are handles or objects' => sub {
    my $r = http_roundtrip($c, "GET /fh HTTP/1.1\r\nHost: x\r\n\r\n");
    is $r->{body}, "line 1\nline 2\n", 'a file handle';
    is $r->{headers}{'transfer-encoding'}, 'chunked', 'chunked (no Content-Length)';
    $r = http_roundtrip($c, "GET /object HTTP/1.1\r\nHost: x\r\n\r\n");
    is $r->{body}, "one\ntwo\n", 'an object with getline/close';
    $r = http_roundtrip($c, "GET /writer-unclosed HTTP/1.1\r\nHost: x\r\n\r\n");
    is $r->{body}, "not closed\n", 'a writer the app did not close is closed when it returns';
    $r = http_roundtrip($c, "GET /big?300000 HTTP/1.1\r\nHost: x\r\n\r\n");
    is length $r->{body}, 300_000, 'a large array body';
    $r = http_roundtrip($c, "GET /latin1-utf8 HTTP/1.1\r\nHost: x\r\n\r\n");
    is $r->{body}, "caf\xe9\n", 'an upgraded string of Latin-1 characters is sent as bytes';
};

subtest 'invalid responses get 500' => sub {
    for my $path (qw(/bad-header /bad-status /not-a-response /wide)) {
        my $d = http_connect($v->{port});
        my $r = http_roundtrip($d, "GET $path HTTP/1.1\r\nHost: x\r\n\r\n");
        is $r->{status}, 500, "$path: 500";
        unlike $r->{status_line} . join('', keys %{ $r->{headers} }), qr/x-injected/i, '  nothing injected';
    }
    like slurp($v->{log}), qr/invalid response from the app: a header value contains CR, LF or NUL/, 'logged';
};

subtest 'psgix.cleanup' => sub {
    my $file = "$v->{dir}/cleaned";
    my $r = http_roundtrip($c, "GET /cleanup?$file HTTP/1.1\r\nHost: x\r\n\r\n");
    is $r->{body}, "cleanup registered: 1\n", 'psgix.cleanup is true';
    is http_roundtrip($c, "GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")->{status}, 200, 'the next request';
    like slurp($file), qr/\Acleaned up after the response in [0-9]+\n\z/, 'the handler ran';
};

subtest 'psgix.io' => sub {
    my $d = http_connect($v->{port});
    syswrite $d, "GET /hijack HTTP/1.1\r\nHost: x\r\n\r\n";
    my $r = read_response($d);
    is $r->{status}, 200, 'the app wrote its own response';
    like $r->{body}, qr/\Ahijacked by [0-9]+ via IO::Socket::INET\n\z/, 'on an IO::Socket::INET';
    ok $r->{closed}, 'and the connection ends with it';
    is http_get($v->{port}, '/')->{status}, 200, 'the worker goes on';
};

subtest 'psgix.harakiri' => sub {
    my ($w) = children_of($v->{pid});
    my $r = http_roundtrip($c, "GET /harakiri HTTP/1.1\r\nHost: x\r\n\r\n");
    is $r->{body}, "bye from $w\n", 'served';
    is $r->{headers}{connection}, 'close', 'the connection is closed';
    ok wait_gone(10, $w), 'the worker exits after the response';
    like slurp($v->{log}), qr/worker 1 exiting: psgix\.harakiri\.commit/, 'logged';
    unlike slurp($v->{log}), qr/died unexpectedly/, 'not as an accident';
    my $r2;
    for (1 .. 50) { $r2 = http_get($v->{port}, '/pid'); last if $r2->{status} == 200; select undef, undef, undef, 0.1 }
    isnt $r2->{content}, "$w\n", 'a new worker serves';
};

ok stop_vassal($v), 'stops';
done_testing;
