# A graceful stop (Emperor byte 2: a reload, a zero-downtime deploy) does
# not drop a request whose body is still arriving: the worker stops
# accepting at once, closes its idle keep-alive connections and the ones on
# which nothing came, and serves the request once its body is all there,
# with Connection: close, before it exits - for a Content-Length body, a
# chunked one, a request whose head is still arriving, a uwsgi request's
# body, and one sent on an idle keep-alive connection that the worker has
# not read yet. A body that never completes is ended by body-timeout (408),
# and the worker still exits.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;
use Time::HiRes qw(sleep time);

$SIG{PIPE} = 'IGNORE';

my $body = join '', map { sprintf "%05d ", $_ } 1 .. 2000;    # 12000 bytes
my $half = int(length($body) / 2);

# A one-worker vassal; returns it, its worker, a keep-alive connection that
# has had one request answered (idle), and one on which only an empty line
# came (no byte of a request; a connection on which nothing at all came is
# not even accepted: TCP_DEFER_ACCEPT leaves it to the next generation).
sub vassal_with_idle {
    my (@args) = @_;
    my $v = start_vassal(args => ['--processes', 1, '--socket-timeout', 10, @args]);
    my ($worker) = children_of($v->{pid});
    my $idle = http_connect($v->{port});
    my $r = http_roundtrip($idle, "GET /pid HTTP/1.1\r\nHost: x\r\n\r\n");
    is $r && $r->{status}, 200, 'a keep-alive request is answered';
    my $silent = http_connect($v->{port});
    syswrite $silent, "\r\n";
    return ($v, $worker, $idle, $silent);
}

# Emperor byte 2, then: the idle and the silent connections are closed at
# once, the vassal stops accepting, and the worker is still there for the
# request under way.
sub stop_gracefully {
    my ($v, $worker, $idle, $silent) = @_;
    my $t0 = time;
    syswrite $v->{emperor}, chr(2);
    ok is_closed($idle, 2), 'the idle keep-alive connection is closed on the stop';
    ok is_closed($silent, 2), 'so is a connection on which no byte of a request came';
    ok time - $t0 < 2, sprintf('promptly (%.2f s)', time - $t0);
    ok process_alive($worker), 'the worker stays for the request under way';
    # the listening socket stays open (the next generation would serve it):
    # a new connection waits in its backlog, unanswered
    # (refused: the vassal is gone already - a failure the lines above show)
    my $late = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $v->{port});
    syswrite $late, "GET /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" if $late;
    is $late && read_response($late, 0, 1), undef, 'a new connection is not accepted by the stopping worker';
}

