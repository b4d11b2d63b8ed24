# Mojolicious sample app, served through Mojo::Server::PSGI.
#
#   GET /             text/html page (inline template)
#   GET /json         JSON {"app":"mojo","pid":...,"query":{...}}
#   GET /hello/:name  text/plain "Hello, NAME!"
#   GET /stream?n=N&ms=M
#                     text/plain streamed in N (default 5, max 1000) pieces:
#                     "chunk 1 of N\n" ... then "done\n"; with ms=M (max 1000)
#                     the worker sleeps M milliseconds between pieces, so a
#                     client can watch the pieces arrive one by one.
#
# A full Mojolicious subclass (not ::Lite) is used on purpose: Lite records
# the first loaded file in the process-global $ENV{MOJO_EXE}, which is wrong
# when a base vassal preloads code and forked vassals load other files.
# Home is this file's directory, so nothing depends on cwd.
#
# Streaming under PSGI: there is no running IOLoop, so timers cannot drive
# the stream.  Instead each $c->write() passes a drain callback; the PSGI
# server pulls the body with getline(), which drains Mojo's buffer and fires
# the callback that produces the next piece - the response is generated
# lazily, piece by piece, as the server sends it.  We use write() rather than
# write_chunk(): under PSGI the *server* does the HTTP chunked framing.
use strict;
use warnings;
use File::Basename ();
use File::Spec ();
use Mojo::Server::PSGI;
use Time::HiRes ();

package MojoSample {
    use Mojo::Base 'Mojolicious', -signatures;
    use feature 'current_sub';

    sub startup ($self) {
        $self->log->level('warn');
        $self->secrets(['mojo-sample-not-secret']);
        my $r = $self->routes;

        $r->get('/' => sub ($c) {
            $c->render(inline => <<'HTML', pid => $$);
<!DOCTYPE html>
<html><head><title>Mojolicious sample</title></head>
<body><h1>Mojolicious sample</h1><p>pid <%= $pid %></p>
<ul><li>/json</li><li>/hello/:name</li><li>/stream</li></ul></body></html>
HTML
        });

        $r->get('/json' => sub ($c) {
            $c->render(json => { app => 'mojo', pid => $$,
                                 query => $c->req->query_params->to_hash });
        });

        $r->get('/hello/:name' => sub ($c) {
            $c->render(text => 'Hello, ' . $c->param('name') . "!\n",
                       format => 'txt');
        });

        $r->get('/stream' => sub ($c) {
            my $n = $c->param('n') // 5;
            $n = 5 unless $n =~ /^\d+\z/ && $n >= 1;
            $n = 1000 if $n > 1000;
            my $ms = $c->param('ms') // 0;
            $ms = 0 unless $ms =~ /^\d+\z/;
            $ms = 1000 if $ms > 1000;
            $c->res->headers->content_type('text/plain; charset=utf-8');
            my $i = 0;
            # __SUB__ (not a closure over $next) avoids a reference cycle
            # if the client goes away mid-stream.
            my $next = sub ($c, @) {
                Time::HiRes::sleep($ms / 1000) if $ms && $i;    # between pieces
                return $c->write("done\n")->finish if ++$i > $n;
                $c->write("chunk $i of $n\n", __SUB__);
            };
            $c->$next;
        });
    }
}

my $dir = File::Basename::dirname(File::Spec->rel2abs(__FILE__));
my $app = MojoSample->new(home => Mojo::Home->new($dir),
                          mode => $ENV{MOJO_MODE} || 'production');
my $psgi = Mojo::Server::PSGI->new(app => $app)->to_psgi_app;

# Mojo adds "Connection: close" to bodies without a Content-Length (its own
# server would close to delimit them).  Under PSGI the server delimits the
# body itself (chunked encoding for HTTP/1.1), and Connection is hop-by-hop,
# so drop it and let the server keep the connection alive.
sub {
    my $res = $psgi->(@_);
    my $h = $res->[1];
    @$h = map { $h->[2 * $_], $h->[2 * $_ + 1] }
          grep { lc $h->[2 * $_] ne 'connection' } 0 .. $#$h / 2;
    $res;
};
