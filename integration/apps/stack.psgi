# stack.psgi - a Plack::Builder middleware stack (no framework).
#
#   GET  /                 text/plain index of the routes below
#   GET  /static/<file>    files of integration/apps/static/ (Plack::App::File:
#                          hello.txt -> text/plain, style.css -> text/css)
#   GET  /count            increments a counter kept in the session and
#                          answers "count=N" (cookie "stack_session")
#   POST /upload           multipart/form-data: every uploaded file is
#                          answered with its field, filename, size and SHA-256:
#                            file=<field> filename=<name> size=<bytes> sha256=<hex>
#                          any other body (e.g. curl --data-binary) is hashed
#                          as-is:  file=- filename=- size=<bytes> sha256=<hex>
#   GET  /private/         HTTP Basic auth (user "demo", password "secret"):
#                          "hello, demo"; 401 without credentials
#
# Middleware: Runtime (X-Runtime header), ContentLength, Session::Cookie
# (not on /static), Auth::Basic (on /private only); Plack::App::File and
# Plack::App::URLMap (mount).
#
# The session is stored in the signed cookie itself (Session::Cookie), not in
# process memory, so the counter works across worker processes and vassals.
# It is serialised as JSON (not the default Storable): even a leaked secret
# then only lets a client forge its own counter.  Set STACK_SESSION_SECRET in
# real deployments.  Paths are derived from this file, never from cwd.
use strict;
use warnings;
use File::Basename ();
use File::Spec ();
use Plack::Builder;
use Plack::Request;
use Plack::App::File;
use Plack::Middleware::Session::Cookie;
use Plack::Middleware::Auth::Basic;
use Digest::SHA ();
use JSON::PP ();
use MIME::Base64 ();

my $DIR = File::Basename::dirname(File::Spec->rel2abs(__FILE__));

my $json = JSON::PP->new->canonical;

sub _text {
    my ($code, $body, @h) = @_;
    return [$code, ['Content-Type' => 'text/plain; charset=utf-8', @h], [$body]];
}

my $main = sub {
    my $env = shift;
    my $req = Plack::Request->new($env);
    my $path = $req->path_info;
    my $method = $req->method;

    if ($path eq '/' && ($method eq 'GET' || $method eq 'HEAD')) {
        return _text(200, join '', map "$_\n",
            "stack.psgi (pid $$)",
            'GET  /static/hello.txt', 'GET  /static/style.css',
            'GET  /count', 'POST /upload', 'GET  /private/');
    }

    if ($path eq '/count' && $method eq 'GET') {
        my $session = $env->{'psgix.session'};
        my $count = ++$session->{count};
        return _text(200, "count=$count\n");
    }

    if ($path eq '/upload') {
        return _text(405, "use POST\n", Allow => 'POST') unless $method eq 'POST';
        my $ct = $req->content_type // '';
        my @lines;
        if ($ct =~ m{^multipart/form-data}i) {
            # Plack::Request (HTTP::Entity::Parser) spools each file to a
            # temporary file; hash it from there without slurping.
            my $uploads = $req->uploads;
            for my $field (sort keys %$uploads) {
                for my $up ($uploads->get_all($field)) {
                    my $sha = Digest::SHA->new(256);
                    $sha->addfile($up->path, 'b');
                    push @lines, sprintf "file=%s filename=%s size=%d sha256=%s",
                        $field, $up->filename // '', $up->size, $sha->hexdigest;
                    unlink $up->path;    # don't leave spooled files behind
                }
            }
            return _text(400, "no file uploaded\n") unless @lines;
        }
        else {
            my $sha = Digest::SHA->new(256);
            my ($input, $size) = ($env->{'psgi.input'}, 0);
            while (1) {
                my $n = $input->read(my $buf, 65536);
                die "read error: $!" unless defined $n;
                last unless $n;
                $size += $n;
                $sha->add($buf);
            }
            push @lines, "file=- filename=- size=$size sha256=" . $sha->hexdigest;
        }
        return _text(200, join '', map "$_\n", @lines);
    }

    return _text(404, "not found\n");
};

my $private = sub {
    my $env = shift;
    return _text(200, "hello, $env->{REMOTE_USER}\n");
};

builder {
    enable 'Runtime';
    enable 'ContentLength';

    # Static files: no session, so no Set-Cookie on them.
    mount '/static/' => Plack::App::File->new(root => "$DIR/static")->to_app;
    mount '/private' => builder {
        enable 'Auth::Basic', realm => 'stack',
            authenticator => sub { $_[0] eq 'demo' && $_[1] eq 'secret' };
        $private;
    };
    mount '/' => builder {
        enable 'Session::Cookie',
            session_key  => 'stack_session',
            secret       => $ENV{STACK_SESSION_SECRET} // 'stack-demo-secret-change-me',
            httponly     => 1,
            serializer   => sub { MIME::Base64::encode_base64url($json->encode($_[0])) },
            deserializer => sub { $json->decode(MIME::Base64::decode_base64url($_[0])) };
        $main;
    };
};
