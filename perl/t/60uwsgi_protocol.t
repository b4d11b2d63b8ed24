# The uwsgi protocol on `socket` (TCP and UNIX, beside an http-socket in the
# same vassal): the dict is the env, the body follows it, the response is
# raw HTTP with the front end's protocol, and the connection ends with it.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use VassalTest;

my $dir = tempdir();
my $uport = empty_port();
my $usock = "$dir/app.sock";
my $v = start_vassal(dir => $dir, args => ['--processes', 2, '--socket', "127.0.0.1:$uport",
                                           '--socket', $usock, '--chmod-socket', '660',
                                           '--limit-post', 100_000, '--buffer-size', 2048]);
like slurp($v->{log}), qr/serving the uwsgi protocol on 127\.0\.0\.1:$uport with 2 worker\(s\)/, 'the TCP socket';
like slurp($v->{log}), qr/serving the uwsgi protocol on UNIX socket \Q$usock\E/, 'the UNIX socket';
like slurp($v->{log}), qr/serving HTTP on 127\.0\.0\.1:$v->{port}/, 'and the http-socket';
is +(stat $usock)[2] & 07777, 0660, 'chmod-socket 660';
is http_get($v->{port}, '/')->{status}, 200, 'HTTP still works';

# what nginx's uwsgi_params send
sub vars {
    my (%o) = @_;
    return [
        QUERY_STRING    => $o{query} // '',
        REQUEST_METHOD  => $o{method} // 'GET',
        CONTENT_TYPE    => $o{type} // '',
        CONTENT_LENGTH  => $o{length} // '',
        REQUEST_URI     => $o{uri} // '/env',
        PATH_INFO       => $o{path} // '/env',
        DOCUMENT_ROOT   => '/srv',
        SERVER_PROTOCOL => $o{protocol} // 'HTTP/1.1',
        REQUEST_SCHEME  => 'http',
        REMOTE_ADDR     => '192.0.2.7',
        REMOTE_PORT     => '51234',
        SERVER_PORT     => '8080',
        SERVER_NAME     => 'front.example',
        HTTP_HOST       => 'front.example:8080',
        ($o{https} ? (HTTPS => 'on') : ()),
        @{ $o{more} || [] },
    ];
}

for my $addr ($uport, $usock) {
    my $where = $addr =~ /\A[0-9]+\z/ ? 'TCP' : 'UNIX';
    my $out = uwsgi_roundtrip($addr, vars(uri => '/env/a%20b?x=1', path => '/env/a b', query => 'x=1'));
    like $out, qr{\AHTTP/1\.1 200 OK\r\n}, "$where: a raw HTTP status line";
    my ($head, $body) = split /\r\n\r\n/, $out, 2;
    like $head, qr/^Content-Type: text\/plain\r?$/m, "$where: the app's headers";
    unlike $head, qr/^(?:Date|Connection):/mi, "$where: no Date or Connection of ours (the front end's job)";
    my %env = map { split /=/, $_, 2 } split /\n/, $body // '';
    is $env{REQUEST_METHOD}, 'GET', "$where: REQUEST_METHOD from the dict";
    is $env{PATH_INFO}, '/env/a b', "$where: PATH_INFO";
    is $env{QUERY_STRING}, 'x=1', "$where: QUERY_STRING";
    is $env{SERVER_NAME}, 'front.example', "$where: SERVER_NAME";
    is $env{SERVER_PORT}, 8080, "$where: SERVER_PORT";
    is $env{REMOTE_ADDR}, '192.0.2.7', "$where: REMOTE_ADDR";
    is $env{HTTP_HOST}, 'front.example:8080', "$where: HTTP_HOST";
    is $env{SCRIPT_NAME}, '', "$where: SCRIPT_NAME defaults to ''";
    is $env{'psgi.url_scheme'}, 'http', "$where: url_scheme";
    is $env{'psgi.streaming'}, 1, "$where: psgi.streaming";
}

my $https = uwsgi_roundtrip($uport, vars(https => 1));
like $https, qr/^psgi\.url_scheme=https$/m, 'HTTPS=on: url_scheme https';
like uwsgi_roundtrip($uport, vars(), undef, modifier1 => 5), qr{\AHTTP/1\.1 200}, 'modifier1 5 (PSGI) too';
like uwsgi_roundtrip($uport, vars(protocol => 'HTTP/1.0')), qr{\AHTTP/1\.0 200}, 'the status line uses SERVER_PROTOCOL';

my $body = join '', map { chr(32 + $_ % 90) } 1 .. 70_000;
my $echo = uwsgi_roundtrip($uport, vars(method => 'POST', uri => '/echo', path => '/echo', length => length $body,
                                        type => 'application/octet-stream',
                                        more => [HTTP_CONTENT_LENGTH => length $body]), $body);
my ($eh, $eb) = split /\r\n\r\n/, $echo, 2;
ok defined $eb && $eb eq $body, 'a 70 KB body arrives intact';
like $eh, qr/^X-Content-Length: 70000\r?$/m, 'CONTENT_LENGTH';

my $head = uwsgi_roundtrip($uport, vars(method => 'HEAD', uri => '/', path => '/'));
like $head, qr{\AHTTP/1\.1 200 OK\r\n.*\r\n\r\n\z}s, 'HEAD: no body';
my $stream = uwsgi_roundtrip($uport, vars(uri => '/stream', path => '/stream'));
like $stream, qr{\r\n\r\nchunk1\nchunk2\nchunk3\n\z}, 'streaming: not chunked, ended by the connection';
unlike $stream, qr/Transfer-Encoding/i, 'no Transfer-Encoding';
like uwsgi_roundtrip($uport, vars(uri => '/die', path => '/die')), qr{\AHTTP/1\.1 500}, 'an app that dies: 500';

like uwsgi_roundtrip($uport, vars(method => 'POST', length => 200_000)), qr{\AHTTP/1\.1 413}, '413 over limit-post';
is uwsgi_roundtrip($uport, [], undef, raw => "\x00\x20\x00\x00\x05\x00ab"), '', 'a malformed dict: closed without a response';
is uwsgi_roundtrip($uport, vars(), undef, modifier1 => 100), '', 'modifier1 100: closed';
is uwsgi_roundtrip($uport, [X => 'y' x 3000]), '', 'a packet over buffer-size: closed';
like slurp($v->{log}), qr/uwsgi request block of \d+ bytes is over buffer-size \(2048\)/, 'logged';
my $c = http_connect($uport);
syswrite $c, "\x00\x10";
ok is_closed($c, 10), 'a half header is dropped after socket-timeout';

is scalar(children_of($v->{pid})), 2, 'the workers are fine';
ok stop_vassal($v), 'stops';
ok !-e $usock, 'the UNIX socket file is removed';

done_testing;