for my $case (
    [ 'a Content-Length body',
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " . length($body) . "\r\n\r\n",
      substr($body, 0, $half), substr($body, $half) ],
    [ 'a chunked body',
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
      sprintf("%x\r\n%s\r\n", $half, substr($body, 0, $half)),
      sprintf("%x\r\n%s\r\n0\r\n\r\n", length($body) - $half, substr($body, $half)) ],
    # a head is finished too (within header-timeout): its client has begun
    # the request as much as one whose body is arriving
    [ 'a request head',
      "POST /echo HTTP/1.1\r\nHost: x\r\n", '',
      "Content-Length: " . length($body) . "\r\n\r\n$body" ],
) {
    my ($name, $head, $first, $rest) = @$case;
    subtest "$name still arriving when the stop comes is served" => sub {
        my ($v, $worker, $idle, $silent) = vassal_with_idle();
        my $c = http_connect($v->{port});
        syswrite $c, $head . $first;
        sleep 0.5;    # the head is parsed, half of the body is in
        stop_gracefully($v, $worker, $idle, $silent);
        sleep 0.5;
        syswrite $c, $rest;
        my $r = read_response($c, 0, 10);
        is $r && $r->{status}, 200, 'the request gets its 200';
        ok $r && $r->{body} eq $body, 'with its whole body echoed'
            or diag 'got ', length($r && $r->{body} // ''), ' bytes of ', length $body;
        is $r && $r->{headers}{connection}, 'close', 'and Connection: close';
        ok is_closed($c, 5), 'then the connection is closed';
        ok wait_gone(10, $worker, $v->{pid}), 'the worker and the master exit';
        like slurp($v->{log}), qr/graceful stop: finishing 1 request under way/, 'logged'
            or diag slurp($v->{log});
    };
}

# The uwsgi front end (a web server in front, e.g. nginx's uwsgi_pass)
# drains the same way: a body still arriving after its packet is served.
subtest 'a uwsgi request whose body is still arriving when the stop comes is served' => sub {
    my $uport = empty_port();
    my $v = start_vassal(args => ['--processes', 1, '--socket-timeout', 10, '--socket', "127.0.0.1:$uport"]);
    my ($worker) = children_of($v->{pid});
    my $c = http_connect($uport);
    syswrite $c, uwsgi_packet([REQUEST_METHOD => 'POST', REQUEST_URI => '/echo', PATH_INFO => '/echo',
                               CONTENT_LENGTH => length $body]) . substr($body, 0, $half);
    sleep 0.5;    # the packet is parsed, half of the body is in
    syswrite $v->{emperor}, chr(2);
    sleep 0.5;
    ok process_alive($worker), 'the worker stays for the request under way';
    syswrite $c, substr($body, $half);
    my $r = read_response($c, 0, 10);
    is $r && $r->{status}, 200, 'the request gets its 200';
    ok $r && $r->{body} eq $body, 'with its whole body echoed'
        or diag 'got ', length($r && $r->{body} // ''), ' bytes of ', length $body;
    ok wait_gone(10, $worker, $v->{pid}), 'the worker and the master exit';
};

# A keep-alive client sends its next request just as the stop comes: the
# bytes are in the socket, not yet read by the worker. Closing the "idle"
# connection then would lose that request; the worker sees the bytes and
# serves it. The worker is held with SIGSTOP so that the request arrives
# and the stop signal waits for it, deterministically.
subtest 'a request sent on an idle connection just before the stop is served' => sub {
    my $v = start_vassal(args => ['--processes', 1, '--socket-timeout', 10]);
    my ($worker) = children_of($v->{pid});
    my $c = http_connect($v->{port});
    my $r = http_roundtrip($c, "GET /pid HTTP/1.1\r\nHost: x\r\n\r\n");
    is $r && $r->{status}, 200, 'a keep-alive request is answered';
    kill 'STOP', $worker;
    syswrite $c, "GET /pid HTTP/1.1\r\nHost: x\r\n\r\n";
    syswrite $v->{emperor}, chr(2);
    sleep 0.5;    # the master has passed the stop on: SIGQUIT waits in the stopped worker
    kill 'CONT', $worker;
    $r = read_response($c, 0, 10);
    is $r && $r->{status}, 200, 'the request that was on its way gets its 200';
    is $r && $r->{headers}{connection}, 'close', 'with Connection: close';
    ok wait_gone(10, $worker, $v->{pid}), 'the worker and the master exit';
};

subtest 'a body that never completes is ended by body-timeout' => sub {
    my ($v, $worker, $idle, $silent) = vassal_with_idle('--body-timeout', 3);
    my $c = http_connect($v->{port});
    my $t0 = time;
    syswrite $c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " . length($body) . "\r\n\r\n"
        . substr($body, 0, $half);
    sleep 0.5;
    stop_gracefully($v, $worker, $idle, $silent);
    my $r = read_response($c, 0, 10);
    is $r && $r->{status}, 408, 'the request gets a 408';
    my $took = time - $t0;
    ok $took >= 2.5 && $took < 6, sprintf('after body-timeout (%.1f s)', $took);
    ok wait_gone(10, $worker, $v->{pid}), 'the worker and the master exit';
};

done_testing;
