# The collection of malformed and request-smuggling HTTP requests, against a
# psgi-vassal (http-socket, 2 workers, t/apps/echo_pid.psgi). Each must be
# answered 400 (413/431/414 where that is the right code, 501 for a coding
# before chunked) or the connection dropped - never a 200, never an answer to
# a request hidden in a body - no worker may die (worker pids unchanged), and
# a valid request right after each one succeeds. Malformed header fields and
# framing get their status with Connection: close, and the connection is
# closed. A few correctly framed requests whose body merely looks like a
# request must get exactly one 200 with the whole body.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use VassalTest;
use Time::HiRes qw(time);

my $vassal = start_vassal(app => 'echo_pid.psgi', timeout => 30,
                          args => ['--processes', 2, '--limit-post', 1048576, '--socket-timeout', 5]);
my ($master, $port, $log, $emperor) = @$vassal{qw(pid port log emperor)};
ok wait_port({port => $port, max_wait => 15}), 'it listens';

# the workers: the pids our requests are answered by, and the master's children
my @workers = sort { $a <=> $b } children_of($master);
is scalar @workers, 2, "two workers: @workers";

my $H = "Host: localhost\r\n";
my $SMUGGLED = "GET /smuggled HTTP/1.1\r\n${H}\r\n";
my $bad = qr/\A(?:400)\z/;
my $too_large = qr/\A(?:400|413)\z/;
my $hdr_too_large = qr/\A(?:400|431)\z/;
my $line_too_long = qr/\A(?:400|414|431)\z/;

