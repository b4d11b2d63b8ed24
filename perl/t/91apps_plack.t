# The sample applications of the repository's integration/apps/, each loaded
# in-process with Plack::Util::load_psgi (as an adopted vassal does) and
# exercised through Plack::Test: no server, no network. A repository test:
# the apps (and Dancer2, Mojolicious, Catalyst) are not part of the
# distribution, so MANIFEST.SKIP leaves this file out of the tarball.
use strict;
use warnings;
use FindBin;
use File::Spec;
use File::Temp qw(tempdir);
use Test::More;
use Plack::Test;
use Plack::Util;
use HTTP::Request::Common qw(GET POST);
use HTTP::Message::PSGI ();
use Digest::SHA qw(sha256_hex);
use JSON::PP ();

my $APPS = File::Spec->rel2abs("$FindBin::Bin/../../integration/apps");
my $json = JSON::PP->new->utf8;

# The apps must not depend on the cwd: load and run them from elsewhere.
my $elsewhere = tempdir('apps-plack-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chdir $elsewhere or die "chdir $elsewhere: $!";

sub load_app {
    my ($rel) = @_;
    my $app = eval { Plack::Util::load_psgi("$APPS/$rel") };
    is ref $app, 'CODE', "$rel loads to a PSGI app" or diag $@;
    return $app;
}

sub ctype { scalar($_[0]->header('Content-Type')) // '' }

subtest 'dancer2/app.psgi' => sub {
    my $app = load_app('dancer2/app.psgi') or return;
    my $t = Plack::Test->create($app);

    my $res = $t->request(GET '/');
    is $res->code, 200, 'GET / 200';
    like ctype($res), qr{^text/html}, 'GET / is HTML';
    like $res->decoded_content, qr{<h1>Dancer2 sample</h1>}, 'GET / rendered from the TT view';
    like $res->decoded_content, qr{<span id="pid">\d+</span>}, 'GET / template variables filled';
    unlike $res->decoded_content, qr/\[%/, 'no raw template tags';

    $res = $t->request(GET '/hello/World');
    is $res->code, 200, 'GET /hello/World 200';
    like ctype($res), qr{^application/json}, 'hello is JSON';
    my $data = eval { $json->decode($res->content) } || {};
    is $data->{hello}, 'World', 'hello echoes the name';
    is $data->{app}, 'dancer2', 'hello names the app';
    like $data->{pid}, qr/^\d+$/, 'hello carries the pid';

    $res = $t->request(GET '/form');
    is $res->code, 200, 'GET /form 200';
    like $res->content, qr{<form method="post" action="/form">}, 'form page has the form';
    like $res->content, qr{name="$_"}, "form has field $_" for qw(name email comment);

    $res = $t->request(POST '/form',
        [name => 'Ann <O\'Neil>', email => 'ann@example.org', comment => 'a & b']);
    is $res->code, 200, 'POST /form 200';
    like ctype($res), qr{^text/html}, 'echo is HTML';
    my $body = $res->decoded_content;
    like $body, qr{Received 3 field\(s\)}, 'echo counts the fields';
    like $body, qr{<dt>name</dt><dd>Ann &lt;O&#39;Neil&gt;</dd>|<dt>name</dt><dd>Ann &lt;O'Neil&gt;</dd>},
        'echo shows name (escaped)';
    like $body, qr{<dt>email</dt><dd>ann\@example\.org</dd>}, 'echo shows email';
    like $body, qr{<dt>comment</dt><dd>a &amp; b</dd>}, 'echo shows comment (escaped)';

    is $t->request(GET '/no/such/page')->code, 404, 'unknown route 404';
};

subtest 'mojo/app.psgi' => sub {
    my $app = load_app('mojo/app.psgi') or return;
    my $t = Plack::Test->create($app);

    my $res = $t->request(GET '/');
    is $res->code, 200, 'GET / 200';
    like ctype($res), qr{^text/html}, 'GET / is HTML';
    like $res->content, qr{<h1>Mojolicious sample</h1>}, 'GET / body';

    $res = $t->request(GET '/json?a=1&b=two');
    is $res->code, 200, 'GET /json 200';
    like ctype($res), qr{^application/json}, '/json is JSON';
    my $data = eval { $json->decode($res->content) } || {};
    is $data->{app}, 'mojo', '/json names the app';
    is_deeply $data->{query}, { a => 1, b => 'two' }, '/json echoes the query';

    $res = $t->request(GET '/hello/bob');
    is $res->code, 200, 'GET /hello/bob 200';
    like ctype($res), qr{^text/plain}, 'hello is text';
    is $res->content, "Hello, bob!\n", 'hello body';

    my $expect = join('', map "chunk $_ of 4\n", 1 .. 4) . "done\n";
    $res = $t->request(GET '/stream?n=4');
    is $res->code, 200, 'GET /stream 200';
    like ctype($res), qr{^text/plain}, 'stream is text';
    is $res->content, $expect, 'stream full body';
    ok !defined $res->header('Content-Length'), 'stream has no Content-Length';
    ok !defined $res->header('Connection'), 'no hop-by-hop Connection header';

    # Call the app directly: the body must really come in several pieces.
    my $psgi = $app->(HTTP::Message::PSGI::req_to_psgi(GET 'http://localhost/stream?n=4'));
    is $psgi->[0], 200, 'direct stream 200';
    my $body = $psgi->[2];
    ok ref $body && !(ref $body eq 'ARRAY'), 'stream body is an iterator';
    my @pieces;
    if (ref $body eq 'ARRAY') { @pieces = @$body }
    else {
        while (defined(my $piece = $body->getline)) {
            push @pieces, $piece if length $piece;
            last if @pieces > 100;
        }
        $body->close;
    }
    is scalar @pieces, 5, 'stream arrives in 5 pieces';
    is join('', @pieces), $expect, 'pieces make up the body';

    is $t->request(GET '/no/such/page')->code, 404, 'unknown route 404';
};

subtest 'catalyst/app.psgi' => sub {
    my $app = load_app('catalyst/app.psgi') or return;
    my $t = Plack::Test->create($app);

    my $res = $t->request(GET '/');
    is $res->code, 200, 'GET / 200';
    like ctype($res), qr{^text/plain}, 'GET / is text';
    like $res->content, qr/^Hello from Catalyst \(pid \d+\)$/, 'GET / body';
    ok $res->header('X-Catalyst'), 'X-Catalyst header';

    $res = $t->request(GET '/echo?msg=hi%20there');
    is $res->code, 200, 'GET /echo 200';
    is $res->content, 'hi there', 'GET /echo echoes msg';

    $res = $t->request(GET '/json?x=1&y=abc');
    is $res->code, 200, 'GET /json 200';
    like ctype($res), qr{^application/json}, '/json is JSON';
    my $data = eval { $json->decode($res->content) } || {};
    is $data->{app}, 'catalyst', '/json names the app';
    is_deeply $data->{params}, { x => 1, y => 'abc' }, '/json echoes the query';

    $res = $t->request(POST '/echo', [a => 1, b => "zw\xc3\xa9"]);
    is $res->code, 200, 'POST /echo 200';
    $data = eval { $json->decode($res->content) } || {};
    is $data->{method}, 'POST', 'POST echo method';
    is_deeply $data->{params}, { a => 1, b => "zw\x{e9}" }, 'POST echo params (UTF-8)';

    is $t->request(GET '/no/such/page')->code, 404, 'unknown route 404';
};

subtest 'stack.psgi' => sub {
    my $app = load_app('stack.psgi') or return;
    my $t = Plack::Test->create($app);

    my $res = $t->request(GET '/');
    is $res->code, 200, 'GET / 200';
    like $res->content, qr{POST /upload}, 'index lists routes';
    ok $res->header('X-Runtime'), 'Runtime middleware header';

    for my $f (['hello.txt', qr{^text/plain}], ['style.css', qr{^text/css}]) {
        my ($name, $type) = @$f;
        open my $fh, '<:raw', "$APPS/static/$name" or die "$name: $!";
        my $want = do { local $/; <$fh> };
        $res = $t->request(GET "/static/$name");
        is $res->code, 200, "GET /static/$name 200";
        like ctype($res), $type, "$name content type";
        is $res->content, $want, "$name body";
        is $res->header('Content-Length'), length $want, "$name length";
        ok !$res->header('Set-Cookie'), "$name sets no cookie";
    }
    like $t->request(GET '/static/hello.txt')->content, qr/^Hello from the static directory/,
        'hello.txt content';
    isnt $t->request(GET '/static/../stack.psgi')->code, 200, 'no path traversal';
    is $t->request(GET '/static/missing.txt')->code, 404, 'missing static 404';

    # session counter
    $res = $t->request(GET '/count');
    is $res->content, "count=1\n", 'first /count';
    my ($cookie) = ($res->header('Set-Cookie') // '') =~ /^(stack_session=[^;]+)/;
    ok $cookie, 'session cookie set';
    $res = $t->request(GET '/count', Cookie => $cookie);
    is $res->content, "count=2\n", 'second /count with the cookie';
    ($cookie) = ($res->header('Set-Cookie') // '') =~ /^(stack_session=[^;]+)/;
    is $t->request(GET '/count', Cookie => $cookie)->content, "count=3\n", 'third /count';
    is $t->request(GET '/count')->content, "count=1\n", 'no cookie: new session';
    (my $forged = $cookie) =~ s/[0-9a-f]{8}$/00000000/;
    is $t->request(GET '/count', Cookie => $forged)->content, "count=1\n",
        'tampered cookie ignored';

    # basic auth
    $res = $t->request(GET '/private/');
    is $res->code, 401, '/private without credentials 401';
    like $res->header('WWW-Authenticate') // '', qr/^Basic/, 'asks for Basic auth';
    $res = $t->request(GET '/private/', Authorization => 'Basic ZGVtbzpzZWNyZXQ=');
    is $res->code, 200, '/private with demo:secret 200';
    is $res->content, "hello, demo\n", '/private body';
    is $t->request(GET '/private/', Authorization => 'Basic ZGVtbzp3cm9uZw==')->code, 401,
        'wrong password 401';

    # 5 MB upload: deterministic, incompressible content
    my $data = '';
    my $block = 'seed';
    while (length $data < 5 * 1024 * 1024) { $block = Digest::SHA::sha256($block); $data .= $block }
    $data = substr $data, 0, 5 * 1024 * 1024 + 7;
    my $sha = sha256_hex($data);
    $res = $t->request(POST '/upload', Content_Type => 'form-data', Content => [
        note => 'x',
        file => [undef, 'big.bin', 'Content-Type' => 'application/octet-stream', Content => $data],
    ]);
    is $res->code, 200, 'multipart upload 200';
    is $res->content, sprintf("file=file filename=big.bin size=%d sha256=%s\n", length $data, $sha),
        'upload size and SHA-256 match';

    $res = $t->request(POST '/upload', Content_Type => 'application/octet-stream', Content => $data);
    is $res->code, 200, 'raw upload 200';
    is $res->content, sprintf("file=- filename=- size=%d sha256=%s\n", length $data, $sha),
        'raw upload size and SHA-256 match';

    is $t->request(GET '/upload')->code, 405, 'GET /upload 405';
    is $t->request(GET '/nope')->code, 404, 'unknown route 404';
};

subtest 'heavy.psgi' => sub {
    my $app = load_app('heavy.psgi') or return;
    my $t = Plack::Test->create($app);
    my $entry = qr/^\[(\d+)\] id=(\d{7}) key=k[0-9a-f]{6} val=[A-Za-z0-9]+$/;

    my $res = $t->request(GET '/');
    is $res->code, 200, 'GET / 200';
    like ctype($res), qr{^text/plain}, 'GET / is text';
    my @lines = split /\n/, $res->content;
    is $lines[0], "pid=$$", 'reports the pid';
    is $lines[1], 'entries=400000', 'reports the table size';
    my @entries = grep /^\[/, @lines;
    is scalar @entries, 3, 'three entries by default';
    for (@entries) {
        like $_, $entry, 'entry format';
        my ($i, $id) = /$entry/;
        is $id + 0, $i, 'entry index matches its id';
    }

    $res = $t->request(GET '/?n=5');
    @entries = grep /^\[/, split /\n/, $res->content;
    is scalar @entries, 5, '?n=5 gives five entries';
    like $_, $entry, 'entry format' for @entries;

    like $t->request(GET '/entry/0')->content, qr/^id=0000000 /, 'first entry';
    $res = $t->request(GET '/entry/399999');
    like $res->content, qr/^id=0399999 key=k[0-9a-f]{6} val=\w+\n\z/, 'last entry';
    is $t->request(GET '/entry/400000')->code, 404, 'past the end 404';
    like $t->request(GET '/stats')->content, qr/^entries=400000$/m, '/stats';
};

subtest 'preload.pl' => sub {
    my @warnings;
    local $SIG{__WARN__} = sub { push @warnings, @_ };
    my $ret = do "$APPS/preload.pl";
    is $@, '', 'preload.pl compiles and runs';
    is $ret, 1, 'preload.pl returns 1 under do FILE';
    is_deeply \@warnings, [], 'every shared module preloaded';
    ok $INC{$_}, "$_ loaded" for qw(Dancer2.pm Mojolicious.pm Mojo/Server/PSGI.pm Catalyst.pm
        Plack/Builder.pm Template.pm Plack/Middleware/Session/Cookie.pm);
};

chdir '/';
done_testing;
