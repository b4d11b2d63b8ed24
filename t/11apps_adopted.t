# Many apps on one code base: a base vassal preloads the shared code of every
# framework (early-perl-exec of integration/apps/preload.pl); each adopted
# vassal names its own app (Dancer2, Mojolicious, Catalyst, a Plack::Builder
# stack) and is checked through real HTTP. Reports how long each adoption took,
# from its config file appearing to its first 200.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use HTTP::Request::Common qw(POST);
use HTTP::Tiny;
use JSON::PP qw(decode_json);
use Test::More;
use Time::HiRes qw(time);
use EmperorTest qw(root empty_port write_file wait_until http_get start_emperor);

my $root = root();
my $apps = "$root/integration/apps";
my $dir = tempdir('apps-adopted-XXXXXX', TMPDIR => 1, CLEANUP => 1);
mkdir "$dir/$_" or die $! for qw(vassals staging);
write_file("$dir/vassals/base.ini", <<"INI");
[uwsgi]
early-perl-exec = $apps/preload.pl
fork-server = $dir/fork.sock
INI

my %app = (
    dancer2  => "$apps/dancer2/app.psgi",
    mojo     => "$apps/mojo/app.psgi",
    catalyst => "$apps/catalyst/app.psgi",
    stack    => "$apps/stack.psgi",
);
my %port = map { $_ => empty_port() } keys %app;
for my $name (sort keys %app) {
    write_file("$dir/staging/$name.ini",
        "[uwsgi]\npsgi = $app{$name}\nhttp-socket = 127.0.0.1:$port{$name}\nprocesses = 2\n");
}

my $emperor = start_emperor(dir => $dir, args => [
    '--emperor', "$dir/vassals",
    '--vassal-fork-base', 'base.ini',
    '--emperor-use-fork-server', "$dir/fork.sock",
    '--binary-path', "$root/perl/bin/psgi-vassal",
    '--reload-mercy', '5',
]);
ok wait_until(60, sub { -S "$dir/fork.sock" }), 'the base vassal preloaded the frameworks and listens'
    or diag $emperor->log_text;

# Drop every app in at once, as an operator deploying them would.
my $t0 = time;
rename "$dir/staging/$_.ini", "$dir/vassals/$_.ini" or die $! for sort keys %app;
my %took;
my $pending = { %port };
wait_until(60, sub {
    for my $name (keys %$pending) {
        next unless http_get($pending->{$name})->{status} == 200;
        $took{$name} = time - $t0;
        delete $pending->{$name};
    }
    !%$pending;
});
for my $name (sort keys %app) {
    ok defined $took{$name}, "$name adopted and serving" or diag $emperor->log_text;
    diag sprintf '%-8s adopted and answering 200 %.0f ms after its config appeared', $name, 1000 * $took{$name}
        if defined $took{$name};
}

my $http = HTTP::Tiny->new(timeout => 20, keep_alive => 0);
sub url { "http://127.0.0.1:$port{$_[0]}$_[1]" }
sub send_request {
    my ($req) = @_;    # an HTTP::Request, sent through HTTP::Tiny
    my %h;
    $req->headers->scan(sub { $h{$_[0]} = $_[1] });
    return $http->request($req->method, $req->uri, { headers => \%h, content => $req->content });
}

subtest 'Dancer2: routes, a template, a POST form' => sub {
    my $res = $http->get(url(dancer2 => '/'));
    is $res->{status}, 200, 'GET /';
    like $res->{content}, qr{<h1>Dancer2 sample</h1>}, 'page rendered from its template';
    $res = $http->get(url(dancer2 => '/hello/World'));
    like $res->{headers}{'content-type'}, qr{^application/json}, '/hello/World is JSON';
    is decode_json($res->{content})->{hello}, 'World', 'route parameter arrives';
    $res = $http->post_form(url(dancer2 => '/form'), { name => 'Ann', email => 'ann@example.org', comment => 'a & b' });
    is $res->{status}, 200, 'POST /form';
    like $res->{content}, qr{<dt>comment</dt><dd>a &amp; b</dd>}, 'form fields echoed';
};

subtest 'Mojolicious through Mojo::Server::PSGI: JSON and a streamed response' => sub {
    my $res = $http->get(url(mojo => '/json?a=1&b=two'));
    is $res->{status}, 200, 'GET /json';
    is_deeply decode_json($res->{content})->{query}, { a => 1, b => 'two' }, 'query string intact'
        or diag $res->{content};
    $res = $http->get(url(mojo => '/stream?n=4'));
    is $res->{status}, 200, 'GET /stream';
    is $res->{headers}{'transfer-encoding'}, 'chunked', 'streamed with chunked encoding';
    is $res->{content}, join('', map({ "chunk $_ of 4\n" } 1 .. 4), "done\n"), 'every piece arrives in order';
};

subtest 'Catalyst' => sub {
    my $res = $http->get(url(catalyst => '/'));
    like $res->{content}, qr/^Hello from Catalyst \(pid \d+\)$/, 'GET /';
    is $http->get(url(catalyst => '/echo?msg=hi%20there'))->{content}, 'hi there', 'GET /echo';
    $res = $http->post_form(url(catalyst => '/echo'), { a => 1, b => 'two' });
    is_deeply decode_json($res->{content})->{params}, { a => 1, b => 'two' }, 'POST /echo';
};

subtest 'Plack::Builder stack: static files, session, auth, a multi-MB upload' => sub {
    my $res = $http->get(url(stack => '/static/style.css'));
    is $res->{status}, 200, 'static file';
    like $res->{headers}{'content-type'}, qr{^text/css}, 'static content type';
    $res = $http->get(url(stack => '/count'));
    my ($cookie) = ($res->{headers}{'set-cookie'} // '') =~ /^(stack_session=[^;]+)/;
    ok $cookie, 'session cookie';
    is $http->get(url(stack => '/count'), { headers => { Cookie => $cookie } })->{content}, "count=2\n",
        'session survives across requests (and workers)';
    is $http->get(url(stack => '/private/'))->{status}, 401, 'auth required';
    is $http->get(url(stack => '/private/'), { headers => { Authorization => 'Basic ZGVtbzpzZWNyZXQ=' } })->{status},
        200, 'auth accepted';

    my $data = '';
    my $block = 'seed';
    while (length $data < 6 * 1024 * 1024) { $block = Digest::SHA::sha256($block); $data .= $block }
    $res = send_request(POST url(stack => '/upload'), Content_Type => 'form-data', Content => [
        file => [undef, 'big.bin', 'Content-Type' => 'application/octet-stream', Content => $data],
    ]);
    is $res->{status}, 200, '6 MB multipart upload';
    is $res->{content}, sprintf("file=file filename=big.bin size=%d sha256=%s\n", length $data, sha256_hex($data)),
        'upload arrives intact (size and SHA-256)';
};

is $emperor->stop(60), 0, 'Emperor stops cleanly';
done_testing;