# [name, bytes, status wanted, ok_once => exactly one response (len, path:
# what the app saw), close => answered with Connection: close, then closed]
my @cases = (
    # --- malformed header fields and framing: the status, Connection: close, closed
    (map { my ($status, $req, $name) = @$_; [$name, $req, qr/\A$status\z/, close => 1] }
    [400, "GET / HTTP/1.1\r\nHost: x\r\nNo colon\r\n\r\n",           'a line without a colon'],
    [400, "GET / HTTP/1.1\r\nHost : x\r\n\r\n",                      'whitespace before the colon'],
    [400, "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",            'obs-fold'],
    [400, "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",        'a control character'],
    [400, "GET / HTTP/1.1\r\nHost: x\r\n: empty name\r\n\r\n",       'an empty name'],
    [400, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 'an invalid Content-Length'],
    [400, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 'conflicting Content-Lengths'],
    [400, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 'Content-Length and chunked'],
    [501, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 'an unsupported Transfer-Encoding'],
    [400, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 'chunked not the last coding'],
    [400, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 'chunked twice'],
    [400, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nabcde\r\n0\r\n\r\n", 'a chunk size line ending with a bare LF'],
    [400, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\n0\r\n\r\n", 'chunk data ending with a bare LF'],
    [400, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 'a malformed chunk size'],
    [400, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", 'a chunk without its CRLF'],
    [400, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;\x01\r\nabc\r\n0\r\n\r\n", 'a control character in a chunk extension'],
    [400, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", 'a chunk size too large'],
    ),
    ['valid: a chunk extension', "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;name=value\r\nabc\r\n0\r\n\r\n",
     qr/\A200\z/, ok_once => 1, len => 3],
    # --- Content-Length
    ['duplicate Content-Length, different values',
     "POST /a HTTP/1.1\r\n${H}Content-Length: 6\r\nContent-Length: 5\r\n\r\nabcdef", $bad],
    ['duplicate Content-Length, smuggled request after the shorter one',
     "POST /a HTTP/1.1\r\n${H}Content-Length: 0\r\nContent-Length: " . length($SMUGGLED) . "\r\n\r\n$SMUGGLED", $bad],
    ['Content-Length list "5, 6"', "POST /a HTTP/1.1\r\n${H}Content-Length: 5, 6\r\n\r\nabcdef", $bad],
    ['Content-Length not a number', "POST /a HTTP/1.1\r\n${H}Content-Length: abc\r\n\r\n", $bad],
    ['Content-Length negative', "POST /a HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n$SMUGGLED", $bad],
    ['Content-Length with a plus sign', "POST /a HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nabcde", $bad],
    ['Content-Length hex', "POST /a HTTP/1.1\r\n${H}Content-Length: 0x5\r\n\r\nabcde", $bad],
    ['Content-Length with trailing garbage', "POST /a HTTP/1.1\r\n${H}Content-Length: 5x\r\n\r\nabcde", $bad],
    ['Content-Length overflowing 64 bits', "POST /a HTTP/1.1\r\n${H}Content-Length: 18446744073709551621\r\n\r\nabcde", $too_large],
    ['Content-Length huge (1e15)', "POST /a HTTP/1.1\r\n${H}Content-Length: 1000000000000000\r\n\r\nabcde", $too_large],
    ['Content-Length with a space inside the name', "POST /a HTTP/1.1\r\n${H}Content-Length : 5\r\n\r\nabcde", $bad],
    # --- Transfer-Encoding with / against Content-Length
    ['Transfer-Encoding chunked and Content-Length (CL.TE)',
     "POST /a HTTP/1.1\r\n${H}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n$SMUGGLED", $bad],
    ['Content-Length and Transfer-Encoding chunked (TE.CL)',
     "POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
     . sprintf("%x\r\n%s\r\n0\r\n\r\n", length $SMUGGLED, $SMUGGLED), $bad],
    # RFC 9112 6.3: chunked not final in a request -> the server MUST answer 400 and close
    ['Transfer-Encoding: chunked, identity', "POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", $bad],
    ['Transfer-Encoding: identity, chunked plus Content-Length',
     "POST /a HTTP/1.1\r\n${H}Transfer-Encoding: identity, chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
     qr/\A(?:400|501)\z/],    # chunked is final; identity is an unknown coding: 501 (RFC 9112 6.1) or 400
    ['Transfer-Encoding: xchunked', "POST /a HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", qr/\A(?:400|501)\z/],
    ['Transfer-Encoding: chunked with a tab before the name',
     "POST /a HTTP/1.1\r\n${H}\tTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", $bad],
    ['Transfer-Encoding with a space before the colon',
     "POST /a HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", $bad],
    ['Transfer-Encoding: "chunked" (quoted)', "POST /a HTTP/1.1\r\n${H}Transfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n", qr/\A(?:400|501)\z/],
    ['Transfer-Encoding twice (chunked, then identity)',
     "POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n", qr/\A(?:400|501)\z/],
    ['Transfer-Encoding: chunked\\x0b (vertical tab)', "POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\x0b\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", $bad],
    ['Transfer-Encoding on HTTP/1.0 with Content-Length',
     "POST /a HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", $bad],
    # --- bad chunks
    ['chunk size not hex', "POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", $bad],
    ['chunk size negative', "POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n-5\r\nabcde\r\n0\r\n\r\n", $bad],
    ['chunk size with 0x prefix', "POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0x5\r\nabcde\r\n0\r\n\r\n", $bad],
    ['chunk size overflowing 64 bits', "POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n10000000000000005\r\nabcde\r\n0\r\n\r\n", $too_large],
    ['chunk size huge', "POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nffffffffffff\r\nabcde\r\n0\r\n\r\n", $too_large],
    ['chunk data missing its CRLF (smuggle after)',
     "POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nabcdeXX0\r\n\r\n$SMUGGLED", $bad],
    ['chunk size line with a bare LF', "POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\nabcde\r\n0\r\n\r\n", $bad],
    ['chunk size with a space before CRLF and garbage', "POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5 x\r\nabcde\r\n0\r\n\r\n", $bad],
    ['chunk extension with a bare CR', "POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;a\rb\r\nabcde\r\n0\r\n\r\n", $bad],
    ['chunk data longer than its size', "POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n", $bad],
    # --- NUL, CR, LF games in the head
    ['NUL in a header value', "GET /a HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n", $bad],
    ['NUL in a header name', "GET /a HTTP/1.1\r\n${H}X-\x00A: b\r\n\r\n", $bad],
    ['NUL in the request target', "GET /a\x00b HTTP/1.1\r\n${H}\r\n", $bad],
    ['bare CR in a header value', "GET /a HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n", $bad],
    ['bare CR ending a header line', "GET /a HTTP/1.1\r\n${H}X-A: a\r\rContent-Length: 5\r\n\r\nabcde", $bad],
    ['bare CR in the request line', "GET /a\rb HTTP/1.1\r\n${H}\r\n", $bad],
    ['header without a colon', "GET /a HTTP/1.1\r\n${H}NoColonHere\r\n\r\n", $bad],
    ['header with an empty name', "GET /a HTTP/1.1\r\n${H}: value\r\n\r\n", $bad],
    ['header name with a space', "GET /a HTTP/1.1\r\n${H}X A: b\r\n\r\n", $bad],
    ['header name with a non-token char', "GET /a HTTP/1.1\r\n${H}X(A): b\r\n\r\n", $bad],
    ['obs-fold continuation line', "GET /a HTTP/1.1\r\n${H}X-A: a\r\n b\r\n\r\n", $bad],
    ['obs-fold that hides Content-Length', "POST /a HTTP/1.1\r\n${H}X-A: a\r\n Content-Length: 5\r\n\r\nabcde", $bad],
    ['obs-fold of Transfer-Encoding', "POST /a HTTP/1.1\r\n${H}Transfer-Encoding:\r\n chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", $bad],
    ['whitespace line before the first header', "GET /a HTTP/1.1\r\n Host: x\r\n\r\n", $bad],
    # --- absurd lengths
    ['header line of 100 KB', "GET /a HTTP/1.1\r\n${H}X-Big: " . ('a' x 102_400) . "\r\n\r\n", $hdr_too_large],
    ['10,000 headers', "GET /a HTTP/1.1\r\n${H}" . join('', map { "X-H$_: v\r\n" } 1 .. 10_000) . "\r\n", $hdr_too_large],
    ['request line of 100 KB', "GET /" . ('a' x 102_400) . " HTTP/1.1\r\n${H}\r\n", $line_too_long],
    ['body over limit-post', "POST /a HTTP/1.1\r\n${H}Content-Length: 2000000\r\n\r\nabc", qr/\A413\z/],
    ['chunked body over limit-post', "POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n"
                                     . ("ffff\r\n" . ('x' x 0xffff) . "\r\n") x 17 . "0\r\n\r\n", qr/\A413\z/],
    # --- request line garbage
    ['garbage request line', "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", $bad],
    ['request line with no version', "GET /a\r\n${H}\r\n", $bad],
    ['HTTP/0.9 simple request', "GET /\r\n", $bad],
    ['HTTP/2.0 version', "GET /a HTTP/2.0\r\n${H}\r\n", qr/\A(?:400|505)\z/],
    ['HTTP/1.10 version', "GET /a HTTP/1.10\r\n${H}\r\n", qr/\A(?:400|505)\z/],
    ['lower-case http version', "GET /a http/1.1\r\n${H}\r\n", $bad],
    ['two spaces in the request line', "GET  /a HTTP/1.1\r\n${H}\r\n", $bad],
    ['tab separators in the request line', "GET\t/a\tHTTP/1.1\r\n${H}\r\n", $bad],
    ['extra token in the request line', "GET /a HTTP/1.1 extra\r\n${H}\r\n", $bad],
    ['method with a separator char', "G(T /a HTTP/1.1\r\n${H}\r\n", $bad],
    ['method with a high byte', "G\xc9T /a HTTP/1.1\r\n${H}\r\n", $bad],
    ['empty method', " /a HTTP/1.1\r\n${H}\r\n", $bad],
    ['target without a leading slash', "GET a/b HTTP/1.1\r\n${H}\r\n", $bad],
    ['asterisk-form with GET', "GET * HTTP/1.1\r\n${H}\r\n", $bad],
    ['absolute-form with an empty authority', "GET http:// HTTP/1.1\r\n${H}\r\n", $bad],
    ['absolute-form with a space in the authority', "GET http://a b/ HTTP/1.1\r\n${H}\r\n", $bad],
    ['valid: a header value that looks like a version', "GET /a HTTP/1.1\r\nX: HTTP/1.1\r\n${H}\r\n", qr/\A200\z/, ok_once => 1],
    ['valid: absolute-form target (RFC 9112 3.2.2: servers MUST accept it)',
     "GET http://localhost/x?q=1 HTTP/1.1\r\n${H}\r\n", qr/\A200\z/, ok_once => 1, path => '/x'],
    # --- a request hidden in a body
    ['two Content-Lengths hiding a pipelined request',
     "POST /a HTTP/1.1\r\n${H}Content-Length: " . length($SMUGGLED) . "\r\nContent-Length: 0\r\n\r\n$SMUGGLED", $bad],
    ['chunked body ending early, the rest a request',
     "POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: " . (5 + length $SMUGGLED) . "\r\n\r\n0\r\n\r\n$SMUGGLED", $bad],
    ['TE obfuscated by a leading space in the value, CL hides a request',
     "POST /a HTTP/1.1\r\n${H}Transfer-Encoding:  chunked \r\nContent-Length: 4\r\n\r\n0\r\n\r\n$SMUGGLED", $bad],
    # --- correctly framed: the "request" in the body is just body; exactly one 200
    ['framed: Content-Length body that looks like a request',
     "POST /a HTTP/1.1\r\n${H}Connection: close\r\nContent-Length: " . length($SMUGGLED) . "\r\n\r\n$SMUGGLED",
     qr/\A200\z/, ok_once => 1, len => length $SMUGGLED],
    ['framed: chunked body that looks like a request',
     "POST /a HTTP/1.1\r\n${H}Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
     . sprintf("%x\r\n%s\r\n0\r\n\r\n", length $SMUGGLED, $SMUGGLED),
     qr/\A200\z/, ok_once => 1, len => length $SMUGGLED],
);

# Reads the answer: until EOF, or 10 s, or 1 s of silence after a response head.
sub exchange {
    my ($bytes) = @_;
    require IO::Socket::INET;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5)
        or die "connect 127.0.0.1:$port: $!";
    my $off = 0;
    while ($off < length $bytes) {
        my $n = syswrite $sock, $bytes, 65536, $off;
        last unless defined $n;    # reset: the server already answered or dropped us
        $off += $n;
    }
    my ($out, $closed) = ('', 0);
    my $deadline = time + 10;
    while (time < $deadline) {
        my $rin = '';
        vec($rin, fileno $sock, 1) = 1;
        my $wait = $out =~ /\r\n\r\n/ ? 1 : $deadline - time;
        my $n = select(my $rout = $rin, undef, undef, $wait);
        last if $n <= 0;
        my $r = sysread $sock, $out, 65536, length $out;
        if (!$r) { $closed = 1; last }
    }
    return ($out, $closed);
}

sub show { my $s = substr($_[0], 0, $_[1] // 300); $s =~ s/([^\x20-\x7e])/sprintf '\\x%02x', ord $1/ge; $s .= '...' if length $_[0] > ($_[1] // 300); $s }

my @wrong;
for my $case (@cases) {
    my ($name, $bytes, $want, %o) = @$case;
    subtest $name => sub {
        my ($out, $closed) = exchange($bytes);
        my @statuses = $out =~ m{(?:\A|\n)HTTP/1\.[01] ([0-9]{3})}g;
        my $ok = 1;
        if ($o{ok_once}) {
            $ok &&= is scalar @statuses, 1, 'exactly one response';
            $ok &&= like $statuses[0] // 'none', $want, 'status';
            $ok &&= like $out, qr/len=$o{len}\n/, "the app read the whole body ($o{len} bytes)" if defined $o{len};
            $ok &&= like $out, qr/ path=\Q$o{path}\E len=/, "PATH_INFO is $o{path}" if defined $o{path};
        }
        elsif (@statuses) {
            $ok &&= like $statuses[0], $want, "answered $statuses[0]";
            $ok &&= is scalar(grep { $_ eq '200' } @statuses), 0, 'no 200 at all';
        }
        else {
            $ok &&= ok $closed, 'no answer: the connection was dropped' or diag 'no answer and the connection still open after 10 s';
        }
        if ($o{close}) {
            $ok &&= like $out, qr/\r\nConnection: close\r\n/i, 'Connection: close';
            $ok &&= ok $closed, 'and the connection is closed';
        }
        $ok &&= unlike $out, qr{path=/smuggled}, 'the hidden request was never served';
        push @wrong, [$name, $bytes, $out] unless $ok;
        diag 'sent: ' . show($bytes) . "\ngot:  " . show($out, 600) unless $ok;

        is_deeply [sort { $a <=> $b } children_of($master)], \@workers, 'the workers are unchanged (none died)';
        my ($after) = exchange("GET /after HTTP/1.1\r\n${H}Connection: close\r\n\r\n");
        like $after, qr{\AHTTP/1\.1 200 .*pid=([0-9]+) method=GET path=/after len=0}s, 'a valid request right after succeeds';
        my ($pid) = $after =~ /pid=([0-9]+)/;
        ok $pid && grep({ $_ == $pid } @workers), 'served by one of the original workers';
    };
}

if (@wrong) {
    diag scalar(@wrong) . ' case(s) handled wrongly:';
    diag "  $_->[0]\n    sent: " . show($_->[1], 200) . "\n    got:  " . show($_->[2], 300) for @wrong;
}

ok process_alive($master), 'the master still runs';
is_deeply [sort { $a <=> $b } children_of($master)], \@workers, 'same two workers at the end';
unlike slurp($log), qr/worker \d+ (?:died|exited|killed)/i, 'no worker death logged';
close $emperor;
ok wait_gone(15, $master, @workers), 'EOF on its Emperor pipe stops the vassal and its workers';

done_testing;
